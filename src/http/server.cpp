#include "http/server.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <unordered_set>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/limits.hpp"
#include "common/util.hpp"
#include "http/canonical_path.hpp"
#include "http/error_response.hpp"
#include "json/writer.hpp"

namespace hokusai::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using BeastResponse = bhttp::response<bhttp::string_body>;

Method ToMethod(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get: return Method::kGet;
    case bhttp::verb::post: return Method::kPost;
    case bhttp::verb::put: return Method::kPut;
    case bhttp::verb::patch: return Method::kPatch;
    case bhttp::verb::delete_: return Method::kDelete;
    default: return Method::kOther;
  }
}

bool IsJsonContentType(std::string_view value) {
  std::string_view media = value.substr(0, value.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(media, "application/json");
}

// Headers never copied into Request: credentials are handled by the auth layer alone.
bool IsCredentialHeader(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "x-api-key" || lower_name == "cookie" ||
         lower_name == "proxy-authorization";
}

std::string_view TrimSpaces(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Adds one credential found in the headers. Empty secrets, and a second credential that differs
// from the first, make the whole credential malformed.
void AddCredential(Credential& credential, Credential::Source source, std::string_view secret) {
  if (secret.empty() ||
      (credential.source != Credential::Source::kNone && credential.secret != secret)) {
    credential.malformed = true;
    return;
  }
  credential.source = source;
  credential.secret = std::string(secret);
}

// Reads `Authorization` (Bearer, Basic with the key as password, ApiKey) and `X-API-Key`.
Credential ExtractCredential(const bhttp::request_header<>& header) {
  Credential credential;
  if (header.count(bhttp::field::authorization) > 1 || header.count("x-api-key") > 1) {
    credential.malformed = true;
    return credential;
  }
  auto authorization = header.find(bhttp::field::authorization);
  if (authorization != header.end()) {
    std::string_view value = TrimSpaces(authorization->value());
    std::size_t space = value.find(' ');
    std::string_view scheme = value.substr(0, space);
    std::string_view rest = space == std::string_view::npos ? std::string_view()
                                                            : TrimSpaces(value.substr(space));
    if (beast::iequals(scheme, "bearer")) {
      AddCredential(credential, Credential::Source::kBearer, rest);
    } else if (beast::iequals(scheme, "apikey")) {
      AddCredential(credential, Credential::Source::kApiKeyScheme, rest);
    } else if (beast::iequals(scheme, "basic")) {
      auto decoded = Base64Decode(rest);
      std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) {
        credential.malformed = true;
      } else {
        AddCredential(credential, Credential::Source::kBasic,
                      std::string_view(*decoded).substr(colon + 1));
      }
    } else {
      credential.malformed = true;
    }
  }
  auto api_key = header.find("x-api-key");
  if (api_key != header.end()) {
    AddCredential(credential, Credential::Source::kApiKeyHeader, TrimSpaces(api_key->value()));
  }
  return credential;
}

struct SessionState {
  beast::tcp_stream* stream;
  bool busy = false;
};

// The buffer a streamed body passes through, one chunk at a time. Leased from a small per-thread
// pool and never zero-filled: allocating and clearing a fresh megabyte for every relayed or
// streamed answer cost more CPU than everything else a small forwarded request does (memset and
// page faults were a fifth of the gateway's profile).
class ChunkLease {
 public:
  ChunkLease() {
    auto& pool = Pool();
    if (pool.empty()) {
      data_.reset(new char[limits::kStreamChunkBytes]);
    } else {
      data_ = std::move(pool.back());
      pool.pop_back();
    }
  }
  ~ChunkLease() {
    auto& pool = Pool();
    if (pool.size() < kKeptPerThread) pool.push_back(std::move(data_));
  }
  ChunkLease(const ChunkLease&) = delete;
  ChunkLease& operator=(const ChunkLease&) = delete;

  char* data() { return data_.get(); }
  static constexpr std::size_t size() { return limits::kStreamChunkBytes; }

 private:
  static constexpr std::size_t kKeptPerThread = 8;
  static std::vector<std::unique_ptr<char[]>>& Pool() {
    thread_local std::vector<std::unique_ptr<char[]>> pool;
    return pool;
  }
  std::unique_ptr<char[]> data_;
};

// ---- gateway mode: the upstream side -------------------------------------------------------

// Idle upstream connections older than this are not reused: MLflow's servers close idle
// keep-alive connections after a few seconds (gunicorn 2 s, uvicorn 5 s), and reusing one
// the upstream is closing would fail the request.
constexpr auto kUpstreamIdleMax = std::chrono::milliseconds(1500);
constexpr std::size_t kUpstreamIdlePerWorker = 32;
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;

// One connection to the upstream. Belongs to one worker's io_context and is only touched on
// that worker's thread.
struct UpstreamConnection {
  explicit UpstreamConnection(const asio::any_io_executor& executor) : stream(executor) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;
};

// Why an exchange with the upstream failed: 502 (refused, reset, malformed) or 504 (timeout).
struct UpstreamFailure {
  int status = 502;
  std::string message;
};

UpstreamFailure Failure(const ProxyConfig& proxy, const beast::error_code& ec,
                        std::string_view what) {
  if (ec == beast::error::timeout) {
    return {504, fmt::format("Upstream MLflow server {} timed out {}", proxy.display, what)};
  }
  return {502, fmt::format("Upstream MLflow server {} failed {}: {}", proxy.display, what,
                           ec.message())};
}

// MLflow-style error body for gateway failures (error codes the MLflow client knows).
Response GatewayErrorResponse(const UpstreamFailure& failure) {
  json::Writer w;
  w.BeginObject()
      .Field("error_code", failure.status == 504 ? "DEADLINE_EXCEEDED" : "TEMPORARILY_UNAVAILABLE")
      .Field("message", failure.message)
      .EndObject();
  return Response::Json(w.Take(), failure.status);
}

// ErrorResponse, with the status an upstream failure asks for (kUpstreamFailureHeader).
Response ErrorAnswer(const Error& error) {
  Response response = ErrorResponse(error);
  for (auto it = response.headers.begin(); it != response.headers.end(); ++it) {
    if (beast::iequals(it->first, kUpstreamFailureHeader)) {
      response.status = it->second == "504" ? 504 : 502;
      response.headers.erase(it);
      break;
    }
  }
  return response;
}

bhttp::verb ToVerb(Method method) {
  switch (method) {
    case Method::kGet: return bhttp::verb::get;
    case Method::kHead: return bhttp::verb::head;
    case Method::kPost: return bhttp::verb::post;
    case Method::kPut: return bhttp::verb::put;
    case Method::kPatch: return bhttp::verb::patch;
    case Method::kDelete: return bhttp::verb::delete_;
    case Method::kOther: break;
  }
  return bhttp::verb::unknown;
}

// Sets policy-approved headers on an outgoing message. The policy has already refused CR, LF
// and NUL; this is the last line of defence before bytes hit the wire.
template <typename Fields>
bool SetHeaders(Fields& fields, const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        name.find_first_of(std::string_view(" :\r\n\0", 5)) != std::string::npos) {
      return false;
    }
    fields.insert(name, value);
  }
  return true;
}

}  // namespace

