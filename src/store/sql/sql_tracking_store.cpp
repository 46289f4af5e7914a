#include "store/sql/sql_tracking_store.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/limits.hpp"
#include "common/util.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/sql/metric_log.hpp"
#include "store/sql/migrations.hpp"
#include "store/sql/sql_query.hpp"
#include "store/sql/sqlite_connection.hpp"

namespace hokusai::store::sql {
namespace {

constexpr const char* kUpsertExperimentTag =
    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value";

constexpr std::string_view kActive = "active";
constexpr std::string_view kDeleted = "deleted";
constexpr std::string_view kRunNameTag = "mlflow.runName";

double StoredMetricValue(bool is_nan, double value) {
  return is_nan ? std::numeric_limits<double>::quiet_NaN() : value;
}

Error ExperimentNotFound(std::string_view id) {
  return Error{ErrorCode::kResourceDoesNotExist, fmt::format("No Experiment with id={} exists", id)};
}

Error RunNotFound(std::string_view id) {
  return Error{ErrorCode::kResourceDoesNotExist, fmt::format("Run with id={} not found", id)};
}

std::optional<int64_t> ExperimentKey(const std::string& id) { return ParseInt64(id); }

Result<Experiment> LoadExperiment(Connection& conn, std::string_view where, const BindValue& key,
                                  std::string_view label) {
  Query q;
  q.Add(
      "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
      "last_update_time FROM experiments WHERE ");
  q.Add(where);
  q.Value(key);
  HK_TRY(stmt, PrepareQuery(conn, q));
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(ExperimentNotFound(label));
  Experiment e;
  e.experiment_id = std::to_string(stmt.Int(0));
  e.name = stmt.Text(1);
  e.artifact_location = stmt.Text(2);
  e.lifecycle_stage = stmt.Text(3);
  e.creation_time = stmt.Int(4);
  e.last_update_time = stmt.Int(5);
  HK_TRY(tags, conn.Prepare("SELECT key, value FROM experiment_tags WHERE experiment_id = ? "
                            "ORDER BY key"));
  tags.Bind(1, stmt.Int(0));
  HK_CHECK(ForEachRow(tags, [&] {
    e.tags.push_back(Tag{tags.Text(0), tags.Text(1)});
  }));
  return e;
}

Result<Experiment> LoadExperimentById(Connection& conn, const std::string& id) {
  auto key = ExperimentKey(id);
  if (!key) return tl::unexpected(ExperimentNotFound(id));
  return LoadExperiment(conn, "experiment_id = ", *key, id);
}

Result<std::vector<Tag>> LoadKeyValues(Connection& conn, std::string_view table,
                                       const std::string& run_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format("SELECT key, value FROM {} WHERE run_uuid = ? ORDER BY key",
                                        table)));
  stmt.Bind(1, run_id);
  std::vector<Tag> out;
  HK_CHECK(ForEachRow(stmt, [&] {
    out.push_back(Tag{stmt.Text(0), stmt.Text(1)});
  }));
  return out;
}

Result<RunInfo> LoadRunInfo(Connection& conn, const std::string& run_id) {
  HK_TRY(stmt, conn.Prepare(
                   "SELECT run_uuid, name, experiment_id, user_id, status, start_time, end_time, "
                   "artifact_uri, lifecycle_stage FROM runs WHERE run_uuid = ?"));
  stmt.Bind(1, run_id);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(RunNotFound(run_id));
  RunInfo info;
  info.run_id = stmt.Text(0);
  info.run_name = stmt.Text(1);
  info.experiment_id = std::to_string(stmt.Int(2));
  info.user_id = stmt.Text(3);
  info.status = stmt.Text(4);
  info.start_time = stmt.Int(5);
  if (!stmt.IsNull(6)) info.end_time = stmt.Int(6);
  info.artifact_uri = stmt.Text(7);
  info.lifecycle_stage = stmt.Text(8);
  return info;
}

Result<Run> LoadRun(Connection& conn, const std::string& run_id) {
  Run run;
  HK_TRY(info, LoadRunInfo(conn, run_id));
  run.info = std::move(info);
  HK_TRY(params, LoadKeyValues(conn, "params", run_id));
  run.params = std::move(params);
  HK_TRY(tags, LoadKeyValues(conn, "tags", run_id));
  run.tags = std::move(tags);

  HK_TRY(metrics, conn.Prepare("SELECT key, value, is_nan, timestamp, step FROM latest_metrics "
                               "WHERE run_uuid = ? ORDER BY key"));
  metrics.Bind(1, run_id);
  HK_CHECK(ForEachRow(metrics, [&] {
    Metric m;
    m.key = metrics.Text(0);
    m.value = StoredMetricValue(metrics.Int(2) != 0, metrics.Double(1));
    m.timestamp = metrics.Int(3);
    m.step = metrics.Int(4);
    run.metrics.push_back(std::move(m));
  }));

  HK_TRY(inputs, conn.Prepare(
                     "SELECT d.dataset_uuid, d.name, d.digest, d.source_type, d.source, d.schema, "
                     "d.profile FROM run_dataset_inputs i JOIN datasets d "
                     "ON d.dataset_uuid = i.dataset_uuid WHERE i.run_uuid = ? ORDER BY i.position"));
  inputs.Bind(1, run_id);
  for (;;) {
    HK_TRY(row, inputs.Step());
    if (!row) break;
    DatasetInput input;
    std::string dataset_uuid = inputs.Text(0);
    input.dataset = Dataset{inputs.Text(1), inputs.Text(2), inputs.Text(3),
                            inputs.Text(4), inputs.Text(5), inputs.Text(6)};
    HK_TRY(tags_stmt, conn.Prepare("SELECT key, value FROM run_dataset_input_tags WHERE "
                                   "run_uuid = ? AND dataset_uuid = ? ORDER BY key"));
    tags_stmt.Bind(1, run_id).Bind(2, dataset_uuid);
    for (;;) {
      HK_TRY(tag_row, tags_stmt.Step());
      if (!tag_row) break;
      input.tags.push_back(Tag{tags_stmt.Text(0), tags_stmt.Text(1)});
    }
    run.dataset_inputs.push_back(std::move(input));
  }

  HK_TRY(model_inputs,
         conn.Prepare("SELECT model_id FROM run_model_inputs WHERE run_uuid = ? ORDER BY model_id"));
  model_inputs.Bind(1, run_id);
  HK_CHECK(ForEachRow(model_inputs, [&] {
    run.model_inputs.push_back(model_inputs.Text(0));
  }));
  HK_TRY(outputs, conn.Prepare("SELECT model_id, step FROM run_model_outputs WHERE run_uuid = ? "
                               "ORDER BY model_id"));
  outputs.Bind(1, run_id);
  HK_CHECK(ForEachRow(outputs, [&] {
    run.model_outputs.push_back(ModelOutput{outputs.Text(0), outputs.Int(1)});
  }));
  return run;
}

Result<RunInfo> RequireActiveRun(Connection& conn, const std::string& run_id) {
  HK_TRY(info, LoadRunInfo(conn, run_id));
  if (info.lifecycle_stage != kActive) {
    return InvalidParameter(fmt::format(
        "The run {} must be in the 'active' state. Current state is {}.", run_id,
        info.lifecycle_stage));
  }
  return std::move(info);
}

Result<Experiment> RequireActiveExperiment(Connection& conn, const std::string& id) {
  HK_TRY(experiment, LoadExperimentById(conn, id));
  if (experiment.lifecycle_stage != kActive) {
    return InvalidParameter(fmt::format(
        "The experiment {} must be in the 'active' state. Current state is {}.", id,
        experiment.lifecycle_stage));
  }
  return std::move(experiment);
}

Result<void> UpsertRunTag(Connection& conn, const std::string& run_id, const Tag& tag) {
  HK_TRY(stmt, conn.Prepare("INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?) "
                            "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value"));
  stmt.Bind(1, run_id).Bind(2, tag.key).Bind(3, tag.value);
  HK_CHECK(stmt.Run());
  if (tag.key == kRunNameTag) {
    HK_TRY(rename, conn.Prepare("UPDATE runs SET name = ? WHERE run_uuid = ?"));
    rename.Bind(1, tag.value).Bind(2, run_id);
    HK_CHECK(rename.Run());
  }
  return {};
}

// ---- search translation -------------------------------------------------------------------

std::optional<std::string_view> RunAttributeColumn(std::string_view key) {
  if (key == "run_id") return "r.run_uuid";
  if (key == "run_name") return "r.name";
  if (key == "status") return "r.status";
  if (key == "user_id") return "r.user_id";
  if (key == "artifact_uri") return "r.artifact_uri";
  if (key == "lifecycle_stage") return "r.lifecycle_stage";
  if (key == "start_time") return "r.start_time";
  if (key == "end_time") return "r.end_time";
  if (key == "experiment_id") return "r.experiment_id";
  return std::nullopt;
}

