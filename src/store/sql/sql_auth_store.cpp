#include "store/sql/sql_auth_store.hpp"

#include <fmt/format.h>

#include "common/util.hpp"
#include "store/sql/sql_query.hpp"

namespace hokusai::store::sql {
namespace {

constexpr char kListSeparator = '\n';

// Columns of one key row, in the order ReadKey expects; `k` is api_keys.
constexpr std::string_view kKeyColumns =
    "k.key_id, k.user_id, k.name, k.key_prefix, k.environment, k.scopes, k.allowed_ips, "
    "k.rate_limit_per_hour, k.created_at, k.last_used_at, k.expires_at, k.revoked_at, "
    "k.created_by_key_id";
constexpr int kKeyColumnCount = 13;

// Columns of one user row, in the order ReadUser expects; `u` is users.
constexpr std::string_view kUserColumns = "u.user_id, u.email, u.roles, u.is_admin, u.created_at";

constexpr std::string_view kAuditColumns =
    "id, timestamp, user_id, key_id, method, route, resource, outcome, status, client_address, "
    "detail";

Error UserNotFound(std::string_view user_id) {
  return Error{ErrorCode::kResourceDoesNotExist, fmt::format("User '{}' not found", user_id)};
}

Error KeyNotFound(std::string_view key_id) {
  return Error{ErrorCode::kResourceDoesNotExist, fmt::format("API key '{}' not found", key_id)};
}

Error ExperimentNotFound(std::string_view id) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("No Experiment with id={} exists", id)};
}

Error ModelNotFound(std::string_view name) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Registered Model with name={} not found", name)};
}

// The list as stored. Elements must be non-empty and free of the separator, so that the text
// splits back into the same list.
Result<std::string> JoinList(const std::vector<std::string>& items, std::string_view field) {
  std::string out;
  for (const std::string& item : items) {
    if (item.empty() || item.find(kListSeparator) != std::string::npos) {
      return InvalidParameter(
          fmt::format("Invalid {} element: empty or containing a line break", field));
    }
    if (!out.empty()) out += kListSeparator;
    out += item;
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find(kListSeparator, start);
    if (end == std::string::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::optional<int64_t> OptionalInt(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  return stmt.Int(column);
}

void BindOptional(Statement& stmt, int index, const std::optional<int64_t>& value) {
  if (value) {
    stmt.Bind(index, *value);
  } else {
    stmt.BindNull(index);
  }
}

ApiKeyRecord ReadKey(const Statement& stmt, int first) {
  ApiKeyRecord key;
  key.key_id = stmt.Text(first + 0);
  key.user_id = stmt.Text(first + 1);
  key.name = stmt.Text(first + 2);
  key.key_prefix = stmt.Text(first + 3);
  key.environment = stmt.Text(first + 4);
  key.scopes = SplitList(stmt.Text(first + 5));
  key.allowed_ips = SplitList(stmt.Text(first + 6));
  key.rate_limit_per_hour = stmt.Int(first + 7);
  key.created_at = stmt.Int(first + 8);
  key.last_used_at = OptionalInt(stmt, first + 9);
  key.expires_at = OptionalInt(stmt, first + 10);
  key.revoked_at = OptionalInt(stmt, first + 11);
  key.created_by_key_id = stmt.Text(first + 12);
  return key;
}

User ReadUser(const Statement& stmt, int first) {
  User user;
  user.user_id = stmt.Text(first + 0);
  user.email = stmt.Text(first + 1);
  user.roles = SplitList(stmt.Text(first + 2));
  user.is_admin = stmt.Int(first + 3) != 0;
  user.created_at = stmt.Int(first + 4);
  return user;
}

Result<Permission> ReadPermission(const Statement& stmt, int column) {
  std::string text = stmt.Text(column);
  auto permission = ParsePermission(text);
  if (!permission) {
    return Fail(ErrorCode::kInternalError, fmt::format("unknown stored permission '{}'", text));
  }
  return *permission;
}

Result<std::optional<User>> FindUser(Connection& conn, const std::string& user_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format("SELECT {} FROM users u WHERE u.user_id = ?",
                                        kUserColumns)));
  stmt.Bind(1, user_id);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<User>();
  return std::optional<User>(ReadUser(stmt, 0));
}

Result<ApiKeyRecord> LoadKey(Connection& conn, const std::string& key_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format("SELECT {} FROM api_keys k WHERE k.key_id = ?",
                                        kKeyColumns)));
  stmt.Bind(1, key_id);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(KeyNotFound(key_id));
  return ReadKey(stmt, 0);
}

