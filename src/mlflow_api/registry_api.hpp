// The MLflow 3 logged-model API and the model-registry API (registered models, versions, tags,
// aliases, stages): registers their routes, each with its access declaration.
#pragma once

#include "common/error.hpp"
#include "http/router.hpp"
#include "mlflow_api/targets.hpp"
#include "store/registry_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

// Adds the logged-model routes (resource: experiment; store: `tracking`) and the registry routes
// (resource: model; store: `registry`) under /api/2.0/mlflow/. Both stores must outlive the
// table.
Result<void> RegisterRegistryRoutes(http::RouteTable& table, store::TrackingStore& tracking,
                                    store::RegistryStore& registry);

// Gateway mode: the same routes with the same declarations, their target finders asking
// `locator`, each forwarded to the upstream. `locator` must outlive the table.
Result<void> RegisterRegistryRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for);

}  // namespace hokusai::mlflow_api