Result<void> AppendRunClause(Query& q, const Clause& clause) {
  q.Add(" AND ");
  switch (clause.kind) {
    case EntityKind::kAttribute: {
      auto column = RunAttributeColumn(clause.key);
      if (!column) return InvalidParameter(fmt::format("Invalid attribute key '{}'", clause.key));
      AppendComparison(q, *column, clause);
      return {};
    }
    case EntityKind::kMetric:
    case EntityKind::kParam:
    case EntityKind::kTag: {
      std::string_view table = clause.kind == EntityKind::kMetric ? "latest_metrics"
                               : clause.kind == EntityKind::kParam ? "params"
                                                                   : "tags";
      q.Add(fmt::format("EXISTS (SELECT 1 FROM {} e WHERE e.run_uuid = r.run_uuid AND e.key = ",
                        table));
      q.Value(clause.key);
      q.Add(" AND ");
      AppendComparison(q, "e.value", clause);
      q.Add(")");
      return {};
    }
    case EntityKind::kDataset: {
      if (clause.key == "context") {
        q.Add(
            "EXISTS (SELECT 1 FROM run_dataset_input_tags e WHERE e.run_uuid = r.run_uuid AND "
            "e.key = 'mlflow.data.context' AND ");
        AppendComparison(q, "e.value", clause);
      } else {
        q.Add(
            "EXISTS (SELECT 1 FROM run_dataset_inputs i JOIN datasets d ON d.dataset_uuid = "
            "i.dataset_uuid WHERE i.run_uuid = r.run_uuid AND ");
        AppendComparison(q, clause.key == "digest" ? "d.digest" : "d.name", clause);
      }
      q.Add(")");
      return {};
    }
  }
  return InvalidParameter("Invalid filter");
}

// `first_joined`: the first term is a metric whose latest point is joined as `o0` and whose
// NaN/missing class is fixed by the query (SearchRunIdsByFirstMetric), so it orders by o0.value.
Result<void> AppendRunOrderBy(Query& q, const std::vector<OrderTerm>& terms,
                              bool first_joined = false) {
  q.Add(" ORDER BY ");
  bool has_start_time = false;
  for (const OrderTerm& term : terms) {
    if (first_joined && &term == &terms.front()) {
      q.Add(term.ascending ? "o0.value ASC, " : "o0.value DESC, ");
      continue;
    }
    std::string value;
    std::string nulls;
    switch (term.kind) {
      case EntityKind::kAttribute: {
        auto column = RunAttributeColumn(term.key);
        if (!column) return InvalidParameter(fmt::format("Invalid order_by key '{}'", term.key));
        if (term.key == "start_time") has_start_time = true;
        value = std::string(*column);
        nulls = fmt::format("({} IS NULL)", value);
        break;
      }
      case EntityKind::kMetric: {
        std::string sub = "(SELECT {} FROM latest_metrics o WHERE o.run_uuid = r.run_uuid AND "
                          "o.key = ?)";
        value = fmt::format(fmt::runtime(sub), "value");
        nulls = fmt::format("(CASE WHEN {} = 1 THEN 1 WHEN {} IS NULL THEN 2 ELSE 0 END)",
                            fmt::format(fmt::runtime(sub), "is_nan"), value);
        // Bind order follows the text: is_nan sub, value sub (in CASE), then value.
        q.Add(nulls);
        q.binds.push_back(term.key);
        q.binds.push_back(term.key);
        q.Add(", ");
        q.Add(value);
        q.binds.push_back(term.key);
        q.Add(term.ascending ? " ASC, " : " DESC, ");
        continue;
      }
      case EntityKind::kParam:
      case EntityKind::kTag: {
        std::string table = term.kind == EntityKind::kParam ? "params" : "tags";
        value = fmt::format("(SELECT value FROM {} o WHERE o.run_uuid = r.run_uuid AND o.key = ?)",
                            table);
        q.Add(fmt::format("({} IS NULL), ", value));
        q.binds.push_back(term.key);
        q.Add(value);
        q.binds.push_back(term.key);
        q.Add(term.ascending ? " ASC, " : " DESC, ");
        continue;
      }
      case EntityKind::kDataset:
        return InvalidParameter("Cannot order by dataset fields");
    }
    q.Add(nulls);
    q.Add(", ");
    q.Add(value);
    q.Add(term.ascending ? " ASC, " : " DESC, ");
  }
  if (!has_start_time) q.Add("r.start_time DESC, ");
  q.Add("r.run_uuid ASC");
  return {};
}

std::string_view LifecycleCondition(ViewType view, std::string_view column) {
  (void)column;
  switch (view) {
    case ViewType::kActiveOnly: return "= 'active'";
    case ViewType::kDeletedOnly: return "= 'deleted'";
    case ViewType::kAll: return "IN ('active', 'deleted')";
  }
  return "= 'active'";
}

// PostgreSQL: a batch's metrics in two statements instead of two per metric (each a round trip):
// arrays bound once and unnested. The latest point per key is the batch's greatest (step,
// timestamp, value), upserted under the same rule as one metric at a time.
constexpr const char* kInsertMetricsPg =
    "INSERT INTO metrics (run_uuid, key, value, is_nan, timestamp, step, model_id, dataset_name, "
    "dataset_digest) SELECT ?1, k, v, n, t, s, nullif(m, ''), nullif(dn, ''), nullif(dd, '') "
    "FROM unnest(?2::text[], ?3::float8[], ?4::int8[], ?5::int8[], ?6::int8[], ?7::text[], "
    "?8::text[], ?9::text[]) AS u(k, v, n, t, s, m, dn, dd) ON CONFLICT DO NOTHING";
const std::string& UpsertLatestMetricsPgSql() {
  static const std::string sql = LatestMetricUpsert(
      "SELECT DISTINCT ON (k) ?1, k, v, n, t, s FROM unnest(?2::text[], ?3::float8[], ?4::int8[], "
      "?5::int8[], ?6::int8[]) AS u(k, v, n, t, s) ORDER BY k, s DESC, t DESC, v DESC");
  return sql;
}

Result<void> InsertMetricsPg(Connection& conn, const std::string& run_id,
                             const std::vector<Metric>& metrics) {
  std::vector<std::string> keys, model_ids, dataset_names, dataset_digests;
  std::vector<double> values;
  std::vector<int64_t> nans, timestamps, steps;
  for (const Metric& m : metrics) {
    auto [is_nan, value] = SanitizeMetricValue(m.value);
    keys.push_back(m.key);
    values.push_back(value);
    nans.push_back(is_nan ? 1 : 0);
    timestamps.push_back(m.timestamp);
    steps.push_back(m.step);
    model_ids.push_back(m.model_id);
    dataset_names.push_back(m.dataset_name);
    dataset_digests.push_back(m.dataset_digest);
  }
  std::string key_array = postgres::TextArrayLiteral(keys);
  std::string value_array = postgres::DoubleArrayLiteral(values);
  std::string nan_array = postgres::IntArrayLiteral(nans);
  std::string timestamp_array = postgres::IntArrayLiteral(timestamps);
  std::string step_array = postgres::IntArrayLiteral(steps);
  HK_TRY(insert, conn.Prepare(kInsertMetricsPg));
  insert.Bind(1, run_id).Bind(2, key_array).Bind(3, value_array).Bind(4, nan_array);
  insert.Bind(5, timestamp_array).Bind(6, step_array);
  insert.Bind(7, postgres::TextArrayLiteral(model_ids));
  insert.Bind(8, postgres::TextArrayLiteral(dataset_names));
  insert.Bind(9, postgres::TextArrayLiteral(dataset_digests));
  HK_CHECK(insert.Run());
  HK_TRY(latest, conn.Prepare(UpsertLatestMetricsPgSql()));
  latest.Bind(1, run_id).Bind(2, key_array).Bind(3, value_array).Bind(4, nan_array);
  latest.Bind(5, timestamp_array).Bind(6, step_array);
  return latest.Run();
}

// Where the key epoch of an SQLite database lives: beside it, like its -wal and -shm files.
// None for PostgreSQL (replicas on other machines share no memory: keys are looked up on every
// request there) or an in-memory database.
std::string KeyEpochPath(const std::string& path) {
  if (postgres::IsPostgresUrl(path) || path.empty() || path == ":memory:" ||
      path.starts_with("file:")) {
    return "";
  }
  return path + "-keyepoch";
}

}  // namespace

