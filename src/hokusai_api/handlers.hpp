// The handlers behind the Hokusai routes, one per endpoint, all alike: parse -> validate ->
// call the service or store -> write JSON. Internal to hokusai_api/.
#pragma once

#include <memory>

#include "common/error.hpp"
#include "hokusai_api/failure_throttle.hpp"
#include "hokusai_api/hokusai_api.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace hokusai::hokusai_api {

using http::Request;
using http::Response;

// What every handler receives: the dependencies and the state the routes share. Built once by
// RegisterHokusaiRoutes and kept alive by the route handlers.
struct Context {
  explicit Context(HokusaiApiDeps d);

  HokusaiApiDeps deps;
  FailureThrottle throttle;  // /api/v1/keys/validate brute-force guard
  std::unique_ptr<ModelCatalog> own_catalog;  // when deps.catalog is null
  ModelCatalog* catalog;                      // deps.catalog or own_catalog
};

// Keys (keys.cpp).
Result<Response> CreateKey(Context& ctx, const Request& request);
Result<Response> ListKeys(Context& ctx, const Request& request);
Result<Response> GetKey(Context& ctx, const Request& request);
Result<Response> RevokeKey(Context& ctx, const Request& request);
Result<Response> RotateKey(Context& ctx, const Request& request);
Result<Response> WhoAmI(Context& ctx, const Request& request);

// Key validation for other services (validate.cpp).
Result<Response> ValidateKey(Context& ctx, const Request& request);

// The audit log (audit.cpp).
Result<Response> SearchAudit(Context& ctx, const Request& request);

// MLflow auth-app permissions (permissions.cpp).
Result<http::Target> ExperimentPermissionTarget(Context& ctx, const Request& request);
Result<http::Target> ModelPermissionTarget(Context& ctx, const Request& request);
Result<Response> CreateExperimentPermission(Context& ctx, const Request& request);
Result<Response> GetExperimentPermission(Context& ctx, const Request& request);
Result<Response> UpdateExperimentPermission(Context& ctx, const Request& request);
Result<Response> DeleteExperimentPermission(Context& ctx, const Request& request);
Result<Response> CreateModelPermission(Context& ctx, const Request& request);
Result<Response> GetModelPermission(Context& ctx, const Request& request);
Result<Response> UpdateModelPermission(Context& ctx, const Request& request);
Result<Response> DeleteModelPermission(Context& ctx, const Request& request);

// The registration API (models.cpp).
Result<http::Target> RegisterModelTarget(Context& ctx, const Request& request);
Result<http::Target> RegisterBaselineTarget(Context& ctx, const Request& request);
Result<http::Target> ModelVersionTarget(Context& ctx, const Request& request);
Result<http::Target> ModelListTarget(Context& ctx, const Request& request);
Result<Response> RegisterModel(Context& ctx, const Request& request);
Result<Response> RegisterBaseline(Context& ctx, const Request& request);
Result<Response> ListModels(Context& ctx, const Request& request);
Result<Response> GetModel(Context& ctx, const Request& request);
Result<Response> TransitionModel(Context& ctx, const Request& request);

// Registration events (events.cpp).
Result<Response> ListEvents(Context& ctx, const Request& request);
Result<Response> GetEvent(Context& ctx, const Request& request);
Result<Response> ReplayEvent(Context& ctx, const Request& request);

}  // namespace hokusai::hokusai_api
