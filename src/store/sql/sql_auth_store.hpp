// AuthStore on SQLite, over the same database (and connection pool) as the tracking and registry
// stores, so that the owner of a new experiment or model is recorded in the creating
// transaction. Each call runs in one transaction (BEGIN IMMEDIATE for writes). Thread-safe.
//
// Beyond the interface's contract:
// - List fields (roles, scopes, allowed_ips) are stored '\n'-separated; an empty element or one
//   containing '\n' is INVALID_PARAMETER_VALUE.
// - Get*Permission on an unknown experiment or model is nullopt (the default applies and the
//   handler reports the missing resource); Set/Delete*Permission on one is
//   RESOURCE_DOES_NOT_EXIST. Deleting a permission that has no row is not an error.
// - Permissions do not require the user to be in `users` (an external auth service's users are
//   not).
// - A user or key with created_at 0 is stored with the current time; CreateUserAndKey leaves an
//   existing user as it is.
// - A rotation drops the key's secrets whose validity has ended.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/auth_store.hpp"
#include "store/sql/db.hpp"

namespace hokusai::store::sql {

class SqlAuthStore final : public AuthStore {
 public:
  // The description of a registered-model placeholder kept for an upstream model.
  static constexpr std::string_view kUpstreamPlaceholder =
      "hokusai-gateway placeholder: this model lives on the upstream MLflow server";

  // `pool` comes from OpenDatabase (migrations applied) and is shared with the other stores.
  explicit SqlAuthStore(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<User> CreateUser(const User& user) override;
  Result<User> GetUser(const std::string& user_id) override;
  Result<std::vector<User>> ListUsers() override;

  Result<int64_t> CountKeys() override;
  Result<void> CreateKey(const ApiKeyRecord& key, const std::string& secret_hash) override;
  Result<void> CreateUserAndKey(const User& user, const ApiKeyRecord& key,
                                const std::string& secret_hash) override;
  Result<KeyLookup> FindKeyByHash(const std::string& secret_hash, int64_t now) override;
  Result<ApiKeyRecord> GetKey(const std::string& key_id) override;
  Result<std::vector<ApiKeyRecord>> ListKeys(const std::string& user_id) override;
  Result<ApiKeyRecord> RevokeKey(const std::string& key_id, int64_t now) override;
  Result<ApiKeyRecord> RotateKey(const std::string& key_id, const std::string& new_hash,
                                 const std::string& new_prefix, int64_t now,
                                 int64_t old_valid_until) override;
  Result<void> TouchKey(const std::string& key_id, int64_t now) override;
  // SQLite: the counter file beside the database, shared with `keys` run offline. PostgreSQL:
  // none (replicas on other machines share no memory).
  std::optional<uint64_t> KeyEpoch() override;

  Result<std::optional<Permission>> GetExperimentPermission(const std::string& experiment_id,
                                                            const std::string& user_id) override;
  Result<void> SetExperimentPermission(const std::string& experiment_id,
                                       const std::string& user_id,
                                       Permission permission) override;
  Result<void> DeleteExperimentPermission(const std::string& experiment_id,
                                          const std::string& user_id) override;
  Result<std::optional<Permission>> GetModelPermission(const std::string& name,
                                                       const std::string& user_id) override;
  Result<void> SetModelPermission(const std::string& name, const std::string& user_id,
                                  Permission permission) override;
  Result<void> DeleteModelPermission(const std::string& name,
                                     const std::string& user_id) override;

  // Placeholders: an experiment row named "hokusai-gateway:<id>" with an empty artifact
  // location, a registered-model row whose description is kUpstreamPlaceholder. An existing
  // local row of the same id or name is used as it is (and never renamed or deleted here).
  Result<void> RecordUpstreamExperimentOwner(const std::string& experiment_id,
                                             const std::string& user_id) override;
  Result<void> RecordUpstreamModelOwner(const std::string& name,
                                        const std::string& user_id) override;
  Result<void> EnsureUpstreamExperiment(const std::string& experiment_id) override;
  Result<void> EnsureUpstreamModel(const std::string& name) override;
  Result<void> RenameUpstreamModel(const std::string& name, const std::string& new_name) override;
  Result<void> ForgetUpstreamModel(const std::string& name) override;

  Result<void> AppendAudit(const std::vector<AuditEntry>& entries) override;
  Result<std::pair<std::vector<AuditEntry>, bool>> SearchAudit(const AuditQuery& query) override;

 private:
  // After a committed revocation or rotation: moves the key epoch on.
  void KeysChanged();

  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace hokusai::store::sql
