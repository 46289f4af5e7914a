// Operations endpoints: /health, /live, /ready, /version, /api/v1/version, /metrics.
#pragma once

#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::cli {

// `store`, `metrics` and `table` must outlive the server.
Result<void> RegisterOpsRoutes(http::RouteTable& table, store::TrackingStore& store,
                               const http::RequestMetrics& metrics);

}  // namespace hokusai::cli
