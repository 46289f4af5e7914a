// MLflow 3 logged models in the SQLite tracking store: creation, status, soft delete, tags,
// write-once params, metrics linked through run metrics, and search.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/search_filter.hpp"
#include "store/sql/migrations.hpp"
#include "store/sql/sql_tracking_store.hpp"
#include "store/tracking_store.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {
namespace {

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

std::vector<Clause> Filter(std::string_view text) {
  auto clauses = ParseFilter(text, SearchTarget::kLoggedModels);
  EXPECT_TRUE(clauses.has_value()) << text << ": " << (clauses ? "" : clauses.error().message);
  return clauses ? *clauses : std::vector<Clause>{};
}

Metric M(std::string key, double value, int64_t timestamp, int64_t step, std::string model_id,
         std::string dataset_name = "", std::string dataset_digest = "") {
  Metric m;
  m.key = std::move(key);
  m.value = value;
  m.timestamp = timestamp;
  m.step = step;
  m.model_id = std::move(model_id);
  m.dataset_name = std::move(dataset_name);
  m.dataset_digest = std::move(dataset_digest);
  return m;
}

class SqliteLoggedModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-logged-models-" + NewHexId());
    std::filesystem::create_directories(dir_);
    Open();
    auto id = store_->CreateExperiment("exp", "", {});
    ASSERT_TRUE(id.has_value()) << id.error().message;
    experiment_id_ = *id;
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void Open() {
    auto store = SqlTrackingStore::Open(DatabaseOptions{(dir_ / "mlflow.db").string(), 2,
                                                         "NORMAL"});
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
  }

  LoggedModel NewModel(const std::string& name, std::vector<Tag> params = {},
                       std::vector<Tag> tags = {}, const std::string& source_run_id = "") {
    CreateLoggedModelArgs args;
    args.experiment_id = experiment_id_;
    args.name = name;
    args.model_type = "sklearn";
    args.source_run_id = source_run_id;
    args.params = std::move(params);
    args.tags = std::move(tags);
    auto model = store_->CreateLoggedModel(args);
    EXPECT_TRUE(model.has_value()) << (model ? "" : model.error().message);
    return model ? *model : LoggedModel{};
  }

  std::string NewRunId() {
    CreateRunArgs args;
    args.experiment_id = experiment_id_;
    args.start_time = 1000;
    auto run = store_->CreateRun(args);
    EXPECT_TRUE(run.has_value()) << (run ? "" : run.error().message);
    return run ? run->info.run_id : std::string();
  }

  SearchLoggedModelsArgs InExperiment() {
    SearchLoggedModelsArgs args;
    args.experiment_ids = {experiment_id_};
    return args;
  }