Result<bool> Exists(Connection& conn, std::string_view sql, std::string_view value) {
  HK_TRY(stmt, conn.Prepare(sql));
  stmt.Bind(1, value);
  return stmt.Step();
}

Result<void> InsertUser(Connection& conn, const User& user) {
  HK_TRY(taken, Exists(conn, "SELECT 1 FROM users WHERE user_id = ?", user.user_id));
  if (taken) {
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("User '{}' already exists.", user.user_id));
  }
  HK_TRY(roles, JoinList(user.roles, "role"));
  HK_TRY(insert, conn.Prepare("INSERT INTO users (user_id, email, roles, is_admin, created_at) "
                              "VALUES (?, ?, ?, ?, ?)"));
  insert.Bind(1, user.user_id).Bind(2, user.email).Bind(3, roles);
  insert.Bind(4, static_cast<int64_t>(user.is_admin ? 1 : 0));
  insert.Bind(5, user.created_at != 0 ? user.created_at : NowMillis());
  return insert.Run();
}

Result<void> InsertSecret(Connection& conn, const std::string& secret_hash,
                          const std::string& key_id, int64_t now) {
  HK_TRY(taken, Exists(conn, "SELECT 1 FROM api_key_secrets WHERE secret_hash = ?", secret_hash));
  if (taken) return Fail(ErrorCode::kResourceAlreadyExists, "An API key with this secret exists.");
  HK_TRY(insert, conn.Prepare("INSERT INTO api_key_secrets (secret_hash, key_id, created_at, "
                              "valid_until) VALUES (?, ?, ?, NULL)"));
  insert.Bind(1, secret_hash).Bind(2, key_id).Bind(3, now);
  return insert.Run();
}

Result<void> InsertKey(Connection& conn, const ApiKeyRecord& key, const std::string& secret_hash) {
  HK_TRY(user_exists, Exists(conn, "SELECT 1 FROM users WHERE user_id = ?", key.user_id));
  if (!user_exists) return tl::unexpected(UserNotFound(key.user_id));
  HK_TRY(taken, Exists(conn, "SELECT 1 FROM api_keys WHERE key_id = ?", key.key_id));
  if (taken) {
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("API key '{}' already exists.", key.key_id));
  }
  HK_TRY(scopes, JoinList(key.scopes, "scope"));
  HK_TRY(allowed_ips, JoinList(key.allowed_ips, "allowed IP"));
  int64_t created_at = key.created_at != 0 ? key.created_at : NowMillis();
  HK_TRY(insert, conn.Prepare(
                     "INSERT INTO api_keys (key_id, user_id, name, key_prefix, environment, "
                     "scopes, allowed_ips, rate_limit_per_hour, created_at, last_used_at, "
                     "expires_at, revoked_at, created_by_key_id) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, key.key_id).Bind(2, key.user_id).Bind(3, key.name).Bind(4, key.key_prefix);
  insert.Bind(5, key.environment).Bind(6, scopes).Bind(7, allowed_ips);
  insert.Bind(8, key.rate_limit_per_hour).Bind(9, created_at);
  BindOptional(insert, 10, key.last_used_at);
  BindOptional(insert, 11, key.expires_at);
  BindOptional(insert, 12, key.revoked_at);
  insert.Bind(13, key.created_by_key_id);
  HK_CHECK(insert.Run());
  return InsertSecret(conn, secret_hash, key.key_id, created_at);
}

// The experiment's integer key, or RESOURCE_DOES_NOT_EXIST.
Result<int64_t> RequireExperiment(Connection& conn, const std::string& experiment_id) {
  auto key = ParseInt64(experiment_id);
  if (!key) return tl::unexpected(ExperimentNotFound(experiment_id));
  HK_TRY(stmt, conn.Prepare("SELECT 1 FROM experiments WHERE experiment_id = ?"));
  stmt.Bind(1, *key);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(ExperimentNotFound(experiment_id));
  return *key;
}

Result<int64_t> RequireModel(Connection& conn, const std::string& name) {
  HK_TRY(stmt, conn.Prepare("SELECT model_key FROM registered_models WHERE name = ?"));
  stmt.Bind(1, name);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(ModelNotFound(name));
  return stmt.Int(0);
}

Result<void> DeletePermission(Connection& conn, const PermissionTable& table, int64_t key,
                              const std::string& user_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format("DELETE FROM {} WHERE {} = ? AND user_id = ?",
                                        table.table, table.key_column)));
  stmt.Bind(1, key).Bind(2, user_id);
  return stmt.Run();
}

}  // namespace

