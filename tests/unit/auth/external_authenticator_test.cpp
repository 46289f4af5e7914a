#include "auth/external_authenticator.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "auth/api_key.hpp"

namespace hokusai::auth {
namespace {

using namespace std::chrono_literals;

// 2030-01-01T00:00:00Z: the fake clock's start.
constexpr int64_t kStartMs = 1893456000000;

// A loopback auth service on its own thread, one request per connection, answering like one of
// the service generations in the field (or failing in one of their ways).
class FakeAuthService {
 public:
  enum class Mode {
    kHeader,  // old generation: key from `Authorization: Bearer` only, body ignored
    kBody,    // new generation: key from `api_key` only; no api_key: 400
    kUnauthorized,
    kForbidden,
    kRateLimited,  // 429 with `retry_after` (when not empty)
    kServerError,
    kSilent,  // accepts, reads, never answers
    kRaw,     // answers `raw` verbatim
  };
  struct Received {
    std::string head;
    std::string body;
    std::string Header(const std::string& name) const {
      std::string lower_head = Lower(head);
      std::size_t at = lower_head.find("\r\n" + Lower(name) + ":");
      if (at == std::string::npos) return {};
      std::size_t start = at + 3 + name.size();
      while (start < head.size() && head[start] == ' ') ++start;
      return head.substr(start, head.find("\r\n", start) - start);
    }
  };

  FakeAuthService() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeAuthService() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/keys/validate";
  }
  void SetMode(Mode mode) {
    std::lock_guard lock(mutex_);
    mode_ = mode;
  }
  void SetRetryAfter(std::string value) {
    std::lock_guard lock(mutex_);
    retry_after_ = std::move(value);
  }
  void SetRaw(std::string raw) {
    std::lock_guard lock(mutex_);
    raw_ = std::move(raw);
    mode_ = Mode::kRaw;
  }
  // What a 200 carries for `key` (a JSON object).
  void Know(const std::string& key, std::string answer) {
    std::lock_guard lock(mutex_);
    known_[key] = std::move(answer);
  }
  std::vector<Received> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string Reply(int status, const std::string& body,
                           const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }

  void Loop() {
    while (!stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) Serve(fd);
    }
  }

  void Serve(int fd) {
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string data;
    char buf[4096];
    std::size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    Received received;
    if (head_end != std::string::npos) {
      received.head = data.substr(0, head_end + 2);
      received.body = data.substr(head_end + 4);
      std::string length = received.Header("Content-Length");
      std::size_t want = length.empty() ? 0 : std::stoul(length);
      while (received.body.size() < want) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        received.body.append(buf, static_cast<std::size_t>(n));
      }
    }
    std::optional<std::string> reply;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(received);
      reply = Answer(received);
    }
    if (!reply) {
      held_.push_back(fd);
      return;
    }
    ::send(fd, reply->data(), reply->size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  // Called with mutex_ held.
  std::optional<std::string> Answer(const Received& received) {
    switch (mode_) {
      case Mode::kUnauthorized: return Reply(401, "{\"detail\":\"Invalid API key\"}");
      case Mode::kForbidden: return Reply(403, "{\"detail\":\"forbidden\"}");
      case Mode::kRateLimited:
        return Reply(429, "{\"detail\":\"slow down\"}",
                     retry_after_.empty() ? "" : "Retry-After: " + retry_after_ + "\r\n");
      case Mode::kServerError: return Reply(500, "{\"detail\":\"boom\"}");
      case Mode::kSilent: return std::nullopt;
      case Mode::kRaw: return raw_;
      case Mode::kHeader:
      case Mode::kBody: break;
    }
    std::string key;
    if (mode_ == Mode::kHeader) {
      std::string authorization = received.Header("Authorization");
      if (authorization.rfind("Bearer ", 0) != 0) return Reply(401, "{}");
      key = authorization.substr(7);
    } else {
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      std::string_view api_key;
      if (parser.parse(received.body).get(root) != simdjson::SUCCESS ||
          root["api_key"].get(api_key) != simdjson::SUCCESS) {
        return Reply(400, "{\"detail\":\"api_key required\"}");
      }
      key = std::string(api_key);
    }
    auto it = known_.find(key);
    if (it == known_.end()) return Reply(401, "{\"detail\":\"Invalid API key\"}");
    return Reply(200, it->second);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> held_;  // server thread only, until joined
  mutable std::mutex mutex_;
  Mode mode_ = Mode::kHeader;
  std::string retry_after_;
  std::string raw_;
  std::map<std::string, std::string> known_;
  std::vector<Received> requests_;
};

// The full answer of spec §1.
std::string FullAnswer(const std::string& user_id = "u-42") {
  return R"({"user_id":")" + user_id + R"(","email":"ada@example.com","key_id":"k-7",)"
         R"("service_id":"registry","scopes":["experiment:write","model:read"],)"
         R"("roles":["data_scientist"],"is_admin":false,"rate_limit_per_hour":500,)"
         R"("has_sufficient_balance":true,"balance":12.5,"expires_at":"2030-06-01T00:00:00Z",)"
         R"("user":{"id":")" +
         user_id + R"(","email":"ada@example.com","roles":["data_scientist"],"is_admin":false}})";
}

class ExternalAuthenticatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<ExternalAuthenticator> Make(int cache_seconds = 10,
                                              std::chrono::milliseconds timeout = 2s) {
    ExternalAuthConfig config;
    config.url = service_.Url();
    config.service_id = "registry";
    config.timeout = timeout;
    config.cache_seconds = cache_seconds;
    config.now_ms = [this] { return now_.load(); };
    auto made = ExternalAuthenticator::Create(std::move(config));
    EXPECT_TRUE(made) << made.error().message;
    return made ? std::move(*made) : nullptr;
  }

  FakeAuthService service_;
  std::atomic<int64_t> now_{kStartMs};
  std::string key_ = GenerateKey(KeyEnvironment::kLive);
};

const std::string* HeaderValue(const Error& error, const std::string& name) {
  for (const auto& [k, v] : error.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

TEST_F(ExternalAuthenticatorTest, MalformedKeyIsRefusedWithoutCallingTheService) {
  auto auth = Make();
  std::string typo = key_;
  typo.back() = typo.back() == 'a' ? 'b' : 'a';
  for (const std::string& bad : {std::string("nope"), typo, std::string()}) {
    auto result = auth->Authenticate(bad, "10.0.0.1");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
  }
  EXPECT_TRUE(service_.requests().empty());
}

TEST_F(ExternalAuthenticatorTest, HeaderOnlyServiceAcceptsAKnownKey) {
  service_.SetMode(FakeAuthService::Mode::kHeader);
  service_.Know(key_, FullAnswer());
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->user().user_id, "u-42");
}

TEST_F(ExternalAuthenticatorTest, BodyOnlyServiceAcceptsAKnownKey) {
  service_.SetMode(FakeAuthService::Mode::kBody);
  service_.Know(key_, FullAnswer());
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->user().user_id, "u-42");
}

