// The SQLite model registry: registered models, versions, tags, aliases and stages, source
// resolution against runs and logged models in the shared database, and search.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/registry_store.hpp"
#include "store/search_filter.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {
namespace {

using SourceKind = ModelVersionSource::Kind;

void ExpectError(const Error& error, ErrorCode code) {
  EXPECT_EQ(error.code, code) << ErrorCodeName(error.code) << ": " << error.message;
  EXPECT_FALSE(error.message.empty());
}

std::optional<std::string> Find(const std::vector<Tag>& items, const std::string& key) {
  for (const Tag& item : items) {
    if (item.key == key) return item.value;
  }
  return std::nullopt;
}

std::vector<std::string> Versions(const std::vector<ModelVersion>& versions) {
  std::vector<std::string> out;
  for (const ModelVersion& v : versions) out.push_back(v.version);
  return out;
}

ModelVersionSource RunSource(const std::string& run_id, const std::string& path) {
  ModelVersionSource source;
  source.kind = SourceKind::kRun;
  source.run_id = run_id;
  source.path = path;
  return source;
}

ModelVersionSource LoggedModelSource(const std::string& model_id) {
  ModelVersionSource source;
  source.kind = SourceKind::kLoggedModel;
  source.model_id = model_id;
  return source;
}

class SqlRegistryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-registry-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = OpenDatabase(DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    pool_ = *pool;
    tracking_ = std::make_unique<SqlTrackingStore>(*pool);
    registry_ = std::make_unique<SqlRegistryStore>(*pool);
    auto id = tracking_->CreateExperiment("exp", "", {});
    ASSERT_TRUE(id.has_value()) << id.error().message;
    experiment_id_ = *id;
    CreateRunArgs run;
    run.experiment_id = experiment_id_;
    run.start_time = 1000;
    auto created = tracking_->CreateRun(run);
    ASSERT_TRUE(created.has_value()) << created.error().message;
    run_ = created->info;
  }

