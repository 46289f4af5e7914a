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
    case Operation::kRead: return "read";
    case Operation::kWrite: return "write";
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

Result<void> RouteTable::Add(Route route) {
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

const Route* RouteTable::Find(Method method, std::string_view path, bool* path_known) const {
  auto it = by_path_.find(std::string(path));
  if (path_known != nullptr) *path_known = it != by_path_.end();
  if (it == by_path_.end()) return nullptr;
  for (std::size_t i : it->second) {
    const Route& route = routes_[i];
    if (route.method == method) {
      return &route;
    }
  }
  return nullptr;
}

}  // namespace hokusai::http
