// The tracking store: experiments, runs, metrics, params, tags, inputs and outputs, and MLflow 3
// logged models.
// Every method is one transaction; a failed call changes nothing. Implementations are
// thread-safe: callers on the blocking pool call them concurrently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "store/auth_store.hpp"
#include "store/search_filter.hpp"
#include "store/types.hpp"

namespace hokusai::store {

struct CreateRunArgs {
  std::string experiment_id;
  std::string user_id;
  std::string run_name;  // empty: the store generates one
  int64_t start_time = 0;
  std::vector<Tag> tags;
};

struct UpdateRunArgs {
  std::string run_id;
  std::optional<std::string> status;
  std::optional<int64_t> end_time;
  std::optional<std::string> run_name;
};

struct SearchRunsArgs {
  std::vector<std::string> experiment_ids;
  std::vector<Clause> filter;
  std::vector<OrderTerm> order_by;
  ViewType view_type = ViewType::kActiveOnly;
  int64_t max_results = 1000;
  int64_t offset = 0;
};

struct SearchExperimentsArgs {
  std::vector<Clause> filter;
  std::vector<OrderTerm> order_by;
  ViewType view_type = ViewType::kActiveOnly;
  int64_t max_results = 1000;
  int64_t offset = 0;
  // Set: only experiments this user may read, filtered inside the query so pages stay full.
  std::optional<Visibility> visibility;
};

struct CreateLoggedModelArgs {
  std::string experiment_id;
  std::string name;  // empty: the store generates one
  std::string model_type;
  std::string source_run_id;
  std::vector<Tag> params;
  std::vector<Tag> tags;
};

// A `datasets` element of logged-model search: metric filters then only consider metrics
// logged for one of these datasets (digest empty: any digest).
struct DatasetFilter {
  std::string name;
  std::string digest;
};

// A structured logged-model order_by element. `kind` is kAttribute (canonical attribute name as
// in search_filter: name, model_id, model_type, status, source_run_id, creation_timestamp,
// last_updated_timestamp, experiment_id) or kMetric (latest value of that metric, optionally
// restricted to one dataset).
struct LoggedModelOrder {
  EntityKind kind = EntityKind::kAttribute;
  std::string key;
  bool ascending = true;
  std::string dataset_name;
  std::string dataset_digest;
};

struct SearchLoggedModelsArgs {
  std::vector<std::string> experiment_ids;
  std::vector<Clause> filter;  // parsed for SearchTarget::kLoggedModels
  std::vector<DatasetFilter> datasets;
  std::vector<LoggedModelOrder> order_by;
  int64_t max_results = 100;
  int64_t offset = 0;
};

class TrackingStore {
 public:
  virtual ~TrackingStore() = default;

  // Store health for /ready: a cheap round trip.
  virtual Result<void> Ping() = 0;

  // Experiments. Ids are decimal strings; "0" is the Default experiment.
  // A non-empty `owner` gets MANAGE on the new experiment, in the same transaction.
  virtual Result<std::string> CreateExperiment(const std::string& name,
                                               const std::string& artifact_location,
                                               const std::vector<Tag>& tags,
                                               const std::string& owner = {}) = 0;
  virtual Result<Experiment> GetExperiment(const std::string& experiment_id) = 0;
  virtual Result<Experiment> GetExperimentByName(const std::string& name) = 0;
  // Returns one page and whether more rows exist after it.
  virtual Result<std::pair<std::vector<Experiment>, bool>> SearchExperiments(
      const SearchExperimentsArgs& args) = 0;
  virtual Result<void> DeleteExperiment(const std::string& experiment_id) = 0;
  virtual Result<void> RestoreExperiment(const std::string& experiment_id) = 0;
  virtual Result<void> RenameExperiment(const std::string& experiment_id,
                                        const std::string& new_name) = 0;
  virtual Result<void> SetExperimentTag(const std::string& experiment_id, const Tag& tag) = 0;
  virtual Result<void> DeleteExperimentTag(const std::string& experiment_id,
                                           const std::string& key) = 0;