Result<std::shared_ptr<ConnectionPool>> OpenDatabase(const DatabaseOptions& options) {
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < options.connections; ++i) {
    HK_TRY(conn, postgres::IsPostgresUrl(options.path)
                     ? postgres::OpenPostgres(options.path)
                     : OpenSqlite(options.path, options.synchronous));
    connections.push_back(std::move(conn));
  }
  auto pool = std::make_shared<ConnectionPool>(std::move(connections));
  {
    auto conn = pool->AcquireWriter();
    HK_CHECK(ApplyMigrations(*conn));
  }
  if (std::string epoch_path = KeyEpochPath(options.path); !epoch_path.empty()) {
    auto counter = SharedCounter::Open(epoch_path);
    if (counter) {
      pool->SetKeyEpoch(std::move(*counter));
    } else {
      spdlog::warn("{}; API keys will be looked up in the store on every request",
                   counter.error().message);
    }
  }
  return pool;
}

Result<std::unique_ptr<SqlTrackingStore>> SqlTrackingStore::Open(
    const DatabaseOptions& options) {
  HK_TRY(pool, OpenDatabase(options));
  return std::make_unique<SqlTrackingStore>(std::move(pool));
}

Result<void> SqlTrackingStore::Ping() {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare("SELECT count(*) FROM schema_migrations"));
  HK_TRY(row, stmt.Step());
  if (!row) return Fail(ErrorCode::kTemporarilyUnavailable, "store did not answer");
  return {};
}

// ---- experiments ----------------------------------------------------------------------------

Result<std::string> SqlTrackingStore::CreateExperiment(const std::string& name,
                                                          const std::string& artifact_location,
                                                          const std::vector<Tag>& tags,
                                                          const std::string& owner) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(exists, conn->Prepare("SELECT 1 FROM experiments WHERE name = ?"));
  exists.Bind(1, name);
  HK_TRY(found, exists.Step());
  if (found) {
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("Experiment '{}' already exists.", name));
  }
  int64_t now = NowMillis();
  HK_TRY(insert, conn->Prepare(
                     "INSERT INTO experiments (experiment_id, name, artifact_location, "
                     "lifecycle_stage, creation_time, last_update_time) VALUES ((SELECT "
                     "coalesce(max(experiment_id), 0) + 1 FROM experiments), ?, '', 'active', ?, ?) "
                     "RETURNING experiment_id"));
  insert.Bind(1, name).Bind(2, now).Bind(3, now);
  HK_TRY(inserted, insert.Step());
  if (!inserted) return Fail(ErrorCode::kInternalError, "experiment insert returned no id");
  int64_t id = insert.Int(0);
  HK_CHECK(insert.Run());
  std::string location =
      artifact_location.empty() ? fmt::format("mlflow-artifacts:/{}", id) : artifact_location;
  HK_TRY(update, conn->Prepare("UPDATE experiments SET artifact_location = ? WHERE "
                               "experiment_id = ?"));
  update.Bind(1, location).Bind(2, id);
  HK_CHECK(update.Run());
  HK_TRY(tag_stmt, conn->Prepare(kUpsertExperimentTag));
  for (const Tag& tag : tags) {
    tag_stmt.Reset();
    tag_stmt.Bind(1, id).Bind(2, tag.key).Bind(3, tag.value);
    HK_CHECK(tag_stmt.Run());
  }
  if (!owner.empty()) {
    HK_CHECK(UpsertPermission(*conn, kExperimentPermissions, id, owner, Permission::kManage));
  }
  HK_CHECK(tx.Commit());
  return std::to_string(id);
}

Result<Experiment> SqlTrackingStore::GetExperiment(const std::string& experiment_id) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadExperimentById(*conn, experiment_id);
}

Result<Experiment> SqlTrackingStore::GetExperimentByName(const std::string& name) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  auto experiment = LoadExperiment(*conn, "name = ", name, name);
  if (!experiment && experiment.error().code == ErrorCode::kResourceDoesNotExist) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("Could not find experiment with name '{}'", name));
  }
  return experiment;
}

Result<std::pair<std::vector<Experiment>, bool>> SqlTrackingStore::SearchExperiments(
    const SearchExperimentsArgs& args) {
  Query q;
  q.Add("SELECT x.experiment_id FROM experiments x WHERE x.lifecycle_stage ");
  q.Add(LifecycleCondition(args.view_type, "x.lifecycle_stage"));
  for (const Clause& clause : args.filter) {
    q.Add(" AND ");
    if (clause.kind == EntityKind::kTag) {
      q.Add("EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = x.experiment_id AND "
            "t.key = ");
      q.Value(clause.key);
      q.Add(" AND ");
      AppendComparison(q, "t.value", clause);
      q.Add(")");
    } else if (clause.key == "name" || clause.key == "creation_time" ||
               clause.key == "last_update_time") {
      AppendComparison(q, "x." + clause.key, clause);
    } else {
      return InvalidParameter(fmt::format("Invalid attribute key '{}'", clause.key));
    }
  }
  if (args.visibility) {
    AppendVisibility(q, *args.visibility, kExperimentPermissions, "x.experiment_id", "x.name");
  }
  q.Add(" ORDER BY ");
  if (args.order_by.empty()) {
    q.Add("x.creation_time DESC, x.experiment_id ASC");
  } else {
    bool has_id = false;
    for (const OrderTerm& term : args.order_by) {
      if (term.key != "name" && term.key != "experiment_id" && term.key != "creation_time" &&
          term.key != "last_update_time") {
        return InvalidParameter(fmt::format("Invalid order_by key '{}'", term.key));
      }
      has_id = has_id || term.key == "experiment_id";
      q.Add("x." + term.key + (term.ascending ? " ASC, " : " DESC, "));
    }
    q.Add(has_id ? "1" : "x.experiment_id DESC");
  }
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return FetchPage<Experiment>(
      *conn, std::move(q), args.max_results, args.offset,
      [](Statement& row) { return std::to_string(row.Int(0)); },
      [&](const std::string& id) { return LoadExperimentById(*conn, id); });
}

namespace {

Result<void> SetExperimentStage(Connection& conn, const std::string& id, std::string_view from,
                                std::string_view to) {
  HK_TRY(tx, Transaction::Begin(conn, true));
  HK_TRY(experiment, LoadExperimentById(conn, id));
  if (experiment.lifecycle_stage != from) {
    return InvalidParameter(fmt::format("Cannot {} experiment {}: it is {}",
                                        to == kDeleted ? "delete" : "restore", id,
                                        experiment.lifecycle_stage));
  }
  int64_t now = NowMillis();
  HK_TRY(update, conn.Prepare("UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? "
                              "WHERE experiment_id = ?"));
  update.Bind(1, to).Bind(2, now).Bind(3, *ExperimentKey(id));
  HK_CHECK(update.Run());
  HK_TRY(runs, conn.Prepare("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE "
                            "experiment_id = ? AND lifecycle_stage = ?"));
  runs.Bind(1, to);
  if (to == kDeleted) {
    runs.Bind(2, now);
  } else {
    runs.BindNull(2);
  }
  runs.Bind(3, *ExperimentKey(id)).Bind(4, from);
  HK_CHECK(runs.Run());
  return tx.Commit();
}

}  // namespace

Result<void> SqlTrackingStore::DeleteExperiment(const std::string& experiment_id) {
  auto conn = pool_->AcquireWriter();
  return SetExperimentStage(*conn, experiment_id, kActive, kDeleted);
}

Result<void> SqlTrackingStore::RestoreExperiment(const std::string& experiment_id) {
  auto conn = pool_->AcquireWriter();
  return SetExperimentStage(*conn, experiment_id, kDeleted, kActive);
}

Result<void> SqlTrackingStore::RenameExperiment(const std::string& experiment_id,
                                                   const std::string& new_name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(experiment, LoadExperimentById(*conn, experiment_id));
  if (experiment.lifecycle_stage != kActive) {
    return Fail(ErrorCode::kInvalidState, "Cannot rename a non-active experiment.");
  }
  HK_TRY(exists, conn->Prepare("SELECT 1 FROM experiments WHERE name = ? AND experiment_id != ?"));
  exists.Bind(1, new_name).Bind(2, *ExperimentKey(experiment_id));
  HK_TRY(found, exists.Step());
  if (found) {
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("Experiment '{}' already exists.", new_name));
  }
  HK_TRY(update, conn->Prepare("UPDATE experiments SET name = ?, last_update_time = ? WHERE "
                               "experiment_id = ?"));
  update.Bind(1, new_name).Bind(2, NowMillis()).Bind(3, *ExperimentKey(experiment_id));
  HK_CHECK(update.Run());
  return tx.Commit();
}

Result<void> SqlTrackingStore::SetExperimentTag(const std::string& experiment_id,
                                                   const Tag& tag) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(experiment, RequireActiveExperiment(*conn, experiment_id));
  (void)experiment;
  HK_TRY(stmt, conn->Prepare(kUpsertExperimentTag));
  stmt.Bind(1, *ExperimentKey(experiment_id)).Bind(2, tag.key).Bind(3, tag.value);
  HK_CHECK(stmt.Run());
  return tx.Commit();
}

