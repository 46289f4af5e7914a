// The model-registry store: registered models, their versions, tags, aliases and stages.
// Every method is one transaction; a failed call changes nothing. Implementations are
// thread-safe: callers on the blocking pool call them concurrently.
//
// Names are compared exactly. Versions are decimal strings; a version that is not an integer is
// INVALID_PARAMETER_VALUE, an unknown or deleted one RESOURCE_DOES_NOT_EXIST. A missing model is
// RESOURCE_DOES_NOT_EXIST with "Registered Model with name=<n> not found".
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "store/auth_store.hpp"
#include "store/search_filter.hpp"
#include "store/types.hpp"

namespace hokusai::store {

// The model-version stages in their canonical spelling.
inline constexpr std::array<std::string_view, 4> kModelVersionStages = {"None", "Staging",
                                                                        "Production", "Archived"};

// `stage` in canonical spelling (matched case-insensitively), or nullopt for anything else.
inline std::optional<std::string_view> CanonicalStage(std::string_view stage) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (std::string_view canonical : kModelVersionStages) {
    if (canonical.size() != stage.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < stage.size() && same; ++i) {
      same = lower(canonical[i]) == lower(stage[i]);
    }
    if (same) return canonical;
  }
  return std::nullopt;
}

// A model-version `source`, already parsed and syntactically checked by the API layer (security
// principle 4: only locations this server issued). The store checks that the thing it names
// exists and resolves it to a storage location.
struct ModelVersionSource {
  enum class Kind {
    kLoggedModel,     // models:/<model_id>
    kModelVersion,    // models:/<name>/<version>
    kRun,             // runs:/<run_id>[/<path>]
    kRunArtifacts,    // mlflow-artifacts:/<experiment_id>/<run_id>/artifacts[/<path>]
    kModelArtifacts,  // mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts[/<path>]
    kPromptTemplate,  // a placeholder source of a prompt version; no artifacts
  };
  Kind kind = Kind::kRun;
  std::string model_id;       // kLoggedModel, kModelArtifacts
  std::string name;           // kModelVersion
  std::string version;        // kModelVersion
  std::string run_id;         // kRun, kRunArtifacts
  std::string experiment_id;  // kRunArtifacts, kModelArtifacts
  // Normalised relative path below the run's or model's artifact root ("" = the root): no empty,
  // "." or ".." segments, no leading '/', no backslash, NUL or '%'.
  std::string path;
};

struct CreateRegisteredModelArgs {
  std::string name;
  std::string description;
  std::vector<Tag> tags;
  std::string owner;  // non-empty: gets MANAGE on the new model, in the same transaction
};

struct CreateModelVersionArgs {
  std::string name;
  std::string source;  // stored verbatim and returned as `source`
  ModelVersionSource parsed_source;
  std::string run_id;    // empty: taken from the source (run or logged model) when it has one
  std::string model_id;  // empty: taken from a logged-model source
  std::string run_link;
  std::string description;
  std::vector<Tag> tags;
  // The acting user, when known: recorded in the registration event's payload (`user_id`), not
  // in the version row. May be empty.
  std::string user_id;
};

// A stored answer to a request made with an `Idempotency-Key`, per user. `request_hash`
// identifies the request body; `status` and `response` are what was answered the first time.
// How long a reservation (an answer not yet known) holds its key: a server that died in the
// middle of a request must not block the key for the full 24 hours.
inline constexpr int64_t kIdempotencyReservationMs = 10 * 60 * 1000;

struct IdempotencyRecord {
  std::string user_id;
  std::string key;
  std::string request_hash;
  int status = 0;
  std::string response;
  int64_t created_ms = 0;  // filled by the store on read
};

