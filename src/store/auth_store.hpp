// The identity store: users, API keys (only keyed hashes of their secrets), resource
// permissions and the audit log. It lives in the same database as the tracking and registry
// stores, so that ownership of a new experiment or model is recorded in the transaction that
// creates it. Every method is one transaction; a failed call changes nothing. Implementations
// are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace hokusai::store {

// What a user may do to one experiment or registered model, as in MLflow's auth app. Ordered:
// each level includes the ones before it.
enum class Permission { kNoPermissions = 0, kRead = 1, kEdit = 2, kManage = 3 };

// "NO_PERMISSIONS", "READ", "EDIT", "MANAGE".
std::string_view PermissionName(Permission permission);
std::optional<Permission> ParsePermission(std::string_view name);

struct User {
  std::string user_id;  // free-form, 1..256 characters, unique
  std::string email;
  std::vector<std::string> roles;
  bool is_admin = false;
  int64_t created_at = 0;  // ms since the epoch
};

struct ApiKeyRecord {
  std::string key_id;      // 32 hex characters
  std::string user_id;
  std::string name;
  std::string key_prefix;  // display prefix of the current secret, e.g. "hk_live_AbCdEfGh"
  std::string environment;  // "live", "test" or "dev"
  std::vector<std::string> scopes;       // canonical scope names (auth::Scope::ToString)
  std::vector<std::string> allowed_ips;  // CIDRs; empty: any address
  int64_t rate_limit_per_hour = 0;
  int64_t created_at = 0;  // ms since the epoch, like every time below
  std::optional<int64_t> last_used_at;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
  std::string created_by_key_id;  // empty when minted offline or at bootstrap
};

// What a secret's hash resolves to. A key has one current secret and, after a rotation with
// overlap, old secrets that stay valid until `secret_valid_until`.
struct KeyLookup {
  ApiKeyRecord key;
  User user;
  std::optional<int64_t> secret_valid_until;  // set for a rotated-out secret
};

struct AuditEntry {
  int64_t id = 0;  // assigned by the store
  int64_t timestamp = 0;
  std::string user_id;  // empty when unauthenticated
  std::string key_id;
  std::string method;
  std::string route;     // the route's pattern, e.g. /api/2.0/mlflow/runs/create
  std::string resource;  // e.g. "experiment:12", "model:churn", or empty
  std::string outcome;   // "allowed", "denied", "unauthenticated", "rate_limited", "failed"
  int status = 0;
  std::string client_address;
  std::string detail;  // a short reason; never a secret
};

struct AuditQuery {
  std::optional<std::string> user_id;
  std::optional<std::string> key_id;
  std::optional<std::string> outcome;
  std::optional<int64_t> since;  // inclusive
  std::optional<int64_t> until;  // exclusive
  int64_t max_results = 100;
  int64_t offset = 0;  // newest first
};

// Restricts a search to what one user may read (security principle 6). Absent: no restriction
// (an admin).
struct Visibility {
  std::string user_id;
  // Whether a resource with no permission row for the user is readable (the configured default
  // permission is READ or above).
  bool default_readable = true;
  // Name patterns (`*` glob, characters [A-Za-z0-9-_./ *]) of which the name must match one;
  // empty: any name.
  std::vector<std::string> name_patterns;
};

class AuthStore {
 public:
  virtual ~AuthStore() = default;

  // Users. CreateUser fails with RESOURCE_ALREADY_EXISTS for a taken id.
  virtual Result<User> CreateUser(const User& user) = 0;
  virtual Result<User> GetUser(const std::string& user_id) = 0;  // RESOURCE_DOES_NOT_EXIST
  virtual Result<std::vector<User>> ListUsers() = 0;