Result<void> SqlTrackingStore::DeleteExperimentTag(const std::string& experiment_id,
                                                      const std::string& key) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(experiment, RequireActiveExperiment(*conn, experiment_id));
  (void)experiment;
  HK_TRY(stmt, conn->Prepare("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?"));
  stmt.Bind(1, *ExperimentKey(experiment_id)).Bind(2, key);
  HK_CHECK(stmt.Run());
  if (conn->Changes() == 0) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("No tag with name: {} in experiment with id {}", key, experiment_id));
  }
  return tx.Commit();
}

// ---- runs -----------------------------------------------------------------------------------

Result<Run> SqlTrackingStore::CreateRun(const CreateRunArgs& args) {
  Run created;
  HK_CHECK(pool_->Write([&](Connection& conn) -> Result<void> {
    HK_TRY(run, CreateRunIn(conn, args));
    created = std::move(run);
    return {};
  }));
  return created;
}

// CreateRun's writes, in the caller's transaction.
Result<Run> SqlTrackingStore::CreateRunIn(Connection& conn, const CreateRunArgs& args) {
  std::string experiment_id = args.experiment_id.empty() ? "0" : args.experiment_id;
  HK_TRY(experiment, RequireActiveExperiment(conn, experiment_id));

  std::string run_name = args.run_name;
  std::vector<Tag> tags = args.tags;
  for (const Tag& tag : tags) {
    if (tag.key != kRunNameTag) continue;
    if (!run_name.empty() && tag.value != run_name) {
      return InvalidParameter(fmt::format(
          "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
          "values (run_name='{}', mlflow.runName='{}').",
          run_name, tag.value));
    }
    run_name = tag.value;
  }
  bool has_name_tag = false;
  for (const Tag& tag : tags) has_name_tag = has_name_tag || tag.key == kRunNameTag;
  if (run_name.empty()) run_name = RandomRunName();
  if (!has_name_tag) tags.push_back(Tag{std::string(kRunNameTag), run_name});

  std::string run_id = NewHexId();
  std::string artifact_uri = fmt::format("{}/{}/artifacts", experiment.artifact_location, run_id);
  HK_TRY(insert, conn.Prepare(
                     "INSERT INTO runs (run_uuid, name, user_id, status, start_time, end_time, "
                     "lifecycle_stage, artifact_uri, experiment_id) VALUES "
                     "(?, ?, ?, 'RUNNING', ?, NULL, 'active', ?, ?)"));
  insert.Bind(1, run_id).Bind(2, run_name).Bind(3, args.user_id).Bind(4, args.start_time);
  insert.Bind(5, artifact_uri).Bind(6, *ExperimentKey(experiment_id));
  HK_CHECK(insert.Run());
  for (const Tag& tag : tags) HK_CHECK(UpsertRunTag(conn, run_id, tag));
  return LoadRun(conn, run_id);
}

Result<Run> SqlTrackingStore::GetRun(const std::string& run_id) {
  HK_CHECK(SettleMetricLog());
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadRun(*conn, run_id);
}

Result<RunInfo> SqlTrackingStore::GetRunInfo(const std::string& run_id) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadRunInfo(*conn, run_id);
}

Result<RunInfo> SqlTrackingStore::UpdateRun(const UpdateRunArgs& args) {
  RunInfo updated;
  HK_CHECK(pool_->Write([&](Connection& conn) -> Result<void> {
    HK_TRY(info, RequireActiveRun(conn, args.run_id));
    if (args.status) info.status = *args.status;
    if (args.end_time) info.end_time = *args.end_time;
    if (args.run_name && !args.run_name->empty()) {
      info.run_name = *args.run_name;
      HK_CHECK(UpsertRunTag(conn, args.run_id, Tag{std::string(kRunNameTag), info.run_name}));
    }
    HK_TRY(update, conn.Prepare("UPDATE runs SET status = ?, end_time = ?, name = ? WHERE "
                                "run_uuid = ?"));
    update.Bind(1, info.status);
    if (info.end_time) {
      update.Bind(2, *info.end_time);
    } else {
      update.BindNull(2);
    }
    update.Bind(3, info.run_name).Bind(4, args.run_id);
    HK_CHECK(update.Run());
    updated = std::move(info);
    return {};
  }));
  return updated;
}

namespace {

Result<void> SetRunStage(Connection& conn, const std::string& run_id, std::string_view to) {
  HK_TRY(tx, Transaction::Begin(conn, true));
  HK_TRY(info, LoadRunInfo(conn, run_id));
  (void)info;
  HK_TRY(update, conn.Prepare("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE "
                              "run_uuid = ?"));
  update.Bind(1, to);
  if (to == kDeleted) {
    update.Bind(2, NowMillis());
  } else {
    update.BindNull(2);
  }
  update.Bind(3, run_id);
  HK_CHECK(update.Run());
  return tx.Commit();
}

}  // namespace

Result<void> SqlTrackingStore::DeleteRun(const std::string& run_id) {
  auto conn = pool_->AcquireWriter();
  return SetRunStage(*conn, run_id, kDeleted);
}

Result<void> SqlTrackingStore::RestoreRun(const std::string& run_id) {
  auto conn = pool_->AcquireWriter();
  return SetRunStage(*conn, run_id, kActive);
}

namespace {

void AppendInExperiments(Query& q, const std::vector<std::string>& experiment_ids) {
  q.Add("r.experiment_id IN (");
  bool any = false;
  for (const std::string& id : experiment_ids) {
    auto key = ExperimentKey(id);
    if (!key) continue;
    if (any) q.Add(", ");
    q.Value(*key);
    any = true;
  }
  if (!any) q.Add("NULL");
  q.Add(")");
}

// The WHERE conditions every runs/search query shares: the experiments, the lifecycle stage and
// the filter clauses, over runs `r`.
Result<void> AppendRunConditions(Query& q, const SearchRunsArgs& args) {
  AppendInExperiments(q, args.experiment_ids);
  q.Add(" AND r.lifecycle_stage ");
  q.Add(LifecycleCondition(args.view_type, "r.lifecycle_stage"));
  for (const Clause& clause : args.filter) HK_CHECK(AppendRunClause(q, clause));
  return {};
}

// A search ordered first by a metric puts runs in three classes, in this order whatever the
// direction: a number for the metric, NaN, no value. Each class is one query whose first order
// term is o0.value, so the numbers are read in the order of the latest_metrics_by_value index
// (key, is_nan, value) and SQLite stops once the page is full, instead of computing the order
// key of every run of the experiments and sorting them all (decision 0017). The classes and the
// order within them are those of AppendRunOrderBy over the whole set.
enum class MetricClass { kNumber, kNaN, kMissing };

Result<Query> FirstMetricClassQuery(const SearchRunsArgs& args, MetricClass cls, bool ordered) {
  Query q;
  const std::string& key = args.order_by.front().key;
  if (cls == MetricClass::kMissing) {
    q.Add("SELECT r.run_uuid FROM runs r LEFT JOIN latest_metrics o0 ON o0.run_uuid = "
          "r.run_uuid AND o0.key = ");
    q.Value(key);
    q.Add(" WHERE o0.run_uuid IS NULL AND ");
  } else {
    // CROSS JOIN: SQLite keeps latest_metrics as the outer loop (PostgreSQL plans it freely).
    q.Add("SELECT r.run_uuid FROM latest_metrics o0 CROSS JOIN runs r WHERE o0.key = ");
    q.Value(key);
    q.Add(cls == MetricClass::kNumber ? " AND o0.is_nan = 0" : " AND o0.is_nan = 1");
    q.Add(" AND r.run_uuid = o0.run_uuid AND ");
  }
  HK_CHECK(AppendRunConditions(q, args));
  if (ordered) HK_CHECK(AppendRunOrderBy(q, args.order_by, true));
  return q;
}

// The run ids of one page (and of one more run, when it exists), class by class.
Result<std::vector<std::string>> SearchRunIdsByFirstMetric(Connection& conn,
                                                          const SearchRunsArgs& args) {
  std::vector<std::string> ids;
  int64_t skip = args.offset;
  int64_t want = args.max_results + 1;
  for (MetricClass cls : {MetricClass::kNumber, MetricClass::kNaN, MetricClass::kMissing}) {
    HK_TRY(q, FirstMetricClassQuery(args, cls, true));
    q.Add(" LIMIT ");
    q.Value(want);
    q.Add(" OFFSET ");
    q.Value(skip);
    HK_TRY(stmt, PrepareQuery(conn, q));
    int64_t got = 0;
    for (;;) {
      HK_TRY(row, stmt.Step());
      if (!row) break;
      ids.push_back(stmt.Text(0));
      ++got;
    }
    want -= got;
    if (want == 0) break;
    if (got > 0 || skip == 0) {
      skip = 0;
      continue;
    }
    // The whole class lies before the page: count it to know how far into the next one to start.
    HK_TRY(counted, FirstMetricClassQuery(args, cls, false));
    Query count;
    count.Add("SELECT count(*) FROM (" + counted.sql + ") AS c");
    count.binds = std::move(counted.binds);
    HK_TRY(cstmt, PrepareQuery(conn, count));
    HK_TRY(crow, cstmt.Step());
    skip -= crow ? std::min(skip, cstmt.Int(0)) : 0;
  }
  return ids;
}

}  // namespace

