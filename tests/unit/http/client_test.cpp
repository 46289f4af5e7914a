#include "http/client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hokusai::http {
namespace {

using namespace std::chrono_literals;

// A loopback HTTP server on its own thread: reads one request per connection (head and a
// Content-Length body), records it, and writes whatever the handler returns; nullopt keeps the
// connection open without answering.
class FakeServer {
 public:
  struct Received {
    std::string head;
    std::string body;
  };
  using Handler = std::function<std::optional<std::string>(const Received&)>;

  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }

  ~FakeServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Received> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      Serve(fd);
    }
  }

  void Serve(int fd) {
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string data;
    char buf[4096];
    std::size_t head_end = std::string::npos;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    Received received;
    if (head_end != std::string::npos) {
      received.head = data.substr(0, head_end + 2);
      received.body = data.substr(head_end + 4);
      std::size_t want = ContentLength(received.head);
      while (received.body.size() < want) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        received.body.append(buf, static_cast<std::size_t>(n));
      }
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(received);
    }
    std::optional<std::string> reply = handler_(received);
    if (!reply) {
      held_.push_back(fd);
      return;
    }
    std::size_t sent = 0;
    while (sent < reply->size()) {
      ssize_t n = ::send(fd, reply->data() + sent, reply->size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }

  static std::size_t ContentLength(const std::string& head) {
    std::string lower;
    for (char c : head) {
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    std::size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<std::size_t>(std::stoul(lower.substr(at + 17)));
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<int> held_;  // touched only by the server thread until it is joined
  mutable std::mutex mutex_;
  std::vector<Received> requests_;
};

std::string Reply(int status, const std::string& body,
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  return out + body;
}

// A port nothing listens on.
uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ParseHttpUrlTest, ReadsHostPortAndTarget) {
  auto url = ParseHttpUrl("http://127.0.0.1:8080/api/v1/keys/validate?x=1");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/api/v1/keys/validate?x=1");
  EXPECT_EQ(url->Authority(), "127.0.0.1:8080");
}

TEST(ParseHttpUrlTest, DefaultsPortAndTargetByScheme) {
  auto plain = ParseHttpUrl("HTTP://auth.internal");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->target, "/");
  auto tls = ParseHttpUrl("https://auth.internal?q=1");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 443);
  EXPECT_EQ(tls->target, "/?q=1");
}

TEST(ParseHttpUrlTest, ReadsBracketedIpv6) {
  auto url = ParseHttpUrl("http://[::1]:9000/v");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->Authority(), "[::1]:9000");
}

TEST(ParseHttpUrlTest, RefusesWhatItCannotUseSafely) {
  for (const char* bad :
       {"ftp://h/", "h:80/x", "http://", "http://:80/", "http://user:pw@h/", "http://h/#frag",
        "http://h:0/", "http://h:65536/", "http://h:8a/", "http://h:/", "http://h /x",
        "http://h/x\r\nX: y", "http://[::1/", "http://[nope]/", "http://h\x01/"}) {
    auto url = ParseHttpUrl(bad);
    EXPECT_FALSE(url) << bad;
    if (!url) {
      EXPECT_EQ(url.error().code, ErrorCode::kInvalidParameterValue) << bad;
    }
  }
}

TEST(HttpClientTest, PostSendsHeadersAndBodyAndReadsTheAnswer) {
  FakeServer server([](const FakeServer::Received&) {
    return Reply(201, "{\"ok\":true}", {{"X-Answer", "yes"}});
  });
  auto response = HttpPost(server.Url("/api/v1/keys/validate"),
                           {{"Content-Type", "application/json"}, {"X-Trace", "t1"}},
                           "{\"a\":1}", 2s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "{\"ok\":true}");
  EXPECT_EQ(response->Header("x-answer"), "yes");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& head = requests[0].head;
  EXPECT_EQ(head.rfind("POST /api/v1/keys/validate HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Trace: t1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 7\r\n"), std::string::npos) << head;
  EXPECT_EQ(requests[0].body, "{\"a\":1}");
}

