// Handler functions behind the logged-model and model-registry routes; one per endpoint, all
// alike: parse -> validate -> call the store -> write JSON. Logged models belong to experiments
// and live in the tracking store; registered models and versions in the registry store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "http/message.hpp"
#include "mlflow_api/request_args.hpp"
#include "store/registry_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

using http::Request;
using http::Response;

// Registry limits live in common/limits.hpp with every other named limit.
namespace registry_limits = limits::registry;

// Logged models (logged_models.cpp).
Result<Response> CreateLoggedModel(store::TrackingStore& store, const Request& request);
Result<Response> GetLoggedModel(store::TrackingStore& store, const Request& request);
Result<Response> FinalizeLoggedModel(store::TrackingStore& store, const Request& request);
Result<Response> DeleteLoggedModel(store::TrackingStore& store, const Request& request);
Result<Response> SearchLoggedModels(store::TrackingStore& store, const Request& request);
Result<Response> SetLoggedModelTags(store::TrackingStore& store, const Request& request);
Result<Response> DeleteLoggedModelTag(store::TrackingStore& store, const Request& request);
Result<Response> LogLoggedModelParams(store::TrackingStore& store, const Request& request);

// Registered models and aliases (registered_models.cpp).
Result<Response> CreateRegisteredModel(store::RegistryStore& store, const Request& request);
Result<Response> GetRegisteredModel(store::RegistryStore& store, const Request& request);
Result<Response> RenameRegisteredModel(store::RegistryStore& store, const Request& request);
Result<Response> UpdateRegisteredModel(store::RegistryStore& store, const Request& request);
Result<Response> DeleteRegisteredModel(store::RegistryStore& store, const Request& request);
Result<Response> SearchRegisteredModels(store::RegistryStore& store, const Request& request);
Result<Response> GetLatestVersions(store::RegistryStore& store, const Request& request);
Result<Response> SetRegisteredModelTag(store::RegistryStore& store, const Request& request);
Result<Response> DeleteRegisteredModelTag(store::RegistryStore& store, const Request& request);
Result<Response> SetRegisteredModelAlias(store::RegistryStore& store, const Request& request);
Result<Response> DeleteRegisteredModelAlias(store::RegistryStore& store, const Request& request);
Result<Response> GetModelVersionByAlias(store::RegistryStore& store, const Request& request);

// Model versions (model_versions.cpp).
Result<Response> CreateModelVersion(store::RegistryStore& store, const Request& request);
Result<Response> GetModelVersion(store::RegistryStore& store, const Request& request);
Result<Response> UpdateModelVersion(store::RegistryStore& store, const Request& request);
Result<Response> DeleteModelVersion(store::RegistryStore& store, const Request& request);
Result<Response> SearchModelVersions(store::RegistryStore& store, const Request& request);
Result<Response> TransitionModelVersionStage(store::RegistryStore& store, const Request& request);
Result<Response> GetModelVersionDownloadUri(store::RegistryStore& store, const Request& request);
Result<Response> SetModelVersionTag(store::RegistryStore& store, const Request& request);
Result<Response> DeleteModelVersionTag(store::RegistryStore& store, const Request& request);

// Validation shared by the registry handlers (registered_models.cpp). Every failure is
// INVALID_PARAMETER_VALUE.
//
// A registered-model name: non-empty, at most kMaxModelNameLength characters. `field` names the
// parameter in the message ("name", "new_name").
Result<void> ValidateModelName(std::string_view name, std::string_view field);
// A registry tag: key as for run tags and at most 250 long, value at most 5000.
Result<void> ValidateRegistryTag(const store::Tag& tag);
// An alias: `^[\w\-]*$`, non-empty, at most 255 characters.
Result<void> ValidateAliasName(std::string_view alias);
// Aliases that may not be set: "latest" (any case) and version-like `v<digits>` / `V<digits>`.
Result<void> ValidateAliasNotReserved(std::string_view alias);

// The required `version` field: a string, or an integer (some clients send numbers).
Result<std::string> VersionArg(const Args& args);
// The optional `description` field, at most registry_limits::kMaxDescriptionLength characters.
Result<std::optional<std::string>> OptDescriptionArg(const Args& args);

// Parses a model-version `source` (model_versions.cpp). Accepts only locations this server
// issued (security principle 4, docs/decisions/0004-model-version-source.md):
//   models:/<logged model id>, models:/<name>/<version number>, runs:/<run_id>[/<path>],
//   mlflow-artifacts:/<experiment_id>/<run_id>/artifacts[/<path>],
//   mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts[/<path>],
// and, for a prompt version (`is_prompt`), the placeholders "prompt-template" and
// "dummy-source", which name no location. Paths must be normalised relative paths. Anything
// else is refused with a message naming the problem.
Result<store::ModelVersionSource> ParseModelVersionSource(std::string_view source, bool is_prompt);

}  // namespace hokusai::mlflow_api