Result<std::pair<std::vector<Run>, bool>> SqlTrackingStore::SearchRuns(
    const SearchRunsArgs& args) {
  HK_CHECK(SettleMetricLog());
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  bool by_first_metric = first_metric_plan_min_runs_ > 0 && !args.order_by.empty() &&
                         args.order_by.front().kind == EntityKind::kMetric;
  if (by_first_metric) {
    // Enough runs to be worth it? Counts experiment index entries, stopping at the threshold.
    Query count;
    count.Add("SELECT count(*) FROM (SELECT 1 FROM runs r WHERE ");
    AppendInExperiments(count, args.experiment_ids);
    count.Add(" LIMIT ");
    count.Value(first_metric_plan_min_runs_);
    count.Add(") AS c");
    HK_TRY(stmt, PrepareQuery(*conn, count));
    HK_TRY(row, stmt.Step());
    by_first_metric = row && stmt.Int(0) >= first_metric_plan_min_runs_;
  }
  if (by_first_metric) {
    HK_TRY(ids, SearchRunIdsByFirstMetric(*conn, args));
    return LoadPage<Run>(std::move(ids), args.max_results,
                         [&](const std::string& id) { return LoadRun(*conn, id); });
  }
  Query q;
  q.Add("SELECT r.run_uuid FROM runs r WHERE ");
  HK_CHECK(AppendRunConditions(q, args));
  HK_CHECK(AppendRunOrderBy(q, args.order_by));
  return FetchPage<Run>(
      *conn, std::move(q), args.max_results, args.offset,
      [](Statement& row) { return row.Text(0); },
      [&](const std::string& id) { return LoadRun(*conn, id); });
}

Result<void> SqlTrackingStore::SetRunTag(const std::string& run_id, const Tag& tag) {
  return pool_->Write([&](Connection& conn) -> Result<void> {
    HK_TRY(info, RequireActiveRun(conn, run_id));
    (void)info;
    return UpsertRunTag(conn, run_id, tag);
  });
}

Result<void> SqlTrackingStore::DeleteRunTag(const std::string& run_id, const std::string& key) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(info, RequireActiveRun(*conn, run_id));
  (void)info;
  HK_TRY(stmt, conn->Prepare("DELETE FROM tags WHERE run_uuid = ? AND key = ?"));
  stmt.Bind(1, run_id).Bind(2, key);
  HK_CHECK(stmt.Run());
  if (conn->Changes() == 0) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("No tag with name: {} in run with id {}", key, run_id));
  }
  return tx.Commit();
}

Result<void> SqlTrackingStore::LogBatch(const std::string& run_id,
                                           const std::vector<Metric>& metrics,
                                           const std::vector<Tag>& params,
                                           const std::vector<Tag>& tags) {
  // Kept until the transaction this write shares ends: its points in the log's copy in memory
  // stay only if that transaction commits.
  std::optional<MetricLog::Writer> log_writer;
  auto done = [&](bool committed) {
    if (committed && log_writer) log_writer->Committed();
    log_writer.reset();
  };
  return pool_->Write(
      [&](Connection& conn) { return LogBatchIn(conn, run_id, metrics, params, tags, log_writer); },
      done);
}

// LogBatch's writes, in the caller's transaction; the log's Writer, if any, into `log_writer`.
Result<void> SqlTrackingStore::LogBatchIn(Connection& conn, const std::string& run_id,
                                          const std::vector<Metric>& metrics,
                                          const std::vector<Tag>& params,
                                          const std::vector<Tag>& tags,
                                          std::optional<MetricLog::Writer>& log_writer) {
  HK_TRY(info, RequireActiveRun(conn, run_id));
  (void)info;

  if (!params.empty()) {
    HK_TRY(insert, conn.Prepare("INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?) "
                                 "ON CONFLICT DO NOTHING"));
    HK_TRY(existing, conn.Prepare("SELECT value FROM params WHERE run_uuid = ? AND key = ?"));
    for (const Tag& param : params) {
      insert.Reset();
      insert.Bind(1, run_id).Bind(2, param.key).Bind(3, param.value);
      HK_CHECK(insert.Run());
      if (conn.Changes() > 0) continue;
      existing.Reset();
      existing.Bind(1, run_id).Bind(2, param.key);
      HK_TRY(row, existing.Step());
      if (row && existing.Text(0) != param.value) {
        return InvalidParameter(fmt::format(
            "Changing param values is not allowed. Param with key='{}' was already logged with "
            "value='{}' for run ID='{}'. Attempted logging new value '{}'.",
            param.key, existing.Text(0), run_id, param.value));
      }
    }
  }

  if (!metrics.empty()) {
    HK_TRY(model_insert, conn.Prepare(
                             "INSERT INTO logged_model_metrics (model_id, key, timestamp, step, "
                             "run_uuid, value, is_nan, dataset_name, dataset_digest) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
    for (const Metric& m : metrics) {
      if (m.model_id.empty()) continue;
      auto [is_nan, value] = SanitizeMetricValue(m.value);
      model_insert.Reset();
      model_insert.Bind(1, m.model_id).Bind(2, m.key).Bind(3, m.timestamp).Bind(4, m.step);
      model_insert.Bind(5, run_id).Bind(6, value).Bind(7, static_cast<int64_t>(is_nan));
      model_insert.Bind(8, m.dataset_name).Bind(9, m.dataset_digest);
      HK_CHECK(model_insert.Run());
    }
    if (conn.dialect() == Dialect::kPostgres) {
      HK_CHECK(InsertMetricsPg(conn, run_id, metrics));
    } else {
      HK_CHECK(log_writer.emplace(metric_log_, conn).Append(run_id, metrics));
    }
  }

  for (const Tag& tag : tags) HK_CHECK(UpsertRunTag(conn, run_id, tag));
  return {};
}

Result<void> SqlTrackingStore::LogInputs(const std::string& run_id,
                                            const std::vector<DatasetInput>& datasets,
                                            const std::vector<std::string>& model_ids) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(info, RequireActiveRun(*conn, run_id));
  int64_t experiment_key = *ExperimentKey(info.experiment_id);
  HK_TRY(find, conn->Prepare("SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND "
                             "name = ? AND digest = ?"));
  HK_TRY(insert_dataset, conn->Prepare(
                             "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, "
                             "source_type, source, schema, profile) VALUES "
                             "(?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''))"));
  HK_TRY(link, conn->Prepare(
                   "INSERT INTO run_dataset_inputs (run_uuid, dataset_uuid, position) VALUES "
                   "(?, ?, (SELECT count(*) FROM run_dataset_inputs WHERE run_uuid = ?)) "
                   "ON CONFLICT DO NOTHING"));
  HK_TRY(tag_stmt, conn->Prepare("INSERT INTO run_dataset_input_tags (run_uuid, dataset_uuid, "
                                 "key, value) VALUES (?, ?, ?, ?) ON CONFLICT (run_uuid, dataset_uuid, "
                                 "key) DO UPDATE SET "
                                 "value = excluded.value"));
  for (const DatasetInput& input : datasets) {
    find.Reset();
    find.Bind(1, experiment_key).Bind(2, input.dataset.name).Bind(3, input.dataset.digest);
    HK_TRY(found, find.Step());
    std::string dataset_uuid;
    if (found) {
      dataset_uuid = find.Text(0);
    } else {
      dataset_uuid = NewHexId();
      insert_dataset.Reset();
      insert_dataset.Bind(1, dataset_uuid).Bind(2, experiment_key).Bind(3, input.dataset.name);
      insert_dataset.Bind(4, input.dataset.digest).Bind(5, input.dataset.source_type);
      insert_dataset.Bind(6, input.dataset.source).Bind(7, input.dataset.schema);
      insert_dataset.Bind(8, input.dataset.profile);
      HK_CHECK(insert_dataset.Run());
    }
    link.Reset();
    link.Bind(1, run_id).Bind(2, dataset_uuid).Bind(3, run_id);
    HK_CHECK(link.Run());
    for (const Tag& tag : input.tags) {
      tag_stmt.Reset();
      tag_stmt.Bind(1, run_id).Bind(2, dataset_uuid).Bind(3, tag.key).Bind(4, tag.value);
      HK_CHECK(tag_stmt.Run());
    }
  }
  HK_TRY(model_stmt, conn->Prepare("INSERT INTO run_model_inputs (run_uuid, model_id) VALUES "
                                   "(?, ?) ON CONFLICT DO NOTHING"));
  for (const std::string& model_id : model_ids) {
    model_stmt.Reset();
    model_stmt.Bind(1, run_id).Bind(2, model_id);
    HK_CHECK(model_stmt.Run());
  }
  return tx.Commit();
}

Result<void> SqlTrackingStore::LogOutputs(const std::string& run_id,
                                             const std::vector<ModelOutput>& outputs) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(info, RequireActiveRun(*conn, run_id));
  (void)info;
  HK_TRY(stmt, conn->Prepare("INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES "
                             "(?, ?, ?) ON CONFLICT (run_uuid, model_id) DO UPDATE SET "
                             "step = excluded.step"));
  for (const ModelOutput& output : outputs) {
    stmt.Reset();
    stmt.Bind(1, run_id).Bind(2, output.model_id).Bind(3, output.step);
    HK_CHECK(stmt.Run());
  }
  return tx.Commit();
}

