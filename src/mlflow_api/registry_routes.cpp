#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/registry_handlers.hpp"

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
  TrackingFn tracking;
  RegistryFn registry;
};

constexpr Operation kRead = Operation::kRead;
constexpr Operation kWrite = Operation::kWrite;

constexpr Entry LoggedModel(Method method, const char* path, Operation operation,
                            TrackingFn handler) {
  return Entry{method, path, operation, Resource::kExperiment, handler, nullptr};
}

constexpr Entry Registry(Method method, const char* path, Operation operation,
                         RegistryFn handler) {
  return Entry{method, path, operation, Resource::kModel, nullptr, handler};
}

// The logged-model and registry route table. Every entry names its operation and resource
// (security principle 1). Searches are reads whatever their method.
constexpr Entry kEntries[] = {
    LoggedModel(Method::kPost, "/logged-models", kWrite, CreateLoggedModel),
    LoggedModel(Method::kPost, "/logged-models/search", kRead, SearchLoggedModels),
    LoggedModel(Method::kGet, "/logged-models/{model_id}", kRead, GetLoggedModel),
    LoggedModel(Method::kPatch, "/logged-models/{model_id}", kWrite, FinalizeLoggedModel),
    LoggedModel(Method::kDelete, "/logged-models/{model_id}", kWrite, DeleteLoggedModel),
    LoggedModel(Method::kPatch, "/logged-models/{model_id}/tags", kWrite, SetLoggedModelTags),
    LoggedModel(Method::kDelete, "/logged-models/{model_id}/tags/{tag_key*}", kWrite,
                DeleteLoggedModelTag),
    LoggedModel(Method::kPost, "/logged-models/{model_id}/params", kWrite, LogLoggedModelParams),

    Registry(Method::kPost, "/registered-models/create", kWrite, CreateRegisteredModel),
    Registry(Method::kGet, "/registered-models/get", kRead, GetRegisteredModel),
    Registry(Method::kPost, "/registered-models/rename", kWrite, RenameRegisteredModel),
    Registry(Method::kPatch, "/registered-models/update", kWrite, UpdateRegisteredModel),
    Registry(Method::kDelete, "/registered-models/delete", kWrite, DeleteRegisteredModel),
    Registry(Method::kGet, "/registered-models/search", kRead, SearchRegisteredModels),
    Registry(Method::kPost, "/registered-models/get-latest-versions", kRead, GetLatestVersions),
    Registry(Method::kGet, "/registered-models/get-latest-versions", kRead, GetLatestVersions),
    Registry(Method::kPost, "/registered-models/set-tag", kWrite, SetRegisteredModelTag),
    Registry(Method::kDelete, "/registered-models/delete-tag", kWrite, DeleteRegisteredModelTag),
    Registry(Method::kPost, "/registered-models/alias", kWrite, SetRegisteredModelAlias),
    Registry(Method::kDelete, "/registered-models/alias", kWrite, DeleteRegisteredModelAlias),
    Registry(Method::kGet, "/registered-models/alias", kRead, GetModelVersionByAlias),

    Registry(Method::kPost, "/model-versions/create", kWrite, CreateModelVersion),
    Registry(Method::kGet, "/model-versions/get", kRead, GetModelVersion),
    Registry(Method::kPatch, "/model-versions/update", kWrite, UpdateModelVersion),
    Registry(Method::kDelete, "/model-versions/delete", kWrite, DeleteModelVersion),
    Registry(Method::kGet, "/model-versions/search", kRead, SearchModelVersions),
    Registry(Method::kPost, "/model-versions/transition-stage", kWrite,
             TransitionModelVersionStage),
    Registry(Method::kGet, "/model-versions/get-download-uri", kRead, GetModelVersionDownloadUri),
    Registry(Method::kPost, "/model-versions/set-tag", kWrite, SetModelVersionTag),
    Registry(Method::kDelete, "/model-versions/delete-tag", kWrite, DeleteModelVersionTag),
};

}  // namespace

Result<void> RegisterRegistryRoutes(http::RouteTable& table, store::TrackingStore& tracking,
                                    store::RegistryStore& registry) {
  for (const Entry& entry : kEntries) {
    std::string path = std::string("/api/2.0/mlflow") + entry.path;
    http::Handler handler;
    if (entry.tracking != nullptr && entry.registry == nullptr) {
      TrackingFn fn = entry.tracking;
      handler = [&tracking, fn](const Request& request) { return fn(tracking, request); };
    } else if (entry.registry != nullptr && entry.tracking == nullptr) {
      RegistryFn fn = entry.registry;
      handler = [&registry, fn](const Request& request) { return fn(registry, request); };
    } else {
      return Fail(ErrorCode::kInternalError, "route without exactly one handler: " + path);
    }
    HK_CHECK(table.Add(http::Route{entry.method, std::move(path),
                                   http::Access{entry.operation, entry.resource},
                                   http::Execution::kBlocking, std::move(handler)}));
  }
  return {};
}

}  // namespace hokusai::mlflow_api