  // Keys. The number of keys ever created (revoked ones included): bootstrap mints the first
  // admin key only when this is 0.
  virtual Result<int64_t> CountKeys() = 0;
  // Stores a key and the hash of its secret. `key.user_id` must exist.
  virtual Result<void> CreateKey(const ApiKeyRecord& key, const std::string& secret_hash) = 0;
  // Creates the user when missing, then the key, in one transaction (bootstrap, offline CLI).
  virtual Result<void> CreateUserAndKey(const User& user, const ApiKeyRecord& key,
                                        const std::string& secret_hash) = 0;
  // RESOURCE_DOES_NOT_EXIST for an unknown hash. Revoked and expired keys are returned as they
  // are; the caller decides. Rotated-out secrets past their validity are not found.
  virtual Result<KeyLookup> FindKeyByHash(const std::string& secret_hash, int64_t now) = 0;
  virtual Result<ApiKeyRecord> GetKey(const std::string& key_id) = 0;
  // Newest first; `user_id` empty: every user's keys.
  virtual Result<std::vector<ApiKeyRecord>> ListKeys(const std::string& user_id) = 0;
  // Sets revoked_at (idempotent: an already revoked key keeps its first time). Every secret of
  // the key stops working.
  virtual Result<ApiKeyRecord> RevokeKey(const std::string& key_id, int64_t now) = 0;
  // Adds a new current secret and updates key_prefix; the previous secrets stay valid until
  // `old_valid_until` (<= now: they stop working at once). A revoked key cannot be rotated
  // (INVALID_STATE).
  virtual Result<ApiKeyRecord> RotateKey(const std::string& key_id, const std::string& new_hash,
                                         const std::string& new_prefix, int64_t now,
                                         int64_t old_valid_until) = 0;
  virtual Result<void> TouchKey(const std::string& key_id, int64_t now) = 0;
  // A number that changes, in every process using this store, as soon as RevokeKey or RotateKey
  // has committed: while it stays the same, a FindKeyByHash answer may be reused (expiry and
  // secret_valid_until still checked against the clock). nullopt where the store cannot offer
  // one at the cost of a memory read: then keys are looked up on every use.
  virtual std::optional<uint64_t> KeyEpoch() { return std::nullopt; }

  // Permissions of one user on one experiment (by id) or registered model (by name). nullopt:
  // no row (the configured default applies).
  virtual Result<std::optional<Permission>> GetExperimentPermission(
      const std::string& experiment_id, const std::string& user_id) = 0;
  virtual Result<void> SetExperimentPermission(const std::string& experiment_id,
                                               const std::string& user_id,
                                               Permission permission) = 0;
  virtual Result<void> DeleteExperimentPermission(const std::string& experiment_id,
                                                  const std::string& user_id) = 0;
  virtual Result<std::optional<Permission>> GetModelPermission(const std::string& name,
                                                               const std::string& user_id) = 0;
  virtual Result<void> SetModelPermission(const std::string& name, const std::string& user_id,
                                          Permission permission) = 0;
  virtual Result<void> DeleteModelPermission(const std::string& name,
                                             const std::string& user_id) = 0;

  // Gateway mode: ownership of resources that live on an upstream MLflow server, recorded
  // after the upstream confirmed the change. Permission rows need a local row to hang off, so
  // the store keeps a placeholder for each upstream experiment (by id) and registered model
  // (by name) it records; a placeholder is never shown by the native API's reads in gateway
  // mode (those routes are forwarded). Each call is one transaction.
  // MANAGE for `user_id` on the upstream experiment `experiment_id` (an integer id).
  // Stores that do not support gateway mode answer NOT_IMPLEMENTED.
  virtual Result<void> RecordUpstreamExperimentOwner(const std::string& /*experiment_id*/,
                                                     const std::string& /*user_id*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }
  // MANAGE for `user_id` on the upstream registered model `name`.
  virtual Result<void> RecordUpstreamModelOwner(const std::string& /*name*/,
                                                const std::string& /*user_id*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }
  // A placeholder for the upstream experiment `experiment_id` (an integer id) or registered model
  // `name` without any permission row, so that permissions can be granted on resources created
  // around the gateway. Idempotent.
  virtual Result<void> EnsureUpstreamExperiment(const std::string& /*experiment_id*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }
  virtual Result<void> EnsureUpstreamModel(const std::string& /*name*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }
  // The model's permission rows follow a rename to `new_name`. Nothing recorded: no-op.
  virtual Result<void> RenameUpstreamModel(const std::string& /*name*/,
                                           const std::string& /*new_name*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }
  // The model's permission rows (and its placeholder) are dropped. Nothing recorded: no-op.
  virtual Result<void> ForgetUpstreamModel(const std::string& /*name*/) {
    return Fail(ErrorCode::kNotImplemented, "this store does not record upstream ownership");
  }

  // The audit log. Append writes all entries in one transaction.
  virtual Result<void> AppendAudit(const std::vector<AuditEntry>& entries) = 0;
  virtual Result<std::pair<std::vector<AuditEntry>, bool>> SearchAudit(const AuditQuery& query) = 0;
};

}  // namespace hokusai::store
