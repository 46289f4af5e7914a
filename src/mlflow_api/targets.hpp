// How each MLflow route finds what it touches (security principle 5): the route tables name a
// Locate value, and MakeTargetFinder turns it into the function the gate calls. Runs, logged
// models and artifact paths are resolved to their experiment through the store, never taken
// from the client.
#pragma once

#include "http/router.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

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

http::TargetFinder MakeTargetFinder(Locate locate, store::TrackingStore& tracking);

// The experiment whose artifact root contains the repository path `path`
// ("<experiment>/<run>/artifacts/..." or "<experiment>/models/<model>/artifacts/..."), checked
// against the store. PERMISSION_DENIED when the path lies outside every issued root.
Result<std::string> ExperimentOfArtifactPath(store::TrackingStore& tracking, std::string_view path);

}  // namespace hokusai::mlflow_api
