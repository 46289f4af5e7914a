// TrackingStore on SQL: SQLite in WAL mode (the embedded default) or PostgreSQL (store/sql/db.hpp).
// Each call takes a pooled connection and runs in one transaction (holding the database's writer
// lock for writes), so a failed call leaves nothing behind and an acknowledged one is committed
// before the response is written.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/sql/db.hpp"
#include "store/sql/metric_log.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::store::sql {

struct DatabaseOptions {
  // A SQLite file path, or a postgresql:// (postgres://) URL.
  std::string path;
  int connections = 8;
  std::string synchronous = "NORMAL";  // SQLite only: NORMAL survives kill -9; FULL power loss
};

// Opens the database at `options.path`, creating it (SQLite) and applying migrations as needed.
// The pool is shared by every store of one server (tracking, registry, keys, events), so that all
// writers queue on its one writer lock. Thread-safe.
Result<std::shared_ptr<ConnectionPool>> OpenDatabase(const DatabaseOptions& options);

class SqlTrackingStore final : public TrackingStore {
 public:
  // Opens its own database (OpenDatabase); for a store alone, as in tests.
  static Result<std::unique_ptr<SqlTrackingStore>> Open(const DatabaseOptions& options);
  // A store over an opened database, which it shares.
  explicit SqlTrackingStore(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  // The database this store uses, to share with the registry store.
  const std::shared_ptr<ConnectionPool>& pool() const { return pool_; }

  // runs/search ordered first by a metric walks that metric's values in index order once the
  // searched experiments hold at least this many runs (any stage); 0: never. Tests lower it to
  // compare both plans on small data.
  void set_first_metric_plan_min_runs(int64_t runs) { first_metric_plan_min_runs_ = runs; }

  Result<void> Ping() override;

  Result<std::string> CreateExperiment(const std::string& name,
                                       const std::string& artifact_location,
                                       const std::vector<Tag>& tags,
                                       const std::string& owner = {}) override;
  Result<Experiment> GetExperiment(const std::string& experiment_id) override;
  Result<Experiment> GetExperimentByName(const std::string& name) override;
  Result<std::pair<std::vector<Experiment>, bool>> SearchExperiments(
      const SearchExperimentsArgs& args) override;
  Result<void> DeleteExperiment(const std::string& experiment_id) override;
  Result<void> RestoreExperiment(const std::string& experiment_id) override;
  Result<void> RenameExperiment(const std::string& experiment_id,
                                const std::string& new_name) override;
  Result<void> SetExperimentTag(const std::string& experiment_id, const Tag& tag) override;
  Result<void> DeleteExperimentTag(const std::string& experiment_id,
                                   const std::string& key) override;

  Result<Run> CreateRun(const CreateRunArgs& args) override;
  Result<Run> GetRun(const std::string& run_id) override;
  Result<RunInfo> GetRunInfo(const std::string& run_id) override;
  Result<RunInfo> UpdateRun(const UpdateRunArgs& args) override;
  Result<void> DeleteRun(const std::string& run_id) override;
  Result<void> RestoreRun(const std::string& run_id) override;
  Result<std::pair<std::vector<Run>, bool>> SearchRuns(const SearchRunsArgs& args) override;
  Result<void> SetRunTag(const std::string& run_id, const Tag& tag) override;
  Result<void> DeleteRunTag(const std::string& run_id, const std::string& key) override;
  Result<void> LogBatch(const std::string& run_id, const std::vector<Metric>& metrics,
                        const std::vector<Tag>& params, const std::vector<Tag>& tags) override;
  Result<void> LogInputs(const std::string& run_id, const std::vector<DatasetInput>& datasets,
                         const std::vector<std::string>& model_ids) override;
  Result<void> LogOutputs(const std::string& run_id,
                          const std::vector<ModelOutput>& outputs) override;
  Result<std::pair<std::vector<Metric>, bool>> GetMetricHistory(
      const std::string& run_id, const std::string& key, const std::optional<MetricCursor>& after,
      int64_t max_results) override;
  Result<std::vector<Metric>> GetMetricHistoryBulkInterval(
      const std::vector<std::string>& run_ids, const std::string& key,
      std::optional<int64_t> start_step, std::optional<int64_t> end_step,
      int64_t max_results) override;


  Result<LoggedModel> CreateLoggedModel(const CreateLoggedModelArgs& args) override;
  Result<LoggedModel> GetLoggedModel(const std::string& model_id) override;
  Result<LoggedModel> GetLoggedModelIncludingDeleted(const std::string& model_id) override;
  Result<LoggedModel> FinalizeLoggedModel(const std::string& model_id,
                                          const std::string& status) override;
  Result<void> DeleteLoggedModel(const std::string& model_id) override;
  Result<LoggedModel> SetLoggedModelTags(const std::string& model_id,
                                         const std::vector<Tag>& tags) override;
  Result<void> DeleteLoggedModelTag(const std::string& model_id, const std::string& key) override;
  Result<void> LogLoggedModelParams(const std::string& model_id,
                                    const std::vector<Tag>& params) override;
  Result<std::pair<std::vector<LoggedModel>, bool>> SearchLoggedModels(
      const SearchLoggedModelsArgs& args) override;

 private:
  // SQLite: merges the points waiting in metric_log into `metric_blocks` and `latest_metrics` (a write
  // transaction) when there are any; every read of either table calls it first. PostgreSQL writes
  // both directly and has nothing to merge.
  Result<void> SettleMetricLog();
  // The writes of CreateRun and LogBatch, inside a transaction the caller holds (ConnectionPool::
  // Write). LogBatchIn leaves the metric log's Writer, when it used one, in `log_writer`.
  static Result<Run> CreateRunIn(Connection& conn, const CreateRunArgs& args);
  Result<void> LogBatchIn(Connection& conn, const std::string& run_id,
                          const std::vector<Metric>& metrics, const std::vector<Tag>& params,
                          const std::vector<Tag>& tags,
                          std::optional<MetricLog::Writer>& log_writer);

  std::shared_ptr<ConnectionPool> pool_;
  MetricLog metric_log_;  // SQLite only; used under the pool's writer lease
  // Below this many runs in the searched experiments, ordering them all costs about as much as
  // walking the metric's index, and is not slowed by the metric's values in other experiments.
  int64_t first_metric_plan_min_runs_ = 2000;
};

}  // namespace hokusai::store::sql
