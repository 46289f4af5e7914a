#include <memory>
#include <string>
#include <utility>

#include "hokusai_api/api_limits.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/hokusai_api.hpp"

namespace hokusai::hokusai_api {

Context::Context(HokusaiApiDeps d)
    : deps(std::move(d)),
      throttle(api_limits::kFailureLockoutSeconds * 1000, api_limits::kMaxThrottledClients) {}

namespace {

using http::Method;
using http::Operation;
using http::Resource;
using HandlerFn = Result<Response> (*)(Context&, const Request&);
using TargetFn = Result<http::Target> (*)(Context&, const Request&);

struct Entry {
  Method method;
  const char* path;
  Operation operation;
  Resource resource;
  HandlerFn handler;
  TargetFn target;  // routes on a resource only
};

constexpr Entry Own(Method method, const char* path, Operation operation, HandlerFn handler) {
  return Entry{method, path, operation, Resource::kNone, handler, nullptr};
}

constexpr Entry PermissionRoute(Method method, const char* path, Resource resource,
                           HandlerFn handler) {
  return Entry{method, path, Operation::kManage, resource, handler,
               resource == Resource::kExperiment ? ExperimentPermissionTarget
                                                 : ModelPermissionTarget};
}

constexpr Operation kAuthenticated = Operation::kAuthenticated;
constexpr const char* kExperimentPermissions = "/api/2.0/mlflow/experiments/permissions";
constexpr const char* kModelPermissions = "/api/2.0/mlflow/registered-models/permissions";

// Every Hokusai route and what it declares (security principle 1). The key routes are open to
// any valid key because KeyService decides owner-or-admin itself; validate is public because
// it authenticates the key it is given, behind its own brute-force guard.
constexpr Entry kEntries[] = {
    Own(Method::kPost, "/api/v1/keys", kAuthenticated, CreateKey),
    Own(Method::kGet, "/api/v1/keys", kAuthenticated, ListKeys),
    Own(Method::kPost, "/api/v1/keys/validate", Operation::kPublic, ValidateKey),
    Own(Method::kGet, "/api/v1/keys/{key_id}", kAuthenticated, GetKey),
    Own(Method::kDelete, "/api/v1/keys/{key_id}", kAuthenticated, RevokeKey),
    Own(Method::kPost, "/api/v1/keys/{key_id}/rotate", kAuthenticated, RotateKey),
    Own(Method::kGet, "/api/v1/whoami", kAuthenticated, WhoAmI),
    Own(Method::kGet, "/api/v1/audit", Operation::kAdmin, SearchAudit),

    PermissionRoute(Method::kPost, "/create", Resource::kExperiment, CreateExperimentPermission),
    PermissionRoute(Method::kGet, "/get", Resource::kExperiment, GetExperimentPermission),
    PermissionRoute(Method::kPatch, "/update", Resource::kExperiment, UpdateExperimentPermission),
    PermissionRoute(Method::kDelete, "/delete", Resource::kExperiment, DeleteExperimentPermission),
    PermissionRoute(Method::kPost, "/create", Resource::kModel, CreateModelPermission),
    PermissionRoute(Method::kGet, "/get", Resource::kModel, GetModelPermission),
    PermissionRoute(Method::kPatch, "/update", Resource::kModel, UpdateModelPermission),
    PermissionRoute(Method::kDelete, "/delete", Resource::kModel, DeleteModelPermission),
};

std::string FullPath(const Entry& entry) {
  switch (entry.resource) {
    case Resource::kExperiment: return std::string(kExperimentPermissions) + entry.path;
    case Resource::kModel: return std::string(kModelPermissions) + entry.path;
    case Resource::kNone: break;
  }
  return entry.path;
}

}  // namespace

Result<void> RegisterHokusaiRoutes(http::RouteTable& table, HokusaiApiDeps deps) {
  auto ctx = std::make_shared<Context>(std::move(deps));
  for (const Entry& entry : kEntries) {
    HandlerFn fn = entry.handler;
    http::Route route{entry.method, FullPath(entry),
                      http::Access{entry.operation, entry.resource}, http::Execution::kBlocking,
                      [ctx, fn](const Request& request) { return fn(*ctx, request); }};
    if (entry.target != nullptr) {
      TargetFn target = entry.target;
      route.target = [ctx, target](const Request& request) { return target(*ctx, request); };
    }
    HK_CHECK(table.Add(std::move(route)));
  }
  return {};
}

}  // namespace hokusai::hokusai_api
