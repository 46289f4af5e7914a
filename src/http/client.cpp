#include "http/client.hpp"

#include <exception>
#include <optional>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "common/version.hpp"

namespace hokusai::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// RFC 9110 `tchar`: what a header name may consist of.
bool IsTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsControlOrSpace(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return beast::iequals(a, b);
}

// Headers the client sets itself; a caller's copy would duplicate or contradict them.
bool IsReservedHeader(std::string_view name) {
  for (std::string_view reserved :
       {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}) {
    if (EqualsIgnoreCase(name, reserved)) return true;
  }
  return false;
}

// Refuses anything that could end a header line early or smuggle a second request.
Result<void> CheckHeaders(const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty()) return InvalidParameter("empty header name");
    for (char c : name) {
      if (!IsTokenChar(c)) return InvalidParameter("header name is not a token");
    }
    if (IsReservedHeader(name)) {
      return InvalidParameter(fmt::format("header '{}' is set by the client itself", name));
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return InvalidParameter(fmt::format("header '{}' contains CR, LF or NUL", name));
    }
  }
  return {};
}

bool ValidHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

tl::unexpected<Error> Unavailable(const HttpUrl& url, std::string_view what) {
  return Fail(ErrorCode::kTemporarilyUnavailable, fmt::format("{}: {}", url.Authority(), what));
}

constexpr auto kToken = asio::as_tuple(asio::use_awaitable);

// The whole exchange. Every socket operation runs under the stream's deadline; name resolution
// is bounded by the caller's run_for. `url` and `request` outlive the io_context that runs this.
asio::awaitable<Result<ClientResponse>> Exchange(const HttpUrl& url,
                                                 bhttp::request<bhttp::string_body>& request,
                                                 Clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  auto address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, url.port);
  } else {
    tcp::resolver resolver(executor);
    auto [resolve_ec, results] =
        co_await resolver.async_resolve(url.host, std::to_string(url.port), kToken);
    if (resolve_ec) co_return Unavailable(url, "cannot resolve host: " + resolve_ec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  beast::tcp_stream stream(executor);
  stream.expires_at(deadline);
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kToken);
  if (connect_ec == beast::error::timeout) co_return Unavailable(url, "connect timed out");
  if (connect_ec) co_return Unavailable(url, "cannot connect: " + connect_ec.message());

  auto [write_ec, written] = co_await bhttp::async_write(stream, request, kToken);
  if (write_ec == beast::error::timeout) co_return Unavailable(url, "timed out sending");
  if (write_ec) co_return Unavailable(url, "cannot send request: " + write_ec.message());

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxClientResponseHeaderBytes));
  parser.body_limit(kMaxClientResponseBodyBytes);
  auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, kToken);
  if (read_ec == beast::error::timeout) co_return Unavailable(url, "no answer in time");
  if (read_ec == bhttp::error::body_limit) co_return Unavailable(url, "answer body too large");
  if (read_ec == bhttp::error::header_limit) co_return Unavailable(url, "answer head too large");
  if (read_ec) co_return Unavailable(url, "cannot read answer: " + read_ec.message());

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto& message = parser.get();
  ClientResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(message.body());
  co_return response;
}

Result<ClientResponse> Send(bhttp::verb verb, const std::string& raw_url,
                            const HeaderList& headers, const std::string& body,
                            std::chrono::milliseconds timeout) {
  HK_TRY(url, ParseHttpUrl(raw_url));
  if (url.tls) {
    return InvalidParameter("https is not supported for --auth-service-url in this build");
  }
  HK_CHECK(CheckHeaders(headers));
  if (timeout <= std::chrono::milliseconds::zero()) return InvalidParameter("timeout must be > 0");

  try {
    bhttp::request<bhttp::string_body> request{verb, url.target, 11};
    request.set(bhttp::field::host, url.Authority());
    request.set(bhttp::field::user_agent, std::string("hokusai-registry/") + kVersion);
    request.set(bhttp::field::connection, "close");
    for (const auto& [name, value] : headers) request.insert(name, value);
    if (verb != bhttp::verb::get || !body.empty()) {
      request.body() = body;
      request.prepare_payload();
    }

    asio::io_context io(1);
    std::optional<Result<ClientResponse>> outcome;
    Clock::time_point deadline = Clock::now() + timeout;
    asio::co_spawn(io, Exchange(url, request, deadline),
                   [&outcome](std::exception_ptr failure, Result<ClientResponse> result) {
                     if (failure) {
                       outcome = Fail(ErrorCode::kInternalError, "HTTP client failed");
                     } else {
                       outcome = std::move(result);
                     }
                   });
    // The socket deadline bounds everything but name resolution; this bounds that too. The
    // grace lets a socket timeout report itself before we give up from outside.
    io.run_for(timeout + std::chrono::milliseconds(50));
    if (!outcome) {
      io.stop();
      return Unavailable(url, "no answer in time");
    }
    return std::move(*outcome);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternalError, fmt::format("HTTP client failed: {}", e.what()));
  }
}

}  // namespace

std::string HttpUrl::Authority() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  for (char c : url) {
    if (IsControlOrSpace(c)) {
      return InvalidParameter("URL contains whitespace or control characters");
    }
  }
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return InvalidParameter("URL must start with http://");
  HttpUrl parsed;
  std::string_view scheme = url.substr(0, scheme_end);
  if (EqualsIgnoreCase(scheme, "http")) {
    parsed.tls = false;
    parsed.port = 80;
  } else if (EqualsIgnoreCase(scheme, "https")) {
    parsed.tls = true;
    parsed.port = 443;
  } else {
    return InvalidParameter("URL scheme must be http or https");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) {
    return InvalidParameter("URL must not have a fragment");
  }
  std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidParameter("URL must not contain user info");
  }

  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidParameter("URL has an unclosed '['");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidParameter("URL has junk after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return InvalidParameter("URL has an empty port");
    }
    beast::error_code ec;
    auto address = asio::ip::make_address_v6(std::string(host), ec);
    if (ec || address.scope_id() != 0) return InvalidParameter("URL has an invalid IPv6 address");
  } else {
    std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return InvalidParameter("URL has an empty port");
    }
    if (!ValidHostName(host)) return InvalidParameter("URL has an invalid host");
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5) return InvalidParameter("URL port must be 1..65535");
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return InvalidParameter("URL port must be 1..65535");
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return InvalidParameter("URL port must be 1..65535");
    parsed.port = static_cast<uint16_t>(port);
  }
  parsed.host = std::string(host);
  if (target.empty()) {
    parsed.target = "/";
  } else if (target.front() == '?') {
    parsed.target = "/" + std::string(target);
  } else {
    parsed.target = std::string(target);
  }
  return parsed;
}

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

Result<ClientResponse> HttpPost(const std::string& url, const HeaderList& headers,
                                const std::string& body, std::chrono::milliseconds timeout) {
  return Send(bhttp::verb::post, url, headers, body, timeout);
}

Result<ClientResponse> HttpGet(const std::string& url, const HeaderList& headers,
                               std::chrono::milliseconds timeout) {
  return Send(bhttp::verb::get, url, headers, std::string(), timeout);
}

Result<ClientResponse> HttpDelete(const std::string& url, const HeaderList& headers,
                                  const std::string& body, std::chrono::milliseconds timeout) {
  return Send(bhttp::verb::delete_, url, headers, body, timeout);
}

}  // namespace hokusai::http
