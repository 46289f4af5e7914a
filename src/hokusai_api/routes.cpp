#include <memory>
#include <string>
#include <utility>

#include "hokusai_api/api_limits.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/hokusai_api.hpp"

namespace hokusai::hokusai_api {

Context::Context(HokusaiApiDeps d)
    : deps(std::move(d)),
      throttle(api_limits::kFailureLockoutSeconds * 1000, api_limits::kMaxThrottledClients),
      own_catalog(deps.catalog ? nullptr
                               : MakeStoreCatalog(deps.tracking, deps.registry, deps.artifacts)),
      catalog(deps.catalog ? deps.catalog : own_catalog.get()) {}

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
  // The MLflow permission endpoints' common prefix, for PermissionRoute entries; else null.
  const char* base = nullptr;
};

constexpr const char* kExperimentPermissions = "/api/2.0/mlflow/experiments/permissions";
constexpr const char* kModelPermissions = "/api/2.0/mlflow/registered-models/permissions";

constexpr Entry Own(Method method, const char* path, Operation operation, HandlerFn handler) {
  return Entry{method, path, operation, Resource::kNone, handler, nullptr};
}

constexpr Entry PermissionRoute(Method method, const char* path, Resource resource,
                           HandlerFn handler) {
  return Entry{method,
               path,
               Operation::kManage,
               resource,
               handler,
               resource == Resource::kExperiment ? ExperimentPermissionTarget
                                                 : ModelPermissionTarget,
               resource == Resource::kExperiment ? kExperimentPermissions : kModelPermissions};
}

constexpr Entry ModelRoute(Method method, const char* path, Operation operation, HandlerFn handler,
                           TargetFn target) {
  return Entry{method, path, operation, Resource::kModel, handler, target};
}

constexpr Operation kAuthenticated = Operation::kAuthenticated;

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

    // Registration (spec §3). A registration writes into the model it names (EDIT), or creates
    // it (name-pattern scopes); the run or URI it points at is resolved by the handler, which
    // answers 404 for what the caller cannot read.
    ModelRoute(Method::kPost, "/api/v1/models/register", Operation::kWrite, RegisterModel,
               RegisterModelTarget),
    ModelRoute(Method::kPost, "/api/v1/models/baseline", Operation::kWrite, RegisterBaseline,
               RegisterBaselineTarget),
    ModelRoute(Method::kGet, "/api/v1/models", Operation::kRead, ListModels, ModelListTarget),
    ModelRoute(Method::kGet, "/api/v1/models/{name}/{version}", Operation::kRead, GetModel,
               ModelVersionTarget),
    ModelRoute(Method::kPost, "/api/v1/models/{name}/{version}/transition", Operation::kWrite,
               TransitionModel, ModelVersionTarget),
    Own(Method::kGet, "/api/v1/events", Operation::kAdmin, ListEvents),
    Own(Method::kGet, "/api/v1/events/{event_id}", Operation::kAdmin, GetEvent),
    Own(Method::kPost, "/api/v1/events/{event_id}/replay", Operation::kAdmin, ReplayEvent),

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
  return entry.base == nullptr ? std::string(entry.path) : std::string(entry.base) + entry.path;
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