struct Server::Impl {
  Impl(ServerConfig c, const RouteTable& r, RequestMetrics& m, Gate& g)
      : config(std::move(c)),
        routes(r),
        metrics(m),
        gate(g),
        blocking(static_cast<std::size_t>(config.blocking_threads)) {}

  ServerConfig config;
  const RouteTable& routes;
  RequestMetrics& metrics;
  Gate& gate;
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<asio::io_context>> workers;
  // Sessions per worker; each set is touched only on its worker's thread.
  std::vector<std::unordered_set<SessionState*>> sessions;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::atomic<bool> stopping{false};
  std::atomic<int> active_sessions{0};
  // Run() waits on it for a signal (or Stop()).
  asio::io_context signals_ctx{1};

  // What routing decided for one request, before its body is read.
  struct Match {
    Method method = Method::kOther;
    std::optional<Error> error;  // the target was refused
    const Route* route = nullptr;
    bool path_known = false;
    Request request;  // everything but the body
  };

  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(tcp::socket socket, std::size_t worker);
  Match MatchRoute(const bhttp::request_header<>& header, const std::string& remote);
  asio::awaitable<Result<Response>> Invoke(Match& match);
  asio::awaitable<Result<Response>> ReceiveUpload(beast::tcp_stream& stream,
                                                  beast::flat_buffer& buffer,
                                                  bhttp::request_parser<bhttp::buffer_body>& parser,
                                                  Match& match, bool& broken);
  asio::awaitable<bool> Send(beast::tcp_stream& stream, Response&& response, unsigned version,
                             bool keep_alive, bool head);

  // Gateway mode. Idle upstream connections per worker, each list touched only on its worker.
  std::vector<std::vector<std::unique_ptr<UpstreamConnection>>> upstream_idle;
  // What a forwarded request came to: `response` still to be sent (errors, answers an `after`
  // hook rewrote), or already relayed (`response` empty) with `status`.
  struct Relayed {
    std::optional<Response> response;
    int status = 0;
    bool client_ok = true;  // the client connection can carry another request
  };
  asio::awaitable<Result<Response>> AdmitForward(Match& match);
  asio::awaitable<tl::expected<std::unique_ptr<UpstreamConnection>, UpstreamFailure>>
  UpstreamConnect(std::size_t worker, bool reuse);
  void UpstreamRelease(std::size_t worker, std::unique_ptr<UpstreamConnection> conn);
  asio::awaitable<tl::expected<std::unique_ptr<bhttp::response_parser<bhttp::empty_body>>,
                               UpstreamFailure>>
  UpstreamReadHead(UpstreamConnection& conn, bool head);
  asio::awaitable<Relayed> ForwardBuffered(beast::tcp_stream& client, Match& match,
                                           std::size_t worker, unsigned version, bool keep_alive,
                                           bool head);
  asio::awaitable<Relayed> ForwardStreamed(beast::tcp_stream& client, beast::flat_buffer& buffer,
                                           bhttp::request_parser<bhttp::buffer_body>& parser,
                                           Match& match, std::size_t worker, unsigned version,
                                           bool keep_alive);
  asio::awaitable<Relayed> RelayAnswer(
      beast::tcp_stream& client, Match& match, std::size_t worker,
      std::unique_ptr<UpstreamConnection> conn,
      std::unique_ptr<bhttp::response_parser<bhttp::empty_body>> head_parser, unsigned version,
      bool keep_alive, bool head);
  Response Finish(const Match& match, Result<Response>&& result);
  void Record(const Match& match, int status, std::chrono::steady_clock::time_point started,
              std::string_view method_name);
};

