// The registration API (spec §3): one-call registration, reads and transition. The source a
// registration points at is resolved here, on the server (security principles 4 and 5), and
// everything is then written by one store transaction.
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "auth/gate.hpp"
#include "common/util.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/registration.hpp"
#include "hokusai_api/requests.hpp"
#include "json/writer.hpp"
#include "mlflow_api/caller.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/targets.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::hokusai_api {
namespace {

using store::ModelVersionSource;

Error NotFound(std::string message) {
  return Error{ErrorCode::kResourceDoesNotExist, std::move(message)};
}

// Whether the caller may read the experiment or model; a request without a principal (unit
// tests call handlers directly) may.
Result<void> RequireReadable(Context& ctx, const Request& request, http::Resource kind,
                             const std::string& id, const std::string& not_found) {
  if (!request.principal) return {};
  HK_TRY(readable, ctx.deps.gate.MayAccess(*request.principal, kind, id, auth::ScopeAction::kRead,
                                           store::Permission::kRead));
  if (!readable) return tl::unexpected(NotFound(not_found));
  return {};
}

// EDIT on an existing model. The gate checked it already unless the model appeared after the
// gate authorized a create, so the handler checks again right before writing.
Result<void> RequireWritableModel(Context& ctx, const Request& request, const std::string& name) {
  if (!request.principal) return {};
  HK_TRY(writable, ctx.deps.gate.MayAccess(*request.principal, http::Resource::kModel, name,
                                           auth::ScopeAction::kWrite, store::Permission::kEdit));
  if (!writable) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("Permission denied: this user lacks EDIT on registered model '{}'",
                            name));
  }
  return {};
}

// What a registration will point at, resolved from server-side state.
struct ResolvedSource {
  std::string source;
  ModelVersionSource parsed;
  std::string run_id;
  std::string model_id;
};

// The catalog's answer, with RESOURCE_DOES_NOT_EXIST replaced by `not_found`.
template <typename T>
Result<T> OrNotFound(Result<T> found, const std::string& not_found) {
  if (!found && found.error().code == ErrorCode::kResourceDoesNotExist) {
    return tl::unexpected(NotFound(not_found));
  }
  return found;
}

// A run's model at `path`: the logged model the run produced under that name (MLflow 3 clients
// log models as logged models), else a model directory in the run's own artifacts.
Result<ResolvedSource> ResolveRunModel(Context& ctx, const Request& request,
                                       const std::string& run_id, const std::string& path) {
  std::string missing = fmt::format("Run '{}' not found", run_id);
  HK_TRY(run, OrNotFound(ctx.catalog->GetRun(run_id), missing));
  HK_CHECK(RequireReadable(ctx, request, http::Resource::kExperiment, run.experiment_id, missing));

  HK_TRY(logged, ctx.catalog->NewestLoggedModel(run.experiment_id, run_id, path));
  ResolvedSource out;
  out.run_id = run_id;
  if (logged) {
    out.model_id = *logged;
    out.source = "models:/" + *logged;
    out.parsed.kind = ModelVersionSource::Kind::kLoggedModel;
    out.parsed.model_id = *logged;
    return out;
  }
  HK_TRY(has_model, ctx.catalog->RunHasModel(run_id, run, path));
  if (has_model) {
    out.source = fmt::format("runs:/{}/{}", run_id, path);
    out.parsed.kind = ModelVersionSource::Kind::kRun;
    out.parsed.run_id = run_id;
    out.parsed.path = path;
    return out;
  }
  return tl::unexpected(
      NotFound(fmt::format("Run '{}' has no model at artifact path '{}'", run_id, path)));
}

