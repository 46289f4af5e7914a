// Operations endpoints: /health, /live, /ready, /version, /api/v1/version, /metrics.
#pragma once

#include "artifacts/artifact_repository.hpp"
#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::cli {

// `store`, `artifacts`, `metrics` and `table` must outlive the server.
Result<void> RegisterOpsRoutes(http::RouteTable& table, store::TrackingStore& store,
                               artifacts::ArtifactRepository& artifacts,
                               const http::RequestMetrics& metrics);

}  // namespace hokusai::cli
