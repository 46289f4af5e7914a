#include "gateway/header_policy.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include <fmt/format.h>

namespace hokusai::gateway {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// RFC 9110 §7.6.1 hop-by-hop headers, plus the non-standard ones proxies treat the same way.
bool IsHopByHop(std::string_view lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "te" || lower == "trailer" ||
         lower == "transfer-encoding" || lower == "upgrade" || lower.starts_with("proxy-");
}

// Lower-case names listed in every Connection header.
std::vector<std::string> ConnectionListed(const http::HeaderList& headers) {
  std::vector<std::string> out;
  for (const auto& [name, value] : headers) {
    if (Lower(name) != "connection") continue;
    std::string_view list = value;
    while (!list.empty()) {
      std::size_t comma = list.find(',');
      std::string_view item = Trim(list.substr(0, comma));
      if (!item.empty()) out.push_back(Lower(item));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool Listed(const std::vector<std::string>& names, const std::string& lower) {
  return std::find(names.begin(), names.end(), lower) != names.end();
}

bool DroppedTowardUpstream(const std::string& lower) {
  if (IsHopByHop(lower)) return true;
  // Client credentials: checked at our edge, never passed on.
  if (lower == "authorization" || lower == "x-api-key" || lower == "cookie") return true;
  // Set by the server for the upstream connection.
  if (lower == "host" || lower == "content-length" || lower == "expect") return true;
  // Identity and forwarding: only we say who the client is.
  if (lower.starts_with("x-hokusai-") || lower.starts_with("x-forwarded-") ||
      lower == "forwarded" || lower == "x-real-ip") {
    return true;
  }
  return lower == "accept-encoding";
}

const std::string* Find(const http::HeaderList& headers, std::string_view lower) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower) return &value;
  }
  return nullptr;
}

// A client-sent X-Forwarded-For chain: comma-separated items of address characters only.
bool PlausibleForwardedFor(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == ',' ||
           c == ' ' || c == '[' || c == ']';
  });
}

bool PlausibleHost(std::string_view value) {
  return !value.empty() && value.size() <= 255 &&
         std::all_of(value.begin(), value.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                  c == ':' || c == '[' || c == ']' || c == '_';
         });
}

}  // namespace

bool SafeHeaderValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool SafeHeaderName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

Result<http::HeaderList> UpstreamRequestHeaders(const http::HeaderList& client_headers,
                                                const ForwardContext& context) {
  std::vector<std::string> connection_listed = ConnectionListed(client_headers);
  http::HeaderList out;
  for (const auto& [name, value] : client_headers) {
    std::string lower = Lower(name);
    if (DroppedTowardUpstream(lower) || Listed(connection_listed, lower)) continue;
    if (!SafeHeaderName(name) || !SafeHeaderValue(value)) {
      return InvalidParameter("A request header contains characters that cannot be forwarded");
    }
    out.emplace_back(lower, value);
  }

  auto add = [&out](std::string name, std::string value) -> Result<void> {
    if (!SafeHeaderValue(value)) {
      return InvalidParameter(
          fmt::format("The {} header cannot be forwarded: it would contain control characters",
                      name));
    }
    out.emplace_back(std::move(name), std::move(value));
    return {};
  };
  if (context.upstream_authorization) {
    HK_CHECK(add("authorization", *context.upstream_authorization));
  }
  if (!context.user_id.empty()) HK_CHECK(add("x-hokusai-user-id", context.user_id));
  if (!context.key_id.empty()) HK_CHECK(add("x-hokusai-api-key-id", context.key_id));

  // Forwarding headers: the client's values count only when a trusted proxy relayed them.
  bool trusted = context.peer_is_trusted_proxy;
  std::string chain;
  if (trusted) {
    for (const auto& [name, value] : client_headers) {
      if (Lower(name) != "x-forwarded-for" || !PlausibleForwardedFor(value)) continue;
      if (!chain.empty()) chain += ", ";
      chain += std::string(Trim(value));
    }
  }
  if (!chain.empty()) chain += ", ";
  chain += context.peer;
  HK_CHECK(add("x-forwarded-for", chain));
  std::string proto = "http";
  if (const std::string* sent = trusted ? Find(client_headers, "x-forwarded-proto") : nullptr) {
    std::string value = Lower(Trim(*sent));
    if (value == "http" || value == "https") proto = value;
  }
  HK_CHECK(add("x-forwarded-proto", proto));
  const std::string* host = trusted ? Find(client_headers, "x-forwarded-host") : nullptr;
  if (host == nullptr || !PlausibleHost(Trim(*host))) host = Find(client_headers, "host");
  if (host != nullptr && PlausibleHost(Trim(*host))) {
    HK_CHECK(add("x-forwarded-host", std::string(Trim(*host))));
  }
  return out;
}

http::HeaderList ClientResponseHeaders(const http::HeaderList& upstream_headers,
                                       std::string_view upstream_origin,
                                       std::string_view base_path) {
  std::vector<std::string> connection_listed = ConnectionListed(upstream_headers);
  http::HeaderList out;
  for (const auto& [name, value] : upstream_headers) {
    std::string lower = Lower(name);
    if (IsHopByHop(lower) || Listed(connection_listed, lower)) continue;
    if (lower == "content-length" || lower == "set-cookie" || lower == "www-authenticate") {
      continue;
    }
    if (!SafeHeaderName(name) || !SafeHeaderValue(value)) continue;
    if (lower == "location") {
      std::string_view location = value;
      // Redirects are passed back, never followed; one that points at the upstream is
      // mapped onto this server so the client never learns (or calls) the upstream directly.
      if (location.size() >= upstream_origin.size() &&
          std::equal(upstream_origin.begin(), upstream_origin.end(), location.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        location.remove_prefix(upstream_origin.size());
        if (location.empty()) location = "/";
        if (location.front() != '/' && location.front() != '?') {
          continue;  // "http://host:port.evil" and the like: not ours to pass
        }
      }
      if (location.starts_with('/') && !location.starts_with("//") && !base_path.empty() &&
          location.starts_with(base_path) &&
          (location.size() == base_path.size() || location[base_path.size()] == '/' ||
           location[base_path.size()] == '?')) {
        location.remove_prefix(base_path.size());
        if (location.empty() || location.front() == '?') {
          out.emplace_back(name, "/" + std::string(location));
          continue;
        }
      }
      out.emplace_back(name, std::string(location));
      continue;
    }
    out.emplace_back(name, value);
  }
  return out;
}

}  // namespace hokusai::gateway