namespace {

Metric PointToMetric(const std::string& key, const StoredPoint& p) {
  Metric m;
  m.key = key;
  m.value = StoredMetricValue(p.is_nan, p.value);
  m.timestamp = p.timestamp;
  m.step = p.step;
  m.model_id = p.model_id;
  m.dataset_name = p.dataset_name;
  m.dataset_digest = p.dataset_digest;
  return m;
}

// Up to `limit` points of a series (none: all) in history order, (timestamp, step, value,
// is_nan), after `after` if given. SQLite unpacks the series' blocks (decision 0020); PostgreSQL
// seeks the primary key of `metrics` (the row-value bound must stand alone in the WHERE clause
// for it to seek).
Result<std::vector<Metric>> HistoryPage(Connection& conn, const std::string& run_id,
                                        const std::string& key,
                                        const std::optional<MetricCursor>& after,
                                        std::optional<int64_t> limit) {
  std::vector<Metric> out;
  if (conn.dialect() == Dialect::kSqlite) {
    HK_TRY(series, SeriesPoints::Read(conn, run_id, key,
                                      after ? after->timestamp
                                            : std::numeric_limits<int64_t>::min()));
    const std::vector<StoredPoint>& points = series.points();
    auto from = points.begin();
    if (after) {
      StoredPoint bound{after->timestamp, after->step, after->value, after->is_nan};
      from = std::upper_bound(points.begin(), points.end(), bound,
                              [](const StoredPoint& a, const StoredPoint& b) {
                                return HistoryOrder(a) < HistoryOrder(b);
                              });
    }
    auto count = static_cast<int64_t>(points.end() - from);
    if (limit) count = std::min(count, *limit);
    out.reserve(static_cast<std::size_t>(count));
    for (auto it = from; it != from + count; ++it) out.push_back(PointToMetric(key, *it));
    return out;
  }
  HK_TRY(stmt, conn.Prepare(fmt::format(
                   "SELECT value, is_nan, timestamp, step, coalesce(model_id, ''), "
                   "coalesce(dataset_name, ''), coalesce(dataset_digest, '') FROM metrics WHERE "
                   "run_uuid = ?1 AND key = ?2{} ORDER BY timestamp, step, value, is_nan LIMIT ?3",
                   after ? " AND (timestamp, step, value, is_nan) > (?4, ?5, ?6, ?7)" : "")));
  stmt.Bind(1, run_id).Bind(2, key);
  // No bound: the largest LIMIT PostgreSQL takes.
  stmt.Bind(3, limit.value_or(std::numeric_limits<int64_t>::max()));
  if (after) {
    stmt.Bind(4, after->timestamp).Bind(5, after->step).Bind(6, after->value);
    stmt.Bind(7, static_cast<int64_t>(after->is_nan));
  }
  // A bounded page is allocated once; an unbounded read grows from a guess.
  out.reserve(static_cast<std::size_t>(
      limit ? std::min<int64_t>(*limit, limits::kMaxResultsMetricHistory + 1) : 1024));
  HK_CHECK(ForEachRow(stmt, [&] {
    Metric& m = out.emplace_back(PointToMetric(
        key, StoredPoint{stmt.Int(2), stmt.Int(3), stmt.Double(0), stmt.Int(1) != 0}));
    m.model_id = stmt.Text(4);
    m.dataset_name = stmt.Text(5);
    m.dataset_digest = stmt.Text(6);
  }));
  return out;
}

// A series' points with start <= step <= end, ordered by (step, timestamp, value): values,
// timestamps and steps only (the bulk-interval answer carries no model or dataset).
Result<std::vector<Metric>> StepRange(Connection& conn, const std::string& run_id,
                                      const std::string& key, int64_t start, int64_t end) {
  std::vector<Metric> out;
  if (conn.dialect() == Dialect::kSqlite) {
    HK_TRY(series, SeriesPoints::Read(conn, run_id, key));
    std::vector<StoredPoint> points;
    for (const StoredPoint& p : series.points()) {
      if (p.step >= start && p.step <= end) points.push_back(p);
    }
    // From history order, so among equal (step, timestamp, value) is_nan stays ordered.
    std::stable_sort(points.begin(), points.end(), [](const StoredPoint& a, const StoredPoint& b) {
      return std::tie(a.step, a.timestamp, a.value) < std::tie(b.step, b.timestamp, b.value);
    });
    out.reserve(points.size());
    for (const StoredPoint& p : points) {
      out.push_back(PointToMetric(key, StoredPoint{p.timestamp, p.step, p.value, p.is_nan}));
    }
    return out;
  }
  HK_TRY(stmt, conn.Prepare("SELECT value, is_nan, timestamp, step FROM metrics WHERE "
                            "run_uuid = ?1 AND key = ?2 AND step >= ?3 AND step <= ?4 ORDER BY "
                            "step, timestamp, value"));
  stmt.Bind(1, run_id).Bind(2, key).Bind(3, start).Bind(4, end);
  HK_CHECK(ForEachRow(stmt, [&] {
    out.push_back(PointToMetric(key, StoredPoint{stmt.Int(2), stmt.Int(3), stmt.Double(0),
                                                 stmt.Int(1) != 0}));
  }));
  return out;
}

}  // namespace

Result<void> SqlTrackingStore::SettleMetricLog() {
  {
    auto reader = pool_->Acquire();
    if (reader->dialect() != Dialect::kSqlite) return {};
    HK_TRY(probe, reader->Prepare("SELECT 1 FROM metric_log LIMIT 1"));
    HK_TRY(pending, probe.Step());
    if (!pending) return {};
  }
  // Points committed before this call are in `metric_blocks` and `latest_metrics` when it returns; a
  // read that begins afterwards sees every point acknowledged before it started.
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  MetricLog::Writer writer(metric_log_, *conn);
  HK_CHECK(writer.Merge());
  HK_CHECK(tx.Commit());
  writer.Committed();
  return {};
}

Result<std::pair<std::vector<Metric>, bool>> SqlTrackingStore::GetMetricHistory(
    const std::string& run_id, const std::string& key, const std::optional<MetricCursor>& after,
    int64_t max_results) {
  HK_CHECK(SettleMetricLog());
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(info, LoadRunInfo(*conn, run_id));
  (void)info;
  std::optional<int64_t> limit;
  if (max_results > 0) limit = max_results + 1;  // one more tells whether another page follows
  HK_TRY(out, HistoryPage(*conn, run_id, key, after, limit));
  bool more = max_results > 0 && static_cast<int64_t>(out.size()) > max_results;
  if (more) out.pop_back();
  return std::make_pair(std::move(out), more);
}

