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
    asio::co_spawn(*workers[worker], Session(std::move(socket), worker), asio::detached);
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

asio::awaitable<Result<Response>> Server::Impl::Invoke(Match& match) {
  const auto* route = match.route;
  Request& request = match.request;
  if (route->body == BodyKind::kJson && !request.body.empty() &&
      !IsJsonContentType(request.content_type)) {
    co_return Fail(ErrorCode::kInvalidParameterValue,
                   "Bad Request. Content-Type must be 'application/json'");
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

  std::vector<char> chunk(limits::kStreamChunkBytes);
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
  std::vector<char> chunk(limits::kStreamChunkBytes);
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

Response Server::Impl::Finish(const Match& match, Result<Response>&& result) {
  if (match.error) return ErrorResponse(*match.error);
  if (match.route == nullptr) {
    Response response = NotFoundResponse();
    if (match.path_known) response.status = 405;
    return response;
  }
  return result ? std::move(*result) : ErrorResponse(result.error());
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

void Server::Run() {
  Impl& impl = *impl_;
  asio::co_spawn(*impl.workers[0], impl.Accept(), asio::detached);

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  for (auto& worker : impl.workers) {
    guards.push_back(asio::make_work_guard(*worker));
    threads.emplace_back([ctx = worker.get()] { ctx->run(); });
  }

  asio::io_context signals_ctx(1);
  asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
  signals.async_wait([](const beast::error_code&, int signal) {
    spdlog::info("received signal {}, shutting down", signal);
  });
  signals_ctx.run();

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
