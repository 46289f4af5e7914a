// Operations endpoints: /health, /live, /ready, /version, /api/v1/version, /metrics (public),
// and /api/v1/routes (admin: the route table with each route's declared access).
#pragma once

#include <functional>
#include <string>

#include "artifacts/artifact_repository.hpp"
#include "auth/authenticator.hpp"
#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::cli {

// `store`, `artifacts`, `authenticator`, `metrics` and `table` must outlive the server.
Result<void> RegisterOpsRoutes(http::RouteTable& table, store::TrackingStore& store,
                               artifacts::ArtifactRepository& artifacts,
                               auth::Authenticator& authenticator,
                               const http::RequestMetrics& metrics,
                               std::function<std::string()> extra_metrics);

}  // namespace hokusai::cli