Result<std::vector<Metric>> SqlTrackingStore::GetMetricHistoryBulkInterval(
    const std::vector<std::string>& run_ids, const std::string& key,
    std::optional<int64_t> start_step, std::optional<int64_t> end_step, int64_t max_results) {
  HK_CHECK(SettleMetricLog());
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  std::vector<Metric> out;
  for (const std::string& run_id : run_ids) {
    HK_TRY(points, StepRange(*conn, run_id, key,
                             start_step.value_or(std::numeric_limits<int64_t>::min()),
                             end_step.value_or(std::numeric_limits<int64_t>::max())));
    std::vector<int64_t> steps;  // distinct, ascending
    for (const Metric& m : points) {
      if (steps.empty() || steps.back() != m.step) steps.push_back(m.step);
    }
    if (steps.empty()) continue;
    std::set<int64_t> chosen;
    if (static_cast<int64_t>(steps.size()) <= max_results) {
      chosen.insert(steps.begin(), steps.end());
    } else {
      // Evenly spaced over the observed steps, always keeping the first and the last.
      std::size_t n = steps.size();
      for (int64_t i = 0; i < max_results; ++i) {
        std::size_t index = max_results == 1 ? 0 : static_cast<std::size_t>(
            (static_cast<long double>(i) * (n - 1)) / (max_results - 1));
        chosen.insert(steps[index]);
      }
    }
    for (Metric& m : points) {
      if (chosen.count(m.step) == 0) continue;
      m.run_id = run_id;
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace hokusai::store::sql

// ---- logged models --------------------------------------------------------------------------

namespace hokusai::store::sql {
namespace {

constexpr std::string_view kLoggedModelStatusPrefix = "LOGGED_MODEL_";

Error LoggedModelNotFound(std::string_view model_id) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Logged model with ID '{}' not found.", model_id)};
}

Result<std::vector<Tag>> LoadLoggedModelKeyValues(Connection& conn, std::string_view table,
                                                  const std::string& model_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format(
                   "SELECT key, value FROM {} WHERE model_id = ? ORDER BY key", table)));
  stmt.Bind(1, model_id);
  std::vector<Tag> out;
  HK_CHECK(ForEachRow(stmt, [&] {
    out.push_back(Tag{stmt.Text(0), stmt.Text(1)});
  }));
  return out;
}

// The model with its tags, params, metrics and registrations. A deleted model is not found
// unless `allow_deleted`.
Result<LoggedModel> LoadLoggedModel(Connection& conn, const std::string& model_id,
                                    bool allow_deleted) {
  HK_TRY(stmt, conn.Prepare(
                   "SELECT model_id, experiment_id, name, artifact_uri, status, status_message, "
                   "model_type, source_run_id, lifecycle_stage, creation_timestamp_ms, "
                   "last_updated_timestamp_ms FROM logged_models WHERE model_id = ?"));
  stmt.Bind(1, model_id);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(LoggedModelNotFound(model_id));
  LoggedModel model;
  model.model_id = stmt.Text(0);
  model.experiment_id = std::to_string(stmt.Int(1));
  model.name = stmt.Text(2);
  model.artifact_uri = stmt.Text(3);
  model.status = stmt.Text(4);
  model.status_message = stmt.Text(5);
  model.model_type = stmt.Text(6);
  model.source_run_id = stmt.Text(7);
  model.lifecycle_stage = stmt.Text(8);
  model.creation_timestamp_ms = stmt.Int(9);
  model.last_updated_timestamp_ms = stmt.Int(10);
  if (model.lifecycle_stage != kActive && !allow_deleted) {
    return tl::unexpected(LoggedModelNotFound(model_id));
  }
  HK_TRY(tags, LoadLoggedModelKeyValues(conn, "logged_model_tags", model_id));
  model.tags = std::move(tags);
  HK_TRY(params, LoadLoggedModelKeyValues(conn, "logged_model_params", model_id));
  model.params = std::move(params);

  HK_TRY(metrics, conn.Prepare(
                      "SELECT run_uuid, key, value, is_nan, timestamp, step, dataset_name, "
                      "dataset_digest FROM logged_model_metrics WHERE model_id = ? "
                      "ORDER BY key, timestamp, step, run_uuid"));
  metrics.Bind(1, model_id);
  HK_CHECK(ForEachRow(metrics, [&] {
    Metric m;
    m.run_id = metrics.Text(0);
    m.key = metrics.Text(1);
    m.value = StoredMetricValue(metrics.Int(3) != 0, metrics.Double(2));
    m.timestamp = metrics.Int(4);
    m.step = metrics.Int(5);
    m.model_id = model_id;
    m.dataset_name = metrics.Text(6);
    m.dataset_digest = metrics.Text(7);
    model.metrics.push_back(std::move(m));
  }));

  HK_TRY(registrations, conn.Prepare(
                            "SELECT r.name, v.version FROM model_versions v JOIN "
                            "registered_models r ON r.model_key = v.model_key WHERE "
                            "v.model_id = ? AND v.deleted = 0 ORDER BY r.name, v.version"));
  registrations.Bind(1, model_id);
  HK_CHECK(ForEachRow(registrations, [&] {
    model.registrations.push_back(
        LoggedModelRegistration{registrations.Text(0), std::to_string(registrations.Int(1))});
  }));
  return model;
}

// Fails unless `model_id` names a live logged model.
Result<void> RequireLiveLoggedModel(Connection& conn, const std::string& model_id) {
  HK_TRY(stmt, conn.Prepare("SELECT lifecycle_stage FROM logged_models WHERE model_id = ?"));
  stmt.Bind(1, model_id);
  HK_TRY(found, stmt.Step());
  if (!found || stmt.Text(0) != kActive) return tl::unexpected(LoggedModelNotFound(model_id));
  return {};
}

Result<void> TouchLoggedModel(Connection& conn, const std::string& model_id) {
  HK_TRY(stmt, conn.Prepare("UPDATE logged_models SET last_updated_timestamp_ms = ? WHERE "
                            "model_id = ?"));
  stmt.Bind(1, NowMillis()).Bind(2, model_id);
  return stmt.Run();
}

Result<void> UpsertLoggedModelTags(Connection& conn, const std::string& model_id,
                                   const std::vector<Tag>& tags) {
  if (tags.empty()) return {};
  HK_TRY(stmt, conn.Prepare("INSERT INTO logged_model_tags (model_id, key, value) VALUES "
                            "(?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET "
                            "value = excluded.value"));
  for (const Tag& tag : tags) {
    stmt.Reset();
    stmt.Bind(1, model_id).Bind(2, tag.key).Bind(3, tag.value);
    HK_CHECK(stmt.Run());
  }
  return {};
}

// Params are write-once, as for runs: the same value again is a no-op.
Result<void> InsertLoggedModelParams(Connection& conn, const std::string& model_id,
                                     const std::vector<Tag>& params) {
  if (params.empty()) return {};
  HK_TRY(insert, conn.Prepare("INSERT INTO logged_model_params (model_id, key, value) VALUES "
                              "(?, ?, ?) ON CONFLICT DO NOTHING"));
  HK_TRY(existing, conn.Prepare("SELECT value FROM logged_model_params WHERE model_id = ? AND "
                                "key = ?"));
  for (const Tag& param : params) {
    insert.Reset();
    insert.Bind(1, model_id).Bind(2, param.key).Bind(3, param.value);
    HK_CHECK(insert.Run());
    if (conn.Changes() > 0) continue;
    existing.Reset();
    existing.Bind(1, model_id).Bind(2, param.key);
    HK_TRY(row, existing.Step());
    if (row && existing.Text(0) != param.value) {
      return InvalidParameter(fmt::format(
          "Changing param values is not allowed. Param with key='{}' was already logged with "
          "value='{}' for logged model ID='{}'. Attempted logging new value '{}'.",
          param.key, existing.Text(0), model_id, param.value));
    }
  }
  return {};
}

std::optional<std::string_view> LoggedModelColumn(std::string_view key) {
  if (key == "name") return "m.name";
  if (key == "model_id") return "m.model_id";
  if (key == "model_type") return "m.model_type";
  if (key == "status") return "m.status";
  if (key == "source_run_id") return "m.source_run_id";
  if (key == "creation_timestamp") return "m.creation_timestamp_ms";
  if (key == "last_updated_timestamp") return "m.last_updated_timestamp_ms";
  if (key == "experiment_id") return "m.experiment_id";
  return std::nullopt;
}

// Status filters may name the short form ('READY') as well as the wire name.
std::string NormalizeStatusValue(std::string value) {
  if (value.rfind(kLoggedModelStatusPrefix, 0) == 0) return value;
  std::string upper = value;
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (upper == "PENDING" || upper == "READY" || upper == "UPLOAD_FAILED") {
    return std::string(kLoggedModelStatusPrefix) + upper;
  }
  return value;
}

// `(x.dataset_name = ? [AND x.dataset_digest = ?]) OR ...` over the metrics alias `x`.
void AppendDatasetCondition(Query& q, const std::vector<DatasetFilter>& datasets) {
  q.Add("(");
  for (std::size_t i = 0; i < datasets.size(); ++i) {
    if (i > 0) q.Add(" OR ");
    q.Add("(x.dataset_name = ");
    q.Value(datasets[i].name);
    if (!datasets[i].digest.empty()) {
      q.Add(" AND x.dataset_digest = ");
      q.Value(datasets[i].digest);
    }
    q.Add(")");
  }
  q.Add(")");
}

Result<void> AppendLoggedModelClause(Query& q, const Clause& clause,
                                     const std::vector<DatasetFilter>& datasets) {
  q.Add(" AND ");
  switch (clause.kind) {
    case EntityKind::kAttribute: {
      auto column = LoggedModelColumn(clause.key);
      if (!column) return InvalidParameter(fmt::format("Invalid attribute key '{}'", clause.key));
      if (clause.key != "status") {
        AppendComparison(q, *column, clause);
        return {};
      }
      Clause status = clause;
      status.string_value = NormalizeStatusValue(status.string_value);
      for (std::string& value : status.list_value) value = NormalizeStatusValue(value);
      AppendComparison(q, *column, status);
      return {};
    }
    case EntityKind::kMetric:
      q.Add("EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = m.model_id AND "
            "x.key = ");
      q.Value(clause.key);
      q.Add(" AND x.is_nan = 0 AND ");
      AppendComparison(q, "x.value", clause);
      if (!datasets.empty()) {
        q.Add(" AND ");
        AppendDatasetCondition(q, datasets);
      }
      q.Add(")");
      return {};
    case EntityKind::kParam:
    case EntityKind::kTag:
      q.Add(fmt::format("EXISTS (SELECT 1 FROM {} e WHERE e.model_id = m.model_id AND e.key = ",
                        clause.kind == EntityKind::kParam ? "logged_model_params"
                                                          : "logged_model_tags"));
      q.Value(clause.key);
      q.Add(" AND ");
      AppendComparison(q, "e.value", clause);
      q.Add(")");
      return {};
    case EntityKind::kDataset:
      break;
  }
  return InvalidParameter("Invalid filter for logged models search");
}

Result<void> AppendLoggedModelOrderBy(Query& q, const std::vector<LoggedModelOrder>& terms) {
  q.Add(" ORDER BY ");
  bool has_creation = false;
  for (const LoggedModelOrder& term : terms) {
    std::string value;
    if (term.kind == EntityKind::kAttribute) {
      auto column = LoggedModelColumn(term.key);
      if (!column) {
        return InvalidParameter(fmt::format("Invalid order by field name: {}", term.key));
      }
      has_creation = has_creation || term.key == "creation_timestamp";
      value = std::string(*column);
      q.Add(fmt::format("({} IS NULL), {}", value, value));
    } else if (term.kind == EntityKind::kMetric) {
      // The latest point of the metric (by timestamp, then step); NaN and missing sort last.
      Query sub;
      sub.Add("(SELECT CASE WHEN x.is_nan <> 0 THEN NULL ELSE x.value END FROM logged_model_metrics "
              "x WHERE x.model_id = m.model_id AND x.key = ");
      sub.Value(term.key);
      if (!term.dataset_name.empty()) {
        sub.Add(" AND x.dataset_name = ");
        sub.Value(term.dataset_name);
      }
      if (!term.dataset_digest.empty()) {
        sub.Add(" AND x.dataset_digest = ");
        sub.Value(term.dataset_digest);
      }
      sub.Add(" ORDER BY x.timestamp DESC, x.step DESC LIMIT 1)");
      q.Add(sub.sql);
      q.binds.insert(q.binds.end(), sub.binds.begin(), sub.binds.end());
      q.Add(" IS NULL, ");
      q.Add(sub.sql);
      q.binds.insert(q.binds.end(), sub.binds.begin(), sub.binds.end());
    } else {
      return InvalidParameter(fmt::format(
          "Invalid order by field name: {}. Only metrics are supported.", term.key));
    }
    q.Add(term.ascending ? " ASC, " : " DESC, ");
  }
  if (!has_creation) q.Add("m.creation_timestamp_ms DESC, ");
  q.Add("m.model_id ASC");
  return {};
}

}  // namespace

Result<LoggedModel> SqlTrackingStore::CreateLoggedModel(const CreateLoggedModelArgs& args) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(experiment, RequireActiveExperiment(*conn, args.experiment_id));
  std::string model_id = "m-" + NewHexId();
  std::string name = args.name.empty() ? RandomRunName() : args.name;
  std::string artifact_uri =
      fmt::format("{}/models/{}/artifacts", experiment.artifact_location, model_id);
  int64_t now = NowMillis();
  HK_TRY(insert, conn->Prepare(
                     "INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, "
                     "status, model_type, source_run_id, lifecycle_stage, creation_timestamp_ms, "
                     "last_updated_timestamp_ms) VALUES (?, ?, ?, ?, 'LOGGED_MODEL_PENDING', ?, ?, "
                     "'active', ?, ?)"));
  insert.Bind(1, model_id).Bind(2, *ExperimentKey(experiment.experiment_id)).Bind(3, name);
  insert.Bind(4, artifact_uri).Bind(5, args.model_type).Bind(6, args.source_run_id);
  insert.Bind(7, now).Bind(8, now);
  HK_CHECK(insert.Run());
  HK_CHECK(InsertLoggedModelParams(*conn, model_id, args.params));
  HK_CHECK(UpsertLoggedModelTags(*conn, model_id, args.tags));
  HK_TRY(model, LoadLoggedModel(*conn, model_id, false));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<LoggedModel> SqlTrackingStore::GetLoggedModel(const std::string& model_id) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadLoggedModel(*conn, model_id, false);
}

