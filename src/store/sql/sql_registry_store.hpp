// RegistryStore on SQLite, over the same database (and connection pool) as the tracking store:
// model-version sources are checked against runs and logged models in the same transaction
// that creates the version. Each call runs in one transaction (BEGIN IMMEDIATE for writes).
// Every new version also writes its registration event (registration_events, the outbox read
// by SqlEventStore) in that transaction: no version without its event, no event without its
// version.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/registry_store.hpp"
#include "store/sql/db.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::store::sql {

class SqlRegistryStore final : public RegistryStore {
 public:
  // `pool` comes from OpenDatabase (migrations applied) and is shared with the tracking store.
  explicit SqlRegistryStore(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<RegisteredModel> CreateRegisteredModel(const CreateRegisteredModelArgs& args) override;
  Result<RegisteredModel> GetRegisteredModel(const std::string& name) override;
  Result<RegisteredModel> RenameRegisteredModel(const std::string& name,
                                                const std::string& new_name) override;
  Result<RegisteredModel> UpdateRegisteredModel(const std::string& name,
                                                const std::string& description) override;
  Result<void> DeleteRegisteredModel(const std::string& name) override;
  Result<std::pair<std::vector<RegisteredModel>, bool>> SearchRegisteredModels(
      const SearchRegistryArgs& args) override;
  Result<std::vector<ModelVersion>> GetLatestVersions(
      const std::string& name, const std::vector<std::string>& stages) override;
  Result<void> SetRegisteredModelTag(const std::string& name, const Tag& tag) override;
  Result<void> DeleteRegisteredModelTag(const std::string& name, const std::string& key) override;

  Result<void> SetRegisteredModelAlias(const std::string& name, const std::string& alias,
                                       const std::string& version) override;
  Result<void> DeleteRegisteredModelAlias(const std::string& name,
                                          const std::string& alias) override;
  Result<ModelVersion> GetModelVersionByAlias(const std::string& name,
                                              const std::string& alias) override;

  Result<ModelVersion> CreateModelVersion(const CreateModelVersionArgs& args) override;
  Result<ModelVersion> GetModelVersion(const std::string& name,
                                       const std::string& version) override;
  Result<ModelVersion> UpdateModelVersion(const std::string& name, const std::string& version,
                                          const std::optional<std::string>& description) override;
  Result<ModelVersion> TransitionModelVersionStage(const std::string& name,
                                                   const std::string& version,
                                                   const std::string& stage,
                                                   bool archive_existing) override;
  Result<void> DeleteModelVersion(const std::string& name, const std::string& version) override;
  Result<std::pair<std::vector<ModelVersion>, bool>> SearchModelVersions(
      const SearchRegistryArgs& args) override;
  Result<std::string> GetModelVersionDownloadUri(const std::string& name,
                                                 const std::string& version) override;
  Result<void> SetModelVersionTag(const std::string& name, const std::string& version,
                                  const Tag& tag) override;
  Result<void> DeleteModelVersionTag(const std::string& name, const std::string& version,
                                     const std::string& key) override;

  Result<RegisterModelResult> RegisterModel(const RegisterModelArgs& args) override;
  Result<void> SetStageAlias(const std::string& name, const std::string& version,
                             const std::string& alias, const Tag& tag) override;
  Result<std::optional<IdempotencyRecord>> GetIdempotencyRecord(const std::string& user_id,
                                                                 const std::string& key) override;
  Result<std::optional<IdempotencyRecord>> ReserveIdempotencyKey(
      const IdempotencyRecord& request) override;
  Result<void> CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                      int status, const std::string& response) override;
  Result<void> ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace hokusai::store::sql
