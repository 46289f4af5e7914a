// Gateway mode: the upstream MLflow server, as configured, and the one mapping from an admitted
// request to what the upstream gets (security principle 2: the canonical path that was
// authorized is the path that is forwarded, with the query re-encoded from the decoded
// parameters, never a raw client fragment).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "http/client.hpp"
#include "http/message.hpp"

namespace hokusai::gateway {

// How the upstream is asked for MLflow API routes: /api/2.0/... or /ajax-api/2.0/....
enum class PathStyle { kApi, kAjaxApi };

Result<PathStyle> ParsePathStyle(std::string_view text);  // "api" or "ajax-api"

struct UpstreamConfig {
  std::string host;       // a name or an address (IPv6 without brackets)
  uint16_t port = 80;
  std::string base_path;  // "" or "/mlflow" (no trailing slash)
  PathStyle path_style = PathStyle::kApi;
  // Credentials the upstream expects from us (never the client's). At most one kind.
  std::string token;     // Authorization: Bearer
  std::string username;  // Authorization: Basic, with `password`
  std::string password;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{60000};

  // "http://host:port/base": what messages and logs name. Never holds credentials.
  std::string Display() const;
  // "host:port": the Host header the upstream gets.
  std::string Authority() const;
  // The Authorization value for the upstream, or nullopt when none is configured.
  std::optional<std::string> Authorization() const;
};

// Parses `http://host[:port][/base]`. Refused: https (not in this build), user info, a query or
// fragment, dot segments or `//` in the base path.
Result<UpstreamConfig> ParseUpstreamUrl(std::string_view url);

// The upstream request target for a canonical path and decoded query: base path, then
// /api/... or /ajax-api/... per the path style (other paths as they are), each path byte
// outside RFC 3986 pchar percent-encoded, then the query re-encoded.
std::string UpstreamTarget(const UpstreamConfig& config, std::string_view canonical_path,
                           const http::QueryParams& query);

// `key=value&...`, each byte outside the unreserved set percent-encoded ("" for no params).
std::string EncodeQuery(const http::QueryParams& query);

// Synchronous calls to the upstream from the blocking pool (locator lookups, health checks):
// one connection per call, the configured credentials, no redirects followed.
class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamConfig config) : config_(std::move(config)) {}
  virtual ~UpstreamClient() = default;

  // GET, POST or DELETE `canonical_path` (mapped as UpstreamTarget does). Any HTTP status is an answer;
  // errors are TEMPORARILY_UNAVAILABLE naming the upstream. Virtual for tests.
  virtual Result<http::ClientResponse> Call(http::Method method, std::string_view canonical_path,
                                            const http::QueryParams& query,
                                            const std::string& json_body);

  const UpstreamConfig& config() const { return config_; }

 private:
  UpstreamConfig config_;
};

}  // namespace hokusai::gateway
