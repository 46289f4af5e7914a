#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "hokusai_api/handlers.hpp"
#include "hokusai_api/requests.hpp"
#include "json/writer.hpp"

namespace hokusai::hokusai_api {
namespace {

// The two resources MLflow's auth app grants permissions on; the handlers are the same for both.
struct PermissionKind {
  std::string_view id_field;      // request and response field naming the resource
  std::string_view response_key;  // wrapper object of create and get responses
  std::string_view label;         // for messages, as MLflow words them
  Result<std::optional<store::Permission>> (store::AuthStore::*get)(const std::string&,
                                                                     const std::string&);
  Result<void> (store::AuthStore::*set)(const std::string&, const std::string&,
                                        store::Permission);
  Result<void> (store::AuthStore::*remove)(const std::string&, const std::string&);
  // Before a new row: what the store needs to hold it (ModelCatalog).
  Result<void> (ModelCatalog::*anchor)(const std::string&);
};

constexpr PermissionKind kExperiment{
    "experiment_id", "experiment_permission", "Experiment",
    &store::AuthStore::GetExperimentPermission, &store::AuthStore::SetExperimentPermission,
    &store::AuthStore::DeleteExperimentPermission, &ModelCatalog::AnchorExperimentPermissions};

constexpr PermissionKind kModel{
    "name", "registered_model_permission", "Registered model",
    &store::AuthStore::GetModelPermission, &store::AuthStore::SetModelPermission,
    &store::AuthStore::DeleteModelPermission, &ModelCatalog::AnchorModelPermissions};

Error PermissionNotFound(const PermissionKind& kind, const PermissionInput& input) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("{} permission with {}={} and username={} not found", kind.label,
                           kind.id_field, input.resource_id, input.username)};
}

// MLflow refuses permissions for unknown users. With an external auth service users are not
// kept here, so any name is accepted.
Result<void> CheckUser(Context& ctx, const std::string& username) {
  if (!ctx.deps.authenticator.IsLocal()) return {};
  auto user = ctx.deps.store.GetUser(username);
  if (!user && user.error().code == ErrorCode::kResourceDoesNotExist) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("User with username={} not found", username));
  }
  if (!user) return tl::unexpected(std::move(user.error()));
  return {};
}

// The stored row, or RESOURCE_DOES_NOT_EXIST when there is none.
Result<store::Permission> ExistingRow(Context& ctx, const PermissionKind& kind,
                                      const PermissionInput& input) {
  HK_TRY(row, (ctx.deps.store.*kind.get)(input.resource_id, input.username));
  if (!row) return tl::unexpected(PermissionNotFound(kind, input));
  return *row;
}

Response PermissionResponse(const PermissionKind& kind, const PermissionInput& input,
                            store::Permission permission) {
  json::Writer w;
  w.BeginObject()
      .Key(kind.response_key)
      .BeginObject()
      .Field(kind.id_field, input.resource_id)
      .Field("user_id", input.username)
      .Field("permission", store::PermissionName(permission))
      .EndObject()
      .EndObject();
  return Response::Json(w.Take());
}

Result<Response> CreatePermission(Context& ctx, const Request& request,
                                  const PermissionKind& kind) {
  HK_TRY(input, ParsePermissionInput(request, kind.id_field, true));
  HK_CHECK(CheckUser(ctx, input.username));
  HK_TRY(existing, (ctx.deps.store.*kind.get)(input.resource_id, input.username));
  if (existing) {
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("{} permission ({}={}, username={}) already exists", kind.label,
                            kind.id_field, input.resource_id, input.username));
  }
  HK_CHECK((ctx.catalog->*kind.anchor)(input.resource_id));
  HK_CHECK((ctx.deps.store.*kind.set)(input.resource_id, input.username, *input.permission));
  return PermissionResponse(kind, input, *input.permission);
}

Result<Response> GetPermission(Context& ctx, const Request& request, const PermissionKind& kind) {
  HK_TRY(input, ParsePermissionInput(request, kind.id_field, false));
  HK_CHECK(CheckUser(ctx, input.username));
  HK_TRY(permission, ExistingRow(ctx, kind, input));
  return PermissionResponse(kind, input, permission);
}

// Update and delete answer `{}`, as MLflow does.
Result<Response> UpdatePermission(Context& ctx, const Request& request,
                                  const PermissionKind& kind) {
  HK_TRY(input, ParsePermissionInput(request, kind.id_field, true));
  HK_CHECK(CheckUser(ctx, input.username));
  HK_CHECK(ExistingRow(ctx, kind, input));
  HK_CHECK((ctx.deps.store.*kind.set)(input.resource_id, input.username, *input.permission));
  return Response::Json("{}");
}

Result<Response> DeletePermission(Context& ctx, const Request& request,
                                  const PermissionKind& kind) {
  HK_TRY(input, ParsePermissionInput(request, kind.id_field, false));
  HK_CHECK(CheckUser(ctx, input.username));
  HK_CHECK(ExistingRow(ctx, kind, input));
  HK_CHECK((ctx.deps.store.*kind.remove)(input.resource_id, input.username));
  return Response::Json("{}");
}

}  // namespace

Result<http::Target> ExperimentPermissionTarget(Context& ctx, const Request& request) {
  HK_TRY(experiment_id, ParsePermissionResource(request, kExperiment.id_field));
  HK_CHECK(ctx.catalog->RequireExperiment(experiment_id));
  http::Target target;
  target.experiment_ids.push_back(std::move(experiment_id));
  return target;
}

Result<http::Target> ModelPermissionTarget(Context& ctx, const Request& request) {
  HK_TRY(name, ParsePermissionResource(request, kModel.id_field));
  HK_CHECK(ctx.catalog->RequireModel(name));
  http::Target target;
  target.model_names.push_back(std::move(name));
  return target;
}

Result<Response> CreateExperimentPermission(Context& ctx, const Request& request) {
  return CreatePermission(ctx, request, kExperiment);
}
Result<Response> GetExperimentPermission(Context& ctx, const Request& request) {
  return GetPermission(ctx, request, kExperiment);
}
Result<Response> UpdateExperimentPermission(Context& ctx, const Request& request) {
  return UpdatePermission(ctx, request, kExperiment);
}
Result<Response> DeleteExperimentPermission(Context& ctx, const Request& request) {
  return DeletePermission(ctx, request, kExperiment);
}
Result<Response> CreateModelPermission(Context& ctx, const Request& request) {
  return CreatePermission(ctx, request, kModel);
}
Result<Response> GetModelPermission(Context& ctx, const Request& request) {
  return GetPermission(ctx, request, kModel);
}
Result<Response> UpdateModelPermission(Context& ctx, const Request& request) {
  return UpdatePermission(ctx, request, kModel);
}
Result<Response> DeleteModelPermission(Context& ctx, const Request& request) {
  return DeletePermission(ctx, request, kModel);
}

}  // namespace hokusai::hokusai_api
