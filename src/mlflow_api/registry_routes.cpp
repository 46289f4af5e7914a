#include <memory>

#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/targets.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Method;
using http::Operation;
using http::Resource;
using TrackingFn = Result<Response> (*)(store::TrackingStore&, const Request&);
using RegistryFn = Result<Response> (*)(store::RegistryStore&, const Request&);

// One route: exactly one of `tracking` and `registry` is set, naming the store its handler uses.
struct Entry {
  Method method;
  const char* path;  // below /api/2.0/mlflow
  Operation operation;
  Resource resource;
  Locate locate;  // how the gate finds what the request touches
  TrackingFn tracking;
  RegistryFn registry;
};

constexpr Operation kRead = Operation::kRead;
constexpr Operation kWrite = Operation::kWrite;
constexpr Operation kManage = Operation::kManage;
constexpr Locate kByModel = Locate::kLoggedModel;
constexpr Locate kByName = Locate::kModelName;

constexpr Entry LoggedModel(Method method, const char* path, Operation operation, Locate locate,
                            TrackingFn handler) {
  return Entry{method, path, operation, Resource::kExperiment, locate, handler, nullptr};
}

constexpr Entry Registry(Method method, const char* path, Operation operation, Locate locate,
                         RegistryFn handler) {
  return Entry{method, path, operation, Resource::kModel, locate, nullptr, handler};
}

// The logged-model and registry route table. Every entry names its operation and resource
// (security principle 1). Searches are reads whatever their method.
constexpr Entry kEntries[] = {
    LoggedModel(Method::kPost, "/logged-models", kWrite, Locate::kNewLoggedModel, CreateLoggedModel),
    LoggedModel(Method::kPost, "/logged-models/search", kRead, Locate::kExperimentIds,
                SearchLoggedModels),
    LoggedModel(Method::kGet, "/logged-models/{model_id}", kRead, kByModel, GetLoggedModel),
    LoggedModel(Method::kPatch, "/logged-models/{model_id}", kWrite, kByModel, FinalizeLoggedModel),
    LoggedModel(Method::kDelete, "/logged-models/{model_id}", kManage, kByModel, DeleteLoggedModel),
    LoggedModel(Method::kPatch, "/logged-models/{model_id}/tags", kWrite, kByModel,
                SetLoggedModelTags),
    LoggedModel(Method::kDelete, "/logged-models/{model_id}/tags/{tag_key*}", kWrite, kByModel,
                DeleteLoggedModelTag),
    LoggedModel(Method::kPost, "/logged-models/{model_id}/params", kWrite, kByModel,
                LogLoggedModelParams),

    Registry(Method::kPost, "/registered-models/create", kWrite, Locate::kNewModel,
             CreateRegisteredModel),
    Registry(Method::kGet, "/registered-models/get", kRead, kByName, GetRegisteredModel),
    Registry(Method::kPost, "/registered-models/rename", kWrite, Locate::kModelRename,
             RenameRegisteredModel),
    Registry(Method::kPatch, "/registered-models/update", kWrite, kByName, UpdateRegisteredModel),
    Registry(Method::kDelete, "/registered-models/delete", kManage, kByName, DeleteRegisteredModel),
    Registry(Method::kGet, "/registered-models/search", kRead, Locate::kListing,
             SearchRegisteredModels),
    Registry(Method::kPost, "/registered-models/get-latest-versions", kRead, kByName,
             GetLatestVersions),
    Registry(Method::kGet, "/registered-models/get-latest-versions", kRead, kByName,
             GetLatestVersions),
    Registry(Method::kPost, "/registered-models/set-tag", kWrite, kByName, SetRegisteredModelTag),
    Registry(Method::kDelete, "/registered-models/delete-tag", kWrite, kByName,
             DeleteRegisteredModelTag),
    Registry(Method::kPost, "/registered-models/alias", kWrite, kByName, SetRegisteredModelAlias),
    Registry(Method::kDelete, "/registered-models/alias", kWrite, kByName,
             DeleteRegisteredModelAlias),
    Registry(Method::kGet, "/registered-models/alias", kRead, kByName, GetModelVersionByAlias),

    Registry(Method::kPost, "/model-versions/create", kWrite, Locate::kNewModelVersion,
             CreateModelVersion),
    Registry(Method::kGet, "/model-versions/get", kRead, kByName, GetModelVersion),
    Registry(Method::kPatch, "/model-versions/update", kWrite, kByName, UpdateModelVersion),
    Registry(Method::kDelete, "/model-versions/delete", kManage, kByName, DeleteModelVersion),
    Registry(Method::kGet, "/model-versions/search", kRead, Locate::kListing, SearchModelVersions),
    Registry(Method::kPost, "/model-versions/transition-stage", kWrite, kByName,
             TransitionModelVersionStage),
    Registry(Method::kGet, "/model-versions/get-download-uri", kRead, kByName,
             GetModelVersionDownloadUri),
    Registry(Method::kPost, "/model-versions/set-tag", kWrite, kByName, SetModelVersionTag),
    Registry(Method::kDelete, "/model-versions/delete-tag", kWrite, kByName, DeleteModelVersionTag),
};

}  // namespace

namespace {

// One loop for both modes (see tracking_routes.cpp): with stores each route runs its handler,
// without them `forward_for` makes it a forwarded route with the same declaration.
Result<void> Register(http::RouteTable& table, store::TrackingStore* tracking,
                      store::RegistryStore* registry,
                      const std::shared_ptr<ResourceLocator>& owned, ResourceLocator& locator,
                      const http::ForwardFor* forward_for) {
  for (const Entry& entry : kEntries) {
    std::string path = std::string("/api/2.0/mlflow") + entry.path;
    if ((entry.tracking == nullptr) == (entry.registry == nullptr)) {
      return Fail(ErrorCode::kInternalError, "route without exactly one handler: " + path);
    }
    http::Handler handler;
    if (tracking != nullptr && entry.tracking != nullptr) {
      TrackingFn fn = entry.tracking;
      handler = [tracking, fn](const Request& request) { return fn(*tracking, request); };
    } else if (registry != nullptr && entry.registry != nullptr) {
      RegistryFn fn = entry.registry;
      handler = [registry, fn](const Request& request) { return fn(*registry, request); };
    }
    http::Route route{entry.method, std::move(path), http::Access{entry.operation, entry.resource},
                      http::Execution::kBlocking, std::move(handler)};
    http::TargetFinder find = MakeTargetFinder(entry.locate, locator);
    if (owned) {
      route.target = [owned, find](const Request& request) { return find(request); };
    } else {
      route.target = std::move(find);
    }
    if (forward_for != nullptr) {
      route.forward = std::make_shared<const http::Forward>((*forward_for)(route));
    }
    HK_CHECK(table.Add(std::move(route)));
  }
  return {};
}

}  // namespace

Result<void> RegisterRegistryRoutes(http::RouteTable& table, store::TrackingStore& tracking,
                                    store::RegistryStore& registry) {
  auto locator = std::make_shared<StoreLocator>(tracking);
  return Register(table, &tracking, &registry, locator, *locator, nullptr);
}

Result<void> RegisterRegistryRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for) {
  return Register(table, nullptr, nullptr, nullptr, locator, &forward_for);
}

}  // namespace hokusai::mlflow_api
