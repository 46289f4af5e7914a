#include "http/router.hpp"

#include <fmt/format.h>

namespace hokusai::http {

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kPatch: return "PATCH";
    case Method::kDelete: return "DELETE";
    case Method::kOther: return "OTHER";
  }
  return "OTHER";
}

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kPublic: return "public";
    case Operation::kAuthenticated: return "authenticated";
    case Operation::kRead: return "read";
    case Operation::kWrite: return "write";
    case Operation::kManage: return "manage";
    case Operation::kAdmin: return "admin";
  }
  return "admin";
}

std::string_view ResourceName(Resource resource) {
  switch (resource) {
    case Resource::kNone: return "none";
    case Resource::kExperiment: return "experiment";
    case Resource::kModel: return "model";
  }
  return "none";
}

std::optional<std::string_view> Request::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return std::nullopt;
}

std::string_view Request::PathParam(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return value;
  }
  return {};
}

namespace {

std::vector<std::string> SplitSegments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool IsRestParam(std::string_view segment) {
  return IsParam(segment) && segment[segment.size() - 2] == '*';
}

std::string ParamName(std::string_view segment) {
  std::string_view inner = segment.substr(1, segment.size() - 2);
  if (!inner.empty() && inner.back() == '*') inner.remove_suffix(1);
  return std::string(inner);
}

// Matches `path` against `segments`; fills `params` on success.
bool MatchPattern(const std::vector<std::string>& segments, std::string_view path,
                  PathParams* params) {
  PathParams found;
  std::size_t pos = 1;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (pos > path.size()) return false;
    const std::string& segment = segments[i];
    if (IsRestParam(segment)) {
      if (i + 1 != segments.size() || pos >= path.size()) return false;
      found.emplace_back(ParamName(segment), std::string(path.substr(pos)));
      pos = path.size() + 1;
      break;
    }
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view value = path.substr(pos, end - pos);
    if (IsParam(segment)) {
      if (value.empty()) return false;
      found.emplace_back(ParamName(segment), std::string(value));
    } else if (value != segment) {
      return false;
    }
    pos = end + 1;
  }
  if (pos <= path.size()) return false;  // path has more segments than the pattern
  if (params != nullptr) *params = std::move(found);
  return true;
}

}  // namespace

Result<void> RouteTable::Add(Route route) {
  bool on_resource = route.access.resource != Resource::kNone;
  bool needs_target = on_resource && (route.access.operation == Operation::kRead ||
                                      route.access.operation == Operation::kWrite ||
                                      route.access.operation == Operation::kManage);
  if (needs_target && !route.target) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("route {} {} acts on a resource but cannot find it",
                            MethodName(route.method), route.path));
  }
  if (route.access.operation == Operation::kPublic && on_resource) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("public route {} {} must not touch a resource",
                            MethodName(route.method), route.path));
  }
  if (route.path.find('{') != std::string::npos) {
    std::vector<std::string> segments = SplitSegments(route.path);
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (IsRestParam(segments[i]) && i + 1 != segments.size()) {
        return Fail(ErrorCode::kInternalError, "rest parameter must be last: " + route.path);
      }
    }
    for (const Pattern& p : patterns_) {
      const Route& other = routes_[p.route_index];
      if (other.path == route.path && other.method == route.method) {
        return Fail(ErrorCode::kInternalError,
                    fmt::format("duplicate route {} {}", MethodName(route.method), route.path));
      }
    }
    patterns_.push_back(Pattern{std::move(segments), routes_.size()});
    routes_.push_back(std::move(route));
    return {};
  }
  auto& indexes = by_path_[route.path];
  for (std::size_t i : indexes) {
    if (routes_[i].method == route.method) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("duplicate route {} {}", MethodName(route.method), route.path));
    }
  }
  indexes.push_back(routes_.size());
  routes_.push_back(std::move(route));
  return {};
}

const Route* RouteTable::Find(Method method, std::string_view path, bool* path_known,
                              PathParams* params) const {
  if (path_known != nullptr) *path_known = false;
  auto it = by_path_.find(std::string(path));
  if (it != by_path_.end()) {
    if (path_known != nullptr) *path_known = true;
    for (std::size_t i : it->second) {
      if (routes_[i].method == method) return &routes_[i];
    }
    return nullptr;
  }
  // A literal path that exists wins over every pattern, so patterns are tried only after.
  for (const Pattern& pattern : patterns_) {
    PathParams found;
    if (!MatchPattern(pattern.segments, path, &found)) continue;
    if (path_known != nullptr) *path_known = true;
    if (routes_[pattern.route_index].method != method) continue;
    if (params != nullptr) *params = std::move(found);
    return &routes_[pattern.route_index];
  }
  return nullptr;
}

}  // namespace hokusai::http
