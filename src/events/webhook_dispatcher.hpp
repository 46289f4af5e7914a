// Delivers registration events from the outbox (store::EventStore) to the configured webhook
// endpoints: at least once, each event to each endpoint, with retries and a dead letter.
//
// Each request is a POST of the event's payload with
//   Content-Type: application/json
//   X-Hokusai-Event-Id: <event_id>          (receivers dedupe on it)
//   X-Hokusai-Event-Type: <type>
//   X-Hokusai-Timestamp: <unix seconds>
//   X-Hokusai-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
// A 2xx answer is delivered. Anything else (another status, a redirect — never followed —, no
// connection, a timeout) is retried after backoff_base_ms * 2^(attempts-1), capped at
// backoff_cap_ms, ±20 % jitter, until max_attempts attempts; then the delivery is dead (see
// EventStore::Replay). Logs name event ids and endpoints, never the secret or a signature.
//
// Threading: one background thread, started by Start() and joined by Stop() (or the destructor).
// It sleeps on a condition variable for poll_ms, or until Wake() or Stop(); `mutex_` guards only
// the stop and wake flags. Store calls and HTTP requests run on that thread without the lock, so
// Wake() never blocks on the network. Stop() returns once the thread has finished the request in
// flight, if any (bounded by timeout_ms). Wake() and Stop() are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "store/event_store.hpp"

namespace hokusai::events {

struct WebhookConfig {
  std::vector<std::string> endpoints;  // http:// URLs (see ValidateWebhookConfig)
  std::string secret;                  // the HMAC key; never logged
  int max_attempts = 8;
  int64_t backoff_base_ms = 1000;
  int64_t backoff_cap_ms = 5 * 60 * 1000;
  int64_t timeout_ms = 10 * 1000;  // per request: connect, send and read together
  int64_t poll_ms = 1000;          // how often the outbox is checked without a Wake()
  int batch_size = 50;             // events fetched per endpoint per pass
};

// INVALID_PARAMETER_VALUE naming the problem: an endpoint that is not an http(s) URL
// (http::ParseHttpUrl), an https endpoint (this build's client has no TLS), a duplicate
// endpoint, an empty secret while endpoints are configured, max_attempts < 1, a non-positive
// backoff, cap, timeout or poll interval, or batch_size < 1.
Result<void> ValidateWebhookConfig(const WebhookConfig& config);

// "sha256=" + lowercase hex HMAC-SHA256 keyed with `secret` over "<timestamp>.<body>": the
// X-Hokusai-Signature value. Thread-safe.
std::string SignWebhook(std::string_view secret, int64_t timestamp, std::string_view body);

// The delay before the next attempt after `attempts` (>= 1) failed ones, without jitter:
// base * 2^(attempts-1), capped at cap.
int64_t BackoffDelayMs(int64_t base_ms, int64_t cap_ms, int attempts);

class WebhookDispatcher {
 public:
  // Validates `config` (ValidateWebhookConfig). `store` must outlive the dispatcher.
  static Result<std::unique_ptr<WebhookDispatcher>> Create(store::EventStore& store,
                                                           WebhookConfig config);
  ~WebhookDispatcher();  // Stop()
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Registers the configured endpoints as the active ones (EventStore::SetActiveEndpoints) and
  // starts the thread. With no endpoints configured, registers none and starts nothing. Call
  // once.
  Result<void> Start();
  // Stops and joins the thread; idempotent.
  void Stop();
  // Asks for a pass now (a new event was committed) instead of at the next poll.
  void Wake();

  // One pass over every endpoint on the calling thread: attempts every due delivery (per
  // endpoint, up to batch_size). Returns the number of attempts made. For tests and for a
  // caller without the thread; not to be called while the thread runs.
  Result<int> DeliverDue();

 private:
  WebhookDispatcher(store::EventStore& store, WebhookConfig config)
      : store_(store), config_(std::move(config)) {}
  void Run();
  // Attempts `endpoint`'s due events; false when a stop was requested in between.
  Result<bool> DeliverEndpoint(const std::string& endpoint, int& attempts);
  bool StopRequested();

  store::EventStore& store_;
  const WebhookConfig config_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable wake_cv_;
  bool stop_ = false;   // guarded by mutex_
  bool woken_ = false;  // guarded by mutex_
};

}  // namespace hokusai::events
