// Gateway mode: how the upstream MLflow server is checked (start-up, /ready, /health/mlflow).
#pragma once

#include <string>

#include "common/error.hpp"
#include "gateway/upstream.hpp"

namespace hokusai::gateway {

struct Probe {
  bool ok = false;
  int status = 0;  // the upstream's HTTP status; 0 when it did not answer
  double latency_ms = 0;
  std::string message;  // why it is not ok; never a credential
};

struct HealthReport {
  Probe reachable;    // GET /health answered at all
  Probe experiments;  // POST experiments/search {"max_results": 1} answered 200
  Probe artifacts;    // GET mlflow-artifacts/artifacts (the root listing) answered 200
  bool ok() const { return reachable.ok && experiments.ok && artifacts.ok; }
  // {"ok", "upstream", "reachable": {...}, "experiments_api": {...}, "artifacts_api": {...}}
  std::string Json(const std::string& upstream) const;
};

// Runs the three probes, in order (later ones are skipped, not ok, when the upstream is not
// reachable). Blocking: call on the blocking pool or at start-up.
HealthReport CheckUpstream(UpstreamClient& client);

// Whether the upstream answers GET /health with 200; the error names the upstream. Blocking.
Result<void> PingUpstream(UpstreamClient& client);

}  // namespace hokusai::gateway
