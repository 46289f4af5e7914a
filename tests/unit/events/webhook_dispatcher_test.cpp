// Webhook delivery: the signature, back-off, configuration checks, and the dispatcher against an
// in-process loopback receiver (delivered once, retried through an outage, dead after the last
// attempt, revived by replay).
#include "events/webhook_dispatcher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/util.hpp"
#include "store/sql/sql_event_store.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::events {
namespace {

using namespace std::chrono_literals;

// ---- a minimal HTTP/1.1 receiver on 127.0.0.1 ------------------------------------------------

struct Received {
  std::string head;  // request line and headers
  std::string body;

  std::string Header(const std::string& name) const {
    std::string needle = "\r\n" + name + ": ";
    std::size_t at = head.find(needle);
    if (at == std::string::npos) return {};
    std::size_t start = at + needle.size();
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

// Accepts one connection at a time, reads one request (Content-Length bodies only), answers
// with `status` and closes. Listens on `port` (0: any free port).
class Receiver {
 public:
  explicit Receiver(int status, uint16_t port = 0) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
             ::listen(fd_, 16) == 0;
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  bool bound() const { return bound_; }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void set_status(int status) { status_ = status; }
  std::vector<Received> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      Serve(conn);
      ::close(conn);
    }
  }

  void Serve(int conn) {
    std::string data;
    char buffer[4096];
    std::size_t head_end = std::string::npos;
    std::size_t length = 0;
    for (;;) {
      pollfd pfd{conn, POLLIN, 0};
      if (::poll(&pfd, 1, 2000) <= 0) return;
      ssize_t n = ::recv(conn, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      data.append(buffer, static_cast<std::size_t>(n));
      if (head_end == std::string::npos) {
        head_end = data.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        Received probe{data.substr(0, head_end + 2), {}};
        std::string cl = probe.Header("Content-Length");
        length = cl.empty() ? 0 : std::stoul(cl);
      }
      if (data.size() >= head_end + 4 + length) break;
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(Received{data.substr(0, head_end + 2), data.substr(head_end + 4, length)});
    }
    int status = status_;
    std::string answer = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\n";
    if (status >= 300 && status < 400) answer += "Location: http://127.0.0.1:1/elsewhere\r\n";
    answer += "Connection: close\r\n\r\nok";
    ::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL);
  }

  int fd_ = -1;
  bool bound_ = false;
  uint16_t port_ = 0;
  std::atomic<int> status_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Received> requests_;
  std::thread thread_;
};

// Polls `done` every 10 ms for up to `limit`.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// ---- pure functions --------------------------------------------------------------------------

TEST(SignWebhookTest, MatchesAnIndependentHmacSha256) {
  // Python: hmac.new(b"whsec_test", b'1700000000.{"event_id":"abc"}', hashlib.sha256).hexdigest()
  EXPECT_EQ(SignWebhook("whsec_test", 1700000000, R"({"event_id":"abc"})"),
            "sha256=c5b6e189f593c8aa962ed348449121227ac4fa69822e82dee7d66d44bc37a4e0");
  EXPECT_EQ(SignWebhook("key", 0, ""),
            "sha256=85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d");
}

TEST(SignWebhookTest, CoversTheTimestampAndTheBody) {
  std::string base = SignWebhook("s", 100, "{}");
  EXPECT_NE(SignWebhook("s", 101, "{}"), base);
  EXPECT_NE(SignWebhook("s", 100, "{ }"), base);
  EXPECT_NE(SignWebhook("t", 100, "{}"), base);
}

TEST(BackoffTest, DoublesFromTheBaseUpToTheCap) {
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 1), 1000);
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 2), 2000);
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 5), 16000);
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 9), 256000);
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 10), 300000);
  EXPECT_EQ(BackoffDelayMs(1000, 300000, 1000), 300000);
}

TEST(WebhookConfigTest, RefusesWhatCannotBeDeliveredOrSigned) {
  WebhookConfig config;
  config.secret = "s";
  config.endpoints = {"http://127.0.0.1:8080/hook"};
  EXPECT_TRUE(ValidateWebhookConfig(config));
  for (std::string bad : {"ftp://example.com/", "127.0.0.1:80", "http://user:pw@host/",
                          "https://example.com/hook", "http://exa mple.com/"}) {
    WebhookConfig c = config;
    c.endpoints = {bad};
    auto checked = ValidateWebhookConfig(c);
    ASSERT_FALSE(checked) << bad;
    EXPECT_EQ(checked.error().code, ErrorCode::kInvalidParameterValue);
  }
  WebhookConfig twice = config;
  twice.endpoints.push_back(config.endpoints[0]);
  EXPECT_FALSE(ValidateWebhookConfig(twice));
  WebhookConfig unsigned_config = config;
  unsigned_config.secret.clear();
  EXPECT_FALSE(ValidateWebhookConfig(unsigned_config));
  WebhookConfig no_attempts = config;
  no_attempts.max_attempts = 0;
  EXPECT_FALSE(ValidateWebhookConfig(no_attempts));
  WebhookConfig none;  // no endpoints: nothing to sign, nothing to check
  EXPECT_TRUE(ValidateWebhookConfig(none));
}

