// A small synchronous HTTP/1.1 client for calls this server makes to services it depends on (the
// external auth service). One connection per call, `Connection: close`, no redirects followed,
// no TLS in this build. Blocking: call on the blocking pool, never on an I/O worker.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace hokusai::http {

// Bounds on what a service may send back (security principle 8). Answers beyond them are
// treated like an unreachable service.
inline constexpr std::size_t kMaxClientResponseBodyBytes = 1024 * 1024;
inline constexpr std::size_t kMaxClientResponseHeaderBytes = 16 * 1024;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpUrl {
  bool tls = false;       // "https"
  std::string host;       // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 80;     // explicit, or 80 / 443 by scheme
  std::string target;     // path and query as given, "/" when empty

  // "host:port" ("[::1]:8080" for IPv6): what messages name.
  std::string Authority() const;
};

// Parses `http://host[:port][/path][?query]` (and the https form). Refused with
// INVALID_PARAMETER_VALUE: other schemes, user info (`user:pass@`), fragments, an empty host,
// a port outside 1..65535, whitespace and control characters anywhere.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct ClientResponse {
  int status = 0;
  HeaderList headers;  // as received, in order
  std::string body;

  // The first header named `name` (case-insensitive), or empty.
  std::string_view Header(std::string_view name) const;
};

// Sends one request and reads the whole answer, all within `timeout` (connect, write and read
// together). Any HTTP status is a successful exchange; redirects are returned, not followed.
// Errors: INVALID_PARAMETER_VALUE for a bad URL, an https URL, or a header name or value that
// could split the request (CR, LF, NUL; names must be tokens); TEMPORARILY_UNAVAILABLE naming
// host:port for connection failures, timeouts, malformed answers and answers over the limits
// above. Messages never contain header values or the body. Thread-safe (no shared state).
Result<ClientResponse> HttpPost(const std::string& url, const HeaderList& headers,
                                const std::string& body, std::chrono::milliseconds timeout);

// The same for a GET without a body.
Result<ClientResponse> HttpGet(const std::string& url, const HeaderList& headers,
                               std::chrono::milliseconds timeout);

// The same for a DELETE, with a body (MLflow's delete endpoints take JSON).
Result<ClientResponse> HttpDelete(const std::string& url, const HeaderList& headers,
                                  const std::string& body, std::chrono::milliseconds timeout);

}  // namespace hokusai::http
