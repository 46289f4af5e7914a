#include "events/webhook_dispatcher.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include <fmt/format.h>

#include "common/util.hpp"
#include "http/client.hpp"

namespace hokusai::events {
namespace {

// Jitter as a fraction of the delay, either way: spreads retries of many events that failed
// together (a receiver outage) so they do not all return at once.
constexpr double kJitterFraction = 0.2;

int64_t Jittered(int64_t delay_ms) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> spread(-kJitterFraction, kJitterFraction);
  auto jittered = static_cast<int64_t>(static_cast<double>(delay_ms) * (1.0 + spread(rng)));
  return std::max<int64_t>(jittered, 1);
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

}  // namespace

Result<void> ValidateWebhookConfig(const WebhookConfig& config) {
  std::set<std::string> seen;
  for (const std::string& endpoint : config.endpoints) {
    auto url = http::ParseHttpUrl(endpoint);
    if (!url) {
      return InvalidParameter(
          fmt::format("webhook URL '{}' is invalid: {}", endpoint, url.error().message));
    }
    if (url->tls) {
      return InvalidParameter(fmt::format(
          "webhook URL '{}': https is not supported in this build (no TLS client)", endpoint));
    }
    if (!seen.insert(endpoint).second) {
      return InvalidParameter(fmt::format("webhook URL '{}' is given twice", endpoint));
    }
  }
  if (!config.endpoints.empty() && config.secret.empty()) {
    return InvalidParameter("webhook endpoints need a signing secret (environment variable HOKUSAI_WEBHOOK_SECRET)");
  }
  if (config.max_attempts < 1) return InvalidParameter("webhook max attempts must be >= 1");
  if (config.backoff_base_ms <= 0) return InvalidParameter("webhook back-off must be > 0 ms");
  if (config.backoff_cap_ms <= 0) return InvalidParameter("webhook back-off cap must be > 0 ms");
  if (config.timeout_ms <= 0) return InvalidParameter("webhook timeout must be > 0 ms");
  if (config.poll_ms <= 0) return InvalidParameter("webhook poll interval must be > 0 ms");
  if (config.batch_size < 1) return InvalidParameter("webhook batch size must be >= 1");
  return {};
}

std::string SignWebhook(std::string_view secret, int64_t timestamp, std::string_view body) {
  std::string message = std::to_string(timestamp);
  message.push_back('.');
  message.append(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  out.reserve(out.size() + 2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

int64_t BackoffDelayMs(int64_t base_ms, int64_t cap_ms, int attempts) {
  int64_t delay = base_ms;
  for (int i = 1; i < attempts && delay < cap_ms; ++i) delay *= 2;
  return std::min(delay, cap_ms);
}

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::Create(store::EventStore& store,
                                                                     WebhookConfig config) {
  HK_CHECK(ValidateWebhookConfig(config));
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(store, std::move(config)));
}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

Result<void> WebhookDispatcher::Start() {
  if (config_.endpoints.empty()) return {};
  HK_CHECK(store_.SetActiveEndpoints(config_.endpoints));
  for (const std::string& endpoint : config_.endpoints) {
    spdlog::info("webhooks: delivering registration events to {}", endpoint);
  }
  thread_ = std::thread([this] { Run(); });
  return {};
}

void WebhookDispatcher::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookDispatcher::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

bool WebhookDispatcher::StopRequested() {
  std::lock_guard lock(mutex_);
  return stop_;
}

void WebhookDispatcher::Run() {
  for (;;) {
    auto attempted = DeliverDue();
    if (!attempted) spdlog::warn("webhooks: delivery pass failed: {}", attempted.error().message);
    std::unique_lock lock(mutex_);
    if (stop_) return;
    // A pass that attempted something may have left more due (a full batch); look again at once
    // unless stopping. Otherwise sleep until the poll interval, a Wake() or a Stop().
    if (attempted && *attempted > 0) {
      woken_ = false;
      continue;
    }
    wake_cv_.wait_for(lock, std::chrono::milliseconds(config_.poll_ms),
                      [this] { return stop_ || woken_; });
    if (stop_) return;
    woken_ = false;
  }
}

Result<int> WebhookDispatcher::DeliverDue() {
  int attempts = 0;
  for (const std::string& endpoint : config_.endpoints) {
    HK_TRY(go_on, DeliverEndpoint(endpoint, attempts));
    if (!go_on) break;
  }
  return attempts;
}

Result<bool> WebhookDispatcher::DeliverEndpoint(const std::string& endpoint, int& attempts) {
  HK_TRY(due, store_.DueDeliveries(endpoint, NowMillis(), config_.batch_size));
  for (const store::DueDelivery& delivery : due) {
    if (StopRequested()) return false;
    const store::RegistrationEvent& event = delivery.event;
    int64_t timestamp = NowMillis() / 1000;
    http::HeaderList headers = {
        {"Content-Type", "application/json"},
        {"X-Hokusai-Event-Id", event.event_id},
        {"X-Hokusai-Event-Type", event.type},
        {"X-Hokusai-Timestamp", std::to_string(timestamp)},
        {"X-Hokusai-Signature", SignWebhook(config_.secret, timestamp, event.payload)},
    };
    auto answer = http::HttpPost(endpoint, headers, event.payload,
                                 std::chrono::milliseconds(config_.timeout_ms));
    ++attempts;
    int attempt = delivery.attempts + 1;
    if (answer && IsSuccess(answer->status)) {
      HK_CHECK(store_.RecordAttempt(endpoint, event.seq, store::AttemptOutcome::Delivered(),
                                    answer->status, ""));
      spdlog::info("webhooks: event {} delivered to {} (HTTP {}, attempt {})", event.event_id,
                   endpoint, answer->status, attempt);
      continue;
    }
    int status = answer ? answer->status : 0;
    std::string error = answer ? fmt::format("HTTP {}", answer->status) : answer.error().message;
    if (attempt >= config_.max_attempts) {
      HK_CHECK(store_.RecordAttempt(endpoint, event.seq, store::AttemptOutcome::Dead(), status,
                                    error));
      spdlog::error("webhooks: event {} to {} is dead after {} attempts: {}", event.event_id,
                    endpoint, attempt, error);
    } else {
      int64_t delay =
          Jittered(BackoffDelayMs(config_.backoff_base_ms, config_.backoff_cap_ms, attempt));
      HK_CHECK(store_.RecordAttempt(endpoint, event.seq,
                                    store::AttemptOutcome::Retry(NowMillis() + delay), status,
                                    error));
      spdlog::warn("webhooks: event {} to {} failed (attempt {}): {}; retrying in {} ms",
                   event.event_id, endpoint, attempt, error, delay);
    }
    // No answer at all: the receiver is down or unreachable. The rest of its events would most
    // likely fail the same way, each costing up to a timeout; leave them to the next pass.
    if (!answer) break;
  }
  return true;
}

}  // namespace hokusai::events