  std::vector<std::string> SearchNames(const SearchLoggedModelsArgs& args, bool* more = nullptr) {
    auto page = store_->SearchLoggedModels(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> names;
    if (!page) return names;
    for (const LoggedModel& model : page->first) names.push_back(model.name);
    if (more != nullptr) *more = page->second;
    return names;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqlTrackingStore> store_;
  std::string experiment_id_;
};

TEST_F(SqliteLoggedModelsTest, SchemaIncludesTheRegistryMigration) {
  EXPECT_EQ(LatestSchemaVersion(), 10);
}

TEST_F(SqliteLoggedModelsTest, CreateStartsPendingWithAnIdAndArtifactUriUnderTheExperiment) {
  LoggedModel model = NewModel("model");
  ASSERT_EQ(model.model_id.size(), 34u);
  EXPECT_EQ(model.model_id.substr(0, 2), "m-");
  EXPECT_EQ(model.model_id.find_first_not_of("0123456789abcdef", 2), std::string::npos);
  EXPECT_EQ(model.experiment_id, experiment_id_);
  EXPECT_EQ(model.name, "model");
  EXPECT_EQ(model.status, "LOGGED_MODEL_PENDING");
  EXPECT_EQ(model.lifecycle_stage, "active");
  EXPECT_EQ(model.model_type, "sklearn");
  EXPECT_EQ(model.artifact_uri,
            "mlflow-artifacts:/" + experiment_id_ + "/models/" + model.model_id + "/artifacts");
  EXPECT_GT(model.creation_timestamp_ms, 0);
  EXPECT_EQ(model.creation_timestamp_ms, model.last_updated_timestamp_ms);
}

TEST_F(SqliteLoggedModelsTest, CreateWithoutANameGeneratesOne) {
  LoggedModel model = NewModel("");
  EXPECT_FALSE(model.name.empty());
}

TEST_F(SqliteLoggedModelsTest, CreateKeepsParamsTagsAndSourceRun) {
  std::string run_id = NewRunId();
  LoggedModel model = NewModel("m", {{"alpha", "0.1"}, {"beta", "2"}}, {{"mlflow.user", "ann"}},
                               run_id);
  EXPECT_EQ(Find(model.params, "alpha"), "0.1");
  EXPECT_EQ(Find(model.params, "beta"), "2");
  EXPECT_EQ(Find(model.tags, "mlflow.user"), "ann");
  EXPECT_EQ(model.source_run_id, run_id);
  auto again = store_->GetLoggedModel(model.model_id);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->params.size(), 2u);
  EXPECT_EQ(again->tags.size(), 1u);
}

TEST_F(SqliteLoggedModelsTest, CreateInAnUnknownExperimentIsNotFound) {
  CreateLoggedModelArgs args;
  args.experiment_id = "999";
  auto model = store_->CreateLoggedModel(args);
  ASSERT_FALSE(model.has_value());
  ExpectError(model.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteLoggedModelsTest, CreateInADeletedExperimentIsRefused) {
  ASSERT_TRUE(store_->DeleteExperiment(experiment_id_).has_value());
  CreateLoggedModelArgs args;
  args.experiment_id = experiment_id_;
  auto model = store_->CreateLoggedModel(args);
  ASSERT_FALSE(model.has_value());
  ExpectError(model.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(SqliteLoggedModelsTest, AFailedCreateLeavesNoModel) {
  CreateLoggedModelArgs args;
  args.experiment_id = experiment_id_;
  args.name = "broken";
  args.params = {{"k", "1"}, {"k", "2"}};  // write-once: the second value conflicts
  auto model = store_->CreateLoggedModel(args);
  ASSERT_FALSE(model.has_value());
  ExpectError(model.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(SearchNames(InExperiment()).empty());
}

TEST_F(SqliteLoggedModelsTest, GetUnknownModelIsNotFound) {
  auto model = store_->GetLoggedModel("m-00000000000000000000000000000000");
  ASSERT_FALSE(model.has_value());
  ExpectError(model.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteLoggedModelsTest, FinalizeSetsTheStatus) {
  LoggedModel model = NewModel("m");
  auto ready = store_->FinalizeLoggedModel(model.model_id, "LOGGED_MODEL_READY");
  ASSERT_TRUE(ready.has_value()) << ready.error().message;
  EXPECT_EQ(ready->status, "LOGGED_MODEL_READY");
  EXPECT_GE(ready->last_updated_timestamp_ms, model.last_updated_timestamp_ms);
  auto failed = store_->FinalizeLoggedModel(model.model_id, "LOGGED_MODEL_UPLOAD_FAILED");
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(store_->GetLoggedModel(model.model_id)->status, "LOGGED_MODEL_UPLOAD_FAILED");
}

TEST_F(SqliteLoggedModelsTest, DeleteIsSoftAndHidesTheModel) {
  LoggedModel model = NewModel("m");
  ASSERT_TRUE(store_->DeleteLoggedModel(model.model_id).has_value());
  auto get = store_->GetLoggedModel(model.model_id);
  ASSERT_FALSE(get.has_value());
  ExpectError(get.error(), ErrorCode::kResourceDoesNotExist);
  auto deleted = store_->GetLoggedModelIncludingDeleted(model.model_id);
  ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
  EXPECT_EQ(deleted->lifecycle_stage, "deleted");
  EXPECT_TRUE(SearchNames(InExperiment()).empty());
}

TEST_F(SqliteLoggedModelsTest, ADeletedModelCannotBeChanged) {
  LoggedModel model = NewModel("m", {}, {{"t", "v"}});
  ASSERT_TRUE(store_->DeleteLoggedModel(model.model_id).has_value());
  ExpectError(store_->DeleteLoggedModel(model.model_id).error(), ErrorCode::kResourceDoesNotExist);
  ExpectError(store_->FinalizeLoggedModel(model.model_id, "LOGGED_MODEL_READY").error(),
              ErrorCode::kResourceDoesNotExist);
  ExpectError(store_->SetLoggedModelTags(model.model_id, {{"a", "b"}}).error(),
              ErrorCode::kResourceDoesNotExist);
  ExpectError(store_->DeleteLoggedModelTag(model.model_id, "t").error(),
              ErrorCode::kResourceDoesNotExist);
  ExpectError(store_->LogLoggedModelParams(model.model_id, {{"p", "1"}}).error(),
              ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteLoggedModelsTest, SetTagsUpserts) {
  LoggedModel model = NewModel("m", {}, {{"a", "1"}});
  auto updated = store_->SetLoggedModelTags(model.model_id, {{"a", "2"}, {"b", "3"}});
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(Find(updated->tags, "a"), "2");
  EXPECT_EQ(Find(updated->tags, "b"), "3");
  EXPECT_EQ(updated->tags.size(), 2u);
}

TEST_F(SqliteLoggedModelsTest, DeleteTagRemovesItAndAMissingTagIsNotFound) {
  LoggedModel model = NewModel("m", {}, {{"mlflow.model.isExternal", "true"}});
  ASSERT_TRUE(store_->DeleteLoggedModelTag(model.model_id, "mlflow.model.isExternal"));
  EXPECT_TRUE(store_->GetLoggedModel(model.model_id)->tags.empty());
  auto again = store_->DeleteLoggedModelTag(model.model_id, "mlflow.model.isExternal");
  ASSERT_FALSE(again.has_value());
  ExpectError(again.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqliteLoggedModelsTest, ParamsAreWriteOnce) {
  LoggedModel model = NewModel("m", {{"a", "1"}});
  EXPECT_TRUE(store_->LogLoggedModelParams(model.model_id, {{"a", "1"}, {"b", "2"}}));
  auto changed = store_->LogLoggedModelParams(model.model_id, {{"c", "3"}, {"a", "9"}});
  ASSERT_FALSE(changed.has_value());
  ExpectError(changed.error(), ErrorCode::kInvalidParameterValue);
  // The failed call changed nothing, including the param before the conflict.
  auto got = store_->GetLoggedModel(model.model_id);
  EXPECT_EQ(Find(got->params, "a"), "1");
  EXPECT_EQ(Find(got->params, "b"), "2");
  EXPECT_EQ(Find(got->params, "c"), std::nullopt);
}

TEST_F(SqliteLoggedModelsTest, RunMetricsLoggedWithTheModelIdAreTheModelsMetrics) {
  std::string run_id = NewRunId();
  LoggedModel model = NewModel("m", {}, {}, run_id);
  LoggedModel other = NewModel("other");
  ASSERT_TRUE(store_->LogBatch(run_id,
                               {M("acc", 0.9, 10, 1, model.model_id, "train", "d1"),
                                M("acc", 0.95, 20, 2, model.model_id),
                                M("loss", 0.1, 10, 1, ""), M("f1", 0.5, 10, 1, other.model_id)},
                               {}, {}));
  auto got = store_->GetLoggedModel(model.model_id);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->metrics.size(), 2u);
  EXPECT_EQ(got->metrics[0].key, "acc");
  EXPECT_EQ(got->metrics[0].value, 0.9);
  EXPECT_EQ(got->metrics[0].run_id, run_id);
  EXPECT_EQ(got->metrics[0].model_id, model.model_id);
  EXPECT_EQ(got->metrics[0].dataset_name, "train");
  EXPECT_EQ(got->metrics[0].dataset_digest, "d1");
  EXPECT_EQ(got->metrics[1].value, 0.95);
  EXPECT_EQ(store_->GetLoggedModel(other.model_id)->metrics.size(), 1u);
}

TEST_F(SqliteLoggedModelsTest, RelinkingARunPointWithTheModelIdKeepsItForTheModel) {
  // log_model copies the run's metric points onto the model by logging them again with its id.
  std::string run_id = NewRunId();
  ASSERT_TRUE(store_->LogBatch(run_id, {M("acc", 0.7, 10, 0, "")}, {}, {}));
  LoggedModel first = NewModel("first", {}, {}, run_id);
  LoggedModel second = NewModel("second", {}, {}, run_id);
  ASSERT_TRUE(store_->LogBatch(run_id, {M("acc", 0.7, 10, 0, first.model_id)}, {}, {}));
  ASSERT_TRUE(store_->LogBatch(run_id, {M("acc", 0.7, 10, 0, second.model_id)}, {}, {}));
  for (const LoggedModel& model : {first, second}) {
    auto got = store_->GetLoggedModel(model.model_id);
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->metrics.size(), 1u) << model.name;
    EXPECT_EQ(got->metrics[0].value, 0.7);
  }
  // The run's own history keeps one point.
  auto history = store_->GetMetricHistory(run_id, "acc", std::nullopt, 0);
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(history->first.size(), 1u);
}

TEST_F(SqliteLoggedModelsTest, SearchIsScopedToTheGivenExperiments) {
  NewModel("here");
  auto other_experiment = store_->CreateExperiment("other", "", {});
  ASSERT_TRUE(other_experiment.has_value());
  CreateLoggedModelArgs args;
  args.experiment_id = *other_experiment;
  args.name = "there";
  ASSERT_TRUE(store_->CreateLoggedModel(args).has_value());
  EXPECT_EQ(SearchNames(InExperiment()), std::vector<std::string>{"here"});
  SearchLoggedModelsArgs both = InExperiment();
  both.experiment_ids.push_back(*other_experiment);
  EXPECT_EQ(SearchNames(both).size(), 2u);
}

TEST_F(SqliteLoggedModelsTest, SearchDefaultsToNewestFirst) {
  NewModel("first");
  NewModel("second");
  NewModel("third");
  // Creation times may tie within a millisecond; the model_id tiebreak keeps the order stable,
  // so only check that the newest-first rule holds where times differ.
  auto page = store_->SearchLoggedModels(InExperiment());
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->first.size(), 3u);
  for (std::size_t i = 1; i < page->first.size(); ++i) {
    EXPECT_GE(page->first[i - 1].creation_timestamp_ms, page->first[i].creation_timestamp_ms);
  }
}

TEST_F(SqliteLoggedModelsTest, SearchFiltersByAttributesParamsAndTags) {
  LoggedModel a = NewModel("alpha", {{"lr", "0.1"}}, {{"team", "x"}});
  NewModel("beta", {{"lr", "0.2"}}, {{"team", "y"}});
  ASSERT_TRUE(store_->FinalizeLoggedModel(a.model_id, "LOGGED_MODEL_READY"));
  SearchLoggedModelsArgs args = InExperiment();
  args.filter = Filter("name = 'beta'");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"beta"});
  args.filter = Filter("status = 'READY'");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"alpha"});
  args.filter = Filter("status = 'LOGGED_MODEL_PENDING'");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"beta"});
  args.filter = Filter("params.lr = '0.1'");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"alpha"});
  args.filter = Filter("tags.team != 'x'");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"beta"});
  args.filter = Filter("name LIKE '%a' AND model_type = 'sklearn'");
  EXPECT_EQ(SearchNames(args).size(), 2u);
  args.filter = Filter("model_id IN ('" + a.model_id + "')");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"alpha"});
}