// Reads below are single statements, so they run without an explicit transaction: one
// statement already sees one snapshot, and FindKeyByHash is on every request's path.

// ---- users ----------------------------------------------------------------------------------

Result<User> SqlAuthStore::CreateUser(const User& user) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(InsertUser(*conn, user));
  HK_TRY(stored, FindUser(*conn, user.user_id));
  if (!stored) return Fail(ErrorCode::kInternalError, "user vanished");
  HK_CHECK(tx.Commit());
  return std::move(*stored);
}

Result<User> SqlAuthStore::GetUser(const std::string& user_id) {
  auto conn = pool_->Acquire();
  HK_TRY(user, FindUser(*conn, user_id));
  if (!user) return tl::unexpected(UserNotFound(user_id));
  return std::move(*user);
}

Result<std::vector<User>> SqlAuthStore::ListUsers() {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare(fmt::format("SELECT {} FROM users u ORDER BY u.user_id",
                                         kUserColumns)));
  std::vector<User> users;
  HK_CHECK(ForEachRow(stmt, [&] { users.push_back(ReadUser(stmt, 0)); }));
  return users;
}

// ---- keys -----------------------------------------------------------------------------------

Result<int64_t> SqlAuthStore::CountKeys() {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare("SELECT count(*) FROM api_keys"));
  HK_TRY(row, stmt.Step());
  if (!row) return Fail(ErrorCode::kInternalError, "count returned no row");
  return stmt.Int(0);
}

Result<void> SqlAuthStore::CreateKey(const ApiKeyRecord& key, const std::string& secret_hash) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(InsertKey(*conn, key, secret_hash));
  return tx.Commit();
}

Result<void> SqlAuthStore::CreateUserAndKey(const User& user, const ApiKeyRecord& key,
                                               const std::string& secret_hash) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(existing, FindUser(*conn, user.user_id));
  if (!existing) {
    HK_CHECK(InsertUser(*conn, user));
  }
  HK_CHECK(InsertKey(*conn, key, secret_hash));
  return tx.Commit();
}

Result<KeyLookup> SqlAuthStore::FindKeyByHash(const std::string& secret_hash, int64_t now) {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare(fmt::format(
                   "SELECT {}, {}, s.valid_until FROM api_key_secrets s "
                   "JOIN api_keys k ON k.key_id = s.key_id JOIN users u ON u.user_id = k.user_id "
                   "WHERE s.secret_hash = ? AND (s.valid_until IS NULL OR s.valid_until > ?)",
                   kKeyColumns, kUserColumns)));
  stmt.Bind(1, secret_hash).Bind(2, now);
  HK_TRY(found, stmt.Step());
  // The hash is a credential's image: it stays out of the message.
  if (!found) return Fail(ErrorCode::kResourceDoesNotExist, "API key not found");
  KeyLookup lookup;
  lookup.key = ReadKey(stmt, 0);
  lookup.user = ReadUser(stmt, kKeyColumnCount);
  lookup.secret_valid_until = OptionalInt(stmt, kKeyColumnCount + 5);
  return lookup;
}

