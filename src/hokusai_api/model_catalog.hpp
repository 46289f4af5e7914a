// Where the registration API (spec §3) finds runs and logged models and keeps registered models,
// and where MLflow's permission endpoints find the resources they grant on: this server's own
// stores in native mode, the upstream MLflow server in gateway mode. The
// rules — what a caller may read, what a registration resolves to, which permission a write
// needs — stay in models.cpp; a catalog only answers and writes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "artifacts/artifact_repository.hpp"
#include "common/error.hpp"
#include "store/registry_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::hokusai_api {

class ModelCatalog {
 public:
  struct Run {
    std::string experiment_id;
    std::string artifact_uri;
  };
  struct LoggedModelRef {
    std::string experiment_id;
    std::string source_run_id;
  };

  virtual ~ModelCatalog() = default;

  // Lookups: RESOURCE_DOES_NOT_EXIST when the thing is not there.
  virtual Result<Run> GetRun(const std::string& run_id) = 0;
  // The newest logged model run `run_id` produced under `name` in its experiment, or nullopt.
  virtual Result<std::optional<std::string>> NewestLoggedModel(const std::string& experiment_id,
                                                               const std::string& run_id,
                                                               const std::string& name) = 0;
  // Whether the run's artifacts hold a model (an MLmodel file) at `path`.
  virtual Result<bool> RunHasModel(const std::string& run_id, const Run& run,
                                   const std::string& path) = 0;
  virtual Result<LoggedModelRef> GetLoggedModel(const std::string& model_id) = 0;
  // `path` is relative to the proxied artifact root ("<experiment>/<run>/artifacts/...").
  virtual Result<std::string> ExperimentOfArtifactPath(const std::string& path) = 0;
  virtual Result<bool> HasModelAtArtifactPath(const std::string& path) = 0;
  virtual Result<bool> ModelExists(const std::string& name) = 0;
  virtual Result<store::ModelVersion> GetModelVersion(const std::string& name,
                                                      const std::string& version) = 0;

  // MLflow's permission endpoints. Require*: RESOURCE_DOES_NOT_EXIST when there is no such
  // experiment or model. Anchor*: what the local store needs before a permission row on the
  // resource can be written (gateway mode: a placeholder row; native: nothing).
  virtual Result<void> RequireExperiment(const std::string& experiment_id) = 0;
  virtual Result<void> RequireModel(const std::string& name) = 0;
  virtual Result<void> AnchorExperimentPermissions(const std::string& experiment_id) = 0;
  virtual Result<void> AnchorModelPermissions(const std::string& name) = 0;

  // Writes, with RegistryStore's contracts: all or nothing, idempotency records per user.
  virtual Result<std::optional<store::IdempotencyRecord>> GetIdempotencyRecord(
      const std::string& user_id, const std::string& key) = 0;
  virtual Result<store::RegisterModelResult> RegisterModel(const store::RegisterModelArgs& args) = 0;
  // `args.visibility` is applied; pages are full unless they are the last.
  virtual Result<std::pair<std::vector<store::ModelVersion>, bool>> SearchModelVersions(
      const store::SearchRegistryArgs& args) = 0;
  virtual Result<void> SetStageAlias(const std::string& name, const std::string& version,
                                     const std::string& alias, const store::Tag& tag) = 0;
};

// Native mode: the tracking and registry stores and the artifact repository (null: only
// logged models are found). All must outlive the catalog.
std::unique_ptr<ModelCatalog> MakeStoreCatalog(store::TrackingStore& tracking,
                                               store::RegistryStore& registry,
                                               artifacts::ArtifactRepository* artifacts);

}  // namespace hokusai::hokusai_api
