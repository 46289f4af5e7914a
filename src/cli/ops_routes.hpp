// Operations endpoints: /health, /live, /ready, /version, /api/v1/version, /metrics (public),
// and /api/v1/routes (admin: the route table with each route's declared access).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "artifacts/artifact_repository.hpp"
#include "auth/authenticator.hpp"
#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::cli {

// Gateway mode's part in the operations endpoints. Both functions block (blocking pool).
struct OpsUpstream {
  std::string display;                  // the upstream's URL, as /ready names it
  std::function<Result<void>()> ping;   // /ready: does the upstream answer
  std::function<http::Response()> health;  // GET /health/mlflow: the detailed report
};

// `store`, `artifacts`, `authenticator`, `metrics` and `table` must outlive the server. With
// `upstream` (gateway mode), /ready also checks the upstream and GET /health/mlflow is added.
Result<void> RegisterOpsRoutes(http::RouteTable& table, store::TrackingStore& store,
                               artifacts::ArtifactRepository& artifacts,
                               auth::Authenticator& authenticator,
                               const http::RequestMetrics& metrics,
                               std::function<std::string()> extra_metrics,
                               std::shared_ptr<const OpsUpstream> upstream = nullptr);

}  // namespace hokusai::cli
