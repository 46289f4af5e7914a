#include "gateway/upstream.hpp"

#include <fmt/format.h>

#include "common/util.hpp"
#include "http/proxy.hpp"

namespace hokusai::gateway {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 pchar without '%' (always encoded here: the canonical path is already decoded).
bool IsPathChar(unsigned char c) {
  return IsUnreserved(c) || c == '/' || c == ':' || c == '@' || c == '!' || c == '$' ||
         c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
         c == ';' || c == '=';
}

template <typename Keep>
void AppendEncoded(std::string& out, std::string_view text, Keep keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (keep(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

}  // namespace

Result<PathStyle> ParsePathStyle(std::string_view text) {
  if (text == "api") return PathStyle::kApi;
  if (text == "ajax-api") return PathStyle::kAjaxApi;
  return InvalidParameter(fmt::format("--upstream-path-style must be api or ajax-api, not '{}'",
                                      text));
}

std::string UpstreamConfig::Authority() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string UpstreamConfig::Display() const {
  return fmt::format("http://{}{}", Authority(), base_path);
}

std::optional<std::string> UpstreamConfig::Authorization() const {
  if (!token.empty()) return "Bearer " + token;
  if (!username.empty() || !password.empty()) {
    return "Basic " + Base64Encode(username + ":" + password);
  }
  return std::nullopt;
}

Result<UpstreamConfig> ParseUpstreamUrl(std::string_view url) {
  HK_TRY(parsed, http::ParseHttpUrl(url));
  if (parsed.tls) {
    return InvalidParameter("--upstream: https is not supported in this build; put the "
                            "upstream on a private network or behind a local TLS-terminating "
                            "proxy and give its http:// address");
  }
  std::string base = parsed.target;
  if (base.find('?') != std::string::npos) {
    return InvalidParameter("--upstream must not have a query string");
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.find("//") != std::string::npos || base.find("/./") != std::string::npos ||
      base.find("/../") != std::string::npos || base.ends_with("/.") || base.ends_with("/..") ||
      base.find('%') != std::string::npos) {
    return InvalidParameter("--upstream has an ambiguous base path");
  }
  UpstreamConfig config;
  config.host = parsed.host;
  config.port = parsed.port;
  config.base_path = base;
  return config;
}

std::string EncodeQuery(const http::QueryParams& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (!out.empty()) out.push_back('&');
    AppendEncoded(out, key, IsUnreserved);
    out.push_back('=');
    AppendEncoded(out, value, IsUnreserved);
  }
  return out;
}

std::string UpstreamTarget(const UpstreamConfig& config, std::string_view canonical_path,
                           const http::QueryParams& query) {
  std::string path = config.base_path;
  constexpr std::string_view kApi = "/api/";
  if (config.path_style == PathStyle::kAjaxApi && canonical_path.starts_with(kApi)) {
    path += "/ajax-api/";
    canonical_path.remove_prefix(kApi.size());
  }
  AppendEncoded(path, canonical_path, IsPathChar);
  if (path.empty()) path = "/";
  std::string encoded = EncodeQuery(query);
  if (!encoded.empty()) path += "?" + encoded;
  return path;
}

Result<http::ClientResponse> UpstreamClient::Call(http::Method method,
                                                  std::string_view canonical_path,
                                                  const http::QueryParams& query,
                                                  const std::string& json_body) {
  std::string url = fmt::format("http://{}{}", config_.Authority(),
                                UpstreamTarget(config_, canonical_path, query));
  http::HeaderList headers;
  if (auto authorization = config_.Authorization()) {
    headers.emplace_back("Authorization", *authorization);
  }
  headers.emplace_back("Accept", "application/json");
  std::chrono::milliseconds timeout = config_.connect_timeout + config_.timeout;
  Result<http::ClientResponse> answer;
  if (method == http::Method::kPost) {
    headers.emplace_back("Content-Type", "application/json");
    answer = http::HttpPost(url, headers, json_body, timeout);
  } else if (method == http::Method::kDelete) {
    headers.emplace_back("Content-Type", "application/json");
    answer = http::HttpDelete(url, headers, json_body, timeout);
  } else {
    answer = http::HttpGet(url, headers, timeout);
  }
  if (!answer) {
    // The client's message names host:port; say it is the upstream. Answered as 504 for a
    // timeout, 502 otherwise, like a failed relay.
    const std::string& why = answer.error().message;
    bool timed_out = why.find("timed out") != std::string::npos ||
                     why.find("in time") != std::string::npos;
    return tl::unexpected(Error{
        ErrorCode::kTemporarilyUnavailable,
        fmt::format("Upstream MLflow server {} did not answer: {}", config_.Display(), why),
        {{std::string(http::kUpstreamFailureHeader), timed_out ? "504" : "502"}}});
  }
  return answer;
}

}  // namespace hokusai::gateway