TEST_F(SqliteLoggedModelsTest, SearchFiltersAndOrdersByMetrics) {
  std::string run_id = NewRunId();
  LoggedModel low = NewModel("low");
  LoggedModel high = NewModel("high");
  NewModel("none");
  ASSERT_TRUE(store_->LogBatch(run_id,
                               {M("acc", 0.5, 10, 0, low.model_id),
                                M("acc", 0.9, 10, 0, high.model_id)},
                               {}, {}));
  SearchLoggedModelsArgs args = InExperiment();
  args.filter = Filter("metrics.acc > 0.6");
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"high"});

  args.filter.clear();
  LoggedModelOrder by_acc;
  by_acc.kind = EntityKind::kMetric;
  by_acc.key = "acc";
  by_acc.ascending = false;
  args.order_by = {by_acc};
  EXPECT_EQ(SearchNames(args), (std::vector<std::string>{"high", "low", "none"}));
  args.order_by[0].ascending = true;
  // Models without the metric sort last either way.
  EXPECT_EQ(SearchNames(args), (std::vector<std::string>{"low", "high", "none"}));
}

TEST_F(SqliteLoggedModelsTest, MetricOrderUsesTheLatestPoint) {
  std::string run_id = NewRunId();
  LoggedModel a = NewModel("a");
  LoggedModel b = NewModel("b");
  ASSERT_TRUE(store_->LogBatch(run_id,
                               {M("acc", 0.9, 10, 0, a.model_id), M("acc", 0.1, 20, 1, a.model_id),
                                M("acc", 0.5, 10, 0, b.model_id)},
                               {}, {}));
  SearchLoggedModelsArgs args = InExperiment();
  LoggedModelOrder by_acc;
  by_acc.kind = EntityKind::kMetric;
  by_acc.key = "acc";
  by_acc.ascending = false;
  args.order_by = {by_acc};
  EXPECT_EQ(SearchNames(args), (std::vector<std::string>{"b", "a"}));
}