  // Runs.
  virtual Result<Run> CreateRun(const CreateRunArgs& args) = 0;
  virtual Result<Run> GetRun(const std::string& run_id) = 0;
  // The run's info alone (one row; no params, tags, metrics or inputs), deleted runs included.
  virtual Result<RunInfo> GetRunInfo(const std::string& run_id) = 0;
  virtual Result<RunInfo> UpdateRun(const UpdateRunArgs& args) = 0;
  virtual Result<void> DeleteRun(const std::string& run_id) = 0;
  virtual Result<void> RestoreRun(const std::string& run_id) = 0;
  virtual Result<std::pair<std::vector<Run>, bool>> SearchRuns(const SearchRunsArgs& args) = 0;
  virtual Result<void> SetRunTag(const std::string& run_id, const Tag& tag) = 0;
  virtual Result<void> DeleteRunTag(const std::string& run_id, const std::string& key) = 0;

  // Writes metrics, params and tags of one run atomically (log-metric, log-parameter, set-tag
  // and log-batch all end here). Params are write-once: the same value again is accepted.
  virtual Result<void> LogBatch(const std::string& run_id, const std::vector<Metric>& metrics,
                                const std::vector<Tag>& params, const std::vector<Tag>& tags) = 0;
  virtual Result<void> LogInputs(const std::string& run_id,
                                 const std::vector<DatasetInput>& datasets,
                                 const std::vector<std::string>& model_ids) = 0;
  virtual Result<void> LogOutputs(const std::string& run_id,
                                  const std::vector<ModelOutput>& outputs) = 0;

  // Metric history in (timestamp, step, value, is_nan) order, resuming after `after` when given
  // (a seek, so a late page costs what the first does); max_results <= 0: everything. Returns
  // the page and whether more rows exist. The points' run_id is left empty (the caller has it).
  virtual Result<std::pair<std::vector<Metric>, bool>> GetMetricHistory(
      const std::string& run_id, const std::string& key, const std::optional<MetricCursor>& after,
      int64_t max_results) = 0;
  // For each run, up to `max_results` points of `key` sampled evenly across steps (min and max
  // included), optionally restricted to [start_step, end_step].
  virtual Result<std::vector<Metric>> GetMetricHistoryBulkInterval(
      const std::vector<std::string>& run_ids, const std::string& key,
      std::optional<int64_t> start_step, std::optional<int64_t> end_step,
      int64_t max_results) = 0;

  // Logged models (MLflow 3). A deleted logged model is RESOURCE_DOES_NOT_EXIST to every call
  // except GetLoggedModelIncludingDeleted.
  //
  // Creates a PENDING model in an active experiment, with its artifact_uri under the
  // experiment's artifact location. Params are write-once as for runs.
  virtual Result<LoggedModel> CreateLoggedModel(const CreateLoggedModelArgs& args) = 0;
  // RESOURCE_DOES_NOT_EXIST (404) for an unknown or deleted model.
  virtual Result<LoggedModel> GetLoggedModel(const std::string& model_id) = 0;
  virtual Result<LoggedModel> GetLoggedModelIncludingDeleted(const std::string& model_id) = 0;
  // Sets the status (a LOGGED_MODEL_* name) and returns the updated model.
  virtual Result<LoggedModel> FinalizeLoggedModel(const std::string& model_id,
                                                  const std::string& status) = 0;
  // Soft delete.
  virtual Result<void> DeleteLoggedModel(const std::string& model_id) = 0;
  // Upserts `tags` and returns the updated model.
  virtual Result<LoggedModel> SetLoggedModelTags(const std::string& model_id,
                                                 const std::vector<Tag>& tags) = 0;
  // RESOURCE_DOES_NOT_EXIST when the model has no tag `key`.
  virtual Result<void> DeleteLoggedModelTag(const std::string& model_id,
                                            const std::string& key) = 0;
  // Write-once: the same value again is accepted, a different one is INVALID_PARAMETER_VALUE.
  virtual Result<void> LogLoggedModelParams(const std::string& model_id,
                                            const std::vector<Tag>& params) = 0;
  // Live models of the given experiments; returns one page and whether more rows exist.
  virtual Result<std::pair<std::vector<LoggedModel>, bool>> SearchLoggedModels(
      const SearchLoggedModelsArgs& args) = 0;
};

}  // namespace hokusai::store