// One-call registration (Hokusai API §3): model (if missing), version, alias and idempotency
// record in one transaction.
struct RegisterModelArgs {
  // Created when missing (a non-empty `owner` gets MANAGE in the same transaction); when the model
  // exists, its description and tags are left alone. `model.name` is the model registered into.
  CreateRegisteredModelArgs model;
  // The new version, with its tags. `version.name` is ignored: `model.name` is used.
  CreateModelVersionArgs version;
  // Set: the alias is moved to the new version.
  std::optional<std::string> alias;
  // The caller decided on a create (its permission check found no model): a model that exists by
  // the time of the transaction is RESOURCE_ALREADY_EXISTS instead of being written into, so the
  // caller can check its right to that model before trying again.
  bool require_new_model = false;
  // Set: user_id, key and request_hash (and `status`, stored with the response) of the request;
  // `response` is ignored and filled by `render`.
  std::optional<IdempotencyRecord> idempotency;
  // Renders the response body stored with the idempotency key; called inside the transaction,
  // after the version and alias are written, with the model as it then is. May be empty when
  // `idempotency` is unset. Must not call back into the store.
  std::function<std::string(const RegisteredModel&, const ModelVersion&)> render;
};

struct RegisterModelResult {
  RegisteredModel model;  // as after the registration (latest_versions, aliases, tags)
  ModelVersion version;   // the new version (tags and aliases included)
  bool model_created = false;
  // True: an earlier request with the same idempotency key and hash was found; nothing was
  // written, `model` and `version` are empty, and `response` / `status` are what it answered.
  bool replayed = false;
  int status = 0;         // the stored status when replayed; otherwise idempotency->status
  std::string response;   // the rendered (or, when replayed, stored) response body
};

struct SearchRegistryArgs {
  std::vector<Clause> filter;  // parsed for kRegisteredModels or kModelVersions
  std::vector<OrderTerm> order_by;
  int64_t max_results = 100;
  int64_t offset = 0;
  // Set: only models (or versions of models) this user may read, filtered inside the query so
  // pages stay full.
  std::optional<Visibility> visibility;
};