Result<ApiKeyRecord> SqlAuthStore::GetKey(const std::string& key_id) {
  auto conn = pool_->Acquire();
  return LoadKey(*conn, key_id);
}

Result<std::vector<ApiKeyRecord>> SqlAuthStore::ListKeys(const std::string& user_id) {
  Query q;
  q.Add("SELECT ");
  q.Add(kKeyColumns);
  q.Add(" FROM api_keys k");
  if (!user_id.empty()) {
    q.Add(" WHERE k.user_id = ");
    q.Value(user_id);
  }
  q.Add(" ORDER BY k.created_at DESC, k.rowid DESC");
  auto conn = pool_->Acquire();
  HK_TRY(stmt, PrepareQuery(*conn, q));
  std::vector<ApiKeyRecord> keys;
  HK_CHECK(ForEachRow(stmt, [&] { keys.push_back(ReadKey(stmt, 0)); }));
  return keys;
}

Result<ApiKeyRecord> SqlAuthStore::RevokeKey(const std::string& key_id, int64_t now) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(update, conn->Prepare("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE "
                               "key_id = ?"));
  update.Bind(1, now).Bind(2, key_id);
  HK_CHECK(update.Run());
  if (conn->Changes() == 0) return tl::unexpected(KeyNotFound(key_id));
  HK_TRY(key, LoadKey(*conn, key_id));
  HK_CHECK(tx.Commit());
  KeysChanged();
  return std::move(key);
}

Result<ApiKeyRecord> SqlAuthStore::RotateKey(const std::string& key_id,
                                                const std::string& new_hash,
                                                const std::string& new_prefix, int64_t now,
                                                int64_t old_valid_until) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, LoadKey(*conn, key_id));
  if (key.revoked_at) {
    return Fail(ErrorCode::kInvalidState,
                fmt::format("API key '{}' is revoked and cannot be rotated.", key_id));
  }
  // Secrets already due to end earlier keep their earlier end.
  HK_TRY(retire, conn->Prepare("UPDATE api_key_secrets SET valid_until = ?1 WHERE key_id = ?2 "
                               "AND (valid_until IS NULL OR valid_until > ?1)"));
  retire.Bind(1, old_valid_until).Bind(2, key_id);
  HK_CHECK(retire.Run());
  HK_TRY(purge, conn->Prepare("DELETE FROM api_key_secrets WHERE key_id = ? AND "
                              "valid_until <= ?"));
  purge.Bind(1, key_id).Bind(2, now);
  HK_CHECK(purge.Run());
  HK_CHECK(InsertSecret(*conn, new_hash, key_id, now));
  HK_TRY(prefix, conn->Prepare("UPDATE api_keys SET key_prefix = ? WHERE key_id = ?"));
  prefix.Bind(1, new_prefix).Bind(2, key_id);
  HK_CHECK(prefix.Run());
  HK_TRY(rotated, LoadKey(*conn, key_id));
  HK_CHECK(tx.Commit());
  KeysChanged();
  return std::move(rotated);
}

std::optional<uint64_t> SqlAuthStore::KeyEpoch() {
  SharedCounter* epoch = pool_->key_epoch();
  if (epoch == nullptr) return std::nullopt;
  return epoch->Load();
}

void SqlAuthStore::KeysChanged() {
  if (SharedCounter* epoch = pool_->key_epoch()) epoch->Increment();
}