Server::Server(ServerConfig config, const RouteTable& routes, RequestMetrics& metrics,
               Gate& gate) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (config.workers <= 0) config.workers = static_cast<int>(cores);
  if (config.blocking_threads <= 0) config.blocking_threads = std::max(4, 2 * static_cast<int>(cores));
  impl_ = std::make_unique<Impl>(std::move(config), routes, metrics, gate);
  for (int i = 0; i < impl_->config.workers; ++i) {
    impl_->workers.push_back(std::make_unique<asio::io_context>(1));
  }
  impl_->sessions.resize(impl_->workers.size());
  impl_->upstream_idle.resize(impl_->workers.size());
}

Server::~Server() = default;

Result<uint16_t> Server::Listen() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->config.host, ec);
  if (ec) {
    return InvalidParameter(fmt::format("invalid --host '{}': {}", impl_->config.host, ec.message()));
  }
  tcp::endpoint endpoint(address, impl_->config.port);
  auto acceptor = std::make_unique<tcp::acceptor>(*impl_->workers[0]);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot listen on {}:{}: {}", impl_->config.host, impl_->config.port,
                            ec.message()));
  }
  uint16_t port = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  return port;
}

asio::awaitable<void> Server::Impl::Accept() {
  std::size_t next = 0;
  for (;;) {
    std::size_t worker = next++ % workers.size();
    beast::error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(
        *workers[worker], asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    // A session that ends by an exception closes its connection; say so instead of silently.
    asio::co_spawn(*workers[worker], Session(std::move(socket), worker),
                   [](std::exception_ptr failure) {
                     if (!failure) return;
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& e) {
                       spdlog::error("connection closed by an internal error: {}", e.what());
                     } catch (...) {
                       spdlog::error("connection closed by an internal error");
                     }
                   });
  }
}

Server::Impl::Match Server::Impl::MatchRoute(const bhttp::request_header<>& header,
                                        const std::string& remote) {
  Match match;
  match.method = header.method() == bhttp::verb::head ? Method::kGet : ToMethod(header.method());
  std::string_view target(header.target().data(), header.target().size());
  auto canonical = Canonicalize(target, config.static_prefix);
  if (!canonical) {
    match.error = canonical.error();
    return match;
  }
  PathParams path_params;
  match.route = routes.Find(match.method, canonical->path, &match.path_known, &path_params);
  Request& request = match.request;
  request.method = match.method;
  request.canonical_path = std::move(canonical->path);
  request.query = std::move(canonical->query);
  request.path_params = std::move(path_params);
  request.remote_address = remote;
  if (match.route == nullptr) return match;
  request.credential = ExtractCredential(header);
  for (const auto& field : header) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (IsCredentialHeader(name)) continue;
    if (name == "content-type") request.content_type = std::string(field.value());
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  return match;
}

namespace {

// A JSON route's body must say it is JSON (security principle 7), whether it is handled here or
// forwarded.
Result<void> CheckJsonContentType(const Route& route, const Request& request) {
  if (route.body == BodyKind::kJson && !request.body.empty() &&
      !IsJsonContentType(request.content_type)) {
    return Fail(ErrorCode::kInvalidParameterValue,
                "Bad Request. Content-Type must be 'application/json'");
  }
  return {};
}

}  // namespace

asio::awaitable<Result<Response>> Server::Impl::Invoke(Match& match) {
  const auto* route = match.route;
  Request& request = match.request;
  if (auto json = CheckJsonContentType(*route, request); !json) {
    co_return tl::unexpected(json.error());
  }
  bool gated = route->access.operation != Operation::kPublic;
  auto invoke = [this, route, &request, gated]() -> Result<Response> {
    try {
      if (gated) HK_CHECK(gate.Admit(*route, request));
      return route->handler(request);
    } catch (const std::exception& e) {
      spdlog::error("handler for {} threw: {}", route->path, e.what());
      return Fail(ErrorCode::kInternalError, "Internal error");
    }
  };
  if (route->execution == Execution::kInline && !gated) co_return invoke();
  co_return co_await asio::co_spawn(
      blocking, [&invoke]() -> asio::awaitable<Result<Response>> { co_return invoke(); },
      asio::use_awaitable);
}

// Runs `fn` on the blocking pool and resumes on the caller's worker; exceptions become errors.
template <typename T, typename Fn>
asio::awaitable<Result<T>> OnPool(asio::thread_pool& pool, Fn&& fn) {
  co_return co_await asio::co_spawn(
      pool,
      [&fn]() -> asio::awaitable<Result<T>> {
        try {
          co_return fn();
        } catch (const std::exception& e) {
          spdlog::error("blocking call threw: {}", e.what());
          co_return Fail(ErrorCode::kInternalError, "Internal error");
        }
      },
      asio::use_awaitable);
}

asio::awaitable<Result<Response>> Server::Impl::ReceiveUpload(
    beast::tcp_stream& stream, beast::flat_buffer& buffer,
    bhttp::request_parser<bhttp::buffer_body>& parser, Match& match, bool& broken) {
  Request& request = match.request;
  const http::Route* route = match.route;
  auto opened = co_await OnPool<std::unique_ptr<UploadHandler>>(
      blocking, [&]() -> Result<std::unique_ptr<UploadHandler>> {
        if (route->access.operation != Operation::kPublic) HK_CHECK(gate.Admit(*route, request));
        return route->upload(request);
      });
  if (!opened) {
    // The body was not read: the connection cannot carry another request.
    broken = !parser.is_done();
    co_return tl::unexpected(opened.error());
  }
  std::unique_ptr<UploadHandler> upload = std::move(*opened);

  ChunkLease chunk;
  beast::error_code ec;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
    co_await bhttp::async_read(stream, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      broken = true;
      if (ec == bhttp::error::body_limit) co_return Fail(ErrorCode::kBadRequest, "Request body too large");
      co_return Fail(ErrorCode::kBadRequest, "Upload interrupted");
    }
    std::size_t received = chunk.size() - parser.get().body().size;
    if (received == 0) continue;
    std::string_view data(chunk.data(), received);
    auto written = co_await OnPool<bool>(blocking, [&]() -> Result<bool> {
      HK_CHECK(upload->Write(data));
      return true;
    });
    if (!written) {
      // The rest of the body is not read: the connection cannot be reused.
      broken = true;
      co_return tl::unexpected(written.error());
    }
  }
  co_return co_await OnPool<Response>(blocking, [&] { return upload->Finish(); });
}