TEST_F(SqliteLoggedModelsTest, SearchOrdersByAttributes) {
  NewModel("b");
  NewModel("c");
  NewModel("a");
  SearchLoggedModelsArgs args = InExperiment();
  LoggedModelOrder by_name;
  by_name.key = "name";
  args.order_by = {by_name};
  EXPECT_EQ(SearchNames(args), (std::vector<std::string>{"a", "b", "c"}));
  args.order_by[0].ascending = false;
  EXPECT_EQ(SearchNames(args), (std::vector<std::string>{"c", "b", "a"}));
}

TEST_F(SqliteLoggedModelsTest, DatasetsRestrictMetricFilters) {
  std::string run_id = NewRunId();
  LoggedModel train = NewModel("train-only");
  LoggedModel eval = NewModel("eval-only");
  NewModel("no-metrics");
  ASSERT_TRUE(store_->LogBatch(run_id,
                               {M("acc", 0.9, 10, 0, train.model_id, "train", "t1"),
                                M("acc", 0.9, 10, 0, eval.model_id, "eval", "e1")},
                               {}, {}));
  SearchLoggedModelsArgs args = InExperiment();
  args.filter = Filter("metrics.acc > 0.5");
  args.datasets = {DatasetFilter{"eval", ""}};
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"eval-only"});
  args.datasets = {DatasetFilter{"eval", "wrong-digest"}};
  EXPECT_TRUE(SearchNames(args).empty());
  // Datasets alone: models with any metric on one of them.
  args.filter.clear();
  args.datasets = {DatasetFilter{"train", "t1"}};
  EXPECT_EQ(SearchNames(args), std::vector<std::string>{"train-only"});
}

TEST_F(SqliteLoggedModelsTest, SearchPages) {
  for (int i = 0; i < 5; ++i) NewModel("m" + std::to_string(i));
  SearchLoggedModelsArgs args = InExperiment();
  LoggedModelOrder by_name;
  by_name.key = "name";
  args.order_by = {by_name};
  args.max_results = 2;
  bool more = false;
  EXPECT_EQ(SearchNames(args, &more), (std::vector<std::string>{"m0", "m1"}));
  EXPECT_TRUE(more);
  args.offset = 4;
  EXPECT_EQ(SearchNames(args, &more), std::vector<std::string>{"m4"});
  EXPECT_FALSE(more);
}

TEST_F(SqliteLoggedModelsTest, ModelsSurviveReopening) {
  LoggedModel model = NewModel("durable", {{"p", "1"}}, {{"t", "2"}});
  store_.reset();
  Open();
  auto got = store_->GetLoggedModel(model.model_id);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->name, "durable");
  EXPECT_EQ(Find(got->params, "p"), "1");
  EXPECT_EQ(Find(got->tags, "t"), "2");
}

}  // namespace
}  // namespace hokusai::store::sql