Result<ResolvedSource> ResolveModelUri(Context& ctx, const Request& request,
                                       const std::string& uri) {
  HK_TRY(parsed, mlflow_api::ParseModelVersionSource(uri, false));
  using Kind = ModelVersionSource::Kind;
  std::string missing = fmt::format("Model URI '{}' names nothing this caller can read", uri);
  ResolvedSource out;
  out.source = uri;
  out.parsed = parsed;
  switch (parsed.kind) {
    case Kind::kRun:
      return ResolveRunModel(ctx, request, parsed.run_id, parsed.path.empty() ? "model" : parsed.path);
    case Kind::kLoggedModel: {
      HK_TRY(model, OrNotFound(ctx.catalog->GetLoggedModel(parsed.model_id), missing));
      HK_CHECK(RequireReadable(ctx, request, http::Resource::kExperiment, model.experiment_id,
                               missing));
      out.model_id = parsed.model_id;
      out.run_id = model.source_run_id;
      return out;
    }
    case Kind::kModelVersion: {
      HK_CHECK(RequireReadable(ctx, request, http::Resource::kModel, parsed.name, missing));
      HK_TRY(version,
             OrNotFound(ctx.catalog->GetModelVersion(parsed.name, parsed.version), missing));
      out.run_id = version.run_id;
      out.model_id = version.model_id;
      return out;
    }
    case Kind::kRunArtifacts:
    case Kind::kModelArtifacts: {
      std::string path = parsed.kind == Kind::kRunArtifacts
                             ? parsed.experiment_id + "/" + parsed.run_id + "/artifacts"
                             : parsed.experiment_id + "/models/" + parsed.model_id + "/artifacts";
      auto experiment = ctx.catalog->ExperimentOfArtifactPath(path);
      if (!experiment) {
        if (experiment.error().code == ErrorCode::kTemporarilyUnavailable) {
          return tl::unexpected(experiment.error());
        }
        return tl::unexpected(NotFound(missing));
      }
      HK_CHECK(RequireReadable(ctx, request, http::Resource::kExperiment, *experiment, missing));
      HK_TRY(has_model,
             ctx.catalog->HasModelAtArtifactPath(artifacts::JoinArtifactPath(path, parsed.path)));
      if (!has_model) {
        return tl::unexpected(NotFound(fmt::format("No model (MLmodel) at '{}'", uri)));
      }
      if (parsed.kind == Kind::kRunArtifacts) out.run_id = parsed.run_id;
      return out;
    }
    case Kind::kPromptTemplate:
      break;
  }
  return InvalidParameter(fmt::format("'model_uri' '{}' names no model", uri));
}

Response JsonWithStatus(std::string body, int status, bool replayed) {
  Response response = Response::Json(std::move(body), status);
  if (replayed) response.headers.emplace_back("Idempotent-Replayed", "true");
  return response;
}

Result<Response> Register(Context& ctx, const Request& request, RegistrationKind kind) {
  HK_TRY(input, ParseRegistration(request, kind));
  HK_TRY(idempotency_key, ParseIdempotencyKey(request));
  std::string user = mlflow_api::CallerId(request);

  std::optional<store::IdempotencyRecord> record;
  if (idempotency_key) {
    record = store::IdempotencyRecord{user, *idempotency_key,
                                      RegistrationFingerprint(input, kind), 201, "", 0};
    // Answer a repeat before resolving anything: the first request's run may be gone by now.
    HK_TRY(existing, ctx.catalog->GetIdempotencyRecord(user, *idempotency_key));
    if (existing) {
      HK_TRY(replayed, store::ReplayIdempotent(*existing, record->request_hash));
      return JsonWithStatus(std::move(replayed.response), replayed.status, true);
    }
  }

  HK_TRY(resolved, input.mlflow_run_id
                       ? ResolveRunModel(ctx, request, *input.mlflow_run_id, input.artifact_path)
                       : ResolveModelUri(ctx, request, *input.model_uri));

  store::RegisterModelArgs args;
  args.model.name = input.model_name;
  args.model.description = input.description.value_or("");
  args.model.tags = {{std::string(registration::kModelTypeTag), input.model_type}};
  args.model.owner = user;
  args.version.name = input.model_name;
  args.version.source = std::move(resolved.source);
  args.version.parsed_source = std::move(resolved.parsed);
  args.version.run_id = std::move(resolved.run_id);
  args.version.model_id = std::move(resolved.model_id);
  args.version.description = input.description.value_or("");
  args.version.tags =
      registration::VersionTags(input.model_type, input.version_label, input.metrics, input.tags);
  args.version.user_id = user;
  args.alias = input.alias;
  args.idempotency = std::move(record);
  args.render = [](const store::RegisteredModel&, const store::ModelVersion& version) {
    return registration::VersionBody(version, false);
  };
  // The gate authorized either a write into an existing model or a create; a model created by
  // someone else since must not be written into without EDIT on it.
  HK_TRY(exists, ctx.catalog->ModelExists(input.model_name));
  if (exists) HK_CHECK(RequireWritableModel(ctx, request, input.model_name));
  args.require_new_model = !exists;
  auto result = ctx.catalog->RegisterModel(args);
  if (!result && args.require_new_model &&
      result.error().code == ErrorCode::kResourceAlreadyExists) {
    HK_CHECK(RequireWritableModel(ctx, request, input.model_name));
    args.require_new_model = false;
    result = ctx.catalog->RegisterModel(args);
  }
  if (!result) return tl::unexpected(result.error());
  if (result->replayed) return JsonWithStatus(std::move(result->response), result->status, true);
  if (ctx.deps.events_committed) ctx.deps.events_committed();
  return JsonWithStatus(std::move(result->response), 201, false);
}

