#include "http/canonical_path.hpp"

#include <fmt/format.h>

#include "common/limits.hpp"

namespace hokusai::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

tl::unexpected<Error> Ambiguous(std::string_view why) {
  return Fail(ErrorCode::kBadRequest, fmt::format("Invalid request path: {}", why));
}

// Decodes the path once. Escapes that would change how the path splits or that could be decoded
// again downstream are refused rather than decoded.
Result<std::string> DecodePath(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Ambiguous("control character");
    if (c == '\\') return Ambiguous("backslash");
    if (c == ';') return Ambiguous("';' in path");
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= raw.size()) return Ambiguous("bad percent escape");
    int hi = HexValue(raw[i + 1]);
    int lo = HexValue(raw[i + 2]);
    if (hi < 0 || lo < 0) return Ambiguous("bad percent escape");
    char decoded = static_cast<char>(hi * 16 + lo);
    auto du = static_cast<unsigned char>(decoded);
    if (decoded == '/' || decoded == '\\' || decoded == '.' || decoded == '%' || decoded == ';' ||
        du < 0x20 || du == 0x7f) {
      return Ambiguous("encoded separator, dot, percent or control character");
    }
    out.push_back(decoded);
    i += 2;
  }
  return out;
}

Result<void> CheckSegments(std::string_view path) {
  if (path.find("//") != std::string_view::npos) return Ambiguous("empty segment");
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return Ambiguous("dot segment");
    start = end + 1;
  }
  return {};
}

bool StripPrefix(std::string& path, std::string_view prefix) {
  if (prefix.empty() || path.compare(0, prefix.size(), prefix) != 0) return false;
  if (path.size() == prefix.size()) {
    path = "/";
    return true;
  }
  if (path[prefix.size()] != '/') return false;
  path.erase(0, prefix.size());
  return true;
}

}  // namespace

Result<std::string> DecodeQueryComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return Fail(ErrorCode::kBadRequest, "Invalid query string");
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return Fail(ErrorCode::kBadRequest, "Invalid query string");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::string> NormalizeStaticPrefix(std::string_view prefix) {
  if (prefix.empty()) return std::string();
  std::string value(prefix);
  while (value.size() > 1 && value.back() == '/') value.pop_back();
  if (value == "/") return std::string();
  if (value.front() != '/') {
    return InvalidParameter("--static-prefix must start with '/'");
  }
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-' || c == '_' || c == '.';
    if (!ok) return InvalidParameter("--static-prefix may contain only [A-Za-z0-9/._-]");
  }
  if (auto checked = CheckSegments(value); !checked) {
    return InvalidParameter("--static-prefix must not contain empty or dot segments");
  }
  return value;
}

Result<CanonicalTarget> Canonicalize(std::string_view target, std::string_view static_prefix) {
  if (target.empty() || target.front() != '/') return Ambiguous("not an origin-form target");
  std::size_t qmark = target.find('?');
  std::string_view raw_path = target.substr(0, qmark);
  std::string_view raw_query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);

  auto decoded = DecodePath(raw_path);
  if (!decoded) return tl::unexpected(decoded.error());
  if (auto checked = CheckSegments(*decoded); !checked) return tl::unexpected(checked.error());

  CanonicalTarget out;
  out.path = std::move(*decoded);
  if (!StripPrefix(out.path, static_prefix)) {
    if (!StripPrefix(out.path, "/api/mlflow")) StripPrefix(out.path, "/mlflow");
  }
  if (out.path.compare(0, 10, "/ajax-api/") == 0) out.path.replace(0, 9, "/api");

  std::size_t start = 0;
  while (start < raw_query.size()) {
    std::size_t end = raw_query.find('&', start);
    if (end == std::string_view::npos) end = raw_query.size();
    std::string_view pair = raw_query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    if (out.query.size() >= limits::kMaxQueryParams) {
      return Fail(ErrorCode::kBadRequest, "Too many query parameters");
    }
    std::size_t eq = pair.find('=');
    auto key = DecodeQueryComponent(pair.substr(0, eq));
    if (!key) return tl::unexpected(key.error());
    std::string value;
    if (eq != std::string_view::npos) {
      auto decoded_value = DecodeQueryComponent(pair.substr(eq + 1));
      if (!decoded_value) return tl::unexpected(decoded_value.error());
      value = std::move(*decoded_value);
    }
    out.query.emplace_back(std::move(*key), std::move(value));
  }
  return out;
}

}  // namespace hokusai::http
