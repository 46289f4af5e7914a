#include "store/sqlite/migrations.hpp"

#include <fmt/format.h>

#include <array>

namespace hokusai::store::sqlite {
namespace {

struct Migration {
  int version;
  const char* sql;
};

// Never edit a released migration; add a new one.
constexpr std::array<Migration, 1> kMigrations = {{
    {1, R"sql(
CREATE TABLE experiments (
  experiment_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  artifact_location TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active',
  creation_time INTEGER NOT NULL,
  last_update_time INTEGER NOT NULL
);
CREATE TABLE experiment_tags (
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;
CREATE TABLE runs (
  run_uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  start_time INTEGER NOT NULL,
  end_time INTEGER,
  lifecycle_stage TEXT NOT NULL,
  artifact_uri TEXT NOT NULL,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  deleted_time INTEGER
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
CREATE TABLE metrics (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  model_id TEXT,
  dataset_name TEXT,
  dataset_digest TEXT,
  PRIMARY KEY (run_uuid, key, timestamp, step, value, is_nan)
) WITHOUT ROWID;
CREATE TABLE latest_metrics (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE TABLE params (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE TABLE tags (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE TABLE datasets (
  dataset_uuid TEXT PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  source_type TEXT NOT NULL,
  source TEXT NOT NULL,
  schema TEXT,
  profile TEXT,
  UNIQUE (experiment_id, name, digest)
);
CREATE TABLE run_dataset_inputs (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  dataset_uuid TEXT NOT NULL REFERENCES datasets(dataset_uuid),
  position INTEGER NOT NULL,
  PRIMARY KEY (run_uuid, dataset_uuid)
) WITHOUT ROWID;
CREATE TABLE run_dataset_input_tags (
  run_uuid TEXT NOT NULL,
  dataset_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, dataset_uuid, key)
) WITHOUT ROWID;
CREATE TABLE run_model_inputs (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  model_id TEXT NOT NULL,
  PRIMARY KEY (run_uuid, model_id)
) WITHOUT ROWID;
CREATE TABLE run_model_outputs (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  model_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  PRIMARY KEY (run_uuid, model_id)
) WITHOUT ROWID;
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage,
                         creation_time, last_update_time)
VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active',
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql"},
}};

}  // namespace

int LatestSchemaVersion() { return kMigrations.back().version; }

Result<void> ApplyMigrations(Connection& conn) {
  auto created = conn.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at INTEGER NOT NULL)");
  if (!created) return created;
  for (const Migration& migration : kMigrations) {
    auto tx = Transaction::Begin(conn, true);
    if (!tx) return tl::unexpected(tx.error());
    auto check = conn.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
    if (!check) return tl::unexpected(check.error());
    check->Bind(1, static_cast<int64_t>(migration.version));
    auto present = check->Step();
    if (!present) return tl::unexpected(present.error());
    if (*present) continue;
    if (auto ok = conn.Exec(migration.sql); !ok) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("schema migration {} failed", migration.version));
    }
    auto record = conn.Prepare(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, unixepoch())");
    if (!record) return tl::unexpected(record.error());
    record->Bind(1, static_cast<int64_t>(migration.version));
    if (auto ok = record->Run(); !ok) return ok;
    if (auto ok = tx->Commit(); !ok) return ok;
  }
  return {};
}

}  // namespace hokusai::store::sqlite