  void TearDown() override {
    registry_.reset();
    tracking_.reset();
    pool_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  RegisteredModel NewModel(const std::string& name, std::vector<Tag> tags = {}) {
    CreateRegisteredModelArgs args;
    args.name = name;
    args.description = "about " + name;
    args.tags = std::move(tags);
    auto model = registry_->CreateRegisteredModel(args);
    EXPECT_TRUE(model.has_value()) << (model ? "" : model.error().message);
    return model ? *model : RegisteredModel{};
  }

  Result<ModelVersion> TryVersion(const std::string& name, ModelVersionSource source,
                                  std::string source_text = "",
                                  std::vector<Tag> tags = {}) {
    CreateModelVersionArgs args;
    args.name = name;
    args.source = source_text.empty() ? "runs:/" + run_.run_id + "/model" : source_text;
    args.parsed_source = std::move(source);
    args.tags = std::move(tags);
    return registry_->CreateModelVersion(args);
  }

  ModelVersion NewVersion(const std::string& name, std::vector<Tag> tags = {}) {
    auto version = TryVersion(name, RunSource(run_.run_id, "model"), "", std::move(tags));
    EXPECT_TRUE(version.has_value()) << (version ? "" : version.error().message);
    return version ? *version : ModelVersion{};
  }

  LoggedModel NewLoggedModel(const std::string& name) {
    CreateLoggedModelArgs args;
    args.experiment_id = experiment_id_;
    args.name = name;
    args.source_run_id = run_.run_id;
    auto model = tracking_->CreateLoggedModel(args);
    EXPECT_TRUE(model.has_value()) << (model ? "" : model.error().message);
    return model ? *model : LoggedModel{};
  }

  // The single integer `sql` selects, straight from the database.
  int64_t Count(const std::string& sql) {
    auto conn = pool_->Acquire();
    auto stmt = conn->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << (stmt ? "" : stmt.error().message);
    if (!stmt) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return row && *row ? stmt->Int(0) : -1;
  }

  std::string Text(const std::string& sql) {
    auto conn = pool_->Acquire();
    auto stmt = conn->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << (stmt ? "" : stmt.error().message);
    if (!stmt) return {};
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return row && *row ? stmt->Text(0) : std::string();
  }

  RegisterModelArgs Registration(const std::string& name, const std::string& alias = "") {
    RegisterModelArgs args;
    args.model.name = name;
    args.model.description = "registered " + name;
    args.model.tags = {{"team", "vision"}};
    args.model.owner = "acme";
    args.version.source = "runs:/" + run_.run_id + "/model";
    args.version.parsed_source = RunSource(run_.run_id, "model");
    args.version.tags = {{"version_label", "v1.0.0"}, {"metric.accuracy", "0.9"}};
    args.version.user_id = "acme";
    if (!alias.empty()) args.alias = alias;
    args.render = [](const RegisteredModel& model, const ModelVersion& version) {
      return model.name + "/" + version.version;
    };
    return args;
  }

  RegisterModelArgs WithKey(RegisterModelArgs args, const std::string& key,
                            const std::string& hash) {
    IdempotencyRecord record;
    record.user_id = "acme";
    record.key = key;
    record.request_hash = hash;
    record.status = 201;
    args.idempotency = record;
    return args;
  }

  RegisteredModel Get(const std::string& name) {
    auto model = registry_->GetRegisteredModel(name);
    EXPECT_TRUE(model.has_value()) << (model ? "" : model.error().message);
    return model ? *model : RegisteredModel{};
  }

  std::vector<std::string> SearchModels(std::string_view filter,
                                        std::vector<std::string> order_by = {},
                                        int64_t max_results = 100, int64_t offset = 0,
                                        bool* more = nullptr) {
    SearchRegistryArgs args;
    auto clauses = ParseFilter(filter, SearchTarget::kRegisteredModels);
    EXPECT_TRUE(clauses.has_value()) << (clauses ? "" : clauses.error().message);
    if (clauses) args.filter = *clauses;
    auto terms = ParseOrderBy(order_by, SearchTarget::kRegisteredModels);
    EXPECT_TRUE(terms.has_value()) << (terms ? "" : terms.error().message);
    if (terms) args.order_by = *terms;
    args.max_results = max_results;
    args.offset = offset;
    auto page = registry_->SearchRegisteredModels(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> names;
    if (!page) return names;
    for (const RegisteredModel& m : page->first) names.push_back(m.name);
    if (more != nullptr) *more = page->second;
    return names;
  }

  std::vector<std::string> SearchVersions(std::string_view filter,
                                          std::vector<std::string> order_by = {}) {
    SearchRegistryArgs args;
    auto clauses = ParseFilter(filter, SearchTarget::kModelVersions);
    EXPECT_TRUE(clauses.has_value()) << (clauses ? "" : clauses.error().message);
    if (clauses) args.filter = *clauses;
    auto terms = ParseOrderBy(order_by, SearchTarget::kModelVersions);
    EXPECT_TRUE(terms.has_value()) << (terms ? "" : terms.error().message);
    if (terms) args.order_by = *terms;
    args.max_results = 1000;
    auto page = registry_->SearchModelVersions(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> out;
    if (!page) return out;
    for (const ModelVersion& v : page->first) out.push_back(v.name + "/" + v.version);
    return out;
  }

  std::filesystem::path dir_;
  std::shared_ptr<ConnectionPool> pool_;
  std::unique_ptr<SqlTrackingStore> tracking_;
  std::unique_ptr<SqlRegistryStore> registry_;
  std::string experiment_id_;
  RunInfo run_;
};

// ---- registered models ----------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, CreateReturnsTheModelWithTagsAndDescription) {
  RegisteredModel model = NewModel("m", {{"team", "x"}});
  EXPECT_EQ(model.name, "m");
  EXPECT_EQ(model.description, "about m");
  EXPECT_EQ(Find(model.tags, "team"), "x");
  EXPECT_GT(model.creation_timestamp, 0);
  EXPECT_EQ(model.creation_timestamp, model.last_updated_timestamp);
  EXPECT_TRUE(model.latest_versions.empty());
  EXPECT_TRUE(model.aliases.empty());
}

TEST_F(SqlRegistryStoreTest, CreatingADuplicateNameIsResourceAlreadyExists) {
  NewModel("m");
  CreateRegisteredModelArgs args;
  args.name = "m";
  auto again = registry_->CreateRegisteredModel(args);
  ASSERT_FALSE(again.has_value());
  ExpectError(again.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(again.error().message, "Registered Model (name=m) already exists.");
}

TEST_F(SqlRegistryStoreTest, APromptAndAModelCannotShareAName) {
  NewModel("p", {{"mlflow.prompt.is_prompt", "true"}});
  CreateRegisteredModelArgs args;
  args.name = "p";
  auto again = registry_->CreateRegisteredModel(args);
  ASSERT_FALSE(again.has_value());
  ExpectError(again.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_NE(again.error().message.find("prompt"), std::string::npos) << again.error().message;
}

TEST_F(SqlRegistryStoreTest, GetUnknownModelIsNotFound) {
  auto model = registry_->GetRegisteredModel("nope");
  ASSERT_FALSE(model.has_value());
  ExpectError(model.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(model.error().message, "Registered Model with name=nope not found");
}

TEST_F(SqlRegistryStoreTest, UpdateSetsTheDescription) {
  NewModel("m");
  auto updated = registry_->UpdateRegisteredModel("m", "new words");
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(updated->description, "new words");
  EXPECT_EQ(Get("m").description, "new words");
}

TEST_F(SqlRegistryStoreTest, RenameKeepsVersionsTagsAndAliases) {
  NewModel("old", {{"team", "x"}});
  NewVersion("old", {{"vt", "1"}});
  NewVersion("old");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("old", "champion", "1"));
  auto renamed = registry_->RenameRegisteredModel("old", "new");
  ASSERT_TRUE(renamed.has_value()) << renamed.error().message;
  EXPECT_EQ(renamed->name, "new");
  ExpectError(registry_->GetRegisteredModel("old").error(), ErrorCode::kResourceDoesNotExist);

  RegisteredModel model = Get("new");
  EXPECT_EQ(Find(model.tags, "team"), "x");
  ASSERT_EQ(model.aliases.size(), 1u);
  EXPECT_EQ(model.aliases[0].alias, "champion");
  EXPECT_EQ(model.aliases[0].version, "1");
  auto v1 = registry_->GetModelVersion("new", "1");
  ASSERT_TRUE(v1.has_value()) << v1.error().message;
  EXPECT_EQ(v1->name, "new");
  EXPECT_EQ(Find(v1->tags, "vt"), "1");
  EXPECT_EQ(v1->aliases, std::vector<std::string>{"champion"});
  auto by_alias = registry_->GetModelVersionByAlias("new", "champion");
  ASSERT_TRUE(by_alias.has_value());
  EXPECT_EQ(by_alias->version, "1");
  // Numbering continues.
  EXPECT_EQ(NewVersion("new").version, "3");
}

TEST_F(SqlRegistryStoreTest, RenameOntoAnExistingNameChangesNothing) {
  NewModel("a");
  NewModel("b");
  NewVersion("a");
  auto renamed = registry_->RenameRegisteredModel("a", "b");
  ASSERT_FALSE(renamed.has_value());
  ExpectError(renamed.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(Get("a").latest_versions.size(), 1u);
  EXPECT_TRUE(Get("b").latest_versions.empty());
}

TEST_F(SqlRegistryStoreTest, RenameUnknownModelIsNotFound) {
  ExpectError(registry_->RenameRegisteredModel("nope", "x").error(),
              ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, DeleteRemovesVersionsTagsAndAliases) {
  NewModel("m", {{"team", "x"}});
  NewVersion("m", {{"vt", "1"}});
  NewVersion("m");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "2"));
  ASSERT_TRUE(registry_->DeleteRegisteredModel("m"));
  ExpectError(registry_->GetRegisteredModel("m").error(), ErrorCode::kResourceDoesNotExist);
  ExpectError(registry_->GetModelVersion("m", "1").error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_TRUE(SearchVersions("name = 'm'").empty());

  // A new model of the same name starts from nothing.
  RegisteredModel again = NewModel("m");
  EXPECT_TRUE(again.tags.empty());
  EXPECT_TRUE(again.aliases.empty());
  EXPECT_TRUE(again.latest_versions.empty());
  ModelVersion first = NewVersion("m");
  EXPECT_EQ(first.version, "1");
  EXPECT_TRUE(first.tags.empty());
  EXPECT_TRUE(first.aliases.empty());
}

TEST_F(SqlRegistryStoreTest, DeleteUnknownModelIsNotFound) {
  ExpectError(registry_->DeleteRegisteredModel("nope").error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, ModelTagsAreUpsertedAndDeleted) {
  NewModel("m");
  ASSERT_TRUE(registry_->SetRegisteredModelTag("m", {"k", "1"}));
  ASSERT_TRUE(registry_->SetRegisteredModelTag("m", {"k", "2"}));
  EXPECT_EQ(Find(Get("m").tags, "k"), "2");
  ASSERT_TRUE(registry_->DeleteRegisteredModelTag("m", "k"));
  EXPECT_TRUE(Get("m").tags.empty());
  // Deleting a missing tag is not an error; a missing model is.
  EXPECT_TRUE(registry_->DeleteRegisteredModelTag("m", "k"));
  ExpectError(registry_->SetRegisteredModelTag("nope", {"k", "1"}).error(),
              ErrorCode::kResourceDoesNotExist);
}

// ---- model versions -------------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, CreateVersionIsReadyInStageNone) {
  NewModel("m");
  ModelVersion v = NewVersion("m", {{"k", "v"}});
  EXPECT_EQ(v.name, "m");
  EXPECT_EQ(v.version, "1");
  EXPECT_EQ(v.status, "READY");
  EXPECT_EQ(v.current_stage, "None");
  EXPECT_EQ(v.source, "runs:/" + run_.run_id + "/model");
  EXPECT_EQ(v.run_id, run_.run_id);
  EXPECT_EQ(Find(v.tags, "k"), "v");
  EXPECT_GT(v.creation_timestamp, 0);
}

TEST_F(SqlRegistryStoreTest, CreateVersionOfAMissingModelIsNotFound) {
  auto version = TryVersion("nope", RunSource(run_.run_id, "model"));
  ASSERT_FALSE(version.has_value());
  ExpectError(version.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, VersionNumbersAreNeverReused) {
  NewModel("m");
  NewVersion("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->DeleteModelVersion("m", "2"));
  EXPECT_EQ(NewVersion("m").version, "3");
}

TEST_F(SqlRegistryStoreTest, ConcurrentCreatesGetDistinctVersionNumbers) {
  NewModel("m");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &made] {
      for (int i = 0; i < kPerThread; ++i) {
        auto v = TryVersion("m", RunSource(run_.run_id, "model"));
        if (v) made[t].push_back(v->version);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& versions : made) all.insert(versions.begin(), versions.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(Versions(*registry_->GetLatestVersions("m", {"None"})),
            std::vector<std::string>{std::to_string(kThreads * kPerThread)});
}

TEST_F(SqlRegistryStoreTest, AVersionFromARunResolvesUnderTheRunsArtifacts) {
  NewModel("m");
  NewVersion("m");
  auto uri = registry_->GetModelVersionDownloadUri("m", "1");
  ASSERT_TRUE(uri.has_value()) << uri.error().message;
  EXPECT_EQ(*uri, run_.artifact_uri + "/model");
}

TEST_F(SqlRegistryStoreTest, AVersionFromMlflowArtifactsChecksTheRunsExperiment) {
  NewModel("m");
  ModelVersionSource source;
  source.kind = SourceKind::kRunArtifacts;
  source.experiment_id = experiment_id_;
  source.run_id = run_.run_id;
  source.path = "model";
  auto ok = TryVersion("m", source, "mlflow-artifacts:/x");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(*registry_->GetModelVersionDownloadUri("m", ok->version), run_.artifact_uri + "/model");
  source.experiment_id = "0";
  auto wrong = TryVersion("m", source, "mlflow-artifacts:/x");
  ASSERT_FALSE(wrong.has_value());
  ExpectError(wrong.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, AVersionFromAnUnknownOrDeletedRunIsRefused) {
  NewModel("m");
  auto unknown = TryVersion("m", RunSource("0123456789abcdef0123456789abcdef", "model"));
  ASSERT_FALSE(unknown.has_value());
  ExpectError(unknown.error(), ErrorCode::kInvalidParameterValue);
  ASSERT_TRUE(tracking_->DeleteRun(run_.run_id));
  auto deleted = TryVersion("m", RunSource(run_.run_id, "model"));
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, AVersionFromALoggedModelUsesItsArtifactsRunAndId) {
  LoggedModel logged = NewLoggedModel("model");
  NewModel("m");
  auto v = TryVersion("m", LoggedModelSource(logged.model_id), "models:/" + logged.model_id);
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->source, "models:/" + logged.model_id);
  EXPECT_EQ(v->model_id, logged.model_id);
  EXPECT_EQ(v->run_id, run_.run_id);  // from the logged model's source run
  EXPECT_EQ(*registry_->GetModelVersionDownloadUri("m", "1"), logged.artifact_uri);

  // The logged model lists the registration, in its tag (as MLflow's server writes it) and in
  // its registrations.
  auto model = tracking_->GetLoggedModel(logged.model_id);
  ASSERT_TRUE(model.has_value());
  EXPECT_EQ(Find(model->tags, "mlflow.modelVersions"), R"([{"name":"m","version":"1"}])");
  ASSERT_EQ(model->registrations.size(), 1u);
  EXPECT_EQ(model->registrations[0].name, "m");
  EXPECT_EQ(model->registrations[0].version, "1");

  ASSERT_TRUE(TryVersion("m", LoggedModelSource(logged.model_id), "models:/" + logged.model_id));
  model = tracking_->GetLoggedModel(logged.model_id);
  EXPECT_EQ(Find(model->tags, "mlflow.modelVersions"),
            R"([{"name":"m","version":"1"},{"name":"m","version":"2"}])");
  EXPECT_EQ(model->registrations.size(), 2u);
}

TEST_F(SqlRegistryStoreTest, TheRegistrationTagKeepsWhatTheClientWrote) {
  LoggedModel logged = NewLoggedModel("model");
  // The client writes Python's json.dumps spelling; an entry already present is not repeated.
  ASSERT_TRUE(tracking_->SetLoggedModelTags(
      logged.model_id, {{"mlflow.modelVersions", R"([{"name": "m", "version": "1"}])"}}));
  NewModel("m");
  ASSERT_TRUE(TryVersion("m", LoggedModelSource(logged.model_id), "models:/" + logged.model_id));
  EXPECT_EQ(Find(tracking_->GetLoggedModel(logged.model_id)->tags, "mlflow.modelVersions"),
            R"([{"name": "m", "version": "1"}])");
}

TEST_F(SqlRegistryStoreTest, AVersionFromLoggedModelArtifactsChecksTheExperiment) {
  LoggedModel logged = NewLoggedModel("model");
  NewModel("m");
  ModelVersionSource source;
  source.kind = SourceKind::kModelArtifacts;
  source.experiment_id = experiment_id_;
  source.model_id = logged.model_id;
  source.path = "sub/dir";
  auto v = TryVersion("m", source, "mlflow-artifacts:/x");
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->model_id, logged.model_id);
  EXPECT_EQ(*registry_->GetModelVersionDownloadUri("m", "1"), logged.artifact_uri + "/sub/dir");
  source.experiment_id = "0";
  ExpectError(TryVersion("m", source, "mlflow-artifacts:/x").error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, AVersionFromAnUnknownOrDeletedLoggedModelIsRefused) {
  NewModel("m");
  ExpectError(TryVersion("m", LoggedModelSource("m-0123456789abcdef0123456789abcdef")).error(),
              ErrorCode::kInvalidParameterValue);
  LoggedModel logged = NewLoggedModel("model");
  ASSERT_TRUE(tracking_->DeleteLoggedModel(logged.model_id));
  ExpectError(TryVersion("m", LoggedModelSource(logged.model_id)).error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, AModelIdThatDisagreesWithTheSourceIsRefused) {
  LoggedModel a = NewLoggedModel("a");
  LoggedModel b = NewLoggedModel("b");
  NewModel("m");
  CreateModelVersionArgs args;
  args.name = "m";
  args.source = "models:/" + a.model_id;
  args.parsed_source = LoggedModelSource(a.model_id);
  args.model_id = b.model_id;
  ExpectError(registry_->CreateModelVersion(args).error(), ErrorCode::kInvalidParameterValue);
  args.parsed_source = RunSource(run_.run_id, "model");
  args.source = "runs:/" + run_.run_id + "/model";
  args.model_id = "m-0123456789abcdef0123456789abcdef";
  ExpectError(registry_->CreateModelVersion(args).error(), ErrorCode::kResourceDoesNotExist);
  args.model_id = b.model_id;
  auto linked = registry_->CreateModelVersion(args);
  ASSERT_TRUE(linked.has_value()) << linked.error().message;
  EXPECT_EQ(linked->model_id, b.model_id);
}

TEST_F(SqlRegistryStoreTest, AVersionFromAnotherVersionSharesItsArtifacts) {
  NewModel("src");
  NewVersion("src");
  NewModel("dst");
  ModelVersionSource source;
  source.kind = SourceKind::kModelVersion;
  source.name = "src";
  source.version = "1";
  auto copy = TryVersion("dst", source, "models:/src/1");
  ASSERT_TRUE(copy.has_value()) << copy.error().message;
  EXPECT_EQ(*registry_->GetModelVersionDownloadUri("dst", "1"), run_.artifact_uri + "/model");
  source.version = "7";
  ExpectError(TryVersion("dst", source, "models:/src/7").error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, AFailedVersionCreateChangesNothing) {
  LoggedModel logged = NewLoggedModel("model");
  NewModel("m");
  CreateModelVersionArgs args;
  args.name = "m";
  args.source = "models:/" + logged.model_id;
  args.parsed_source = LoggedModelSource(logged.model_id);
  args.model_id = "m-0123456789abcdef0123456789abcdef";  // mismatch: refused
  ASSERT_FALSE(registry_->CreateModelVersion(args).has_value());
  EXPECT_TRUE(Get("m").latest_versions.empty());
  EXPECT_FALSE(Find(tracking_->GetLoggedModel(logged.model_id)->tags, "mlflow.modelVersions"));
  EXPECT_EQ(NewVersion("m").version, "1");
}

TEST_F(SqlRegistryStoreTest, APromptVersionHasNoDownloadUri) {
  NewModel("p", {{"mlflow.prompt.is_prompt", "true"}});
  ModelVersionSource source;
  source.kind = SourceKind::kPromptTemplate;
  auto v = TryVersion("p", source, "prompt-template", {{"mlflow.prompt.is_prompt", "true"}});
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->source, "prompt-template");
  ExpectError(registry_->GetModelVersionDownloadUri("p", "1").error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, VersionLookupsValidateTheNumber) {
  NewModel("m");
  NewVersion("m");
  ExpectError(registry_->GetModelVersion("m", "one").error(), ErrorCode::kInvalidParameterValue);
  ExpectError(registry_->GetModelVersion("m", "2").error(), ErrorCode::kResourceDoesNotExist);
  ExpectError(registry_->GetModelVersionDownloadUri("m", "x").error(),
              ErrorCode::kInvalidParameterValue);
  ExpectError(registry_->GetModelVersionDownloadUri("nope", "1").error(),
              ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, UpdateVersionChangesOnlyTheDescription) {
  NewModel("m");
  NewVersion("m");
  auto updated = registry_->UpdateModelVersion("m", "1", std::string("better"));
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(updated->description, "better");
  auto unchanged = registry_->UpdateModelVersion("m", "1", std::nullopt);
  ASSERT_TRUE(unchanged.has_value());
  EXPECT_EQ(unchanged->description, "better");
}

TEST_F(SqlRegistryStoreTest, DeletedVersionsDisappearFromEveryRead) {
  NewModel("m");
  NewVersion("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "2"));
  ASSERT_TRUE(registry_->DeleteModelVersion("m", "2"));
  ExpectError(registry_->GetModelVersion("m", "2").error(), ErrorCode::kResourceDoesNotExist);
  ExpectError(registry_->GetModelVersionDownloadUri("m", "2").error(),
              ErrorCode::kResourceDoesNotExist);
  ExpectError(registry_->DeleteModelVersion("m", "2").error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(SearchVersions("name = 'm'"), std::vector<std::string>{"m/1"});
  RegisteredModel model = Get("m");
  EXPECT_EQ(Versions(model.latest_versions), std::vector<std::string>{"1"});
  EXPECT_TRUE(model.aliases.empty());  // its alias went with it
  ExpectError(registry_->GetModelVersionByAlias("m", "champion").error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, VersionTagsAreUpsertedAndDeleted) {
  NewModel("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetModelVersionTag("m", "1", {"k", "1"}));
  ASSERT_TRUE(registry_->SetModelVersionTag("m", "1", {"k", "2"}));
  EXPECT_EQ(Find(registry_->GetModelVersion("m", "1")->tags, "k"), "2");
  ASSERT_TRUE(registry_->DeleteModelVersionTag("m", "1", "k"));
  EXPECT_TRUE(registry_->GetModelVersion("m", "1")->tags.empty());
  EXPECT_TRUE(registry_->DeleteModelVersionTag("m", "1", "k"));
  ExpectError(registry_->SetModelVersionTag("m", "9", {"k", "1"}).error(),
              ErrorCode::kResourceDoesNotExist);
}

// ---- stages ---------------------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, LatestVersionsHoldTheHighestVersionPerStage) {
  NewModel("m");
  for (int i = 0; i < 4; ++i) NewVersion("m");
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", "1", "Production", false));
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", "2", "Production", false));
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", "3", "Staging", false));
  auto all = registry_->GetLatestVersions("m", {});
  ASSERT_TRUE(all.has_value()) << all.error().message;
  EXPECT_EQ(Versions(*all), (std::vector<std::string>{"2", "3", "4"}));
  auto production = registry_->GetLatestVersions("m", {"Production"});
  ASSERT_TRUE(production.has_value());
  EXPECT_EQ(Versions(*production), std::vector<std::string>{"2"});
  EXPECT_EQ(Versions(Get("m").latest_versions), (std::vector<std::string>{"2", "3", "4"}));
  ExpectError(registry_->GetLatestVersions("nope", {}).error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, TransitionArchivesOthersInTheTargetStageOnly) {
  NewModel("m");
  for (int i = 0; i < 3; ++i) NewVersion("m");
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", "1", "Production", false));
  ASSERT_TRUE(registry_->TransitionModelVersionStage("m", "2", "Staging", false));
  auto moved = registry_->TransitionModelVersionStage("m", "3", "Production", true);
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_EQ(moved->current_stage, "Production");
  EXPECT_EQ(registry_->GetModelVersion("m", "1")->current_stage, "Archived");
  EXPECT_EQ(registry_->GetModelVersion("m", "2")->current_stage, "Staging");
}

TEST_F(SqlRegistryStoreTest, ArchivingExistingVersionsNeedsAnActiveStage) {
  NewModel("m");
  NewVersion("m");
  for (std::string stage : {"None", "Archived"}) {
    ExpectError(registry_->TransitionModelVersionStage("m", "1", stage, true).error(),
                ErrorCode::kInvalidParameterValue);
  }
  ExpectError(registry_->TransitionModelVersionStage("m", "1", "production", false).error(),
              ErrorCode::kInvalidParameterValue);  // the store takes canonical names only
  EXPECT_EQ(registry_->GetModelVersion("m", "1")->current_stage, "None");
}

TEST_F(SqlRegistryStoreTest, CanonicalStageIgnoresCase) {
  EXPECT_EQ(CanonicalStage("production"), std::optional<std::string_view>("Production"));
  EXPECT_EQ(CanonicalStage("STAGING"), std::optional<std::string_view>("Staging"));
  EXPECT_EQ(CanonicalStage("none"), std::optional<std::string_view>("None"));
  EXPECT_EQ(CanonicalStage("archived"), std::optional<std::string_view>("Archived"));
  EXPECT_EQ(CanonicalStage("Deleted_Internal"), std::nullopt);
  EXPECT_EQ(CanonicalStage(""), std::nullopt);
}

// ---- aliases --------------------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, AliasesPointAtOneVersionAndMove) {
  NewModel("m");
  NewVersion("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "1"));
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "backup", "1"));
  EXPECT_EQ(registry_->GetModelVersion("m", "1")->aliases,
            (std::vector<std::string>{"backup", "champion"}));
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "2"));
  EXPECT_EQ(registry_->GetModelVersionByAlias("m", "champion")->version, "2");
  EXPECT_EQ(registry_->GetModelVersion("m", "1")->aliases, std::vector<std::string>{"backup"});
  RegisteredModel model = Get("m");
  ASSERT_EQ(model.aliases.size(), 2u);
  EXPECT_EQ(model.aliases[0].alias, "backup");
  EXPECT_EQ(model.aliases[1].alias, "champion");
  EXPECT_EQ(model.aliases[1].version, "2");
}

TEST_F(SqlRegistryStoreTest, AnUnknownAliasIsAnInvalidParameter) {
  NewModel("m");
  auto missing = registry_->GetModelVersionByAlias("m", "nope");
  ASSERT_FALSE(missing.has_value());
  ExpectError(missing.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(missing.error().message, "Registered model alias nope not found.");
  ExpectError(registry_->GetModelVersionByAlias("other", "nope").error(),
              ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, AnAliasNeedsALiveVersion) {
  NewModel("m");
  ExpectError(registry_->SetRegisteredModelAlias("m", "champion", "1").error(),
              ErrorCode::kResourceDoesNotExist);
  ExpectError(registry_->SetRegisteredModelAlias("m", "champion", "x").error(),
              ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, DeletingAnAliasKeepsTheVersion) {
  NewModel("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "1"));
  ASSERT_TRUE(registry_->DeleteRegisteredModelAlias("m", "champion"));
  EXPECT_TRUE(registry_->GetModelVersion("m", "1")->aliases.empty());
  EXPECT_TRUE(registry_->DeleteRegisteredModelAlias("m", "champion"));  // already gone: fine
  ExpectError(registry_->DeleteRegisteredModelAlias("nope", "champion").error(),
              ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlRegistryStoreTest, TheLatestAliasNamesTheHighestLiveVersion) {
  NewModel("m");
  ExpectError(registry_->GetModelVersionByAlias("m", "latest").error(),
              ErrorCode::kResourceDoesNotExist);
  NewVersion("m");
  NewVersion("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->DeleteModelVersion("m", "3"));
  EXPECT_EQ(registry_->GetModelVersionByAlias("m", "LATEST")->version, "2");
}

// ---- search ---------------------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, TheClientsPromptClauseMatchesModelsWithoutTheTag) {
  NewModel("plain");
  NewModel("tagged", {{"team", "x"}});
  NewModel("prompt", {{"mlflow.prompt.is_prompt", "true"}});
  EXPECT_EQ(SearchModels("tags.`mlflow.prompt.is_prompt` != 'true'"),
            (std::vector<std::string>{"plain", "tagged"}));
  EXPECT_EQ(SearchModels("name LIKE 't%' AND tags.`mlflow.prompt.is_prompt` != 'true'"),
            std::vector<std::string>{"tagged"});
}

TEST_F(SqlRegistryStoreTest, PromptsAreHiddenUnlessAskedFor) {
  NewModel("plain");
  NewModel("prompt", {{"mlflow.prompt.is_prompt", "true"}});
  EXPECT_EQ(SearchModels(""), std::vector<std::string>{"plain"});
  EXPECT_EQ(SearchModels("tags.`mlflow.prompt.is_prompt` = 'true'"),
            std::vector<std::string>{"prompt"});
  EXPECT_EQ(SearchModels("tags.`mlflow.prompt.is_prompt` != 'false'"),
            std::vector<std::string>{"prompt"});
}

TEST_F(SqlRegistryStoreTest, OtherTagClausesNeedTheTag) {
  NewModel("a", {{"team", "x"}});
  NewModel("b", {{"team", "y"}});
  NewModel("c");
  EXPECT_EQ(SearchModels("tags.team != 'x'"), std::vector<std::string>{"b"});
  EXPECT_EQ(SearchModels("tags.team = 'x'"), std::vector<std::string>{"a"});
  EXPECT_EQ(SearchModels("tag.team LIKE '%'"), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SqlRegistryStoreTest, SearchFiltersNames) {
  NewModel("Alpha");
  NewModel("beta");
  EXPECT_EQ(SearchModels("name = 'beta'"), std::vector<std::string>{"beta"});
  EXPECT_EQ(SearchModels("name != 'beta'"), std::vector<std::string>{"Alpha"});
  EXPECT_EQ(SearchModels("name LIKE 'a%'"), std::vector<std::string>{});
  EXPECT_EQ(SearchModels("name ILIKE 'a%'"), std::vector<std::string>{"Alpha"});
}

TEST_F(SqlRegistryStoreTest, SearchOrdersAndPages) {
  NewModel("c");
  NewModel("a");
  NewModel("b");
  EXPECT_EQ(SearchModels(""), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SearchModels("", {"name DESC"}), (std::vector<std::string>{"c", "b", "a"}));
  ASSERT_TRUE(registry_->UpdateRegisteredModel("a", "touched"));
  EXPECT_EQ(SearchModels("", {"last_updated_timestamp DESC"}).front(), "a");
  bool more = false;
  EXPECT_EQ(SearchModels("", {}, 2, 0, &more), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(more);
  EXPECT_EQ(SearchModels("", {}, 2, 2, &more), std::vector<std::string>{"c"});
  EXPECT_FALSE(more);
}

TEST_F(SqlRegistryStoreTest, SearchRefusesDuplicateOrderFields) {
  SearchRegistryArgs args;
  auto terms = ParseOrderBy({"name ASC", "name DESC"}, SearchTarget::kRegisteredModels);
  ASSERT_TRUE(terms.has_value());
  args.order_by = *terms;
  ExpectError(registry_->SearchRegisteredModels(args).error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlRegistryStoreTest, SearchedModelsCarryLatestVersionsAndAliases) {
  NewModel("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetRegisteredModelAlias("m", "champion", "1"));
  SearchRegistryArgs args;
  auto page = registry_->SearchRegisteredModels(args);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->first.size(), 1u);
  EXPECT_EQ(Versions(page->first[0].latest_versions), std::vector<std::string>{"1"});
  ASSERT_EQ(page->first[0].aliases.size(), 1u);
  EXPECT_EQ(page->first[0].latest_versions[0].aliases, std::vector<std::string>{"champion"});
}

TEST_F(SqlRegistryStoreTest, SearchVersionsFilters) {
  NewModel("a");
  NewModel("b");
  NewVersion("a", {{"k", "1"}});
  NewVersion("a");
  NewVersion("b");
  EXPECT_EQ(SearchVersions("name = 'a'", {"version_number ASC"}),
            (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(SearchVersions("name = 'a' AND version_number > 1"), std::vector<std::string>{"a/2"});
  EXPECT_EQ(SearchVersions("version_number IN (1, '2') AND name = 'a'", {"version_number ASC"}),
            (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(SearchVersions("tags.k = '1'"), std::vector<std::string>{"a/1"});
  EXPECT_EQ(SearchVersions("run_id = '" + run_.run_id + "' AND name = 'b'"),
            std::vector<std::string>{"b/1"});
  EXPECT_EQ(SearchVersions("run_id IN ('" + run_.run_id + "')").size(), 3u);
  EXPECT_EQ(SearchVersions("source_path LIKE 'runs:/%'").size(), 3u);
}

TEST_F(SqlRegistryStoreTest, SearchVersionsDefaultsToRecentlyUpdatedFirst) {
  NewModel("a");
  NewVersion("a");
  NewVersion("a");
  // Same timestamps tie-break by name, then newest version first.
  std::vector<std::string> found = SearchVersions("");
  ASSERT_EQ(found.size(), 2u);
  // Times are milliseconds: let the update's be later than both creations (an optimised build
  // creates and updates within one millisecond, and the tie would put a/2 first).
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(registry_->UpdateModelVersion("a", "1", std::string("touched")));
  EXPECT_EQ(SearchVersions("").front(), "a/1");
}

TEST_F(SqlRegistryStoreTest, SearchVersionsLeavesOutPrompts) {
  NewModel("m");
  NewVersion("m");
  NewModel("p", {{"mlflow.prompt.is_prompt", "true"}});
  ModelVersionSource source;
  source.kind = SourceKind::kPromptTemplate;
  ASSERT_TRUE(TryVersion("p", source, "prompt-template", {{"mlflow.prompt.is_prompt", "true"}}));
  EXPECT_EQ(SearchVersions(""), std::vector<std::string>{"m/1"});
  EXPECT_EQ(SearchVersions("tags.`mlflow.prompt.is_prompt` = 'true'"),
            std::vector<std::string>{"p/1"});
}

// ---- registration events (outbox) -----------------------------------------------------------

TEST_F(SqlRegistryStoreTest, CreateModelVersionWritesItsRegistrationEvent) {
  NewModel("m");
  CreateModelVersionArgs args;
  args.name = "m";
  args.source = "runs:/" + run_.run_id + "/model";
  args.parsed_source = RunSource(run_.run_id, "model");
  args.tags = {{"k", "v"}};
  args.user_id = "alice";
  ASSERT_TRUE(registry_->CreateModelVersion(args));
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 1);
  EXPECT_EQ(Text("SELECT type || ' ' || model_name || ' ' || version FROM registration_events"),
            "model_version.created m 1");
  std::string event_id = Text("SELECT event_id FROM registration_events");
  ASSERT_EQ(event_id.size(), 36u);
  EXPECT_EQ(event_id[14], '4');  // UUID version 4
  std::string payload = Text("SELECT payload FROM registration_events");
  EXPECT_NE(payload.find("\"event_id\":\"" + event_id + "\""), std::string::npos) << payload;
  EXPECT_NE(payload.find("\"type\":\"model_version.created\""), std::string::npos);
  EXPECT_NE(payload.find("\"model_name\":\"m\""), std::string::npos);
  EXPECT_NE(payload.find("\"version\":\"1\""), std::string::npos);
  EXPECT_NE(payload.find("\"run_id\":\"" + run_.run_id + "\""), std::string::npos);
  EXPECT_NE(payload.find("\"user_id\":\"alice\""), std::string::npos);
  EXPECT_NE(payload.find("\"tags\":{\"k\":\"v\"}"), std::string::npos);
  EXPECT_NE(payload.find("\"created_at\":\""), std::string::npos);
  EXPECT_EQ(payload.find("model_id"), std::string::npos);  // none for a run source
  EXPECT_EQ(Count("SELECT json_valid(payload) FROM registration_events"), 1);
}

TEST_F(SqlRegistryStoreTest, AFailedCreateModelVersionWritesNoEvent) {
  NewModel("m");
  auto bad = TryVersion("m", RunSource("0123456789abcdef0123456789abcdef", "model"),
                        "runs:/0123456789abcdef0123456789abcdef/model");
  ASSERT_FALSE(bad);
  auto missing = TryVersion("nope", RunSource(run_.run_id, "model"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 0);
  NewVersion("m");
  NewVersion("m");
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 2);
  EXPECT_EQ(Count("SELECT count(DISTINCT event_id) FROM registration_events"), 2);
}

// ---- one-call registration ------------------------------------------------------------------

TEST_F(SqlRegistryStoreTest, RegisterModelCreatesModelVersionAliasAndEventTogether) {
  auto result = registry_->RegisterModel(WithKey(Registration("m", "champion"), "k1", "h1"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_TRUE(result->model_created);
  EXPECT_FALSE(result->replayed);
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->response, "m/1");
  EXPECT_EQ(result->version.version, "1");
  EXPECT_EQ(result->version.aliases, std::vector<std::string>{"champion"});
  EXPECT_EQ(Find(result->version.tags, "version_label"), "v1.0.0");
  EXPECT_EQ(result->model.description, "registered m");
  EXPECT_EQ(Find(result->model.tags, "team"), "vision");
  ASSERT_EQ(result->model.aliases.size(), 1u);
  EXPECT_EQ(result->model.aliases[0].version, "1");
  EXPECT_EQ(Count("SELECT count(*) FROM registered_model_permissions WHERE user_id = 'acme' AND "
                  "permission = 'MANAGE'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events WHERE model_name = 'm'"), 1);
  auto stored = registry_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->request_hash, "h1");
  EXPECT_EQ((*stored)->status, 201);
  EXPECT_EQ((*stored)->response, "m/1");
  EXPECT_GT((*stored)->created_ms, 0);
}

TEST_F(SqlRegistryStoreTest, RegisterModelIntoAnExistingModelLeavesItsDescriptionAndTags) {
  NewModel("m", {{"team", "search"}});
  NewVersion("m");
  auto result = registry_->RegisterModel(Registration("m", "champion"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->model_created);
  EXPECT_EQ(result->version.version, "2");
  EXPECT_EQ(result->response, "m/2");  // rendered even without an idempotency key
  EXPECT_EQ(result->model.description, "about m");
  EXPECT_EQ(Find(result->model.tags, "team"), "search");
  EXPECT_EQ(Count("SELECT count(*) FROM registered_model_permissions"), 0);
  // A second registration moves the alias.
  auto again = registry_->RegisterModel(Registration("m", "champion"));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  auto by_alias = registry_->GetModelVersionByAlias("m", "champion");
  ASSERT_TRUE(by_alias.has_value());
  EXPECT_EQ(by_alias->version, "3");
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 3);
}

TEST_F(SqlRegistryStoreTest, RegisterModelWithABadSourceCreatesNothing) {
  RegisterModelArgs args = WithKey(Registration("m", "champion"), "k1", "h1");
  args.version.source = "runs:/0123456789abcdef0123456789abcdef/model";
  args.version.parsed_source = RunSource("0123456789abcdef0123456789abcdef", "model");
  auto result = registry_->RegisterModel(args);
  ASSERT_FALSE(result.has_value());
  ExpectError(result.error(), ErrorCode::kInvalidParameterValue);
  for (std::string table :
       {"registered_models", "registered_model_tags", "registered_model_permissions",
        "model_versions", "model_version_tags", "registered_model_aliases",
        "registration_events", "idempotency_keys"}) {
    EXPECT_EQ(Count("SELECT count(*) FROM " + table), 0) << table;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM logged_model_tags"), 0);
  // The same key is free for the corrected request.
  auto fixed = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h2"));
  ASSERT_TRUE(fixed.has_value()) << fixed.error().message;
}

TEST_F(SqlRegistryStoreTest, RegisterModelWithABadSourceLeavesAnExistingModelUntouched) {
  NewModel("m");
  NewVersion("m");
  int64_t updated = Get("m").last_updated_timestamp;
  RegisterModelArgs args = Registration("m", "champion");
  args.version.parsed_source = LoggedModelSource("m-0123456789abcdef0123456789abcdef");
  args.version.source = "models:/m-0123456789abcdef0123456789abcdef";
  ASSERT_FALSE(registry_->RegisterModel(args));
  EXPECT_EQ(Count("SELECT count(*) FROM model_versions"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM registered_model_aliases"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 1);
  EXPECT_EQ(Get("m").last_updated_timestamp, updated);
}

TEST_F(SqlRegistryStoreTest, RegisterModelReplaysTheSameKeyAndHashWithoutWriting) {
  auto first = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1"));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  int render_calls = 0;
  RegisterModelArgs args = WithKey(Registration("m"), "k1", "h1");
  args.render = [&](const RegisteredModel&, const ModelVersion&) {
    ++render_calls;
    return std::string("second");
  };
  auto second = registry_->RegisterModel(args);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_TRUE(second->replayed);
  EXPECT_EQ(second->status, 201);
  EXPECT_EQ(second->response, "m/1");
  EXPECT_EQ(render_calls, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM model_versions"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 1);
}

TEST_F(SqlRegistryStoreTest, RegisterModelRefusesTheSameKeyWithADifferentHash) {
  ASSERT_TRUE(registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1")));
  auto conflict = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h2"));
  ASSERT_FALSE(conflict.has_value());
  ExpectError(conflict.error(), ErrorCode::kResourceConflict);
  EXPECT_EQ(HttpStatusFor(conflict.error().code), 409);
  EXPECT_EQ(Count("SELECT count(*) FROM model_versions"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM registration_events"), 1);
}

TEST_F(SqlRegistryStoreTest, IdempotencyKeysAreScopedPerUser) {
  ASSERT_TRUE(registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1")));
  RegisterModelArgs other = WithKey(Registration("m"), "k1", "h2");
  other.idempotency->user_id = "bob";
  auto result = registry_->RegisterModel(other);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->replayed);
  EXPECT_EQ(result->version.version, "2");
  auto none = registry_->GetIdempotencyRecord("carol", "k1");
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SqlRegistryStoreTest, ExpiredIdempotencyKeysAreIgnoredAndPruned) {
  ASSERT_TRUE(registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1")));
  {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("UPDATE idempotency_keys SET created_ms = created_ms - 86400001"));
  }
  auto expired = registry_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(expired.has_value());
  EXPECT_FALSE(expired->has_value());
  // The key is usable again, with another body, and the old row is gone.
  auto fresh = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h2"));
  ASSERT_TRUE(fresh.has_value()) << fresh.error().message;
  EXPECT_FALSE(fresh->replayed);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 1);
  EXPECT_EQ(Text("SELECT request_hash FROM idempotency_keys"), "h2");
}

TEST_F(SqlRegistryStoreTest, SetStageAliasMovesTheAliasAndTagsTheVersionTogether) {
  NewModel("m");
  NewVersion("m");
  NewVersion("m");
  ASSERT_TRUE(registry_->SetStageAlias("m", "1", "production", {"lifecycle_stage", "Production"}));
  ASSERT_TRUE(registry_->SetStageAlias("m", "2", "production", {"lifecycle_stage", "Production"}));
  auto by_alias = registry_->GetModelVersionByAlias("m", "production");
  ASSERT_TRUE(by_alias.has_value());
  EXPECT_EQ(by_alias->version, "2");
  EXPECT_EQ(Find(by_alias->tags, "lifecycle_stage"), "Production");
  auto missing = registry_->SetStageAlias("m", "9", "staging", {"lifecycle_stage", "Staging"});
  ASSERT_FALSE(missing.has_value());
  ExpectError(missing.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(Count("SELECT count(*) FROM model_version_tags WHERE value = 'Staging'"), 0);
}

TEST_F(SqlRegistryStoreTest, RegisterModelRecordsALoggedModelSource) {
  LoggedModel logged = NewLoggedModel("clf");
  RegisterModelArgs args = Registration("m");
  args.version.source = "models:/" + logged.model_id;
  args.version.parsed_source = LoggedModelSource(logged.model_id);
  auto result = registry_->RegisterModel(args);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->version.model_id, logged.model_id);
  EXPECT_EQ(result->version.run_id, run_.run_id);
  std::string payload = Text("SELECT payload FROM registration_events");
  EXPECT_NE(payload.find("\"model_id\":\"" + logged.model_id + "\""), std::string::npos);
}

// ---- idempotency reservations (gateway mode) -------------------------------------------------

TEST_F(SqlRegistryStoreTest, ReserveIdempotencyKeyReturnsNothingThenThePendingRecord) {
  IdempotencyRecord request = *WithKey(Registration("m"), "k1", "h1").idempotency;
  request.response = "ignored";
  auto first = registry_->ReserveIdempotencyKey(request);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_FALSE(first->has_value());
  auto second = registry_->ReserveIdempotencyKey(request);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->request_hash, "h1");
  EXPECT_EQ((*second)->status, 0);
  EXPECT_EQ((*second)->response, "");
  EXPECT_GT((*second)->created_ms, 0);
  // Another hash finds the same reservation and writes nothing.
  request.request_hash = "h2";
  auto other = registry_->ReserveIdempotencyKey(request);
  ASSERT_TRUE(other.has_value() && other->has_value());
  EXPECT_EQ((*other)->request_hash, "h1");
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 1);
  auto stored = registry_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->status, 0);
  // Per user: bob's key of the same name is his own.
  request.user_id = "bob";
  EXPECT_FALSE(registry_->ReserveIdempotencyKey(request)->has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 2);
}

TEST_F(SqlRegistryStoreTest, CompleteIdempotencyKeyStoresTheAnswerOnce) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency));
  ASSERT_TRUE(registry_->CompleteIdempotencyKey("acme", "k1", 201, R"({"version":"1"})"));
  auto stored = registry_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(stored.has_value() && stored->has_value());
  EXPECT_EQ((*stored)->request_hash, "h1");
  EXPECT_EQ((*stored)->status, 201);
  EXPECT_EQ((*stored)->response, R"({"version":"1"})");
  // Reserving again finds the answer.
  auto again = registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency);
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_EQ((*again)->status, 201);
  EXPECT_EQ((*again)->response, R"({"version":"1"})");
  // A completed record is no reservation: it cannot be completed again.
  auto twice = registry_->CompleteIdempotencyKey("acme", "k1", 200, "other");
  ASSERT_FALSE(twice.has_value());
  ExpectError(twice.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k1"))->response, R"({"version":"1"})");
}

TEST_F(SqlRegistryStoreTest, CompleteIdempotencyKeyWithoutAReservationIsNotFound) {
  auto missing = registry_->CompleteIdempotencyKey("acme", "k1", 201, "body");
  ASSERT_FALSE(missing.has_value());
  ExpectError(missing.error(), ErrorCode::kResourceDoesNotExist);
  // Another user's reservation of the key is not this user's.
  IdempotencyRecord bob = *WithKey(Registration("m"), "k1", "h1").idempotency;
  bob.user_id = "bob";
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(bob));
  missing = registry_->CompleteIdempotencyKey("acme", "k1", 201, "body");
  ASSERT_FALSE(missing.has_value());
  ExpectError(missing.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ((*registry_->GetIdempotencyRecord("bob", "k1"))->status, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 1);
}

TEST_F(SqlRegistryStoreTest, ReleaseIdempotencyKeyDropsOnlyPendingReservations) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency));
  ASSERT_TRUE(registry_->ReleaseIdempotencyKey("acme", "k1"));
  EXPECT_FALSE(registry_->GetIdempotencyRecord("acme", "k1")->has_value());
  // The key is free again, for any body.
  EXPECT_FALSE(registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h2").idempotency)
                   ->has_value());
  // A completed answer is kept.
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k2", "h1").idempotency));
  ASSERT_TRUE(registry_->CompleteIdempotencyKey("acme", "k2", 201, "done"));
  ASSERT_TRUE(registry_->ReleaseIdempotencyKey("acme", "k2"));
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k2"))->response, "done");
  // So is a record the native registration wrote; releasing an unknown key is no error.
  ASSERT_TRUE(registry_->RegisterModel(WithKey(Registration("m"), "k3", "h1")));
  ASSERT_TRUE(registry_->ReleaseIdempotencyKey("acme", "k3"));
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k3"))->response, "m/1");
  EXPECT_TRUE(registry_->ReleaseIdempotencyKey("acme", "nope"));
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 3);
}

TEST_F(SqlRegistryStoreTest, AnIdempotencyReservationLapsesAfterItsWindow) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency));
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k2", "h1").idempotency));
  ASSERT_TRUE(registry_->CompleteIdempotencyKey("acme", "k2", 201, "done"));
  // Age both records (the store reads the clock; the rows are moved back instead).
  {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("UPDATE idempotency_keys SET created_ms = created_ms - " +
                           std::to_string(kIdempotencyReservationMs + 1000)));
  }
  // The abandoned reservation no longer counts; the answer does (it lives 24 hours).
  EXPECT_FALSE(registry_->GetIdempotencyRecord("acme", "k1")->has_value());
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k2"))->status, 201);
  // Reserving prunes it: the key is free for another body.
  auto fresh = registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h2").idempotency);
  ASSERT_TRUE(fresh.has_value()) << fresh.error().message;
  EXPECT_FALSE(fresh->has_value());
  EXPECT_EQ(Text("SELECT request_hash FROM idempotency_keys WHERE key = 'k1'"), "h2");
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 2);
}

TEST_F(SqlRegistryStoreTest, AnIdempotencyReservationInsideItsWindowStillHoldsTheKey) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency));
  {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("UPDATE idempotency_keys SET created_ms = created_ms - " +
                           std::to_string(kIdempotencyReservationMs - 60000)));
  }
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k1"))->status, 0);
  auto held = registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h2").idempotency);
  ASSERT_TRUE(held.has_value() && held->has_value());
  EXPECT_EQ((*held)->request_hash, "h1");
}

TEST_F(SqlRegistryStoreTest, AnIdempotencyReservationBlocksTheNativeRegistration) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h1").idempotency));
  auto pending = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1"));
  ASSERT_FALSE(pending.has_value());
  ExpectError(pending.error(), ErrorCode::kResourceConflict);
  EXPECT_NE(pending.error().message.find("progress"), std::string::npos) << pending.error().message;
  EXPECT_EQ(Count("SELECT count(*) FROM model_versions"), 0);
  // Once released, the registration goes through and stores its answer.
  ASSERT_TRUE(registry_->ReleaseIdempotencyKey("acme", "k1"));
  auto done = registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1"));
  ASSERT_TRUE(done.has_value()) << done.error().message;
  EXPECT_EQ((*registry_->GetIdempotencyRecord("acme", "k1"))->status, 201);
}

TEST_F(SqlRegistryStoreTest, ExpiredIdempotencyAnswersAreFreedByReserve) {
  ASSERT_TRUE(registry_->RegisterModel(WithKey(Registration("m"), "k1", "h1")));
  {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("UPDATE idempotency_keys SET created_ms = created_ms - 86400001"));
  }
  auto fresh = registry_->ReserveIdempotencyKey(*WithKey(Registration("m"), "k1", "h2").idempotency);
  ASSERT_TRUE(fresh.has_value()) << fresh.error().message;
  EXPECT_FALSE(fresh->has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 1);
  EXPECT_EQ(Count("SELECT status FROM idempotency_keys"), 0);
}

}  // namespace
}  // namespace hokusai::store::sql
