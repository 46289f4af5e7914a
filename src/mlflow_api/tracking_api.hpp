// The MLflow tracking API (experiments, runs, metrics): registers its routes, each with its
// access declaration, and the handlers behind them.
#pragma once

#include "common/error.hpp"
#include "http/router.hpp"
#include "mlflow_api/targets.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

// Adds every tracking route under /api/2.0/mlflow/. `store` must outlive the table.
Result<void> RegisterTrackingRoutes(http::RouteTable& table, store::TrackingStore& store);

// Gateway mode: the same routes with the same declarations, their target finders asking
// `locator`, each forwarded to the upstream (`forward_for` gives each route its Forward).
// `locator` must outlive the table.
Result<void> RegisterTrackingRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for);

}  // namespace hokusai::mlflow_api
