#include "store/sql/migrations.hpp"

#include <fmt/format.h>

#include <array>
#include <ctime>

#include "store/postgres/pg_migrations.hpp"
#include "store/sql/metric_log.hpp"

namespace hokusai::store::sql {
namespace {

// Held by the replica applying migrations (a session-level advisory lock).
constexpr int64_t kMigrationLockKey = 0x686b5f6d69677261;  // "hk_migra"

// Never edit a released migration; add a new one.
constexpr std::array<Migration, 10> kMigrations = {{
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
    // 2: MLflow 3 logged models and the model registry. Registered models get a surrogate key so
    // that a rename touches one row; versions, tags and aliases hang off that key. A deleted
    // version stays as a tombstone (deleted = 1) so its number is never reused.
    {2, R"sql(
CREATE TABLE logged_models (
  model_id TEXT PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  name TEXT NOT NULL,
  artifact_uri TEXT NOT NULL,
  status TEXT NOT NULL,
  status_message TEXT NOT NULL DEFAULT '',
  model_type TEXT NOT NULL DEFAULT '',
  source_run_id TEXT NOT NULL DEFAULT '',
  lifecycle_stage TEXT NOT NULL DEFAULT 'active',
  creation_timestamp_ms INTEGER NOT NULL,
  last_updated_timestamp_ms INTEGER NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models(experiment_id, creation_timestamp_ms);
CREATE TABLE logged_model_tags (
  model_id TEXT NOT NULL REFERENCES logged_models(model_id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
CREATE TABLE logged_model_params (
  model_id TEXT NOT NULL REFERENCES logged_models(model_id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_id, key)
) WITHOUT ROWID;
-- Run metric points logged with a model_id, per model. The client re-logs points the run already
-- has (same key, time, step and value) with the model's id; the metrics table would drop those
-- as duplicates, so models keep their own copy, as in MLflow.
CREATE TABLE logged_model_metrics (
  model_id TEXT NOT NULL,
  key TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  run_uuid TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL,
  dataset_name TEXT NOT NULL DEFAULT '',
  dataset_digest TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (model_id, key, timestamp, step, run_uuid)
) WITHOUT ROWID;
CREATE TABLE registered_models (
  model_key INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  user_id TEXT NOT NULL DEFAULT '',
  creation_time INTEGER NOT NULL,
  last_updated_time INTEGER NOT NULL
);
CREATE TABLE registered_model_tags (
  model_key INTEGER NOT NULL REFERENCES registered_models(model_key) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_key, key)
) WITHOUT ROWID;
CREATE TABLE model_versions (
  model_key INTEGER NOT NULL REFERENCES registered_models(model_key) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  current_stage TEXT NOT NULL DEFAULT 'None',
  description TEXT NOT NULL DEFAULT '',
  user_id TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL,
  storage_location TEXT NOT NULL,
  run_id TEXT NOT NULL DEFAULT '',
  run_link TEXT NOT NULL DEFAULT '',
  model_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'READY',
  status_message TEXT NOT NULL DEFAULT '',
  creation_time INTEGER NOT NULL,
  last_updated_time INTEGER NOT NULL,
  PRIMARY KEY (model_key, version)
) WITHOUT ROWID;
CREATE INDEX model_versions_by_run ON model_versions(run_id) WHERE run_id != '';
CREATE INDEX model_versions_by_logged_model ON model_versions(model_id) WHERE model_id != '';
CREATE TABLE model_version_tags (
  model_key INTEGER NOT NULL,
  version INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model_key, version, key),
  FOREIGN KEY (model_key, version) REFERENCES model_versions(model_key, version) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE registered_model_aliases (
  model_key INTEGER NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (model_key, alias),
  FOREIGN KEY (model_key, version) REFERENCES model_versions(model_key, version) ON DELETE CASCADE
) WITHOUT ROWID;
)sql"},
    // 3: identity. Users, API keys (only keyed hashes of their secrets; a key has one current
    // secret, valid_until NULL, and after a rotation with overlap old ones valid until a time),
    // resource permissions and the audit log. List columns (roles, scopes, allowed_ips) hold
    // their elements separated by '\n': scope patterns may contain spaces. Permissions carry no
    // foreign key to users: with an external auth service the users are not in this table.
    // Model permissions hang off model_key, so a rename keeps them and a delete drops them.
    {3, R"sql(
CREATE TABLE users (
  user_id TEXT PRIMARY KEY,
  email TEXT NOT NULL DEFAULT '',
  roles TEXT NOT NULL DEFAULT '',
  is_admin INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(user_id),
  name TEXT NOT NULL DEFAULT '',
  key_prefix TEXT NOT NULL,
  environment TEXT NOT NULL,
  scopes TEXT NOT NULL DEFAULT '',
  allowed_ips TEXT NOT NULL DEFAULT '',
  rate_limit_per_hour INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  expires_at INTEGER,
  revoked_at INTEGER,
  created_by_key_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_by_user ON api_keys(user_id, created_at);
CREATE TABLE api_key_secrets (
  secret_hash TEXT PRIMARY KEY,
  key_id TEXT NOT NULL REFERENCES api_keys(key_id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  valid_until INTEGER
) WITHOUT ROWID;
CREATE INDEX api_key_secrets_by_key ON api_key_secrets(key_id);
CREATE TABLE experiment_permissions (
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  permission TEXT NOT NULL
    CHECK (permission IN ('NO_PERMISSIONS', 'READ', 'EDIT', 'MANAGE')),
  PRIMARY KEY (experiment_id, user_id)
) WITHOUT ROWID;
CREATE INDEX experiment_permissions_by_user ON experiment_permissions(user_id, experiment_id);
CREATE TABLE registered_model_permissions (
  model_key INTEGER NOT NULL REFERENCES registered_models(model_key) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  permission TEXT NOT NULL
    CHECK (permission IN ('NO_PERMISSIONS', 'READ', 'EDIT', 'MANAGE')),
  PRIMARY KEY (model_key, user_id)
) WITHOUT ROWID;
CREATE INDEX registered_model_permissions_by_user
  ON registered_model_permissions(user_id, model_key);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  timestamp INTEGER NOT NULL,
  user_id TEXT NOT NULL DEFAULT '',
  key_id TEXT NOT NULL DEFAULT '',
  method TEXT NOT NULL DEFAULT '',
  route TEXT NOT NULL DEFAULT '',
  resource TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL,
  status INTEGER NOT NULL,
  client_address TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_time ON audit_log(timestamp);
CREATE INDEX audit_log_by_user ON audit_log(user_id, timestamp);
CREATE INDEX audit_log_by_key ON audit_log(key_id, timestamp);
)sql"},
    // 4: registration events and webhook delivery. registration_events is the outbox, written in
    // the transaction that creates each model version; seq orders it and is never reused
    // (AUTOINCREMENT), event_id is what receivers dedupe on, payload the exact JSON body sent.
    // An endpoint receives the events with seq > since_seq (the highest seq when it was first
    // configured); `active` says whether it is configured now. A delivery row exists once an
    // (endpoint, event) has been attempted or replayed. idempotency_keys holds the answers to
    // registration requests made with an Idempotency-Key, per user, for 24 hours.
    {4, R"sql(
CREATE TABLE registration_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  model_name TEXT NOT NULL,
  version TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX registration_events_by_model ON registration_events(model_name, seq);
CREATE TABLE webhook_endpoints (
  url TEXT PRIMARY KEY,
  since_seq INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
  endpoint TEXT NOT NULL REFERENCES webhook_endpoints(url),
  event_seq INTEGER NOT NULL REFERENCES registration_events(seq),
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  delivered_ms INTEGER,
  PRIMARY KEY (endpoint, event_seq)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint, state, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries(event_seq);
CREATE TABLE idempotency_keys (
  user_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  response TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_time ON idempotency_keys(created_ms);
)sql"},
    // 5: token buckets shared by every replica (store/sql/sql_rate_buckets).
    {5, R"sql(
CREATE TABLE rate_buckets (
  bucket_id TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  updated_ms INTEGER NOT NULL,
  taken INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_buckets_by_time ON rate_buckets(updated_ms);
)sql"},
    // 6: metric points in arrival order, merged into `metrics` in bulk (sql_tracking_store,
    // decision 0016). seq is the rowid: appends fill the last page only.
    {6, R"sql(
CREATE TABLE metric_log (
  seq INTEGER PRIMARY KEY,
  run_uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  model_id TEXT,
  dataset_name TEXT,
  dataset_digest TEXT
);
)sql"},
    // 7: runs/search ordered by a metric walks that metric's latest values in order
    // (sql_tracking_store, decision 0017).
    {7, R"sql(
CREATE INDEX latest_metrics_by_value ON latest_metrics(key, is_nan, value);
)sql"},
    // 8: every point keyed by an integer series id instead of its run id and key (decision
    // 0019): shorter keys, integer comparisons, half the pages. Existing points are copied over.
    {8, R"sql(
CREATE TABLE metric_series (
  series_id INTEGER PRIMARY KEY,
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  UNIQUE (run_uuid, key)
);
INSERT INTO metric_series (run_uuid, key)
  SELECT DISTINCT run_uuid, key FROM metrics ORDER BY run_uuid, key;
CREATE TABLE metric_points (
  series_id INTEGER NOT NULL REFERENCES metric_series(series_id),
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL,
  model_id TEXT,
  dataset_name TEXT,
  dataset_digest TEXT,
  PRIMARY KEY (series_id, timestamp, step, value, is_nan)
) WITHOUT ROWID;
INSERT INTO metric_points (series_id, timestamp, step, value, is_nan, model_id, dataset_name,
                           dataset_digest)
  SELECT s.series_id, m.timestamp, m.step, m.value, m.is_nan, m.model_id, m.dataset_name,
         m.dataset_digest
  FROM metrics m JOIN metric_series s ON s.run_uuid = m.run_uuid AND s.key = m.key
  ORDER BY s.series_id, m.timestamp, m.step, m.value, m.is_nan;
DROP TABLE metrics;
)sql"},
    // 9: merges of the metric log, counted, so that a process trusts its in-memory copy of the
    // log only while no other process has merged it (metric_log.cpp, decision 0018).
    {9, R"sql(
CREATE TABLE metric_log_merges (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO metric_log_merges (id, generation) VALUES (1, 0);
)sql"},
    // 10: points packed, a log row per request and a block per series and merge (decision 0020).
    // What waits in the old log is merged first (decision 0018's merge, in SQL); the step then
    // packs every stored point into blocks and drops metric_points (metric_log.cpp).
    {10, R"sql(
INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step)
  SELECT run_uuid, key, value, is_nan, timestamp, step FROM (
    SELECT run_uuid, key, value, is_nan, timestamp, step, row_number() OVER (
      PARTITION BY run_uuid, key ORDER BY step DESC, timestamp DESC, value DESC, seq) AS pick
    FROM metric_log) AS ranked WHERE pick = 1
  ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan,
    timestamp = excluded.timestamp, step = excluded.step
  WHERE (excluded.step, excluded.timestamp, excluded.value) >
        (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value);
INSERT INTO metric_series (run_uuid, key)
  SELECT DISTINCT run_uuid, key FROM metric_log WHERE true ORDER BY run_uuid, key
  ON CONFLICT DO NOTHING;
INSERT INTO metric_points (series_id, timestamp, step, value, is_nan, model_id, dataset_name,
                           dataset_digest)
  SELECT s.series_id, l.timestamp, l.step, l.value, l.is_nan, l.model_id, l.dataset_name,
         l.dataset_digest
  FROM metric_log l JOIN metric_series s ON s.run_uuid = l.run_uuid AND s.key = l.key WHERE true
  ORDER BY s.series_id, l.timestamp, l.step, l.value, l.is_nan, l.seq ON CONFLICT DO NOTHING;
DROP TABLE metric_log;
CREATE TABLE metric_log (
  seq INTEGER PRIMARY KEY,
  run_uuid TEXT NOT NULL,
  points INTEGER NOT NULL,
  total INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE metric_blocks (
  block_id INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL REFERENCES metric_series(series_id),
  points INTEGER NOT NULL,
  last_timestamp INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX metric_blocks_by_series ON metric_blocks(series_id, block_id, last_timestamp);
)sql", MovePointsIntoBlocks},
}};

// Applies `migrations` in order, each in its own write transaction with its record, skipping
// those already recorded.
Result<void> ApplyList(Connection& conn, std::span<const Migration> migrations) {
  HK_CHECK(conn.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
      "applied_at BIGINT NOT NULL)"));
  for (const Migration& migration : migrations) {
    HK_TRY(tx, Transaction::Begin(conn, true));
    HK_TRY(check, conn.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?"));
    check.Bind(1, static_cast<int64_t>(migration.version));
    HK_TRY(present, check.Step());
    if (present) continue;
    auto ok = conn.Exec(migration.sql);
    if (ok && migration.then != nullptr) ok = migration.then(conn);
    if (!ok) {
      return Fail(ErrorCode::kInternalError, fmt::format("schema migration {} failed: {}",
                                                         migration.version, ok.error().message));
    }
    HK_TRY(record,
           conn.Prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"));
    record.Bind(1, static_cast<int64_t>(migration.version));
    record.Bind(2, static_cast<int64_t>(std::time(nullptr)));
    HK_CHECK(record.Run());
    HK_CHECK(tx.Commit());
  }
  return {};
}

}  // namespace

int LatestSchemaVersion() { return kMigrations.back().version; }

std::span<const Migration> SqliteMigrations() { return kMigrations; }

Result<void> ApplyMigrations(Connection& conn) {
  if (conn.dialect() == Dialect::kSqlite) return ApplyList(conn, kMigrations);
  // Replicas starting together: one migrates while the others wait on this session lock, then
  // find every version recorded.
  HK_CHECK(conn.Exec(fmt::format("SELECT pg_advisory_lock({})", kMigrationLockKey)));
  auto applied = ApplyList(conn, postgres::PgMigrations());
  auto unlocked = conn.Exec(fmt::format("SELECT pg_advisory_unlock({})", kMigrationLockKey));
  if (!applied) return applied;
  return unlocked;
}

}  // namespace hokusai::store::sql