TEST(HttpClientTest, GetSendsNoBody) {
  FakeServer server([](const FakeServer::Received&) { return Reply(405, ""); });
  auto response = HttpGet(server.Url("/v"), {}, 2s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 405);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].head.rfind("GET /v HTTP/1.1\r\n", 0), 0u);
  EXPECT_TRUE(requests[0].body.empty());
}

TEST(HttpClientTest, HeadersThatCouldSplitTheRequestAreRefusedBeforeConnecting) {
  FakeServer server([](const FakeServer::Received&) { return Reply(200, ""); });
  for (const HeaderList& headers :
       {HeaderList{{"X-A", "v\r\nX-Injected: 1"}}, HeaderList{{"X-A", "v\nw"}},
        HeaderList{{"X-A", std::string("v\0w", 3)}}, HeaderList{{"X A", "v"}},
        HeaderList{{"X-A:", "v"}}, HeaderList{{"", "v"}}, HeaderList{{"Content-Length", "1"}},
        HeaderList{{"host", "evil"}}, HeaderList{{"Transfer-Encoding", "chunked"}}}) {
    auto response = HttpPost(server.Url(), headers, "", 2s);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kInvalidParameterValue);
  }
  EXPECT_EQ(server.connections(), 0);
}

TEST(HttpClientTest, HttpsIsRefusedInThisBuild) {
  auto response = HttpPost("https://127.0.0.1:1/v", {}, "", 1s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(response.error().message,
            "https is not supported for --auth-service-url in this build");
}

TEST(HttpClientTest, RedirectsAreReturnedNotFollowed) {
  FakeServer* self = nullptr;
  FakeServer server([&self](const FakeServer::Received&) {
    return Reply(302, "", {{"Location", self->Url("/elsewhere")}});
  });
  self = &server;
  auto response = HttpPost(server.Url("/v"), {}, "{}", 2s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClientTest, AnswerBodyOverTheLimitIsUnavailable) {
  FakeServer server([](const FakeServer::Received&) {
    return Reply(200, std::string(kMaxClientResponseBodyBytes + 1, 'x'));
  });
  auto response = HttpPost(server.Url(), {}, "{}", 5s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST(HttpClientTest, AnswerBodyAtTheLimitIsRead) {
  FakeServer server([](const FakeServer::Received&) {
    return Reply(200, std::string(kMaxClientResponseBodyBytes, 'x'));
  });
  auto response = HttpPost(server.Url(), {}, "{}", 5s);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body.size(), kMaxClientResponseBodyBytes);
}

TEST(HttpClientTest, MalformedAnswerIsUnavailable) {
  FakeServer server([](const FakeServer::Received&) { return std::string("garbage\r\n\r\n"); });
  auto response = HttpPost(server.Url(), {}, "{}", 2s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST(HttpClientTest, ASilentServerTimesOutWithinTheDeadline) {
  FakeServer server([](const FakeServer::Received&) { return std::nullopt; });
  auto started = std::chrono::steady_clock::now();
  auto response = HttpPost(server.Url(), {}, "{}", 300ms);
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(response.error().message.find("127.0.0.1:" + std::to_string(server.port())),
            std::string::npos)
      << response.error().message;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(HttpClientTest, RefusedConnectionIsUnavailableNamingHostAndPort) {
  uint16_t port = ClosedPort();
  auto response =
      HttpPost("http://127.0.0.1:" + std::to_string(port) + "/v", {}, "{}", 2s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(response.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << response.error().message;
}

TEST(HttpClientTest, ErrorMessagesNeverCarryHeaderValuesOrBody) {
  uint16_t port = ClosedPort();
  auto response = HttpPost("http://127.0.0.1:" + std::to_string(port) + "/v",
                           {{"Authorization", "Bearer secret-value"}}, "secret-body", 1s);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().message.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace hokusai::http