// The answer to a request carrying an Idempotency-Key whose record `found` exists: the stored
// answer (replayed) when it is the same request (`request_hash`) and was answered;
// RESOURCE_CONFLICT when the key was used with another request or its first request is still in
// progress (a reservation, status 0).
Result<RegisterModelResult> ReplayIdempotent(const IdempotencyRecord& found,
                                             std::string_view request_hash);

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  // Registered models.
  // RESOURCE_ALREADY_EXISTS: "Registered Model (name=<n>) already exists."
  virtual Result<RegisteredModel> CreateRegisteredModel(const CreateRegisteredModelArgs& args) = 0;
  virtual Result<RegisteredModel> GetRegisteredModel(const std::string& name) = 0;
  // Renames the model; its versions, tags and aliases follow. RESOURCE_ALREADY_EXISTS when
  // `new_name` is taken.
  virtual Result<RegisteredModel> RenameRegisteredModel(const std::string& name,
                                                        const std::string& new_name) = 0;
  virtual Result<RegisteredModel> UpdateRegisteredModel(const std::string& name,
                                                        const std::string& description) = 0;
  // Removes the model with all its versions (including tombstones), tags, aliases and
  // permissions.
  virtual Result<void> DeleteRegisteredModel(const std::string& name) = 0;
  // Prompts (models tagged mlflow.prompt.is_prompt = 'true') are left out unless the filter asks
  // for them. Returns one page and whether more rows exist.
  virtual Result<std::pair<std::vector<RegisteredModel>, bool>> SearchRegisteredModels(
      const SearchRegistryArgs& args) = 0;
  // For each stage in `stages` (canonical names; empty: all four), the highest live version in
  // that stage.
  virtual Result<std::vector<ModelVersion>> GetLatestVersions(
      const std::string& name, const std::vector<std::string>& stages) = 0;
  virtual Result<void> SetRegisteredModelTag(const std::string& name, const Tag& tag) = 0;
  // A missing tag is not an error (as in MLflow); a missing model is.
  virtual Result<void> DeleteRegisteredModelTag(const std::string& name,
                                                const std::string& key) = 0;

  // Aliases (the API layer validates alias names). Setting an existing alias moves it.
  virtual Result<void> SetRegisteredModelAlias(const std::string& name, const std::string& alias,
                                               const std::string& version) = 0;
  // A missing alias is not an error; a missing model is.
  virtual Result<void> DeleteRegisteredModelAlias(const std::string& name,
                                                  const std::string& alias) = 0;
  // INVALID_PARAMETER_VALUE "Registered model alias <a> not found." for an unknown alias.
  // "latest" (any case) names the highest live version.
  virtual Result<ModelVersion> GetModelVersionByAlias(const std::string& name,
                                                      const std::string& alias) = 0;

  // Model versions.
  // Version = highest version ever created for the model (deleted ones included) + 1. Status is
  // READY and stage "None" at once. The source must name an existing run / logged model /
  // version (INVALID_PARAMETER_VALUE otherwise); a version made from a logged model is also
  // recorded in that model's mlflow.modelVersions tag, in the same transaction, and so is the
  // version's model_version.created registration event (see store/event_store.hpp).
  virtual Result<ModelVersion> CreateModelVersion(const CreateModelVersionArgs& args) = 0;
  virtual Result<ModelVersion> GetModelVersion(const std::string& name,
                                               const std::string& version) = 0;
  // nullopt description: unchanged.
  virtual Result<ModelVersion> UpdateModelVersion(
      const std::string& name, const std::string& version,
      const std::optional<std::string>& description) = 0;
  // `stage` is canonical. With `archive_existing`, every other live version in that stage moves
  // to Archived (only allowed for Staging and Production).
  virtual Result<ModelVersion> TransitionModelVersionStage(const std::string& name,
                                                           const std::string& version,
                                                           const std::string& stage,
                                                           bool archive_existing) = 0;
  // Leaves a tombstone so the number is never reused; removes the version's tags and aliases.
  virtual Result<void> DeleteModelVersion(const std::string& name, const std::string& version) = 0;
  // Live versions only; prompts left out unless the filter asks for them.
  virtual Result<std::pair<std::vector<ModelVersion>, bool>> SearchModelVersions(
      const SearchRegistryArgs& args) = 0;
  // The server-resolved location of the version's artifacts (a URI under a run's or logged
  // model's artifact root). INVALID_PARAMETER_VALUE for a prompt version, which has none.
  virtual Result<std::string> GetModelVersionDownloadUri(const std::string& name,
                                                         const std::string& version) = 0;
  virtual Result<void> SetModelVersionTag(const std::string& name, const std::string& version,
                                          const Tag& tag) = 0;
  // A missing tag is not an error; a missing version is.
  virtual Result<void> DeleteModelVersionTag(const std::string& name, const std::string& version,
                                             const std::string& key) = 0;

  // One-call registration, all or nothing: creates the model when missing, a new version (as
  // CreateModelVersion, with its registration event), moves `alias` and stores the idempotency
  // record with the rendered response. With `idempotency`: an existing record for (user_id, key)
  // with the same request_hash returns replayed = true and the stored response (nothing written);
  // with a different hash, RESOURCE_CONFLICT (HTTP 409). Records older than 24 h no longer count
  // and are pruned opportunistically by later registrations.
  virtual Result<RegisterModelResult> RegisterModel(const RegisterModelArgs& args) = 0;
  // Moves `alias` to the live version `version` and sets the version tag `tag`, in one
  // transaction (the registration API's transition: alias stage.lower() and tag
  // lifecycle_stage). Errors as SetRegisteredModelAlias.
  virtual Result<void> SetStageAlias(const std::string& name, const std::string& version,
                                     const std::string& alias, const Tag& tag) = 0;
  // The live (younger than 24 h) record for (user_id, key), or nullopt. A reservation (status
  // 0, below) is live for kIdempotencyReservationMs only.
  virtual Result<std::optional<IdempotencyRecord>> GetIdempotencyRecord(
      const std::string& user_id, const std::string& key) = 0;

  // Gateway mode, where the registration is written to the upstream registry and only its
  // idempotency record is kept here. Reserve, in one transaction: the live record for
  // (request.user_id, request.key) when there is one (nothing written), else a reservation —
  // the request's hash with status 0 and no response — and nullopt. Complete gives the
  // reservation its answer; Release drops it (the request failed: the key is free again).
  virtual Result<std::optional<IdempotencyRecord>> ReserveIdempotencyKey(
      const IdempotencyRecord& request) = 0;
  virtual Result<void> CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                              int status, const std::string& response) = 0;
  virtual Result<void> ReleaseIdempotencyKey(const std::string& user_id,
                                             const std::string& key) = 0;
};

}  // namespace hokusai::store
