#include <fmt/format.h>

#include "artifacts/artifact_repository.hpp"
#include "common/limits.hpp"

namespace hokusai::artifacts {

Result<void> ValidateArtifactPath(std::string_view path, bool allow_empty) {
  auto bad = [&](std::string_view why) {
    return InvalidParameter(fmt::format("Invalid artifact path: {}", why));
  };
  if (path.empty()) {
    if (allow_empty) return {};
    return bad("empty");
  }
  if (path.size() > limits::kMaxArtifactPathLength) return bad("too long");
  if (path.front() == '/') return bad("absolute paths are not allowed");
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment.empty()) {
      if (end == path.size() && start == path.size() && start > 0) break;  // one trailing '/'
      return bad("empty path segment");
    }
    if (segment == "." || segment == "..") return bad("'.' and '..' segments are not allowed");
    if (segment.size() > limits::kMaxArtifactSegmentLength) return bad("path segment too long");
    if (segment.substr(0, 4) == ".hk-") return bad("names starting with '.hk-' are reserved");
    for (char c : segment) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return bad("control characters are not allowed");
      if (c == '\\') return bad("backslashes are not allowed");
    }
    start = end + 1;
  }
  return {};
}

std::string JoinArtifactPath(std::string_view a, std::string_view b) {
  while (!a.empty() && a.back() == '/') a.remove_suffix(1);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

}  // namespace hokusai::artifacts
