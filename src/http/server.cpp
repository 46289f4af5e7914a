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
#include "http/canonical_path.hpp"
#include "http/error_response.hpp"

namespace hokusai::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using BeastRequest = bhttp::request<bhttp::string_body>;
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

struct SessionState {
  beast::tcp_stream* stream;
  bool busy = false;
};

}  // namespace

struct Server::Impl {
  Impl(ServerConfig c, const RouteTable& r, RequestMetrics& m)
      : config(std::move(c)),
        routes(r),
        metrics(m),
        blocking(static_cast<std::size_t>(config.blocking_threads)) {}

  ServerConfig config;
  const RouteTable& routes;
  RequestMetrics& metrics;
  asio::thread_pool blocking;
  std::vector<std::unique_ptr<asio::io_context>> workers;
  // Sessions per worker; each set is touched only on its worker's thread.
  std::vector<std::unordered_set<SessionState*>> sessions;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::atomic<bool> stopping{false};
  std::atomic<int> active_sessions{0};

  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(tcp::socket socket, std::size_t worker);
  asio::awaitable<Response> Dispatch(BeastRequest& req, const std::string& remote);
  BeastResponse ToBeast(Response&& response, unsigned version, bool keep_alive, bool head);
};

Server::Server(ServerConfig config, const RouteTable& routes, RequestMetrics& metrics) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (config.workers <= 0) config.workers = static_cast<int>(cores);
  if (config.blocking_threads <= 0) config.blocking_threads = std::max(4, 2 * static_cast<int>(cores));
  impl_ = std::make_unique<Impl>(std::move(config), routes, metrics);
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

BeastResponse Server::Impl::ToBeast(Response&& response, unsigned version, bool keep_alive,
                                    bool head) {
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
  return out;
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
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(limits::kMaxHeaderBytes);
    parser.body_limit(limits::kMaxBodyBytes);
    stream.expires_after(std::chrono::seconds(first ? limits::kHeaderReadTimeoutSeconds
                                                    : limits::kIdleTimeoutSeconds));
    first = false;
    co_await bhttp::async_read_header(stream, buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    state.busy = true;
    std::optional<Error> reject;
    if (ec == bhttp::error::header_limit) {
      reject = Error{ErrorCode::kBadRequest, "Request header fields too large"};
    } else if (ec == bhttp::error::body_limit) {
      reject = Error{ErrorCode::kBadRequest, "Request body too large"};
    } else if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::connection_reset &&
          buffer.size() > 0) {
        reject = Error{ErrorCode::kBadRequest, "Malformed HTTP request"};
      } else {
        break;
      }
    }
    if (!reject) {
      const auto& header = parser.get();
      if (header.count(bhttp::field::content_length) > 0 &&
          header.count(bhttp::field::transfer_encoding) > 0) {
        reject = Error{ErrorCode::kBadRequest,
                       "Content-Length and Transfer-Encoding must not both be present"};
      }
    }
    int reject_status = 400;
    if (reject && reject->message == "Request body too large") reject_status = 413;
    if (reject && reject->message == "Request header fields too large") reject_status = 431;
    if (!reject) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
        co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
      }
      stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
      co_await bhttp::async_read(stream, buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        reject = Error{ErrorCode::kBadRequest, "Request body too large"};
        reject_status = 413;
      } else if (ec) {
        break;
      }
    }
    if (reject) {
      Response response = ErrorResponse(*reject);
      response.status = reject_status;
      metrics.Record(-1, reject_status, 0);
      auto out = ToBeast(std::move(response), 11, false, false);
      stream.expires_after(std::chrono::seconds(limits::kHeaderReadTimeoutSeconds));
      co_await bhttp::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
      break;
    }

    BeastRequest req = parser.release();
    bool keep_alive = req.keep_alive();
    bool head = req.method() == bhttp::verb::head;
    Response response = co_await Dispatch(req, remote);
    keep_alive = keep_alive && !stopping;
    auto out = ToBeast(std::move(response), req.version(), keep_alive, head);
    stream.expires_after(std::chrono::seconds(limits::kBodyReadTimeoutSeconds));
    co_await bhttp::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  sessions[worker].erase(&state);
  active_sessions.fetch_sub(1);
}

asio::awaitable<Response> Server::Impl::Dispatch(BeastRequest& req, const std::string& remote) {
  auto started = std::chrono::steady_clock::now();
  Method method = req.method() == bhttp::verb::head ? Method::kGet : ToMethod(req.method());
  long route_index = -1;
  Response response;
  std::string_view target(req.target().data(), req.target().size());
  std::string log_path;

  auto canonical = Canonicalize(target, config.static_prefix);
  if (!canonical) {
    response = ErrorResponse(canonical.error());
    log_path = "(rejected path)";
  } else {
    log_path = canonical->path;
    bool path_known = false;
    PathParams path_params;
    const Route* route = routes.Find(method, canonical->path, &path_known, &path_params);
    if (route == nullptr) {
      response = NotFoundResponse();
      if (path_known) response.status = 405;
    } else {
      route_index = route - routes.routes().data();
      Request request;
      request.method = method;
      request.canonical_path = std::move(canonical->path);
      request.query = std::move(canonical->query);
      request.path_params = std::move(path_params);
      request.remote_address = remote;
      for (const auto& field : req) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (IsCredentialHeader(name)) continue;
        if (name == "content-type") request.content_type = std::string(field.value());
        request.headers.emplace_back(std::move(name), std::string(field.value()));
      }
      request.body = std::move(req.body());

      std::optional<Error> early;
      if (route->body == BodyKind::kJson && !request.body.empty() &&
          !IsJsonContentType(request.content_type)) {
        early = Error{ErrorCode::kInvalidParameterValue,
                      "Bad Request. Content-Type must be 'application/json'"};
      }
      Result<Response> result = early ? Result<Response>(tl::unexpected(*early)) : Response{};
      if (!early) {
        auto invoke = [route, &request]() -> Result<Response> {
          try {
            return route->handler(request);
          } catch (const std::exception& e) {
            spdlog::error("handler for {} threw: {}", route->path, e.what());
            return Fail(ErrorCode::kInternalError, "Internal error");
          }
        };
        if (route->execution == Execution::kInline) {
          result = invoke();
        } else {
          result = co_await asio::co_spawn(
              blocking, [&invoke]() -> asio::awaitable<Result<Response>> { co_return invoke(); },
              asio::use_awaitable);
        }
      }
      response = result ? std::move(*result) : ErrorResponse(result.error());
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics.Record(route_index, response.status, seconds);
  if (config.access_log) {
    spdlog::info("{} {} {} {} {:.3f}ms", remote, std::string_view(req.method_string()), log_path,
                 response.status, seconds * 1000);
  }
  co_return response;
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
  for (std::size_t i = 0; i < impl.workers.size(); ++i) {
    asio::post(*impl.workers[i], [&impl, i] {
      for (SessionState* state : impl.sessions[i]) {
        if (!state->busy) state->stream->cancel();
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(impl.config.shutdown_grace_seconds);
  while (impl.active_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  guards.clear();
  for (auto& worker : impl.workers) worker->stop();
  for (auto& thread : threads) thread.join();
  impl.blocking.join();
  spdlog::info("stopped");
}

}  // namespace hokusai::http