// ---- the dispatcher ------------------------------------------------------------------------

class WebhookDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-webhooks-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = store::sql::OpenDatabase(
        store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<store::sql::SqlTrackingStore>(*pool);
    registry_ = std::make_unique<store::sql::SqlRegistryStore>(*pool);
    events_ = std::make_unique<store::sql::SqlEventStore>(*pool);
    auto id = tracking_->CreateExperiment("exp", "", {});
    ASSERT_TRUE(id.has_value());
    store::CreateRunArgs run;
    run.experiment_id = *id;
    run.start_time = 1000;
    auto created = tracking_->CreateRun(run);
    ASSERT_TRUE(created.has_value());
    run_id_ = created->info.run_id;
    store::CreateRegisteredModelArgs model;
    model.name = "m";
    ASSERT_TRUE(registry_->CreateRegisteredModel(model));
  }

  void TearDown() override {
    events_.reset();
    registry_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  WebhookConfig Config(const std::string& url) {
    WebhookConfig config;
    config.endpoints = {url};
    config.secret = "whsec_test";
    config.backoff_base_ms = 20;
    config.backoff_cap_ms = 100;
    config.timeout_ms = 2000;
    config.poll_ms = 20;
    return config;
  }

  std::unique_ptr<WebhookDispatcher> Dispatcher(const WebhookConfig& config) {
    auto created = WebhookDispatcher::Create(*events_, config);
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return created ? std::move(*created) : nullptr;
  }

  void NewVersion() {
    store::CreateModelVersionArgs args;
    args.name = "m";
    args.source = "runs:/" + run_id_ + "/model";
    args.parsed_source.kind = store::ModelVersionSource::Kind::kRun;
    args.parsed_source.run_id = run_id_;
    args.parsed_source.path = "model";
    auto version = registry_->CreateModelVersion(args);
    ASSERT_TRUE(version.has_value()) << version.error().message;
  }

  // The only event's delivery to `endpoint`, as listed.
  std::optional<store::Delivery> DeliveryTo(const std::string& endpoint) {
    auto page = events_->ListEvents(store::ListEventsQuery{});
    if (!page || page->events.size() != 1) return std::nullopt;
    for (const store::Delivery& d : page->events[0].deliveries) {
      if (d.endpoint == endpoint) return d;
    }
    return std::nullopt;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlTrackingStore> tracking_;
  std::unique_ptr<store::sql::SqlRegistryStore> registry_;
  std::unique_ptr<store::sql::SqlEventStore> events_;
  std::string run_id_;
};

TEST_F(WebhookDispatcherTest, DeliversANewEventOnceWithSignedHeaders) {
  Receiver receiver(200);
  ASSERT_TRUE(receiver.bound());
  auto dispatcher = Dispatcher(Config(receiver.url()));
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(dispatcher->Start());
  NewVersion();
  dispatcher->Wake();
  ASSERT_TRUE(WaitFor([&] { return receiver.requests().size() == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    auto d = DeliveryTo(receiver.url());
    return d && d->state == store::DeliveryState::kDelivered;
  }));
  std::this_thread::sleep_for(200ms);  // ten polls: still exactly one request
  dispatcher->Stop();
  std::vector<Received> got = receiver.requests();
  ASSERT_EQ(got.size(), 1u);

  auto page = events_->ListEvents(store::ListEventsQuery{});
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  const store::RegistrationEvent& event = page->events[0].event;
  const Received& request = got[0];
  EXPECT_EQ(request.head.rfind("POST /hook HTTP/1.1\r\n", 0), 0u) << request.head;
  EXPECT_EQ(request.body, event.payload);
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  EXPECT_EQ(request.Header("X-Hokusai-Event-Id"), event.event_id);
  EXPECT_EQ(request.Header("X-Hokusai-Event-Type"), "model_version.created");
  std::string timestamp = request.Header("X-Hokusai-Timestamp");
  ASSERT_FALSE(timestamp.empty());
  int64_t seconds = std::stoll(timestamp);
  EXPECT_LE(std::abs(seconds - NowMillis() / 1000), 60);
  EXPECT_EQ(request.Header("X-Hokusai-Signature"),
            SignWebhook("whsec_test", seconds, request.body));
  const store::Delivery& delivery = page->events[0].deliveries.at(0);
  EXPECT_EQ(delivery.attempts, 1);
  EXPECT_EQ(delivery.last_status, 200);
}

TEST_F(WebhookDispatcherTest, RetriesThroughAnOutageUntilTheReceiverIsBack) {
  uint16_t port = 0;
  std::string url;
  {
    Receiver reserve(200);  // find a free port, then leave nobody listening on it
    ASSERT_TRUE(reserve.bound());
    port = reserve.port();
    url = reserve.url();
  }
  auto dispatcher = Dispatcher(Config(url));
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(events_->SetActiveEndpoints({url}));
  NewVersion();
  auto first = dispatcher->DeliverDue();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, 1);
  auto down = DeliveryTo(url);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->state, store::DeliveryState::kPending);
  EXPECT_EQ(down->attempts, 1);
  EXPECT_EQ(down->last_status, 0);
  EXPECT_FALSE(down->last_error.empty());
  EXPECT_GT(down->next_attempt_ms, 0);

  Receiver receiver(200, port);
  ASSERT_TRUE(receiver.bound());
  ASSERT_TRUE(dispatcher->Start());
  ASSERT_TRUE(WaitFor([&] {
    auto d = DeliveryTo(url);
    return d && d->state == store::DeliveryState::kDelivered;
  }));
  dispatcher->Stop();
  EXPECT_EQ(receiver.requests().size(), 1u);
  EXPECT_GE(DeliveryTo(url)->attempts, 2);
}

