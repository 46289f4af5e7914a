// How each MLflow route finds what it touches (security principle 5): the route tables name a
// Locate value, and MakeTargetFinder turns it into the function the gate calls. Runs, logged
// models and artifact paths are resolved to their experiment through a ResourceLocator (the
// store in native mode, the upstream MLflow server in gateway mode), never taken from the
// client.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

// Server-side answers the target finders need. Each method returns the experiment id that owns
// the named thing, RESOURCE_DOES_NOT_EXIST when it does not exist, or another error when the
// answer cannot be had (a store or upstream failure). Implementations are thread-safe: finders
// run on the blocking pool.
class ResourceLocator {
 public:
  virtual ~ResourceLocator() = default;
  // `run_id` has been validated (ValidateRunId).
  virtual Result<std::string> ExperimentOfRun(const std::string& run_id) = 0;
  // Deleted logged models included (a delete of a deleted model is the handler's to refuse).
  virtual Result<std::string> ExperimentOfLoggedModel(const std::string& model_id) = 0;
  virtual Result<std::string> ExperimentIdByName(const std::string& name) = 0;
  // The experiment whose artifact root contains the repository path `path`
  // ("<experiment>/<run>/artifacts/..." or "<experiment>/models/<model>/artifacts/..."):
  // PERMISSION_DENIED when the path lies outside every issued root.
  virtual Result<std::string> ExperimentOfArtifactPath(std::string_view path) = 0;
  // The experiment's name (for name-pattern scopes).
  virtual Result<std::string> ExperimentName(const std::string& experiment_id) = 0;
};

// The native locator: answers from the tracking store. `tracking` must outlive it. A run never
// moves to another experiment, so the experiment of each run it has looked up is kept (bounded):
// a run-scoped request then needs no store read to be authorized.
class StoreLocator final : public ResourceLocator {
 public:
  explicit StoreLocator(store::TrackingStore& tracking) : tracking_(tracking) {}
  Result<std::string> ExperimentOfRun(const std::string& run_id) override;
  Result<std::string> ExperimentOfLoggedModel(const std::string& model_id) override;
  Result<std::string> ExperimentIdByName(const std::string& name) override;
  Result<std::string> ExperimentOfArtifactPath(std::string_view path) override;
  Result<std::string> ExperimentName(const std::string& experiment_id) override;

 private:
  static constexpr std::size_t kMaxKeptRuns = 16384;  // forgotten all at once when full

  store::TrackingStore& tracking_;
  std::mutex runs_mutex_;
  std::unordered_map<std::string, std::string> run_experiments_;  // run id → experiment id
};

enum class Locate {
  kListing,          // a search filtered by the caller's visibility
  kNewExperiment,    // experiments/create: the `name` it will take
  kExperimentId,     // `experiment_id` (runs/create: absent means "0")
  kExperimentIds,    // `experiment_ids` of a search: each must be readable
  kExperimentName,   // `experiment_name`, looked up
  kRun,              // `run_id` (or `run_uuid`) → its experiment
  kRunAndModels,     // kRun, plus the experiments of the logged models the body links to the
                     // run (metric `model_id`s, `models[].model_id`): EDIT on them too
  kExperimentUpdate, // kExperimentId, plus `new_name` checked against name-pattern scopes
  kNewLoggedModel,   // `experiment_id`, plus READ on the experiment of `source_run_id`
  kRunIds,           // repeated `run_id` (get-history-bulk) → their experiments
  kRunIdsPlural,     // repeated `run_ids` (get-history-bulk-interval)
  kLoggedModel,      // path `{model_id}` → its experiment
  kNewModel,         // registered-models/create: the `name` it will take
  kModelName,        // `name` of a registered model
  kModelRename,      // kModelName, plus `new_name` checked against name-pattern scopes
  kNewModelVersion,  // model-versions/create: `name`, plus READ on what `source`/`run_id` name
};

// The finder for `locate`. `locator` must outlive the returned function.
http::TargetFinder MakeTargetFinder(Locate locate, ResourceLocator& locator);
// The same over a StoreLocator on `tracking` (kept alive by the returned function).
http::TargetFinder MakeTargetFinder(Locate locate, store::TrackingStore& tracking);

// The finder for artifact routes that carry a repository path (in the URL's `{path*}` or in
// `?path=`): the path is validated, then located. `locator` must outlive the function.
http::TargetFinder MakeArtifactPathFinder(bool path_in_query, ResourceLocator& locator);

// The experiment whose artifact root contains the repository path `path`
// ("<experiment>/<run>/artifacts/..." or "<experiment>/models/<model>/artifacts/..."), checked
// against the store. PERMISSION_DENIED when the path lies outside every issued root.
Result<std::string> ExperimentOfArtifactPath(store::TrackingStore& tracking, std::string_view path);

// The same rule over any locator: the path must have the shape of a run's or logged model's
// root, and the root recorded for that run or model (`artifact_uri`, as
// "mlflow-artifacts:/<root>") must be exactly the root the path names. `artifact_uri_of_run`
// and `artifact_uri_of_model` return that URI and the owning experiment id.
struct ArtifactOwner {
  std::string experiment_id;
  std::string artifact_uri;
};
using ArtifactOwnerLookup = std::function<Result<ArtifactOwner>(const std::string& id)>;
Result<std::string> CheckArtifactPath(std::string_view path, const ArtifactOwnerLookup& run,
                                      const ArtifactOwnerLookup& logged_model);

}  // namespace hokusai::mlflow_api