asio::awaitable<bool> Server::Impl::Send(beast::tcp_stream& stream, Response&& response,
                                         unsigned version, bool keep_alive, bool head) {
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
  if (!response.stream) {
    BeastResponse out{static_cast<bhttp::status>(response.status), version};
    if (!response.content_type.empty()) out.set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) out.set(name, value);
    out.keep_alive(keep_alive);
    if (head) {
      out.content_length(response.body.size());
    } else {
      out.body() = std::move(response.body);
      out.prepare_payload();
    }
    co_await bhttp::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }

  // Streamed body: header first, then chunks read on the blocking pool, one buffer in memory.
  bhttp::response<bhttp::buffer_body> out{static_cast<bhttp::status>(response.status), version};
  if (!response.content_type.empty()) out.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) out.set(name, value);
  out.keep_alive(keep_alive);
  out.content_length(static_cast<uint64_t>(response.stream->Size()));
  out.body().data = nullptr;
  out.body().more = !head;
  bhttp::response_serializer<bhttp::buffer_body> serializer{out};
  co_await bhttp::async_write_header(stream, serializer,
                                     asio::redirect_error(asio::use_awaitable, ec));
  if (ec || head) co_return !ec;
  ChunkLease chunk;
  int64_t remaining = response.stream->Size();
  ByteSource& source = *response.stream;
  while (remaining > 0) {
    auto read = co_await OnPool<std::size_t>(
        blocking, [&] { return source.Read(chunk.data(), chunk.size()); });
    if (!read || *read == 0) {
      // The declared length can no longer be met: abort the connection.
      spdlog::error("streamed response ended early: {}", read ? "short read" : read.error().message);
      co_return false;
    }
    std::size_t n = std::min<std::size_t>(*read, static_cast<std::size_t>(remaining));
    remaining -= static_cast<int64_t>(n);
    out.body().data = chunk.data();
    out.body().size = n;
    out.body().more = remaining > 0;
    stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
    co_await bhttp::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return false;
  }
  if (!serializer.is_done()) {
    out.body().data = nullptr;
    out.body().more = false;
    co_await bhttp::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
  }
  co_return !ec;
}

// ---- gateway mode ----------------------------------------------------------------------------

asio::awaitable<Result<Response>> Server::Impl::AdmitForward(Match& match) {
  const Route* route = match.route;
  Request& request = match.request;
  if (auto json = CheckJsonContentType(*route, request); !json) {
    co_return tl::unexpected(json.error());
  }
  if (route->access.operation == Operation::kPublic) co_return Response{};
  co_return co_await OnPool<Response>(blocking, [&]() -> Result<Response> {
    HK_CHECK(gate.Admit(*route, request));
    return Response{};
  });
}

