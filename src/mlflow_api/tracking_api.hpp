// The MLflow tracking API (experiments, runs, metrics): registers its routes, each with its
// access declaration, and the handlers behind them.
#pragma once

#include "common/error.hpp"
#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

// Adds every tracking route under /api/2.0/mlflow/. `store` must outlive the table.
Result<void> RegisterTrackingRoutes(http::RouteTable& table, store::TrackingStore& store);

}  // namespace hokusai::mlflow_api