Result<LoggedModel> SqlTrackingStore::GetLoggedModelIncludingDeleted(
    const std::string& model_id) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadLoggedModel(*conn, model_id, true);
}

Result<LoggedModel> SqlTrackingStore::FinalizeLoggedModel(const std::string& model_id,
                                                             const std::string& status) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(RequireLiveLoggedModel(*conn, model_id));
  HK_TRY(update, conn->Prepare("UPDATE logged_models SET status = ?, "
                               "last_updated_timestamp_ms = ? WHERE model_id = ?"));
  update.Bind(1, status).Bind(2, NowMillis()).Bind(3, model_id);
  HK_CHECK(update.Run());
  HK_TRY(model, LoadLoggedModel(*conn, model_id, false));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<void> SqlTrackingStore::DeleteLoggedModel(const std::string& model_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(RequireLiveLoggedModel(*conn, model_id));
  HK_TRY(update, conn->Prepare("UPDATE logged_models SET lifecycle_stage = 'deleted', "
                               "last_updated_timestamp_ms = ? WHERE model_id = ?"));
  update.Bind(1, NowMillis()).Bind(2, model_id);
  HK_CHECK(update.Run());
  return tx.Commit();
}

Result<LoggedModel> SqlTrackingStore::SetLoggedModelTags(const std::string& model_id,
                                                            const std::vector<Tag>& tags) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(RequireLiveLoggedModel(*conn, model_id));
  HK_CHECK(UpsertLoggedModelTags(*conn, model_id, tags));
  HK_CHECK(TouchLoggedModel(*conn, model_id));
  HK_TRY(model, LoadLoggedModel(*conn, model_id, false));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<void> SqlTrackingStore::DeleteLoggedModelTag(const std::string& model_id,
                                                       const std::string& key) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(RequireLiveLoggedModel(*conn, model_id));
  HK_TRY(stmt, conn->Prepare("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?"));
  stmt.Bind(1, model_id).Bind(2, key);
  HK_CHECK(stmt.Run());
  if (conn->Changes() == 0) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("No tag with key '{}' found for model with ID '{}'.", key, model_id));
  }
  HK_CHECK(TouchLoggedModel(*conn, model_id));
  return tx.Commit();
}

Result<void> SqlTrackingStore::LogLoggedModelParams(const std::string& model_id,
                                                       const std::vector<Tag>& params) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(RequireLiveLoggedModel(*conn, model_id));
  HK_CHECK(InsertLoggedModelParams(*conn, model_id, params));
  return tx.Commit();
}

Result<std::pair<std::vector<LoggedModel>, bool>> SqlTrackingStore::SearchLoggedModels(
    const SearchLoggedModelsArgs& args) {
  Query q;
  q.Add("SELECT m.model_id FROM logged_models m WHERE m.lifecycle_stage = 'active' AND "
        "m.experiment_id IN (");
  bool any = false;
  for (const std::string& id : args.experiment_ids) {
    auto key = ExperimentKey(id);
    if (!key) continue;
    if (any) q.Add(", ");
    q.Value(*key);
    any = true;
  }
  if (!any) q.Add("NULL");
  q.Add(")");
  bool has_metric_filter = false;
  for (const Clause& clause : args.filter) {
    has_metric_filter = has_metric_filter || clause.kind == EntityKind::kMetric;
    HK_CHECK(AppendLoggedModelClause(q, clause, args.datasets));
  }
  if (!args.datasets.empty() && !has_metric_filter) {
    // Datasets without a metric filter: models with any metric on one of those datasets.
    q.Add(" AND EXISTS (SELECT 1 FROM logged_model_metrics x WHERE x.model_id = m.model_id AND ");
    AppendDatasetCondition(q, args.datasets);
    q.Add(")");
  }
  HK_CHECK(AppendLoggedModelOrderBy(q, args.order_by));
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return FetchPage<LoggedModel>(
      *conn, std::move(q), args.max_results, args.offset,
      [](Statement& row) { return row.Text(0); },
      [&](const std::string& id) { return LoadLoggedModel(*conn, id, false); });
}

}  // namespace hokusai::store::sql
