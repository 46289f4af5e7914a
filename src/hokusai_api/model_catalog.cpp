#include "hokusai_api/model_catalog.hpp"

#include "mlflow_api/targets.hpp"

namespace hokusai::hokusai_api {
namespace {

constexpr std::string_view kArtifactsPrefix = "mlflow-artifacts:/";

class StoreCatalog final : public ModelCatalog {
 public:
  StoreCatalog(store::TrackingStore& tracking, store::RegistryStore& registry,
               artifacts::ArtifactRepository* artifacts)
      : tracking_(tracking), registry_(registry), artifacts_(artifacts) {}

  Result<Run> GetRun(const std::string& run_id) override {
    HK_TRY(run, tracking_.GetRun(run_id));
    return Run{run.info.experiment_id, run.info.artifact_uri};
  }

  Result<std::optional<std::string>> NewestLoggedModel(const std::string& experiment_id,
                                                       const std::string& run_id,
                                                       const std::string& name) override {
    store::SearchLoggedModelsArgs search;
    search.experiment_ids = {experiment_id};
    store::Clause by_run;
    by_run.key = "source_run_id";
    by_run.string_value = run_id;
    store::Clause by_name;
    by_name.key = "name";
    by_name.string_value = name;
    search.filter = {by_run, by_name};
    search.max_results = 1;
    store::LoggedModelOrder newest;
    newest.key = "creation_timestamp";
    newest.ascending = false;
    search.order_by = {newest};
    HK_TRY(logged, tracking_.SearchLoggedModels(search));
    if (logged.first.empty()) return std::optional<std::string>();
    return std::optional<std::string>(logged.first.front().model_id);
  }

  Result<bool> RunHasModel(const std::string& /*run_id*/, const Run& run,
                           const std::string& path) override {
    std::string_view root = run.artifact_uri;
    if (!root.starts_with(kArtifactsPrefix)) return false;
    root.remove_prefix(kArtifactsPrefix.size());
    return HasModelAtArtifactPath(artifacts::JoinArtifactPath(root, path));
  }

  Result<LoggedModelRef> GetLoggedModel(const std::string& model_id) override {
    HK_TRY(model, tracking_.GetLoggedModel(model_id));
    return LoggedModelRef{model.experiment_id, model.source_run_id};
  }

  Result<std::string> ExperimentOfArtifactPath(const std::string& path) override {
    return mlflow_api::ExperimentOfArtifactPath(tracking_, path);
  }

  Result<bool> HasModelAtArtifactPath(const std::string& path) override {
    return artifacts_ != nullptr &&
           artifacts_->OpenReader(artifacts::JoinArtifactPath(path, "MLmodel")).has_value();
  }

  Result<bool> ModelExists(const std::string& name) override {
    auto model = registry_.GetRegisteredModel(name);
    if (model) return true;
    if (model.error().code == ErrorCode::kResourceDoesNotExist) return false;
    return tl::unexpected(model.error());
  }

  Result<store::ModelVersion> GetModelVersion(const std::string& name,
                                              const std::string& version) override {
    return registry_.GetModelVersion(name, version);
  }

  Result<void> RequireExperiment(const std::string& experiment_id) override {
    HK_CHECK(tracking_.GetExperiment(experiment_id));
    return {};
  }

  Result<void> RequireModel(const std::string& name) override {
    HK_CHECK(registry_.GetRegisteredModel(name));
    return {};
  }

  // Permission rows hang off the stores' own rows, which exist when Require* passed.
  Result<void> AnchorExperimentPermissions(const std::string& /*experiment_id*/) override {
    return {};
  }
  Result<void> AnchorModelPermissions(const std::string& /*name*/) override { return {}; }

  Result<std::optional<store::IdempotencyRecord>> GetIdempotencyRecord(
      const std::string& user_id, const std::string& key) override {
    return registry_.GetIdempotencyRecord(user_id, key);
  }

  Result<store::RegisterModelResult> RegisterModel(const store::RegisterModelArgs& args) override {
    return registry_.RegisterModel(args);
  }

  Result<std::pair<std::vector<store::ModelVersion>, bool>> SearchModelVersions(
      const store::SearchRegistryArgs& args) override {
    return registry_.SearchModelVersions(args);
  }

  Result<void> SetStageAlias(const std::string& name, const std::string& version,
                             const std::string& alias, const store::Tag& tag) override {
    return registry_.SetStageAlias(name, version, alias, tag);
  }

 private:
  store::TrackingStore& tracking_;
  store::RegistryStore& registry_;
  artifacts::ArtifactRepository* artifacts_;
};

}  // namespace

std::unique_ptr<ModelCatalog> MakeStoreCatalog(store::TrackingStore& tracking,
                                               store::RegistryStore& registry,
                                               artifacts::ArtifactRepository* artifacts) {
  return std::make_unique<StoreCatalog>(tracking, registry, artifacts);
}

}  // namespace hokusai::hokusai_api