TEST_F(ExternalAuthenticatorTest, RequestCarriesTheKeyInBothShapesAndNowhereElse) {
  service_.Know(key_, FullAnswer());
  ASSERT_TRUE(Make()->Authenticate(key_, "10.0.0.9"));
  auto requests = service_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& request = requests[0];
  EXPECT_EQ(request.head.rfind("POST /api/v1/keys/validate HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(request.Header("Authorization"), "Bearer " + key_);
  EXPECT_EQ(request.Header("Content-Type"), "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  ASSERT_EQ(parser.parse(request.body).get(body), simdjson::SUCCESS) << request.body;
  std::string_view api_key, service_id, client_ip;
  ASSERT_EQ(body["api_key"].get(api_key), simdjson::SUCCESS);
  ASSERT_EQ(body["service_id"].get(service_id), simdjson::SUCCESS);
  ASSERT_EQ(body["client_ip"].get(client_ip), simdjson::SUCCESS);
  EXPECT_EQ(api_key, key_);
  EXPECT_EQ(service_id, "registry");
  EXPECT_EQ(client_ip, "10.0.0.9");
  EXPECT_EQ(body.size(), 3u);
  // Exactly once in the head (the Bearer header) and once in the body.
  auto count = [&](const std::string& text) {
    std::size_t n = 0;
    for (std::size_t at = text.find(key_); at != std::string::npos; at = text.find(key_, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count(request.head), 1u);
  EXPECT_EQ(count(request.body), 1u);
}

TEST_F(ExternalAuthenticatorTest, FullAnswerMapsOntoThePrincipal) {
  service_.Know(key_, FullAnswer());
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  const Principal& p = *result;
  EXPECT_EQ(p.user().user_id, "u-42");
  EXPECT_EQ(p.user().email, "ada@example.com");
  EXPECT_EQ(p.user().roles, std::vector<std::string>{"data_scientist"});
  EXPECT_FALSE(p.user().is_admin);
  EXPECT_EQ(p.key().key_id, "k-7");
  EXPECT_EQ(p.key().user_id, "u-42");
  EXPECT_EQ(p.key().key_prefix, DisplayPrefix(key_));
  EXPECT_EQ(p.key().environment, "live");
  EXPECT_EQ(p.key().scopes, (std::vector<std::string>{"experiment:write", "model:read"}));
  ASSERT_EQ(p.scopes().size(), 2u);
  EXPECT_EQ(p.key().rate_limit_per_hour, 500);
  ASSERT_TRUE(p.key().expires_at.has_value());
  EXPECT_EQ(*p.key().expires_at, 1906502400000);  // 2030-06-01T00:00:00Z
  EXPECT_EQ(p.service_id(), "registry");
  EXPECT_DOUBLE_EQ(p.balance(), 12.5);
  EXPECT_TRUE(p.has_sufficient_balance());
  EXPECT_EQ(p.client_ip, "10.0.0.1");
}

TEST_F(ExternalAuthenticatorTest, NestedUserFormAndMissingOptionalFieldsAreTolerated) {
  service_.Know(key_, R"({"user":{"id":17,"email":"n@example.com","roles":["admin"],)"
                      R"("is_admin":true},"scopes":["admin"],"expires_at":null})");
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  const Principal& p = *result;
  EXPECT_EQ(p.user().user_id, "17");
  EXPECT_EQ(p.user().email, "n@example.com");
  EXPECT_TRUE(p.user().is_admin);
  EXPECT_EQ(p.key().scopes, std::vector<std::string>{"admin"});
  EXPECT_EQ(p.key().key_id.size(), 32u);  // derived, stable per key
  EXPECT_EQ(p.key().rate_limit_per_hour, kExternalDefaultRateLimitPerHour);
  EXPECT_FALSE(p.key().expires_at.has_value());
  EXPECT_EQ(p.service_id(), "registry");  // ours when the service names none
  EXPECT_TRUE(p.has_sufficient_balance());
}

TEST_F(ExternalAuthenticatorTest, UnknownScopesAreIgnoredAndLegacyNamesMapped) {
  service_.Know(key_, R"({"user_id":"u","scopes":["billing:read","mlflow:read"]})");
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->key().scopes, (std::vector<std::string>{"experiment:read", "model:read"}));
}

TEST_F(ExternalAuthenticatorTest, TimestampsWithOffsetsAndFractionsAreRead) {
  service_.Know(key_, R"({"user_id":"u","expires_at":"2030-01-01T01:00:00.250+01:00"})");
  auto result = Make(0)->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->key().expires_at, kStartMs + 250);
}

TEST_F(ExternalAuthenticatorTest, UnreadableOkAnswersAreUnavailable) {
  auto auth = Make(0);
  for (const char* answer :
       {"not json", "[]", R"({"email":"no-user@example.com"})",
        R"({"user_id":"u","scopes":"admin"})",
        R"({"user_id":"u","is_admin":"yes"})", R"({"user_id":"u","expires_at":"tomorrow"})"}) {
    service_.Know(key_, answer);
    auto result = auth->Authenticate(key_, "10.0.0.1");
    ASSERT_FALSE(result) << answer;
    EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable) << answer;
    const std::string* retry = HeaderValue(result.error(), "Retry-After");
    ASSERT_NE(retry, nullptr) << answer;
    EXPECT_EQ(*retry, "5");
  }
}

TEST_F(ExternalAuthenticatorTest, UnknownKeyIsUnauthenticatedAndNotCached) {
  service_.SetMode(FakeAuthService::Mode::kUnauthorized);
  auto auth = Make();
  for (int i = 0; i < 2; ++i) {
    auto result = auth->Authenticate(key_, "10.0.0.1");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
  }
  EXPECT_EQ(service_.requests().size(), 2u);
}

TEST_F(ExternalAuthenticatorTest, ForbiddenIsUnauthenticated) {
  service_.SetMode(FakeAuthService::Mode::kForbidden);
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(ExternalAuthenticatorTest, RateLimitCarriesTheServicesRetryAfter) {
  service_.SetMode(FakeAuthService::Mode::kRateLimited);
  auto auth = Make();
  struct Case {
    std::string sent;
    std::string expected;
  };
  for (const Case& c : {Case{"17", "17"}, Case{"", "60"},
                        Case{"Wed, 21 Oct 2015 07:28:00 GMT", "60"}, Case{"-1", "60"}}) {
    service_.SetRetryAfter(c.sent);
    auto result = auth->Authenticate(key_, "10.0.0.1");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kRequestLimitExceeded);
    const std::string* retry = HeaderValue(result.error(), "Retry-After");
    ASSERT_NE(retry, nullptr);
    EXPECT_EQ(*retry, c.expected) << c.sent;
  }
}

TEST_F(ExternalAuthenticatorTest, ServerErrorIsUnavailableWithRetryAfterAndNoKey) {
  service_.SetMode(FakeAuthService::Mode::kServerError);
  auto result = Make()->Authenticate(key_, "10.0.0.1");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  const std::string* retry = HeaderValue(result.error(), "Retry-After");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(*retry, "5");
  EXPECT_NE(result.error().message.find("auth service"), std::string::npos);
  EXPECT_EQ(result.error().message.find(key_), std::string::npos);
  EXPECT_EQ(result.error().message.find(DisplayPrefix(key_)), std::string::npos);
}

TEST_F(ExternalAuthenticatorTest, OtherStatusesAreUnavailable) {
  auto auth = Make();
  for (int status : {302, 400, 404, 502}) {
    service_.SetRaw("HTTP/1.1 " + std::to_string(status) +
                    " X\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n");
    auto result = auth->Authenticate(key_, "10.0.0.1");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable) << status;
  }
}

TEST_F(ExternalAuthenticatorTest, SilentServiceTimesOutAsUnavailable) {
  service_.SetMode(FakeAuthService::Mode::kSilent);
  auto started = std::chrono::steady_clock::now();
  auto result = Make(10, 300ms)->Authenticate(key_, "10.0.0.1");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(HeaderValue(result.error(), "Retry-After"), nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(ExternalAuthenticatorTest, UnreachableServiceIsUnavailableNotUnauthenticated) {
  ExternalAuthConfig config;
  {
    FakeAuthService gone;
    config.url = gone.Url();
  }  // its port is closed now
  config.timeout = 1s;
  auto auth = ExternalAuthenticator::Create(std::move(config));
  ASSERT_TRUE(auth);
  auto result = (*auth)->Authenticate(key_, "10.0.0.1");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(HeaderValue(result.error(), "Retry-After"), nullptr);
  auto ping = (*auth)->Ping();
  ASSERT_FALSE(ping);
  EXPECT_EQ(ping.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST_F(ExternalAuthenticatorTest, InsufficientBalanceIsPermissionDeniedAndNotCached) {
  service_.Know(key_, R"({"user_id":"u","has_sufficient_balance":false,"balance":0})");
  auto auth = Make();
  for (int i = 0; i < 2; ++i) {
    auto result = auth->Authenticate(key_, "10.0.0.1");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(result.error().message, "insufficient balance");
  }
  EXPECT_EQ(service_.requests().size(), 2u);
}

TEST_F(ExternalAuthenticatorTest, SecondCallIsServedFromTheCache) {
  service_.Know(key_, FullAnswer());
  auto auth = Make();
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  service_.SetMode(FakeAuthService::Mode::kServerError);  // would fail if asked
  now_ += 9'000;
  auto again = auth->Authenticate(key_, "10.0.0.1");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->user().user_id, "u-42");
  EXPECT_EQ(service_.requests().size(), 1u);
}

TEST_F(ExternalAuthenticatorTest, CacheEntriesExpire) {
  service_.Know(key_, FullAnswer());
  auto auth = Make(10);
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  now_ += 10'001;
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  EXPECT_EQ(service_.requests().size(), 2u);
}

TEST_F(ExternalAuthenticatorTest, CacheNeverOutlivesTheKey) {
  service_.Know(key_, R"({"user_id":"u","expires_at":"2030-01-01T00:00:02Z"})");
  auto auth = Make(10);
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  now_ += 2'000;
  service_.SetMode(FakeAuthService::Mode::kUnauthorized);  // the service now says: expired
  auto result = auth->Authenticate(key_, "10.0.0.1");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(ExternalAuthenticatorTest, CacheIsPerClientAddress) {
  service_.Know(key_, FullAnswer());
  auto auth = Make();
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  service_.SetMode(FakeAuthService::Mode::kUnauthorized);  // 10.0.0.2 is outside the allow-list
  auto other = auth->Authenticate(key_, "10.0.0.2");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(service_.requests().size(), 2u);
}

TEST_F(ExternalAuthenticatorTest, CacheSecondsZeroAsksEveryTime) {
  service_.Know(key_, FullAnswer());
  auto auth = Make(0);
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  ASSERT_TRUE(auth->Authenticate(key_, "10.0.0.1"));
  EXPECT_EQ(service_.requests().size(), 2u);
}

TEST_F(ExternalAuthenticatorTest, PingAsksWithoutCredentials) {
  service_.SetRaw("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
  auto auth = Make();
  ASSERT_TRUE(auth->Ping());
  auto requests = service_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].head.rfind("GET /api/v1/keys/validate HTTP/1.1\r\n", 0), 0u);
  EXPECT_TRUE(requests[0].Header("Authorization").empty());
  EXPECT_TRUE(requests[0].body.empty());
  EXPECT_FALSE(auth->IsLocal());
}

TEST(ExternalAuthenticatorConfigTest, RefusesUnusableSettings) {
  auto make = [](std::string url, std::chrono::milliseconds timeout, int cache_seconds) {
    ExternalAuthConfig config;
    config.url = std::move(url);
    config.timeout = timeout;
    config.cache_seconds = cache_seconds;
    return ExternalAuthenticator::Create(std::move(config));
  };
  auto https = make("https://auth.example.com/api/v1/keys/validate", 1s, 10);
  ASSERT_FALSE(https);
  EXPECT_EQ(https.error().message, "https is not supported for --auth-service-url in this build");
  EXPECT_FALSE(make("auth.example.com/validate", 1s, 10));
  EXPECT_FALSE(make("http://u:p@auth/validate", 1s, 10));
  EXPECT_FALSE(make("http://auth/validate", 0ms, 10));
  EXPECT_FALSE(make("http://auth/validate", 1s, -1));
  EXPECT_TRUE(make("http://auth:8080/validate", 1s, 0));
}

}  // namespace
}  // namespace hokusai::auth
