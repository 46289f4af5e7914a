// Gateway mode end to end inside the process: the server relays to a loopback upstream that
// records what it receives. Keep-alive reuse, 502, 504, streaming both ways, Content-Length
// with Transfer-Encoding refused, CR/LF never forwarded, upstream errors passed back.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "auth/principal.hpp"
#include "gateway/header_policy.hpp"
#include "gateway/upstream.hpp"
#include "http/server.hpp"
#include "json/writer.hpp"

namespace hokusai::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t Fnv(uint64_t hash, const char* data, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 1099511628211ull;
  }
  return hash;
}
char PatternByte(uint64_t i) { return static_cast<char>((i * 131 + 7) & 0xFF); }

// The upstream double: one thread, one io_context. Answers by target:
//   .../hang...        never answers
//   .../missing...     404 with an MLflow error body
//   .../download?n=N   N pattern bytes, chunked (length unknown to the relay)
//   .../interim...     a 100 Continue first, then the echo
//   anything else      200 echo: {"target","connection","body_bytes","body_fnv","headers":{...}}
class Upstream {
 public:
  Upstream() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Upstream() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      int id = ++connections_;
      asio::co_spawn(io_, Serve(std::move(socket), id), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket, int id) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      bhttp::request_parser<bhttp::buffer_body> parser;
      parser.body_limit(boost::none);
      co_await bhttp::async_read_header(socket, buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++requests_;
      std::vector<char> chunk(64 * 1024);
      uint64_t bytes = 0, fnv = kFnvOffset;
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        co_await bhttp::async_read(socket, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) co_return;
        std::size_t n = chunk.size() - parser.get().body().size;
        bytes += n;
        fnv = Fnv(fnv, chunk.data(), n);
      }
      const auto& req = parser.get();
      std::string target(req.target());
      if (target.find("hang") != std::string::npos) {
        asio::steady_timer timer(socket.get_executor(), std::chrono::seconds(30));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      if (target.find("interim") != std::string::npos) {
        std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(interim),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      if (auto at = target.find("download?n="); at != std::string::npos) {
        uint64_t total = std::stoull(target.substr(at + 11));
        bhttp::response<bhttp::buffer_body> res{bhttp::status::ok, 11};
        res.set(bhttp::field::content_type, "application/octet-stream");
        res.chunked(true);
        res.body().data = nullptr;
        res.body().more = true;
        bhttp::response_serializer<bhttp::buffer_body> sr{res};
        co_await bhttp::async_write_header(socket, sr,
                                           asio::redirect_error(asio::use_awaitable, ec));
        uint64_t sent = 0;
        while (!ec && sent < total) {
          std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(chunk.size(), total - sent));
          for (std::size_t i = 0; i < n; ++i) chunk[i] = PatternByte(sent + i);
          sent += n;
          res.body().data = chunk.data();
          res.body().size = n;
          res.body().more = true;
          co_await bhttp::async_write(socket, sr, asio::redirect_error(asio::use_awaitable, ec));
          if (ec == bhttp::error::need_buffer) ec = {};
        }
        res.body().data = nullptr;
        res.body().more = false;
        co_await bhttp::async_write(socket, sr, asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.set("Set-Cookie", "upstream-session=1");
      if (target.find("missing") != std::string::npos) {
        res.result(bhttp::status::not_found);
        res.body() = R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'x' not found"})";
      } else {
        json::Writer w;
        w.BeginObject().Field("target", target).Field("method", std::string(req.method_string()));
        w.Field("connection", int64_t{id}).Field("body_bytes", static_cast<int64_t>(bytes));
        w.Field("body_fnv", std::to_string(fnv)).Key("headers").BeginObject();
        for (const auto& field : req) {
          std::string name(field.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          w.Field(name, std::string(field.value()));
        }
        w.EndObject().EndObject();
        res.body() = w.Take();
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await bhttp::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) co_return;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
};

// Admits everything as user "acme" (or the configured id).
class AllowGate final : public http::Gate {
 public:
  std::string user_id = "acme";
  Result<void> Admit(const http::Route&, http::Request& request) override {
    auth::Identity identity;
    identity.user.user_id = user_id;
    identity.key.key_id = "0123456789abcdef0123456789abcdef";
    auto principal = std::make_shared<auth::Principal>(
        std::make_shared<const auth::Identity>(std::move(identity)));
    request.principal = std::move(principal);
    return {};
  }
  void Completed(const http::Route&, const http::Request&, int) override {}
};

class ProxyTest : public ::testing::Test {
 protected:
  void Start(uint16_t upstream_port, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto config = ParseUpstreamUrl("http://127.0.0.1:" + std::to_string(upstream_port));
    ASSERT_TRUE(config.has_value());
    upstream_config_ = *config;
    upstream_config_.token = "upstream-secret";
    auto proxy = std::make_shared<http::ProxyConfig>();
    proxy->host = upstream_config_.host;
    proxy->port = upstream_config_.port;
    proxy->display = upstream_config_.Display();
    proxy->connect_timeout = std::chrono::milliseconds(500);
    proxy->timeout = timeout;
    proxy->metrics = &metrics_;
    proxy->target = [this](const http::Request& r) {
      return UpstreamTarget(upstream_config_, r.canonical_path, r.query);
    };
    proxy->request_headers = [this](const http::Request& r) {
      ForwardContext context;
      context.user_id = r.principal->user().user_id;
      context.key_id = r.principal->key().key_id;
      context.peer = r.remote_address;
      context.upstream_authorization = upstream_config_.Authorization();
      return UpstreamRequestHeaders(r.headers, context);
    };
    proxy->response_headers = [](const http::HeaderList& h) {
      return ClientResponseHeaders(h, "http://127.0.0.1", "");
    };
    const http::Access any{http::Operation::kAuthenticated, http::Resource::kNone};
    for (auto [method, path, body] :
         {std::tuple{http::Method::kGet, "/api/2.0/mlflow/{rest*}", http::BodyKind::kJson},
          std::tuple{http::Method::kPost, "/api/2.0/mlflow/{rest*}", http::BodyKind::kJson},
          std::tuple{http::Method::kPut, "/api/2.0/mlflow-artifacts/artifacts/{path*}",
                     http::BodyKind::kStream}}) {
      http::Route route{method, path, any, http::Execution::kBlocking, nullptr, body};
      route.forward = std::make_shared<const http::Forward>();
      ASSERT_TRUE(table_.Add(std::move(route)).has_value());
    }
    http::ServerConfig server_config;
    server_config.port = 0;
    server_config.workers = 1;
    server_config.blocking_threads = 2;
    server_config.access_log = false;
    server_config.proxy = proxy;
    server_ = std::make_unique<http::Server>(server_config, table_, request_metrics_, gate_);
    auto port = server_->Listen();
    ASSERT_TRUE(port.has_value());
    port_ = *port;
    thread_ = std::thread([this] { server_->Run(); });
  }

  void TearDown() override {
    if (server_) {
      server_->Stop();
      thread_.join();
    }
  }

  // One request on a new connection; the whole answer.
  bhttp::response<bhttp::string_body> Send(bhttp::request<bhttp::string_body> req) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    req.set(bhttp::field::host, "registry.example");
    req.prepare_payload();
    bhttp::write(socket, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    return res;
  }

  bhttp::response<bhttp::string_body> Get(std::string target) {
    return Send(bhttp::request<bhttp::string_body>{bhttp::verb::get, target, 11});
  }

  // Raw bytes in, raw answer out (until the server closes or `limit` bytes).
  std::string Raw(const std::string& bytes) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(socket, asio::buffer(bytes));
    std::string out;
    beast::error_code ec;
    char buf[4096];
    for (;;) {
      std::size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
      if (out.find("\r\n\r\n") != std::string::npos &&
          out.find("}") != std::string::npos) break;
    }
    return out;
  }

  Upstream upstream_;
  UpstreamConfig upstream_config_;
  http::UpstreamMetrics metrics_;
  http::RequestMetrics request_metrics_{64};
  AllowGate gate_;
  http::RouteTable table_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(ProxyTest, ForwardsTheCanonicalPathWithThePolicyHeaders) {
  Start(upstream_.port());
  bhttp::request<bhttp::string_body> req{bhttp::verb::get,
                                         "/ajax-api/2.0/mlflow/runs/get?run_id=a%20b", 11};
  req.set(bhttp::field::authorization, "Bearer hk_live_client_secret");
  req.set("X-Hokusai-User-Id", "admin");
  req.set("X-Forwarded-For", "6.6.6.6");
  req.set(bhttp::field::cookie, "a=b");
  auto res = Send(std::move(req));
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const std::string& body = res.body();
  EXPECT_NE(body.find(R"("target":"/api/2.0/mlflow/runs/get?run_id=a%20b")"), std::string::npos)
      << body;
  EXPECT_NE(body.find(R"("authorization":"Bearer upstream-secret")"), std::string::npos) << body;
  EXPECT_EQ(body.find("hk_live_client_secret"), std::string::npos);
  EXPECT_NE(body.find(R"("x-hokusai-user-id":"acme")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("x-forwarded-for":"127.0.0.1")"), std::string::npos) << body;
  EXPECT_EQ(body.find("6.6.6.6"), std::string::npos);
  EXPECT_EQ(body.find("cookie"), std::string::npos);
  EXPECT_NE(body.find(R"("host":"127.0.0.1:)"), std::string::npos) << body;
  // The upstream's cookie does not reach the client.
  EXPECT_EQ(res.find(bhttp::field::set_cookie), res.end());
}

TEST_F(ProxyTest, UpstreamConnectionsAreKeptAliveAndReused) {
  Start(upstream_.port());
  for (int i = 0; i < 5; ++i) {
    auto res = Get("/api/2.0/mlflow/experiments/get?experiment_id=1");
    ASSERT_EQ(res.result_int(), 200);
  }
  EXPECT_EQ(upstream_.requests(), 5);
  EXPECT_EQ(upstream_.connections(), 1);
}

TEST_F(ProxyTest, PostBodiesAreForwardedExactly) {
  Start(upstream_.port());
  std::string body = R"({"run_id":"r","metrics":[{"key":"k","value":1.5,"timestamp":1,"step":0}]})";
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/api/2.0/mlflow/runs/log-batch", 11};
  req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  auto res = Send(std::move(req));
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find(R"("body_fnv":")" + std::to_string(Fnv(kFnvOffset, body.data(),
                                                                     body.size())) + "\""),
            std::string::npos);
  EXPECT_NE(res.body().find(R"("method":"POST")"), std::string::npos);
}

TEST_F(ProxyTest, UpstreamErrorBodiesArePassedBackUnchanged) {
  Start(upstream_.port());
  auto res = Get("/api/2.0/mlflow/runs/get?run_id=missing");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(res.body(), R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'x' not found"})");
}

TEST_F(ProxyTest, InterimAnswersFromTheUpstreamAreSkipped) {
  Start(upstream_.port());
  auto res = Get("/api/2.0/mlflow/interim");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_NE(res.body().find("interim"), std::string::npos);
}

TEST_F(ProxyTest, RefusedConnectionIs502NamingTheUpstream) {
  uint16_t closed;
  {
    asio::io_context io;
    tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed = probe.local_endpoint().port();
  }
  Start(closed);
  auto res = Get("/api/2.0/mlflow/experiments/get?experiment_id=1");
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_NE(res.body().find(R"("error_code":"TEMPORARILY_UNAVAILABLE")"), std::string::npos);
  EXPECT_NE(res.body().find("http://127.0.0.1:" + std::to_string(closed)), std::string::npos);
  EXPECT_EQ(res.body().find("upstream-secret"), std::string::npos);
}

TEST_F(ProxyTest, SilentUpstreamIs504) {
  Start(upstream_.port(), std::chrono::milliseconds(300));
  auto res = Get("/api/2.0/mlflow/hang");
  EXPECT_EQ(res.result_int(), 504);
  EXPECT_NE(res.body().find(R"("error_code":"DEADLINE_EXCEEDED")"), std::string::npos);
  EXPECT_NE(res.body().find("timed out"), std::string::npos);
  // The connection that timed out is not reused.
  EXPECT_EQ(Get("/api/2.0/mlflow/experiments/get").result_int(), 200);
}

TEST_F(ProxyTest, ContentLengthWithTransferEncodingIsRefused) {
  Start(upstream_.port());
  std::string answer = Raw(
      "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("application/json"), std::string::npos);
  EXPECT_NE(answer.find("\"error_code\""), std::string::npos);
  EXPECT_EQ(upstream_.requests(), 0);
}

TEST_F(ProxyTest, NoCrLfEntersAForwardedHeader) {
  gate_.user_id = "acme\r\nX-Hokusai-User-Id: admin";
  Start(upstream_.port());
  auto res = Get("/api/2.0/mlflow/experiments/get");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(upstream_.requests(), 0);
}

long RssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST_F(ProxyTest, LargeUploadsAndDownloadsStreamWithFlatMemory) {
  Start(upstream_.port());
  constexpr uint64_t kBytes = 64ull * 1024 * 1024;
  long before = RssKb();
  // Upload: a raw client writing the body chunk by chunk (Expect: 100-continue included).
  {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    std::string head = "PUT /api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/big.bin HTTP/1.1\r\n"
                       "Host: x\r\nExpect: 100-continue\r\nContent-Length: " +
                       std::to_string(kBytes) + "\r\n\r\n";
    asio::write(socket, asio::buffer(head));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::empty_body> cont;
    bhttp::read(socket, buffer, cont);
    ASSERT_EQ(cont.result_int(), 100);
    std::vector<char> chunk(1 << 20);
    uint64_t fnv = kFnvOffset;
    for (uint64_t sent = 0; sent < kBytes; sent += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = PatternByte(sent + i);
      fnv = Fnv(fnv, chunk.data(), chunk.size());
      asio::write(socket, asio::buffer(chunk));
    }
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_NE(res.body().find(R"("body_bytes":)" + std::to_string(kBytes)), std::string::npos);
    EXPECT_NE(res.body().find(R"("body_fnv":")" + std::to_string(fnv) + "\""), std::string::npos);
  }
  // Download of unknown length: relayed chunked, read here chunk by chunk.
  {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port_});
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get,
                                          "/api/2.0/mlflow/download?n=" + std::to_string(kBytes),
                                          11};
    req.set(bhttp::field::host, "x");
    bhttp::write(socket, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    bhttp::read_header(socket, buffer, parser);
    ASSERT_EQ(parser.get().result_int(), 200);
    std::vector<char> chunk(1 << 20);
    uint64_t received = 0;
    bool same = true;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      beast::error_code ec;
      bhttp::read(socket, buffer, parser, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      ASSERT_FALSE(ec) << ec.message();
      std::size_t n = chunk.size() - parser.get().body().size;
      for (std::size_t i = 0; i < n && same; ++i) same = chunk[i] == PatternByte(received + i);
      received += n;
    }
    EXPECT_EQ(received, kBytes);
    EXPECT_TRUE(same);
  }
  // 64 MiB went through each way; the process grew by far less than that.
  EXPECT_LT(RssKb() - before, 40 * 1024);
}

}  // namespace
}  // namespace hokusai::gateway