Result<void> SqlAuthStore::TouchKey(const std::string& key_id, int64_t now) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  // Concurrent requests may touch out of order; the time only moves forward.
  HK_TRY(update, conn->Prepare("UPDATE api_keys SET last_used_at = CASE WHEN last_used_at IS "
                               "NULL OR last_used_at < ?1 THEN ?1 ELSE last_used_at END WHERE "
                               "key_id = ?2"));
  update.Bind(1, now).Bind(2, key_id);
  HK_CHECK(update.Run());
  if (conn->Changes() == 0) return tl::unexpected(KeyNotFound(key_id));
  return tx.Commit();
}

// ---- permissions ----------------------------------------------------------------------------

Result<std::optional<Permission>> SqlAuthStore::GetExperimentPermission(
    const std::string& experiment_id, const std::string& user_id) {
  auto key = ParseInt64(experiment_id);
  if (!key) return std::optional<Permission>();
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare("SELECT permission FROM experiment_permissions WHERE "
                             "experiment_id = ? AND user_id = ?"));
  stmt.Bind(1, *key).Bind(2, user_id);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<Permission>();
  HK_TRY(permission, ReadPermission(stmt, 0));
  return std::optional<Permission>(permission);
}

Result<void> SqlAuthStore::SetExperimentPermission(const std::string& experiment_id,
                                                      const std::string& user_id,
                                                      Permission permission) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, RequireExperiment(*conn, experiment_id));
  HK_CHECK(UpsertPermission(*conn, kExperimentPermissions, key, user_id, permission));
  return tx.Commit();
}

Result<void> SqlAuthStore::DeleteExperimentPermission(const std::string& experiment_id,
                                                         const std::string& user_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, RequireExperiment(*conn, experiment_id));
  HK_CHECK(DeletePermission(*conn, kExperimentPermissions, key, user_id));
  return tx.Commit();
}

Result<std::optional<Permission>> SqlAuthStore::GetModelPermission(const std::string& name,
                                                                      const std::string& user_id) {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare("SELECT p.permission FROM registered_model_permissions p JOIN "
                             "registered_models r ON r.model_key = p.model_key WHERE r.name = ? "
                             "AND p.user_id = ?"));
  stmt.Bind(1, name).Bind(2, user_id);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<Permission>();
  HK_TRY(permission, ReadPermission(stmt, 0));
  return std::optional<Permission>(permission);
}

Result<void> SqlAuthStore::SetModelPermission(const std::string& name,
                                                 const std::string& user_id,
                                                 Permission permission) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, RequireModel(*conn, name));
  HK_CHECK(UpsertPermission(*conn, kModelPermissions, key, user_id, permission));
  return tx.Commit();
}

Result<void> SqlAuthStore::DeleteModelPermission(const std::string& name,
                                                    const std::string& user_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, RequireModel(*conn, name));
  HK_CHECK(DeletePermission(*conn, kModelPermissions, key, user_id));
  return tx.Commit();
}

// ---- upstream resources (gateway mode) ------------------------------------------------------

