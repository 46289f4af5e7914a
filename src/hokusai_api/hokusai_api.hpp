// The Hokusai API beside the MLflow API (spec hokusai-api.md §1–3): key validation for other
// services, key management, whoami, the audit log, MLflow's auth-app permission endpoints, the
// one-call registration API and the registration-event outbox.
#pragma once

#include <functional>
#include <string>

#include "artifacts/artifact_repository.hpp"
#include "auth/authenticator.hpp"
#include "auth/audit_sink.hpp"
#include "auth/gate.hpp"
#include "auth/key_service.hpp"
#include "auth/rate_limiter.hpp"
#include "common/error.hpp"
#include "hokusai_api/model_catalog.hpp"
#include "http/router.hpp"
#include "store/auth_store.hpp"
#include "store/event_store.hpp"
#include "store/registry_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::hokusai_api {

// Everything the handlers use. All referenced objects must outlive the route table.
struct HokusaiApiDeps {
  // Null in external-auth mode: the key admin routes then answer 501 NOT_IMPLEMENTED.
  auth::KeyService* keys;
  auth::Authenticator& authenticator;
  auth::AuthGate& gate;
  auth::RateLimiter& limiter;
  auth::AuditSink& audit;
  store::AuthStore& store;
  store::TrackingStore& tracking;
  store::RegistryStore& registry;
  // Reported by /api/v1/keys/validate when the request names none.
  std::string service_id;
  // Base URL clients should use (whoami). Empty: http://<Host header>.
  std::string public_url;
  // Where registrations check that a run's model directory exists; null: only logged models
  // are found.
  artifacts::ArtifactRepository* artifacts = nullptr;
  // The registration-event outbox; null: /api/v1/events answers 501.
  store::EventStore* events = nullptr;
  // Called after a registration or replay commits, to deliver its event now (may be empty).
  std::function<void()> events_committed;
  // Where the registration API reads and writes models; null: this server's own stores
  // (tracking, registry, artifacts above). Gateway mode passes the upstream's.
  ModelCatalog* catalog = nullptr;
};

// Adds the Hokusai routes to `table`. Every route runs on the blocking pool and declares its
// access; POST /api/v1/keys/validate is public because it authenticates the key it is given.
// Returns an error (a start-up bug) when a route clashes with one already registered.
Result<void> RegisterHokusaiRoutes(http::RouteTable& table, HokusaiApiDeps deps);

}  // namespace hokusai::hokusai_api