// The target of a registration: the model it writes into, or the name it will create.
Result<http::Target> RegistrationTarget(Context& ctx, const Request& request,
                                        RegistrationKind kind) {
  HK_TRY(input, ParseRegistration(request, kind));
  http::Target target;
  HK_TRY(exists, ctx.catalog->ModelExists(input.model_name));
  if (exists) {
    target.model_names.push_back(input.model_name);
  } else {
    target.new_name = input.model_name;
  }
  return target;
}

}  // namespace

Result<Response> RegisterModel(Context& ctx, const Request& request) {
  return Register(ctx, request, RegistrationKind::kRegister);
}

Result<Response> RegisterBaseline(Context& ctx, const Request& request) {
  return Register(ctx, request, RegistrationKind::kBaseline);
}

Result<http::Target> RegisterModelTarget(Context& ctx, const Request& request) {
  return RegistrationTarget(ctx, request, RegistrationKind::kRegister);
}

Result<http::Target> RegisterBaselineTarget(Context& ctx, const Request& request) {
  return RegistrationTarget(ctx, request, RegistrationKind::kBaseline);
}

Result<http::Target> ModelVersionTarget(Context& /*ctx*/, const Request& request) {
  HK_TRY(ref, ParseModelVersionRef(request));
  http::Target target;
  target.model_names.push_back(std::move(ref.name));
  return target;
}

Result<http::Target> ModelListTarget(Context& /*ctx*/, const Request& /*request*/) {
  http::Target target;
  target.listing = true;
  return target;
}

Result<Response> ListModels(Context& ctx, const Request& request) {
  HK_TRY(query, ParseModelListQuery(request));
  store::SearchRegistryArgs search;
  search.visibility = mlflow_api::ModelVisibility(request);
  if (query.name) {
    store::Clause clause;
    clause.key = "name";
    clause.string_value = *query.name;
    search.filter.push_back(std::move(clause));
  }
  if (query.model_type) {
    store::Clause clause;
    clause.kind = store::EntityKind::kTag;
    clause.key = std::string(registration::kModelTypeTag);
    clause.string_value = *query.model_type;
    search.filter.push_back(std::move(clause));
  }
  search.order_by = {store::OrderTerm{store::EntityKind::kAttribute, "name", true},
                     store::OrderTerm{store::EntityKind::kAttribute, "version_number", false}};
  search.max_results = query.max_results;
  search.offset = query.offset;
  HK_TRY(page, ctx.catalog->SearchModelVersions(search));
  json::Writer w;
  w.BeginObject().Key("models").BeginArray();
  for (const store::ModelVersion& version : page.first) {
    registration::WriteVersion(w, version, true);
  }
  w.EndArray();
  if (page.second) {
    w.Field("next_page_token", mlflow_api::EncodePageToken(
                                   query.offset + static_cast<int64_t>(page.first.size())));
  }
  w.EndObject();
  return Response::Json(w.Take());
}

Result<Response> GetModel(Context& ctx, const Request& request) {
  HK_TRY(ref, ParseModelVersionRef(request));
  HK_TRY(version, ctx.catalog->GetModelVersion(ref.name, ref.version));
  return Response::Json(registration::VersionBody(version, true));
}

Result<Response> TransitionModel(Context& ctx, const Request& request) {
  HK_TRY(ref, ParseModelVersionRef(request));
  HK_TRY(stage, ParseTransitionStage(request));
  std::string alias = stage;
  for (char& c : alias) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  HK_CHECK(ctx.catalog->SetStageAlias(
      ref.name, ref.version, alias, store::Tag{std::string(registration::kLifecycleStageTag), stage}));
  HK_TRY(version, ctx.catalog->GetModelVersion(ref.name, ref.version));
  return Response::Json(registration::VersionBody(version, true));
}

}  // namespace hokusai::hokusai_api