namespace {

// The placeholder model row for `name`, created when missing; returns its key.
// The experiment's row, a placeholder (`hokusai-gateway:<id>`, no artifact location) when there
// is none; the id as an integer.
Result<int64_t> EnsureExperimentRow(Connection& conn, const std::string& experiment_id) {
  auto id = ParseInt64(experiment_id);
  if (!id) {
    return InvalidParameter(
        fmt::format("Upstream experiment id '{}' is not an integer", experiment_id));
  }
  int64_t now = NowMillis();
  HK_TRY(insert, conn.Prepare("INSERT INTO experiments (experiment_id, name, artifact_location, "
                              "creation_time, last_update_time) VALUES (?, ?, '', ?, ?) "
                              "ON CONFLICT DO NOTHING"));
  insert.Bind(1, *id).Bind(2, fmt::format("hokusai-gateway:{}", *id)).Bind(3, now).Bind(4, now);
  HK_CHECK(insert.Run());
  return *id;
}

Result<int64_t> EnsureModelRow(Connection& conn, const std::string& name) {
  HK_TRY(find, conn.Prepare("SELECT model_key FROM registered_models WHERE name = ?"));
  find.Bind(1, name);
  HK_TRY(found, find.Step());
  if (found) return find.Int(0);
  int64_t now = NowMillis();
  HK_TRY(insert, conn.Prepare("INSERT INTO registered_models (name, description, user_id, "
                              "creation_time, last_updated_time) VALUES (?, ?, '', ?, ?)"));
  insert.Bind(1, name).Bind(2, SqlAuthStore::kUpstreamPlaceholder).Bind(3, now).Bind(4, now);
  HK_CHECK(insert.Run());
  HK_TRY(again, conn.Prepare("SELECT model_key FROM registered_models WHERE name = ?"));
  again.Bind(1, name);
  HK_TRY(inserted, again.Step());
  if (!inserted) return Fail(ErrorCode::kInternalError, "model placeholder vanished");
  return again.Int(0);
}

// The model row's key and whether it is a placeholder; nullopt when there is none.
Result<std::optional<std::pair<int64_t, bool>>> FindModelRow(Connection& conn,
                                                             const std::string& name) {
  HK_TRY(stmt, conn.Prepare("SELECT model_key, description = ? AND NOT EXISTS (SELECT 1 FROM "
                            "model_versions v WHERE v.model_key = r.model_key) FROM "
                            "registered_models r WHERE name = ?"));
  stmt.Bind(1, SqlAuthStore::kUpstreamPlaceholder).Bind(2, name);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<std::pair<int64_t, bool>>();
  return std::optional<std::pair<int64_t, bool>>(std::make_pair(stmt.Int(0), stmt.Int(1) != 0));
}

}  // namespace

Result<void> SqlAuthStore::RecordUpstreamExperimentOwner(const std::string& experiment_id,
                                                            const std::string& user_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(id, EnsureExperimentRow(*conn, experiment_id));
  HK_CHECK(UpsertPermission(*conn, kExperimentPermissions, id, user_id, Permission::kManage));
  return tx.Commit();
}

Result<void> SqlAuthStore::RecordUpstreamModelOwner(const std::string& name,
                                                       const std::string& user_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, EnsureModelRow(*conn, name));
  HK_CHECK(UpsertPermission(*conn, kModelPermissions, key, user_id, Permission::kManage));
  return tx.Commit();
}

Result<void> SqlAuthStore::EnsureUpstreamExperiment(const std::string& experiment_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(EnsureExperimentRow(*conn, experiment_id));
  return tx.Commit();
}

Result<void> SqlAuthStore::EnsureUpstreamModel(const std::string& name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(EnsureModelRow(*conn, name));
  return tx.Commit();
}

Result<void> SqlAuthStore::RenameUpstreamModel(const std::string& name,
                                                  const std::string& new_name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(old_row, FindModelRow(*conn, name));
  if (!old_row || name == new_name) return tx.Commit();
  auto [old_key, old_is_placeholder] = *old_row;
  HK_TRY(new_row, FindModelRow(*conn, new_name));
  if (!new_row && old_is_placeholder) {
    // The common case: the placeholder takes the new name and keeps its rows.
    HK_TRY(rename, conn->Prepare("UPDATE registered_models SET name = ? WHERE model_key = ?"));
    rename.Bind(1, new_name).Bind(2, old_key);
    HK_CHECK(rename.Run());
    return tx.Commit();
  }
  HK_TRY(new_key, EnsureModelRow(*conn, new_name));
  HK_TRY(move, conn->Prepare("INSERT INTO registered_model_permissions (model_key, user_id, "
                             "permission) SELECT ?, user_id, permission FROM "
                             "registered_model_permissions WHERE model_key = ? ON CONFLICT "
                             "(model_key, user_id) DO UPDATE SET permission = "
                             "excluded.permission"));
  move.Bind(1, new_key).Bind(2, old_key);
  HK_CHECK(move.Run());
  HK_TRY(drop, conn->Prepare("DELETE FROM registered_model_permissions WHERE model_key = ?"));
  drop.Bind(1, old_key);
  HK_CHECK(drop.Run());
  if (old_is_placeholder) {
    HK_TRY(remove, conn->Prepare("DELETE FROM registered_models WHERE model_key = ?"));
    remove.Bind(1, old_key);
    HK_CHECK(remove.Run());
  }
  return tx.Commit();
}