asio::awaitable<tl::expected<std::unique_ptr<UpstreamConnection>, UpstreamFailure>>
Server::Impl::UpstreamConnect(std::size_t worker, bool reuse) {
  const ProxyConfig& proxy = *config.proxy;
  auto& idle = upstream_idle[worker];
  auto now = std::chrono::steady_clock::now();
  while (reuse && !idle.empty()) {
    std::unique_ptr<UpstreamConnection> conn = std::move(idle.back());
    idle.pop_back();
    if (now - conn->idle_since <= kUpstreamIdleMax) {
      conn->reused = true;
      co_return conn;
    }
  }
  auto executor = co_await asio::this_coro::executor;
  auto conn = std::make_unique<UpstreamConnection>(executor);
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  auto address = asio::ip::make_address(proxy.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, proxy.port);
  } else {
    tcp::resolver resolver(executor);
    auto results = co_await resolver.async_resolve(proxy.host, std::to_string(proxy.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return tl::unexpected(Failure(proxy, ec, "name resolution"));
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  conn->stream.expires_after(proxy.connect_timeout);
  co_await conn->stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return tl::unexpected(Failure(proxy, ec, "to accept a connection"));
  conn->stream.socket().set_option(tcp::no_delay(true), ec);
  co_return conn;
}

void Server::Impl::UpstreamRelease(std::size_t worker, std::unique_ptr<UpstreamConnection> conn) {
  auto& idle = upstream_idle[worker];
  if (stopping || idle.size() >= kUpstreamIdlePerWorker || conn->buffer.size() != 0) return;
  conn->idle_since = std::chrono::steady_clock::now();
  conn->stream.expires_never();
  idle.push_back(std::move(conn));
}

// Reads the answer head, skipping interim 1xx answers (100 Continue).
asio::awaitable<tl::expected<std::unique_ptr<bhttp::response_parser<bhttp::empty_body>>,
                             UpstreamFailure>>
Server::Impl::UpstreamReadHead(UpstreamConnection& conn, bool head) {
  const ProxyConfig& proxy = *config.proxy;
  for (int interim = 0; interim < 8; ++interim) {
    auto parser = std::make_unique<bhttp::response_parser<bhttp::empty_body>>();
    parser->header_limit(kUpstreamHeaderLimit);
    parser->body_limit(boost::none);
    if (head) parser->skip(true);
    beast::error_code ec;
    conn.stream.expires_after(proxy.timeout);
    co_await bhttp::async_read_header(conn.stream, conn.buffer, *parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return tl::unexpected(Failure(proxy, ec, "answering"));
    if (parser->get().result_int() / 100 != 1) co_return parser;
  }
  co_return tl::unexpected(UpstreamFailure{502, fmt::format("Upstream MLflow server {} sent too "
                                                            "many interim answers",
                                                            proxy.display)});
}

asio::awaitable<Server::Impl::Relayed> Server::Impl::ForwardBuffered(
    beast::tcp_stream& client, Match& match, std::size_t worker, unsigned version,
    bool keep_alive, bool head) {
  const ProxyConfig& proxy = *config.proxy;
  Request& request = match.request;
  auto admitted = co_await AdmitForward(match);
  if (!admitted) co_return Relayed{ErrorAnswer(admitted.error())};
  auto headers = proxy.request_headers(request);
  if (!headers) co_return Relayed{ErrorResponse(headers.error())};

  bhttp::request<bhttp::string_body> out{head ? bhttp::verb::head : ToVerb(match.route->method),
                                         proxy.target(request), 11};
  out.set(bhttp::field::host, fmt::format("{}:{}", proxy.host.find(':') != std::string::npos
                                                        ? "[" + proxy.host + "]"
                                                        : proxy.host,
                                          proxy.port));
  if (!SetHeaders(out, *headers)) {
    co_return Relayed{ErrorResponse(Error{ErrorCode::kBadRequest, "Header cannot be forwarded"})};
  }
  out.keep_alive(true);
  // An `after` hook reads the request again (the name a rename or delete acted on).
  bool keep_body = match.route->forward && match.route->forward->after;
  out.body() = keep_body ? request.body : std::move(request.body);
  if (!out.body().empty() || out.method() == bhttp::verb::post ||
      out.method() == bhttp::verb::put || out.method() == bhttp::verb::patch) {
    out.prepare_payload();
  }

  auto started = std::chrono::steady_clock::now();
  auto record = [&](UpstreamMetrics::Outcome outcome) {
    if (proxy.metrics == nullptr) return;
    proxy.metrics->Record(outcome, std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
  };
  // A reused connection the upstream closed while idle fails before any answer byte: the
  // request is sent again once, on a new connection.
  for (int attempt = 0;; ++attempt) {
    auto conn = co_await UpstreamConnect(worker, attempt == 0);
    if (!conn) {
      record(conn.error().status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                        : UpstreamMetrics::Outcome::kConnectError);
      co_return Relayed{GatewayErrorResponse(conn.error())};
    }
    beast::error_code ec;
    (*conn)->stream.expires_after(proxy.timeout);
    co_await bhttp::async_write((*conn)->stream, out, asio::redirect_error(asio::use_awaitable, ec));
    if (ec && (*conn)->reused && attempt == 0 && ec != beast::error::timeout) continue;
    if (ec) {
      UpstreamFailure failure = Failure(proxy, ec, "receiving the request");
      record(failure.status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                   : UpstreamMetrics::Outcome::kBroken);
      co_return Relayed{GatewayErrorResponse(failure)};
    }
    auto answer_head = co_await UpstreamReadHead(**conn, head);
    if (!answer_head) {
      if ((*conn)->reused && attempt == 0 && answer_head.error().status == 502) continue;
      record(answer_head.error().status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                               : UpstreamMetrics::Outcome::kBroken);
      co_return Relayed{GatewayErrorResponse(answer_head.error())};
    }
    record(UpstreamMetrics::Outcome::kAnswered);
    co_return co_await RelayAnswer(client, match, worker, std::move(*conn),
                                   std::move(*answer_head), version, keep_alive, head);
  }
}

asio::awaitable<Server::Impl::Relayed> Server::Impl::ForwardStreamed(
    beast::tcp_stream& client, beast::flat_buffer& buffer,
    bhttp::request_parser<bhttp::buffer_body>& parser, Match& match, std::size_t worker,
    unsigned version, bool keep_alive) {
  const ProxyConfig& proxy = *config.proxy;
  Request& request = match.request;
  // The body is not read yet: any early answer leaves the client connection unusable.
  auto early = [&](Response response) {
    return Relayed{std::move(response), 0, parser.is_done()};
  };
  auto admitted = co_await AdmitForward(match);
  if (!admitted) co_return early(ErrorAnswer(admitted.error()));
  auto headers = proxy.request_headers(request);
  if (!headers) co_return early(ErrorResponse(headers.error()));

  bhttp::request<bhttp::buffer_body> out{ToVerb(match.route->method), proxy.target(request), 11};
  out.set(bhttp::field::host, fmt::format("{}:{}", proxy.host.find(':') != std::string::npos
                                                        ? "[" + proxy.host + "]"
                                                        : proxy.host,
                                          proxy.port));
  if (!SetHeaders(out, *headers)) {
    co_return early(ErrorResponse(Error{ErrorCode::kBadRequest, "Header cannot be forwarded"}));
  }
  out.keep_alive(true);
  if (auto length = parser.content_length()) {
    out.content_length(*length);
  } else {
    out.chunked(true);
  }
  out.body().data = nullptr;
  out.body().more = true;

  auto started = std::chrono::steady_clock::now();
  auto record = [&](UpstreamMetrics::Outcome outcome) {
    if (proxy.metrics == nullptr) return;
    proxy.metrics->Record(outcome, std::chrono::duration<double>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
  };
  // Uploads cannot be sent twice (the body is consumed as it is relayed): a new connection.
  auto conn = co_await UpstreamConnect(worker, false);
  if (!conn) {
    record(conn.error().status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                      : UpstreamMetrics::Outcome::kConnectError);
    co_return early(GatewayErrorResponse(conn.error()));
  }
  UpstreamConnection& upstream = **conn;
  bhttp::request_serializer<bhttp::buffer_body> serializer{out};
  beast::error_code ec;
  upstream.stream.expires_after(proxy.timeout);
  co_await bhttp::async_write_header(upstream.stream, serializer,
                                     asio::redirect_error(asio::use_awaitable, ec));
  // One chunk in memory at a time: read from the client, write to the upstream, repeat.
  ChunkLease chunk;
  bool client_broken = false;
  while (!ec && !parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    beast::error_code read_ec;
    client.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
    co_await bhttp::async_read(client, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, read_ec));
    if (read_ec == bhttp::error::need_buffer) read_ec = {};
    if (read_ec) {
      // The client went away or sent too much: the upstream must not see a complete body.
      record(UpstreamMetrics::Outcome::kBroken);
      beast::error_code ignored;
      upstream.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      Response response = ErrorResponse(Error{
          ErrorCode::kBadRequest, read_ec == bhttp::error::body_limit ? "Request body too large"
                                                                      : "Upload interrupted"});
      co_return Relayed{std::move(response), 0, false};
    }
    std::size_t received = chunk.size() - parser.get().body().size;
    if (received == 0) continue;
    out.body().data = chunk.data();
    out.body().size = received;
    out.body().more = true;
    upstream.stream.expires_after(proxy.timeout);
    co_await bhttp::async_write(upstream.stream, serializer,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
  }
  if (!ec) {
    out.body().data = nullptr;
    out.body().size = 0;
    out.body().more = false;
    upstream.stream.expires_after(proxy.timeout);
    co_await bhttp::async_write(upstream.stream, serializer,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
  }
  client_broken = !parser.is_done();
  if (ec) {
    // The upstream stopped reading; it may still have answered (e.g. 413): relay that if so.
    auto answer_head = co_await UpstreamReadHead(upstream, false);
    if (!answer_head) {
      UpstreamFailure failure = Failure(proxy, ec, "receiving the upload");
      record(failure.status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                   : UpstreamMetrics::Outcome::kBroken);
      co_return Relayed{GatewayErrorResponse(failure), 0, false};
    }
    record(UpstreamMetrics::Outcome::kAnswered);
    Relayed relayed = co_await RelayAnswer(client, match, worker, std::move(*conn),
                                           std::move(*answer_head), version, false, false);
    relayed.client_ok = false;
    co_return relayed;
  }
  auto answer_head = co_await UpstreamReadHead(upstream, false);
  if (!answer_head) {
    record(answer_head.error().status == 504 ? UpstreamMetrics::Outcome::kTimeout
                                             : UpstreamMetrics::Outcome::kBroken);
    co_return Relayed{GatewayErrorResponse(answer_head.error()), 0, !client_broken};
  }
  record(UpstreamMetrics::Outcome::kAnswered);
  co_return co_await RelayAnswer(client, match, worker, std::move(*conn), std::move(*answer_head),
                                 version, keep_alive && !client_broken, false);
}

asio::awaitable<Server::Impl::Relayed> Server::Impl::RelayAnswer(
    beast::tcp_stream& client, Match& match, std::size_t worker,
    std::unique_ptr<UpstreamConnection> conn,
    std::unique_ptr<bhttp::response_parser<bhttp::empty_body>> head_parser, unsigned version,
    bool keep_alive, bool head) {
  const ProxyConfig& proxy = *config.proxy;
  const auto& answer = head_parser->get();
  int status = static_cast<int>(answer.result_int());
  HeaderList upstream_headers;
  std::string content_type;
  for (const auto& field : answer) {
    if (field.name() == bhttp::field::content_type) {
      content_type = std::string(field.value());
      continue;
    }
    upstream_headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  HeaderList client_headers = proxy.response_headers(upstream_headers);
  bool upstream_reusable = answer.keep_alive();
  boost::optional<std::uint64_t> length = head_parser->content_length();
  bool bodiless = head || status == 204 || status == 304 || head_parser->is_done();

  const std::shared_ptr<const Forward>& forward = match.route->forward;
  if (forward && forward->after) {
    // Read whole (bounded), let the hook rewrite it on the blocking pool, send as usual.
    bhttp::response_parser<bhttp::string_body> parser{std::move(*head_parser)};
    parser.body_limit(proxy.max_buffered_answer_bytes);
    beast::error_code ec;
    if (!parser.is_done()) {
      conn->stream.expires_after(proxy.timeout);
      co_await bhttp::async_read(conn->stream, conn->buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      UpstreamFailure failure = ec == bhttp::error::body_limit
                                    ? UpstreamFailure{502, fmt::format(
                                                               "Upstream MLflow server {} answered "
                                                               "with more than {} bytes",
                                                               proxy.display,
                                                               proxy.max_buffered_answer_bytes)}
                                    : Failure(proxy, ec, "sending its answer");
      co_return Relayed{GatewayErrorResponse(failure)};
    }
    Response response;
    response.status = status;
    response.content_type = content_type;
    response.headers = std::move(client_headers);
    response.body = std::move(parser.get().body());
    if (upstream_reusable) UpstreamRelease(worker, std::move(conn));
    auto rewritten = co_await OnPool<Response>(blocking, [&]() -> Result<Response> {
      return forward->after(match.request, std::move(response));
    });
    co_return Relayed{rewritten ? std::move(*rewritten) : ErrorAnswer(rewritten.error())};
  }

  // Streamed through: the head, then one chunk at a time.
  bhttp::response_parser<bhttp::buffer_body> parser{std::move(*head_parser)};
  bhttp::response<bhttp::buffer_body> out{static_cast<bhttp::status>(status), version};
  if (!content_type.empty()) out.set(bhttp::field::content_type, content_type);
  SetHeaders(out, client_headers);
  if (length) {
    out.content_length(*length);
  } else if (!bodiless && version >= 11) {
    out.chunked(true);
  } else if (!bodiless) {
    keep_alive = false;  // HTTP/1.0 client, unknown length: the close ends the body
  }
  out.keep_alive(keep_alive);
  out.body().data = nullptr;
  out.body().more = !bodiless;
  bhttp::response_serializer<bhttp::buffer_body> serializer{out};
  beast::error_code ec;
  client.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
  co_await bhttp::async_write_header(client, serializer,
                                     asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Relayed{std::nullopt, status, false};
  if (bodiless) {
    if (upstream_reusable && parser.is_done()) UpstreamRelease(worker, std::move(conn));
    co_return Relayed{std::nullopt, status, true};
  }
  ChunkLease chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    conn->stream.expires_after(proxy.timeout);
    co_await bhttp::async_read(conn->stream, conn->buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      // The head is out: the status cannot change any more. Closing the client connection
      // is the only way left to say the body is incomplete.
      spdlog::warn("upstream {} broke off an answer: {}", proxy.display, ec.message());
      co_return Relayed{std::nullopt, status, false};
    }
    std::size_t received = chunk.size() - parser.get().body().size;
    if (received == 0 && !parser.is_done()) continue;
    out.body().data = received == 0 ? nullptr : chunk.data();
    out.body().size = received;
    out.body().more = !parser.is_done();
    client.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
    co_await bhttp::async_write(client, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return Relayed{std::nullopt, status, false};
  }
  if (!serializer.is_done()) {
    out.body().data = nullptr;
    out.body().size = 0;
    out.body().more = false;
    co_await bhttp::async_write(client, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return Relayed{std::nullopt, status, false};
  }
  if (upstream_reusable) UpstreamRelease(worker, std::move(conn));
  co_return Relayed{std::nullopt, status, keep_alive};
}

Response Server::Impl::Finish(const Match& match, Result<Response>&& result) {
  if (match.error) return ErrorResponse(*match.error);
  if (match.route == nullptr) {
    Response response = NotFoundResponse();
    if (match.path_known) response.status = 405;
    return response;
  }
  return result ? std::move(*result) : ErrorAnswer(result.error());
}

void Server::Impl::Record(const Match& match, int status,
                          std::chrono::steady_clock::time_point started,
                          std::string_view method_name) {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long route_index = match.route ? match.route - routes.routes().data() : -1;
  metrics.Record(route_index, status, seconds);
  if (config.access_log) {
    std::string_view path = match.error ? std::string_view("(rejected path)")
                                        : std::string_view(match.request.canonical_path);
    spdlog::info("{} {} {} {} {:.3f}ms", match.request.remote_address.empty()
                                             ? "-" : match.request.remote_address,
                 method_name, path, status, seconds * 1000);
  }
}

asio::awaitable<void> Server::Impl::Session(tcp::socket socket, std::size_t worker) {
  beast::error_code ec;
  auto remote_endpoint = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string("unknown") : remote_endpoint.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  SessionState state{&stream};
  sessions[worker].insert(&state);
  active_sessions.fetch_add(1);
  beast::flat_buffer buffer;
  bool first = true;

  for (;;) {
    if (stopping) break;
    state.busy = false;
    bhttp::request_parser<bhttp::empty_body> header_parser;
    header_parser.header_limit(limits::kMaxHeaderBytes);
    header_parser.body_limit(limits::kMaxStreamedBodyBytes);
    stream.expires_after(std::chrono::seconds(first ? limits::kHeaderReadTimeoutSeconds
                                                    : limits::kIdleTimeoutSeconds));
    first = false;
    co_await bhttp::async_read_header(stream, buffer, header_parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    state.busy = true;
    auto started = std::chrono::steady_clock::now();
    std::optional<std::pair<int, Error>> reject;
    if (ec == bhttp::error::header_limit) {
      reject.emplace(431, Error{ErrorCode::kBadRequest, "Request header fields too large"});
    } else if (ec == bhttp::error::body_limit) {
      reject.emplace(413, Error{ErrorCode::kBadRequest, "Request body too large"});
    } else if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::connection_reset &&
          buffer.size() > 0) {
        reject.emplace(400, Error{ErrorCode::kBadRequest, "Malformed HTTP request"});
      } else {
        break;
      }
    } else {
      const auto& header = header_parser.get();
      if (header.count(bhttp::field::content_length) > 0 &&
          header.count(bhttp::field::transfer_encoding) > 0) {
        reject.emplace(400, Error{ErrorCode::kBadRequest,
                                  "Content-Length and Transfer-Encoding must not both be present"});
      }
    }
    if (reject) {
      Response response = ErrorResponse(reject->second);
      response.status = reject->first;
      metrics.Record(-1, reject->first, 0);
      co_await Send(stream, std::move(response), 11, false, false);
      break;
    }

    const auto& header = header_parser.get();
    unsigned version = header.version();
    bool keep_alive = header.keep_alive();
    bool head = header.method() == bhttp::verb::head;
    std::string method_name(header.method_string());
    Match match = MatchRoute(header, remote);
    bool streamed = match.route != nullptr && match.route->body == BodyKind::kStream;

    if (!streamed && header_parser.content_length() &&
        *header_parser.content_length() > limits::kMaxBodyBytes) {
      Response response = ErrorResponse(Error{ErrorCode::kBadRequest, "Request body too large"});
      response.status = 413;
      Record(match, 413, started, method_name);
      co_await Send(stream, std::move(response), version, false, false);
      break;
    }
    if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
      co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }

    bool forwarded = config.proxy && match.route != nullptr && !match.error &&
                     match.route->forward != nullptr;
    if (forwarded) {
      Relayed relayed;
      if (streamed) {
        bhttp::request_parser<bhttp::buffer_body> parser{std::move(header_parser)};
        parser.body_limit(limits::kMaxStreamedBodyBytes);
        relayed = co_await ForwardStreamed(stream, buffer, parser, match, worker, version,
                                           keep_alive && !stopping);
      } else {
        bhttp::request_parser<bhttp::string_body> parser{std::move(header_parser)};
        parser.body_limit(limits::kMaxBodyBytes);
        stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
        co_await bhttp::async_read(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec == bhttp::error::body_limit) {
          Response response =
              ErrorResponse(Error{ErrorCode::kBadRequest, "Request body too large"});
          response.status = 413;
          Record(match, 413, started, method_name);
          co_await Send(stream, std::move(response), version, false, false);
          break;
        }
        if (ec) break;
        match.request.body = std::move(parser.get().body());
        relayed = co_await ForwardBuffered(stream, match, worker, version,
                                           keep_alive && !stopping, head);
      }
      int status = relayed.response ? relayed.response->status : relayed.status;
      if (match.route->access.operation != Operation::kPublic) {
        gate.Completed(*match.route, match.request, status);
      }
      Record(match, status, started, method_name);
      keep_alive = keep_alive && !stopping && relayed.client_ok;
      if (relayed.response) {
        bool sent = co_await Send(stream, std::move(*relayed.response), version, keep_alive, head);
        if (!sent) break;
      }
      if (!keep_alive) break;
      continue;
    }

    Result<Response> result = Response{};
    if (streamed) {
      bhttp::request_parser<bhttp::buffer_body> parser{std::move(header_parser)};
      parser.body_limit(limits::kMaxStreamedBodyBytes);
      bool broken = false;
      result = co_await ReceiveUpload(stream, buffer, parser, match, broken);
      keep_alive = keep_alive && !broken;
    } else {
      bhttp::request_parser<bhttp::string_body> parser{std::move(header_parser)};
      parser.body_limit(limits::kMaxBodyBytes);
      stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
      co_await bhttp::async_read(stream, buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        Response response = ErrorResponse(Error{ErrorCode::kBadRequest, "Request body too large"});
        response.status = 413;
        Record(match, 413, started, method_name);
        co_await Send(stream, std::move(response), version, false, false);
        break;
      }
      if (ec) break;
      if (match.route != nullptr && !match.error) {
        match.request.body = std::move(parser.get().body());
        result = co_await Invoke(match);
      }
    }
    Response response = Finish(match, std::move(result));
    if (match.route != nullptr && !match.error &&
        match.route->access.operation != Operation::kPublic) {
      gate.Completed(*match.route, match.request, response.status);
    }
    Record(match, response.status, started, method_name);
    keep_alive = keep_alive && !stopping;
    bool sent = co_await Send(stream, std::move(response), version, keep_alive, head);
    if (!sent || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  sessions[worker].erase(&state);
  active_sessions.fetch_sub(1);
}

void Server::Stop() { impl_->signals_ctx.stop(); }

void Server::Run() {
  Impl& impl = *impl_;
  asio::co_spawn(*impl.workers[0], impl.Accept(), asio::detached);

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  for (auto& worker : impl.workers) {
    guards.push_back(asio::make_work_guard(*worker));
    threads.emplace_back([ctx = worker.get()] { ctx->run(); });
  }

  asio::signal_set signals(impl.signals_ctx, SIGINT, SIGTERM);
  signals.async_wait([](const beast::error_code& ec, int signal) {
    if (!ec) spdlog::info("received signal {}, shutting down", signal);
  });
  impl.signals_ctx.run();

  impl.stopping = true;
  asio::post(*impl.workers[0], [&impl] {
    beast::error_code ec;
    impl.acceptor->close(ec);
  });
  // Idle connections (waiting for a request head) are closed; busy ones finish their request.
  // Repeated until all are gone, so a connection accepted during the first pass is not missed.
  auto close_idle = [&impl] {
    for (std::size_t i = 0; i < impl.workers.size(); ++i) {
      asio::post(*impl.workers[i], [&impl, i] {
        for (SessionState* state : impl.sessions[i]) {
          if (!state->busy) state->stream->cancel();
        }
      });
    }
  };
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(impl.config.shutdown_grace_seconds);
  while (impl.active_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    close_idle();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  guards.clear();
  for (auto& worker : impl.workers) worker->stop();
  for (auto& thread : threads) thread.join();
  impl.blocking.join();
  spdlog::info("stopped");
}

}  // namespace hokusai::http
