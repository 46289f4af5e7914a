// Gateway mode: the one declared header policy (security principle 12), applied to every
// forwarded request and every upstream answer.
//
// Toward the upstream:
// - never forwarded: client credentials (Authorization, Proxy-Authorization, X-API-Key, Cookie);
//   hop-by-hop headers (Connection and every header it names, Keep-Alive, TE, Trailer,
//   Transfer-Encoding, Upgrade, Proxy-*); framing the server sets itself (Host, Content-Length,
//   Expect); client-sent identity and forwarding headers (X-Hokusai-*, X-Forwarded-*,
//   Forwarded, X-Real-IP); Accept-Encoding (answers arrive uncompressed, so listings can be
//   filtered);
// - set by us: Authorization from the configured upstream credentials (if any);
//   X-Hokusai-User-Id and X-Hokusai-API-Key-Id from the admitted principal; X-Forwarded-For
//   (the client's chain only when the socket peer is a trusted proxy, then the peer),
//   X-Forwarded-Proto and X-Forwarded-Host (the client's values only from a trusted proxy);
// - every other end-to-end header passes unchanged. A header that would carry CR, LF or NUL,
//   or whose name is not a token, refuses the request (400): nothing can split the request.
//
// Toward the client:
// - dropped: hop-by-hop headers, framing (Content-Length, Transfer-Encoding: the server frames
//   the answer), Set-Cookie (upstream sessions stay between us and the upstream),
//   WWW-Authenticate and Proxy-Authenticate (the upstream's credentials are ours, not the
//   client's to answer);
// - Location of a redirect (never followed) that points at the upstream is mapped to a
//   path-absolute reference on this server (upstream origin and base path removed);
// - every other header passes unchanged.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "http/client.hpp"

namespace hokusai::gateway {

// What the policy needs to know about one admitted request.
struct ForwardContext {
  std::string user_id;          // empty on public routes
  std::string key_id;           // empty on public routes
  std::string peer;             // the socket peer's address
  bool peer_is_trusted_proxy = false;
  std::optional<std::string> upstream_authorization;  // "Bearer …" / "Basic …"
};

// The headers the upstream gets, from the client's (names lower-case, as in http::Request).
// Host, Content-Length / Transfer-Encoding are added by the server. INVALID_PARAMETER_VALUE
// when a header cannot be forwarded safely.
Result<http::HeaderList> UpstreamRequestHeaders(const http::HeaderList& client_headers,
                                                const ForwardContext& context);

// The headers the client gets, from the upstream's (any case). `upstream_origin` is
// "http://host:port", `base_path` the upstream's base path ("" or "/mlflow").
http::HeaderList ClientResponseHeaders(const http::HeaderList& upstream_headers,
                                       std::string_view upstream_origin,
                                       std::string_view base_path);

// Whether `value` may be sent as a header value (no CR, LF, NUL or other control characters
// but horizontal tab).
bool SafeHeaderValue(std::string_view value);
// Whether `name` is an RFC 9110 token.
bool SafeHeaderName(std::string_view name);

}  // namespace hokusai::gateway