TEST_F(WebhookDispatcherTest, GivesUpAfterMaxAttemptsAndReplayRevives) {
  Receiver receiver(500);
  ASSERT_TRUE(receiver.bound());
  WebhookConfig config = Config(receiver.url());
  config.max_attempts = 3;
  auto dispatcher = Dispatcher(config);
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(dispatcher->Start());
  NewVersion();
  dispatcher->Wake();
  ASSERT_TRUE(WaitFor([&] {
    auto d = DeliveryTo(receiver.url());
    return d && d->state == store::DeliveryState::kDead;
  }));
  std::this_thread::sleep_for(200ms);  // dead: no more attempts
  EXPECT_EQ(receiver.requests().size(), 3u);
  auto dead = DeliveryTo(receiver.url());
  EXPECT_EQ(dead->attempts, 3);
  EXPECT_EQ(dead->last_status, 500);
  EXPECT_EQ(dead->last_error, "HTTP 500");

  store::ListEventsQuery dead_only;
  dead_only.state = store::DeliveryState::kDead;
  auto listed = events_->ListEvents(dead_only);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->events.size(), 1u);

  receiver.set_status(204);
  ASSERT_TRUE(events_->Replay(listed->events[0].event.event_id, std::nullopt));
  dispatcher->Wake();
  ASSERT_TRUE(WaitFor([&] {
    auto d = DeliveryTo(receiver.url());
    return d && d->state == store::DeliveryState::kDelivered;
  }));
  dispatcher->Stop();
  EXPECT_EQ(receiver.requests().size(), 4u);
  EXPECT_EQ(receiver.requests().back().Header("X-Hokusai-Event-Id"),
            receiver.requests().front().Header("X-Hokusai-Event-Id"));
}

TEST_F(WebhookDispatcherTest, ARedirectIsAFailureAndIsNotFollowed) {
  Receiver receiver(302);
  ASSERT_TRUE(receiver.bound());
  auto dispatcher = Dispatcher(Config(receiver.url()));
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(events_->SetActiveEndpoints({receiver.url()}));
  NewVersion();
  ASSERT_TRUE(dispatcher->DeliverDue());
  auto d = DeliveryTo(receiver.url());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->state, store::DeliveryState::kPending);
  EXPECT_EQ(d->last_status, 302);
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(WebhookDispatcherTest, StopReturnsPromptlyEvenWithALongPollInterval) {
  Receiver receiver(200);
  WebhookConfig config = Config(receiver.url());
  config.poll_ms = 60 * 1000;
  auto dispatcher = Dispatcher(config);
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(dispatcher->Start());
  std::this_thread::sleep_for(50ms);
  auto started = std::chrono::steady_clock::now();
  dispatcher->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  dispatcher->Stop();  // idempotent
}

TEST_F(WebhookDispatcherTest, WithoutEndpointsStartDoesNothing) {
  auto dispatcher = Dispatcher(WebhookConfig{});
  ASSERT_TRUE(dispatcher);
  ASSERT_TRUE(dispatcher->Start());
  NewVersion();
  auto attempted = dispatcher->DeliverDue();
  ASSERT_TRUE(attempted.has_value());
  EXPECT_EQ(*attempted, 0);
}

}  // namespace
}  // namespace hokusai::events