Result<void> SqlAuthStore::ForgetUpstreamModel(const std::string& name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(row, FindModelRow(*conn, name));
  if (!row) return tx.Commit();
  HK_TRY(drop, conn->Prepare("DELETE FROM registered_model_permissions WHERE model_key = ?"));
  drop.Bind(1, row->first);
  HK_CHECK(drop.Run());
  if (row->second) {
    HK_TRY(remove, conn->Prepare("DELETE FROM registered_models WHERE model_key = ?"));
    remove.Bind(1, row->first);
    HK_CHECK(remove.Run());
  }
  return tx.Commit();
}

// ---- audit ----------------------------------------------------------------------------------

Result<void> SqlAuthStore::AppendAudit(const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return {};
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(insert, conn->Prepare(
                     "INSERT INTO audit_log (timestamp, user_id, key_id, method, route, "
                     "resource, outcome, status, client_address, detail) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  for (const AuditEntry& e : entries) {
    insert.Reset();
    insert.Bind(1, e.timestamp).Bind(2, e.user_id).Bind(3, e.key_id).Bind(4, e.method);
    insert.Bind(5, e.route).Bind(6, e.resource).Bind(7, e.outcome);
    insert.Bind(8, static_cast<int64_t>(e.status)).Bind(9, e.client_address).Bind(10, e.detail);
    HK_CHECK(insert.Run());
  }
  return tx.Commit();
}

Result<std::pair<std::vector<AuditEntry>, bool>> SqlAuthStore::SearchAudit(
    const AuditQuery& query) {
  if (query.max_results < 0 || query.offset < 0) {
    return InvalidParameter("max_results and offset must not be negative");
  }
  Query q;
  q.Add("SELECT ");
  q.Add(kAuditColumns);
  q.Add(" FROM audit_log WHERE 1 = 1");
  if (query.user_id) {
    q.Add(" AND user_id = ");
    q.Value(*query.user_id);
  }
  if (query.key_id) {
    q.Add(" AND key_id = ");
    q.Value(*query.key_id);
  }
  if (query.outcome) {
    q.Add(" AND outcome = ");
    q.Value(*query.outcome);
  }
  if (query.since) {
    q.Add(" AND timestamp >= ");
    q.Value(*query.since);
  }
  if (query.until) {
    q.Add(" AND timestamp < ");
    q.Value(*query.until);
  }
  // One row more than the page tells whether another page follows.
  q.Add(" ORDER BY id DESC LIMIT ");
  q.Value(query.max_results + 1);
  q.Add(" OFFSET ");
  q.Value(query.offset);
  auto conn = pool_->Acquire();
  HK_TRY(stmt, PrepareQuery(*conn, q));
  std::vector<AuditEntry> entries;
  HK_CHECK(ForEachRow(stmt, [&] {
    AuditEntry e;
    e.id = stmt.Int(0);
    e.timestamp = stmt.Int(1);
    e.user_id = stmt.Text(2);
    e.key_id = stmt.Text(3);
    e.method = stmt.Text(4);
    e.route = stmt.Text(5);
    e.resource = stmt.Text(6);
    e.outcome = stmt.Text(7);
    e.status = static_cast<int>(stmt.Int(8));
    e.client_address = stmt.Text(9);
    e.detail = stmt.Text(10);
    entries.push_back(std::move(e));
  }));
  bool more = static_cast<int64_t>(entries.size()) > query.max_results;
  if (more) entries.pop_back();
  return std::make_pair(std::move(entries), more);
}

}  // namespace hokusai::store::sql
