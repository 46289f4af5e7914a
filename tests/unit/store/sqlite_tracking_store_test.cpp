#include "store/sql/sql_tracking_store.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/search_filter.hpp"
#include "store/sql/migrations.hpp"
#include "store/sql/sqlite_connection.hpp"
#include "store/tracking_store.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {
namespace {

// ---- builders -------------------------------------------------------------------------------

Metric M(std::string key, double value, int64_t timestamp, int64_t step) {
  Metric m;
  m.key = std::move(key);
  m.value = value;
  m.timestamp = timestamp;
  m.step = step;
  return m;
}

Clause StringClause(EntityKind kind, std::string key, Comparator op, std::string value) {
  Clause c;
  c.kind = kind;
  c.key = std::move(key);
  c.op = op;
  c.value_kind = Clause::ValueKind::kString;
  c.string_value = std::move(value);
  return c;
}

Clause NumberClause(EntityKind kind, std::string key, Comparator op, double value) {
  Clause c;
  c.kind = kind;
  c.key = std::move(key);
  c.op = op;
  c.value_kind = Clause::ValueKind::kNumber;
  c.number_value = value;
  return c;
}

Clause ListClause(EntityKind kind, std::string key, Comparator op,
                  std::vector<std::string> values) {
  Clause c;
  c.kind = kind;
  c.key = std::move(key);
  c.op = op;
  c.value_kind = Clause::ValueKind::kList;
  c.list_value = std::move(values);
  return c;
}

OrderTerm Order(EntityKind kind, std::string key, bool ascending) {
  OrderTerm term;
  term.kind = kind;
  term.key = std::move(key);
  term.ascending = ascending;
  return term;
}

DatasetInput Input(std::string name, std::string digest, std::vector<Tag> tags = {}) {
  DatasetInput input;
  input.dataset.name = std::move(name);
  input.dataset.digest = std::move(digest);
  input.dataset.source_type = "local";
  input.dataset.source = "{\"uri\": \"/data\"}";
  input.tags = std::move(tags);
  return input;
}

std::optional<std::string> Find(const std::vector<Tag>& items, const std::string& key) {
  for (const Tag& item : items) {
    if (item.key == key) return item.value;
  }
  return std::nullopt;
}

std::optional<Metric> FindMetric(const store::Run& run, const std::string& key) {
  for (const Metric& m : run.metrics) {
    if (m.key == key) return m;
  }
  return std::nullopt;
}

std::vector<int64_t> Steps(const std::vector<Metric>& metrics) {
  std::vector<int64_t> out;
  for (const Metric& m : metrics) out.push_back(m.step);
  return out;
}

void ExpectError(const Error& error, ErrorCode code) {
  EXPECT_EQ(error.code, code) << ErrorCodeName(error.code) << ": " << error.message;
  EXPECT_FALSE(error.message.empty());
}

// ---- fixture --------------------------------------------------------------------------------

// A fresh database file in its own temporary directory for every test.
class SqlTrackingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-store-" + NewHexId());
    std::filesystem::create_directories(dir_);
    Open();
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

  void Reopen() {
    store_.reset();
    Open();
  }

  std::string NewExperiment(const std::string& name, std::vector<Tag> tags = {}) {
    auto id = store_->CreateExperiment(name, "", tags);
    EXPECT_TRUE(id.has_value()) << name << ": " << (id ? "" : id.error().message);
    return id ? *id : std::string();
  }

  store::Run NewRun(const std::string& experiment_id, const std::string& run_name = "",
             int64_t start_time = 1000, std::vector<Tag> tags = {}) {
    CreateRunArgs args;
    args.experiment_id = experiment_id;
    args.user_id = "tester";
    args.run_name = run_name;
    args.start_time = start_time;
    args.tags = std::move(tags);
    auto run = store_->CreateRun(args);
    EXPECT_TRUE(run.has_value()) << (run ? "" : run.error().message);
    return run ? *run : store::Run{};
  }

  void Log(const std::string& run_id, const std::vector<Metric>& metrics,
           const std::vector<Tag>& params = {}, const std::vector<Tag>& tags = {}) {
    auto logged = store_->LogBatch(run_id, metrics, params, tags);
    EXPECT_TRUE(logged.has_value()) << (logged ? "" : logged.error().message);
  }

  store::Run Get(const std::string& run_id) {
    auto run = store_->GetRun(run_id);
    EXPECT_TRUE(run.has_value()) << (run ? "" : run.error().message);
    return run ? *run : store::Run{};
  }

  Experiment GetExperiment(const std::string& id) {
    auto experiment = store_->GetExperiment(id);
    EXPECT_TRUE(experiment.has_value()) << (experiment ? "" : experiment.error().message);
    return experiment ? *experiment : Experiment{};
  }

  std::vector<Metric> History(const std::string& run_id, const std::string& key) {
    auto page = store_->GetMetricHistory(run_id, key, std::nullopt, 0);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    return page ? page->first : std::vector<Metric>{};
  }

  // store::Run names of one search page, in order.
  std::vector<std::string> SearchNames(SearchRunsArgs args, bool* more = nullptr) {
    auto page = store_->SearchRuns(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> names;
    if (!page) return names;
    for (const store::Run& run : page->first) names.push_back(run.info.run_name);
    if (more != nullptr) *more = page->second;
    return names;
  }

  SearchRunsArgs InExperiment(const std::string& experiment_id) {
    SearchRunsArgs args;
    args.experiment_ids = {experiment_id};
    return args;
  }

  // Names of one experiment search page, in order.
  std::vector<std::string> SearchExperimentNames(SearchExperimentsArgs args,
                                                 bool* more = nullptr) {
    auto page = store_->SearchExperiments(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> names;
    if (!page) return names;
    for (const Experiment& e : page->first) names.push_back(e.name);
    if (more != nullptr) *more = page->second;
    return names;
  }

  // Rows of `table`, read straight from the database (the metric log is not visible otherwise).
  int64_t Rows(const std::string& table) { return Count("SELECT count(*) FROM " + table); }
  // Points waiting in the log, and points stored in blocks (decision 0020).
  int64_t LogPoints() { return Count("SELECT coalesce(sum(points), 0) FROM metric_log"); }
  int64_t StoredPoints() { return Count("SELECT coalesce(sum(points), 0) FROM metric_blocks"); }
  int64_t Count(const std::string& sql) {
    auto conn = store_->pool()->Acquire();
    auto stmt = conn->Prepare(sql);
    EXPECT_TRUE(stmt.has_value());
    if (!stmt) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return row && *row ? stmt->Int(0) : -1;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqlTrackingStore> store_;
};

using Names = std::vector<std::string>;

// ---- experiments ----------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, DefaultExperimentExists) {
  Experiment e = GetExperiment("0");
  EXPECT_EQ(e.experiment_id, "0");
  EXPECT_EQ(e.name, "Default");
  EXPECT_EQ(e.lifecycle_stage, "active");
  EXPECT_EQ(e.artifact_location, "mlflow-artifacts:/0");
  EXPECT_GT(e.creation_time, 0);
  auto by_name = store_->GetExperimentByName("Default");
  ASSERT_TRUE(by_name.has_value());
  EXPECT_EQ(by_name->experiment_id, "0");
}

TEST_F(SqlTrackingStoreTest, PingAnswers) { EXPECT_TRUE(store_->Ping().has_value()); }

TEST_F(SqlTrackingStoreTest, CreateExperimentAssignsNewIdsAndDefaultArtifactLocation) {
  int64_t before = NowMillis();
  std::string a = NewExperiment("a");
  std::string b = NewExperiment("b");
  int64_t after = NowMillis();
  EXPECT_NE(a, b);
  EXPECT_NE(a, "0");
  ASSERT_TRUE(ParseInt64(a).has_value()) << a;
  Experiment e = GetExperiment(a);
  EXPECT_EQ(e.experiment_id, a);
  EXPECT_EQ(e.name, "a");
  EXPECT_EQ(e.lifecycle_stage, "active");
  EXPECT_EQ(e.artifact_location, "mlflow-artifacts:/" + a);
  EXPECT_GE(e.creation_time, before);
  EXPECT_LE(e.creation_time, after);
  EXPECT_EQ(e.last_update_time, e.creation_time);
}

TEST_F(SqlTrackingStoreTest, CreateExperimentKeepsAnExplicitArtifactLocation) {
  auto id = store_->CreateExperiment("x", "s3://bucket/path", {});
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(GetExperiment(*id).artifact_location, "s3://bucket/path");
}

TEST_F(SqlTrackingStoreTest, CreateExperimentStoresTags) {
  std::string id = NewExperiment("x", {{"team", "ml"}, {"note", "ü"}});
  Experiment e = GetExperiment(id);
  EXPECT_EQ(Find(e.tags, "team"), std::optional<std::string>("ml"));
  EXPECT_EQ(Find(e.tags, "note"), std::optional<std::string>("ü"));
}

TEST_F(SqlTrackingStoreTest, GetExperimentByNameFindsTheExperiment) {
  std::string id = NewExperiment("by-name");
  auto e = store_->GetExperimentByName("by-name");
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ(e->experiment_id, id);
}

TEST_F(SqlTrackingStoreTest, GetExperimentByUnknownNameIsNotFound) {
  NewExperiment("known");
  auto e = store_->GetExperimentByName("unknown");
  ASSERT_FALSE(e.has_value());
  ExpectError(e.error(), ErrorCode::kResourceDoesNotExist);
  auto case_differs = store_->GetExperimentByName("KNOWN");
  EXPECT_FALSE(case_differs.has_value());
}

TEST_F(SqlTrackingStoreTest, GetUnknownExperimentIsNotFound) {
  for (const char* id : {"999", "abc", "", "-1", "1.0"}) {
    auto e = store_->GetExperiment(id);
    ASSERT_FALSE(e.has_value()) << id;
    ExpectError(e.error(), ErrorCode::kResourceDoesNotExist);
  }
}

TEST_F(SqlTrackingStoreTest, CreateExperimentWithTakenNameIsAlreadyExists) {
  std::string id = NewExperiment("dup");
  for (const char* name : {"dup", "Default"}) {
    auto again = store_->CreateExperiment(name, "", {});
    ASSERT_FALSE(again.has_value()) << name;
    ExpectError(again.error(), ErrorCode::kResourceAlreadyExists);
  }
  // A deleted experiment still holds its name.
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  auto after_delete = store_->CreateExperiment("dup", "", {});
  ASSERT_FALSE(after_delete.has_value());
  ExpectError(after_delete.error(), ErrorCode::kResourceAlreadyExists);
  SearchExperimentsArgs all;
  all.view_type = ViewType::kAll;
  EXPECT_EQ(SearchExperimentNames(all).size(), 2u);
}

TEST_F(SqlTrackingStoreTest, RenameExperimentChangesTheName) {
  std::string id = NewExperiment("old");
  int64_t before = NowMillis();
  ASSERT_TRUE(store_->RenameExperiment(id, "new").has_value());
  Experiment e = GetExperiment(id);
  EXPECT_EQ(e.name, "new");
  EXPECT_GE(e.last_update_time, before);
  EXPECT_FALSE(store_->GetExperimentByName("old").has_value());
  auto by_new = store_->GetExperimentByName("new");
  ASSERT_TRUE(by_new.has_value());
  EXPECT_EQ(by_new->experiment_id, id);
}

TEST_F(SqlTrackingStoreTest, RenameExperimentToItsOwnNameSucceeds) {
  std::string id = NewExperiment("same");
  EXPECT_TRUE(store_->RenameExperiment(id, "same").has_value());
}

TEST_F(SqlTrackingStoreTest, RenameExperimentToTakenNameIsAlreadyExists) {
  std::string a = NewExperiment("a");
  NewExperiment("b");
  auto renamed = store_->RenameExperiment(a, "b");
  ASSERT_FALSE(renamed.has_value());
  ExpectError(renamed.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(GetExperiment(a).name, "a");
}

TEST_F(SqlTrackingStoreTest, RenameDeletedExperimentIsInvalidState) {
  std::string id = NewExperiment("gone");
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  auto renamed = store_->RenameExperiment(id, "back");
  ASSERT_FALSE(renamed.has_value());
  ExpectError(renamed.error(), ErrorCode::kInvalidState);
}

TEST_F(SqlTrackingStoreTest, DeleteExperimentCascadesToItsRuns) {
  std::string id = NewExperiment("doomed");
  std::string other = NewExperiment("bystander");
  store::Run r1 = NewRun(id, "r1");
  store::Run r2 = NewRun(id, "r2");
  store::Run keep = NewRun(other, "keep");
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  EXPECT_EQ(GetExperiment(id).lifecycle_stage, "deleted");
  EXPECT_EQ(Get(r1.info.run_id).info.lifecycle_stage, "deleted");
  EXPECT_EQ(Get(r2.info.run_id).info.lifecycle_stage, "deleted");
  EXPECT_EQ(Get(keep.info.run_id).info.lifecycle_stage, "active");
}

TEST_F(SqlTrackingStoreTest, RestoreExperimentRestoresItsRuns) {
  std::string id = NewExperiment("back");
  store::Run r1 = NewRun(id, "r1");
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  ASSERT_TRUE(store_->RestoreExperiment(id).has_value());
  EXPECT_EQ(GetExperiment(id).lifecycle_stage, "active");
  EXPECT_EQ(Get(r1.info.run_id).info.lifecycle_stage, "active");
  EXPECT_EQ(SearchNames(InExperiment(id)), Names({"r1"}));
}

TEST_F(SqlTrackingStoreTest, DeleteUnknownExperimentIsNotFound) {
  auto deleted = store_->DeleteExperiment("42");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, SetExperimentTagAddsAndOverwrites) {
  std::string id = NewExperiment("tagged");
  ASSERT_TRUE(store_->SetExperimentTag(id, {"k", "v1"}).has_value());
  EXPECT_EQ(Find(GetExperiment(id).tags, "k"), std::optional<std::string>("v1"));
  ASSERT_TRUE(store_->SetExperimentTag(id, {"k", "v2"}).has_value());
  Experiment e = GetExperiment(id);
  EXPECT_EQ(Find(e.tags, "k"), std::optional<std::string>("v2"));
  EXPECT_EQ(e.tags.size(), 1u);
}

TEST_F(SqlTrackingStoreTest, DeleteExperimentTagRemovesIt) {
  std::string id = NewExperiment("tagged", {{"a", "1"}, {"b", "2"}});
  ASSERT_TRUE(store_->DeleteExperimentTag(id, "a").has_value());
  Experiment e = GetExperiment(id);
  EXPECT_FALSE(Find(e.tags, "a").has_value());
  EXPECT_EQ(Find(e.tags, "b"), std::optional<std::string>("2"));
}

TEST_F(SqlTrackingStoreTest, DeleteMissingExperimentTagIsNotFound) {
  std::string id = NewExperiment("tagged");
  auto deleted = store_->DeleteExperimentTag(id, "nope");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, ExperimentTagsNeedAnActiveExperiment) {
  std::string id = NewExperiment("gone", {{"a", "1"}});
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  auto set = store_->SetExperimentTag(id, {"k", "v"});
  ASSERT_FALSE(set.has_value());
  ExpectError(set.error(), ErrorCode::kInvalidParameterValue);
  auto deleted = store_->DeleteExperimentTag(id, "a");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kInvalidParameterValue);
}

// ---- runs -----------------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, CreateRunFillsRunInfo) {
  std::string id = NewExperiment("runs");
  store::Run run = NewRun(id, "named", 1234);
  const RunInfo& info = run.info;
  EXPECT_EQ(info.run_id.size(), 32u);
  EXPECT_EQ(info.run_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(info.experiment_id, id);
  EXPECT_EQ(info.user_id, "tester");
  EXPECT_EQ(info.status, "RUNNING");
  EXPECT_EQ(info.start_time, 1234);
  EXPECT_FALSE(info.end_time.has_value());
  EXPECT_EQ(info.lifecycle_stage, "active");
  EXPECT_EQ(info.artifact_uri, "mlflow-artifacts:/" + id + "/" + info.run_id + "/artifacts");
  store::Run again = Get(info.run_id);
  EXPECT_EQ(again.info.run_name, "named");
  EXPECT_EQ(again.info.start_time, 1234);
}

TEST_F(SqlTrackingStoreTest, CreateRunWithoutNameGeneratesNameAndRunNameTag) {
  store::Run run = NewRun("0");
  EXPECT_TRUE(std::regex_match(run.info.run_name, std::regex("^[a-z]+-[a-z]+-[0-9]{1,3}$")))
      << run.info.run_name;
  EXPECT_EQ(Find(run.tags, "mlflow.runName"), std::optional<std::string>(run.info.run_name));
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(stored.info.run_name, run.info.run_name);
  EXPECT_EQ(Find(stored.tags, "mlflow.runName"), std::optional<std::string>(run.info.run_name));
}

TEST_F(SqlTrackingStoreTest, CreateRunWithNameAddsRunNameTag) {
  store::Run run = NewRun("0", "given");
  EXPECT_EQ(run.info.run_name, "given");
  EXPECT_EQ(Find(Get(run.info.run_id).tags, "mlflow.runName"), std::optional<std::string>("given"));
}

TEST_F(SqlTrackingStoreTest, CreateRunTakesNameFromRunNameTag) {
  store::Run run = NewRun("0", "", 1000, {{"mlflow.runName", "from-tag"}, {"other", "x"}});
  EXPECT_EQ(run.info.run_name, "from-tag");
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(stored.info.run_name, "from-tag");
  EXPECT_EQ(Find(stored.tags, "mlflow.runName"), std::optional<std::string>("from-tag"));
  EXPECT_EQ(Find(stored.tags, "other"), std::optional<std::string>("x"));
}

TEST_F(SqlTrackingStoreTest, CreateRunAcceptsMatchingNameAndTag) {
  store::Run run = NewRun("0", "same", 1000, {{"mlflow.runName", "same"}});
  EXPECT_EQ(run.info.run_name, "same");
}

TEST_F(SqlTrackingStoreTest, CreateRunWithConflictingNameAndTagFails) {
  std::string id = NewExperiment("conflict");
  CreateRunArgs args;
  args.experiment_id = id;
  args.run_name = "a";
  args.tags = {{"mlflow.runName", "b"}};
  auto run = store_->CreateRun(args);
  ASSERT_FALSE(run.has_value());
  ExpectError(run.error(), ErrorCode::kInvalidParameterValue);
  SearchRunsArgs all = InExperiment(id);
  all.view_type = ViewType::kAll;
  EXPECT_TRUE(SearchNames(all).empty());
}

TEST_F(SqlTrackingStoreTest, CreateRunWithoutExperimentUsesTheDefault) {
  CreateRunArgs args;
  auto run = store_->CreateRun(args);
  ASSERT_TRUE(run.has_value()) << run.error().message;
  EXPECT_EQ(run->info.experiment_id, "0");
}

TEST_F(SqlTrackingStoreTest, CreateRunInUnknownExperimentIsNotFound) {
  CreateRunArgs args;
  args.experiment_id = "77";
  auto run = store_->CreateRun(args);
  ASSERT_FALSE(run.has_value());
  ExpectError(run.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, CreateRunInDeletedExperimentFails) {
  std::string id = NewExperiment("deleted");
  ASSERT_TRUE(store_->DeleteExperiment(id).has_value());
  CreateRunArgs args;
  args.experiment_id = id;
  auto run = store_->CreateRun(args);
  ASSERT_FALSE(run.has_value());
  ExpectError(run.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(SqlTrackingStoreTest, GetUnknownRunIsNotFound) {
  auto run = store_->GetRun(NewHexId());
  ASSERT_FALSE(run.has_value());
  ExpectError(run.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, GetRunInfoIsTheRunsInfoDeletedRunsIncluded) {
  store::Run run = NewRun("0", "", 1000, {{"t", "v"}});
  auto info = store_->GetRunInfo(run.info.run_id);
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->run_id, run.info.run_id);
  EXPECT_EQ(info->experiment_id, "0");
  EXPECT_EQ(info->artifact_uri, run.info.artifact_uri);
  EXPECT_EQ(info->lifecycle_stage, "active");
  ASSERT_TRUE(store_->DeleteRun(run.info.run_id).has_value());
  info = store_->GetRunInfo(run.info.run_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->lifecycle_stage, "deleted");
  auto missing = store_->GetRunInfo(NewHexId());
  ASSERT_FALSE(missing.has_value());
  ExpectError(missing.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, UpdateRunSetsStatusEndTimeAndName) {
  store::Run run = NewRun("0", "before");
  UpdateRunArgs update;
  update.run_id = run.info.run_id;
  update.status = "FINISHED";
  update.end_time = 5000;
  update.run_name = "after";
  auto info = store_->UpdateRun(update);
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->status, "FINISHED");
  EXPECT_EQ(info->end_time, std::optional<int64_t>(5000));
  EXPECT_EQ(info->run_name, "after");
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(stored.info.status, "FINISHED");
  EXPECT_EQ(stored.info.end_time, std::optional<int64_t>(5000));
  EXPECT_EQ(stored.info.run_name, "after");
  EXPECT_EQ(Find(stored.tags, "mlflow.runName"), std::optional<std::string>("after"));
}

TEST_F(SqlTrackingStoreTest, UpdateRunKeepsUnsetFields) {
  store::Run run = NewRun("0", "kept");
  UpdateRunArgs update;
  update.run_id = run.info.run_id;
  update.status = "KILLED";
  ASSERT_TRUE(store_->UpdateRun(update).has_value());
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(stored.info.status, "KILLED");
  EXPECT_EQ(stored.info.run_name, "kept");
  EXPECT_FALSE(stored.info.end_time.has_value());
}

TEST_F(SqlTrackingStoreTest, SetRunNameTagRenamesTheRun) {
  store::Run run = NewRun("0", "first");
  ASSERT_TRUE(store_->SetRunTag(run.info.run_id, {"mlflow.runName", "second"}).has_value());
  EXPECT_EQ(Get(run.info.run_id).info.run_name, "second");
}

TEST_F(SqlTrackingStoreTest, SetRunTagAddsAndOverwrites) {
  store::Run run = NewRun("0");
  ASSERT_TRUE(store_->SetRunTag(run.info.run_id, {"k", "1"}).has_value());
  ASSERT_TRUE(store_->SetRunTag(run.info.run_id, {"k", "2"}).has_value());
  EXPECT_EQ(Find(Get(run.info.run_id).tags, "k"), std::optional<std::string>("2"));
}

TEST_F(SqlTrackingStoreTest, DeleteRunTagRemovesIt) {
  store::Run run = NewRun("0", "", 1000, {{"k", "v"}});
  ASSERT_TRUE(store_->DeleteRunTag(run.info.run_id, "k").has_value());
  EXPECT_FALSE(Find(Get(run.info.run_id).tags, "k").has_value());
}

TEST_F(SqlTrackingStoreTest, DeleteMissingRunTagIsNotFound) {
  store::Run run = NewRun("0");
  auto deleted = store_->DeleteRunTag(run.info.run_id, "nope");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, DeleteRunMarksItDeletedAndRestoreRevivesIt) {
  store::Run run = NewRun("0");
  ASSERT_TRUE(store_->DeleteRun(run.info.run_id).has_value());
  EXPECT_EQ(Get(run.info.run_id).info.lifecycle_stage, "deleted");
  ASSERT_TRUE(store_->RestoreRun(run.info.run_id).has_value());
  EXPECT_EQ(Get(run.info.run_id).info.lifecycle_stage, "active");
}

TEST_F(SqlTrackingStoreTest, DeleteUnknownRunIsNotFound) {
  auto deleted = store_->DeleteRun(NewHexId());
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, WritesToADeletedRunAreInvalid) {
  store::Run run = NewRun("0", "", 1000, {{"t", "v"}});
  const std::string& id = run.info.run_id;
  ASSERT_TRUE(store_->DeleteRun(id).has_value());

  std::vector<std::pair<std::string, Result<void>>> attempts;
  attempts.emplace_back("LogBatch metric", store_->LogBatch(id, {M("m", 1, 1, 0)}, {}, {}));
  attempts.emplace_back("LogBatch param", store_->LogBatch(id, {}, {{"p", "1"}}, {}));
  attempts.emplace_back("SetRunTag", store_->SetRunTag(id, {"k", "v"}));
  attempts.emplace_back("DeleteRunTag", store_->DeleteRunTag(id, "t"));
  attempts.emplace_back("LogInputs", store_->LogInputs(id, {Input("d", "1")}, {}));
  attempts.emplace_back("LogOutputs", store_->LogOutputs(id, {ModelOutput{"m-1", 0}}));
  UpdateRunArgs update;
  update.run_id = id;
  update.status = "FINISHED";
  auto updated = store_->UpdateRun(update);
  attempts.emplace_back("UpdateRun",
                        updated ? Result<void>() : Result<void>(tl::unexpected(updated.error())));
  for (const auto& [what, result] : attempts) {
    SCOPED_TRACE(what);
    ASSERT_FALSE(result.has_value());
    ExpectError(result.error(), ErrorCode::kInvalidParameterValue);
  }
  store::Run stored = Get(id);
  EXPECT_EQ(stored.info.lifecycle_stage, "deleted");
  EXPECT_EQ(stored.info.status, "RUNNING");
  EXPECT_TRUE(stored.metrics.empty());
  EXPECT_TRUE(stored.params.empty());
  EXPECT_EQ(Find(stored.tags, "t"), std::optional<std::string>("v"));
}

// ---- logging --------------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, LogBatchWritesMetricsParamsAndTags) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("loss", 0.5, 10, 1), M("acc", 0.9, 10, 1)}, {{"lr", "0.01"}},
      {{"team", "ml"}});
  store::Run stored = Get(run.info.run_id);
  auto loss = FindMetric(stored, "loss");
  ASSERT_TRUE(loss.has_value());
  EXPECT_EQ(loss->value, 0.5);
  EXPECT_EQ(loss->timestamp, 10);
  EXPECT_EQ(loss->step, 1);
  EXPECT_TRUE(FindMetric(stored, "acc").has_value());
  EXPECT_EQ(Find(stored.params, "lr"), std::optional<std::string>("0.01"));
  EXPECT_EQ(Find(stored.tags, "team"), std::optional<std::string>("ml"));
}

TEST_F(SqlTrackingStoreTest, LogBatchWithConflictingParamWritesNothing) {
  store::Run run = NewRun("0");
  const std::string& id = run.info.run_id;
  Log(id, {}, {{"p", "1"}});
  auto logged = store_->LogBatch(id, {M("m", 1.0, 10, 0), M("m2", 2.0, 10, 0)},
                                 {{"new", "x"}, {"p", "2"}, {"later", "y"}}, {{"t", "v"}});
  ASSERT_FALSE(logged.has_value());
  ExpectError(logged.error(), ErrorCode::kInvalidParameterValue);

  store::Run stored = Get(id);
  EXPECT_EQ(stored.params.size(), 1u);
  EXPECT_EQ(Find(stored.params, "p"), std::optional<std::string>("1"));
  EXPECT_FALSE(Find(stored.params, "new").has_value());
  EXPECT_FALSE(Find(stored.params, "later").has_value());
  EXPECT_TRUE(stored.metrics.empty());
  EXPECT_TRUE(History(id, "m").empty());
  EXPECT_TRUE(History(id, "m2").empty());
  EXPECT_FALSE(Find(stored.tags, "t").has_value());
}

TEST_F(SqlTrackingStoreTest, LogBatchWithConflictingParamsInOneBatchWritesNothing) {
  store::Run run = NewRun("0");
  auto logged = store_->LogBatch(run.info.run_id, {M("m", 1.0, 10, 0)},
                                 {{"p", "1"}, {"p", "2"}}, {});
  ASSERT_FALSE(logged.has_value());
  ExpectError(logged.error(), ErrorCode::kInvalidParameterValue);
  store::Run stored = Get(run.info.run_id);
  EXPECT_TRUE(stored.params.empty());
  EXPECT_TRUE(stored.metrics.empty());
}

TEST_F(SqlTrackingStoreTest, LogBatchAcceptsTheSameParamValueAgain) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {}, {{"p", "1"}});
  Log(run.info.run_id, {}, {{"p", "1"}, {"q", "2"}});
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(Find(stored.params, "p"), std::optional<std::string>("1"));
  EXPECT_EQ(Find(stored.params, "q"), std::optional<std::string>("2"));
}

TEST_F(SqlTrackingStoreTest, LogBatchToUnknownRunIsNotFound) {
  auto logged = store_->LogBatch(NewHexId(), {M("m", 1, 1, 0)}, {}, {});
  ASSERT_FALSE(logged.has_value());
  ExpectError(logged.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, LatestMetricPrefersTheHighestStep) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1.0, 5, 2)});
  Log(run.info.run_id, {M("m", 100.0, 999, 1)});  // later timestamp, larger value, lower step
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 2);
  EXPECT_EQ(latest->value, 1.0);
  EXPECT_EQ(latest->timestamp, 5);
}

TEST_F(SqlTrackingStoreTest, LatestMetricPrefersTheLatestTimestampWithinAStep) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 5.0, 10, 1)});
  Log(run.info.run_id, {M("m", -5.0, 20, 1)});
  Log(run.info.run_id, {M("m", 50.0, 15, 1)});
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->timestamp, 20);
  EXPECT_EQ(latest->value, -5.0);
}

TEST_F(SqlTrackingStoreTest, LatestMetricPrefersTheLargestValueOnTies) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1.0, 10, 1)});
  Log(run.info.run_id, {M("m", 3.0, 10, 1)});
  Log(run.info.run_id, {M("m", 2.0, 10, 1)});
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->value, 3.0);
}

TEST_F(SqlTrackingStoreTest, LatestMetricDoesNotDependOnLoggingOrder) {
  std::vector<Metric> points = {M("m", 7.0, 30, 0), M("m", 1.0, 10, 3), M("m", 2.0, 10, 3),
                                M("m", 9.0, 5, 3), M("m", 0.5, 40, 2)};
  store::Run forward = NewRun("0", "forward");
  store::Run backward = NewRun("0", "backward");
  store::Run batched = NewRun("0", "batched");
  for (const Metric& m : points) Log(forward.info.run_id, {m});
  for (auto it = points.rbegin(); it != points.rend(); ++it) Log(backward.info.run_id, {*it});
  Log(batched.info.run_id, points);
  for (const store::Run* run : {&forward, &backward, &batched}) {
    SCOPED_TRACE(run->info.run_name);
    auto latest = FindMetric(Get(run->info.run_id), "m");
    ASSERT_TRUE(latest.has_value());
    EXPECT_EQ(latest->step, 3);
    EXPECT_EQ(latest->timestamp, 10);
    EXPECT_EQ(latest->value, 2.0);
  }
}

TEST_F(SqlTrackingStoreTest, NanMetricRoundTrips) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", std::numeric_limits<double>::quiet_NaN(), 10, 0)});
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_TRUE(std::isnan(latest->value)) << latest->value;
  std::vector<Metric> history = History(run.info.run_id, "m");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_TRUE(std::isnan(history[0].value)) << history[0].value;
}

TEST_F(SqlTrackingStoreTest, NanAndZeroAtTheSamePointAreDistinct) {
  store::Run run = NewRun("0");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Log(run.info.run_id, {M("m", 0.0, 10, 0), M("m", nan, 10, 0)});
  std::vector<Metric> history = History(run.info.run_id, "m");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_NE(std::isnan(history[0].value), std::isnan(history[1].value));
}

TEST_F(SqlTrackingStoreTest, PositiveInfinityIsStoredAsTheLargestDouble) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", std::numeric_limits<double>::infinity(), 10, 0)});
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->value, std::numeric_limits<double>::max());
  std::vector<Metric> history = History(run.info.run_id, "m");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].value, std::numeric_limits<double>::max());
}

TEST_F(SqlTrackingStoreTest, NegativeInfinityIsStoredAsTheLowestDouble) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", -std::numeric_limits<double>::infinity(), 10, 0)});
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->value, std::numeric_limits<double>::lowest());
}

TEST_F(SqlTrackingStoreTest, IdenticalMetricPointsAreStoredOnce) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1.5, 10, 1), M("m", 1.5, 10, 1)});
  Log(run.info.run_id, {M("m", 1.5, 10, 1)});
  EXPECT_EQ(History(run.info.run_id, "m").size(), 1u);
}

TEST_F(SqlTrackingStoreTest, MetricPointsDifferingInAnyFieldAreAllKept) {
  store::Run run = NewRun("0");
  Log(run.info.run_id,
      {M("m", 1.5, 10, 1), M("m", 2.5, 10, 1), M("m", 1.5, 11, 1), M("m", 1.5, 10, 2)});
  EXPECT_EQ(History(run.info.run_id, "m").size(), 4u);
}

TEST_F(SqlTrackingStoreTest, MetricHistoryIsOrderedByTimestampThenStep) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1, 30, 0), M("m", 2, 10, 5), M("m", 3, 20, 1), M("m", 4, 10, 2),
                        M("other", 9, 1, 0)});
  std::vector<Metric> history = History(run.info.run_id, "m");
  ASSERT_EQ(history.size(), 4u);
  std::vector<std::pair<int64_t, int64_t>> order;
  for (const Metric& m : history) {
    order.emplace_back(m.timestamp, m.step);
    EXPECT_EQ(m.key, "m");
    EXPECT_TRUE(m.run_id.empty());  // the caller knows it; not copied into every point
  }
  EXPECT_EQ(order, (std::vector<std::pair<int64_t, int64_t>>{{10, 2}, {10, 5}, {20, 1}, {30, 0}}));
}

TEST_F(SqlTrackingStoreTest, MetricHistoryPagesResumeAfterTheLastPoint) {
  store::Run run = NewRun("0");
  std::vector<Metric> points;
  for (int i = 0; i < 5; ++i) points.push_back(M("m", i, 100 + i, i));
  Log(run.info.run_id, points);
  const std::string& id = run.info.run_id;

  auto first = store_->GetMetricHistory(id, "m", std::nullopt, 2);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(Steps(first->first), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(first->second);
  auto second = store_->GetMetricHistory(id, "m", MetricCursor{101, 1, 1.0, false}, 2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(Steps(second->first), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(second->second);
  auto last = store_->GetMetricHistory(id, "m", MetricCursor{103, 3, 3.0, false}, 2);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(Steps(last->first), (std::vector<int64_t>{4}));
  EXPECT_FALSE(last->second);
}

TEST_F(SqlTrackingStoreTest, MetricHistoryPagesThroughTiesAndNaNOneAtATime) {
  // Same timestamp and step, told apart by value and by is_nan (NaN is stored as 0 + is_nan).
  store::Run run = NewRun("0");
  double nan = std::numeric_limits<double>::quiet_NaN();
  Log(run.info.run_id, {M("m", 2.5, 7, 1), M("m", nan, 7, 1), M("m", 0.0, 7, 1),
                        M("m", -1.0, 7, 1), M("m", 9.0, 6, 3)});
  std::vector<std::pair<double, bool>> seen;  // value (0 for NaN), is_nan
  std::optional<MetricCursor> after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->GetMetricHistory(run.info.run_id, "m", after, 1);
    ASSERT_TRUE(page.has_value());
    ASSERT_EQ(page->first.size(), 1u);
    const Metric& m = page->first.front();
    bool is_nan = std::isnan(m.value);
    seen.emplace_back(is_nan ? 0.0 : m.value, is_nan);
    after = MetricCursor{m.timestamp, m.step, is_nan ? 0.0 : m.value, is_nan};
    if (!page->second) break;
  }
  EXPECT_EQ(seen, (std::vector<std::pair<double, bool>>{
                      {9.0, false}, {-1.0, false}, {0.0, false}, {0.0, true}, {2.5, false}}));
}

TEST_F(SqlTrackingStoreTest, MetricHistoryExactlyFillingAPageHasNoMore) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1, 1, 0), M("m", 2, 2, 1)});
  auto page = store_->GetMetricHistory(run.info.run_id, "m", std::nullopt, 2);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->first.size(), 2u);
  EXPECT_FALSE(page->second);
}

TEST_F(SqlTrackingStoreTest, MetricHistoryWithoutLimitReturnsEverything) {
  store::Run run = NewRun("0");
  std::vector<Metric> points;
  for (int i = 0; i < 30; ++i) points.push_back(M("m", i, i, i));
  Log(run.info.run_id, points);
  auto page = store_->GetMetricHistory(run.info.run_id, "m", std::nullopt, 0);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->first.size(), 30u);
  EXPECT_FALSE(page->second);
}

TEST_F(SqlTrackingStoreTest, MetricHistoryOfUnknownRunIsNotFound) {
  auto page = store_->GetMetricHistory(NewHexId(), "m", std::nullopt, 0);
  ASSERT_FALSE(page.has_value());
  ExpectError(page.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlTrackingStoreTest, MetricHistoryKeepsModelAndDatasetFields) {
  store::Run run = NewRun("0");
  Metric m = M("m", 1, 1, 0);
  m.model_id = "m-123";
  m.dataset_name = "train";
  m.dataset_digest = "abc";
  Log(run.info.run_id, {m, M("m", 2, 2, 1)});
  std::vector<Metric> history = History(run.info.run_id, "m");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].model_id, "m-123");
  EXPECT_EQ(history[0].dataset_name, "train");
  EXPECT_EQ(history[0].dataset_digest, "abc");
  EXPECT_EQ(history[1].model_id, "");
}

// ---- bulk interval sampling -----------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, BulkIntervalKeepsMinAndMaxStepsWithinTheLimit) {
  store::Run run = NewRun("0");
  std::vector<Metric> points;
  for (int step = 0; step < 100; ++step) points.push_back(M("m", step * 0.5, 1000 + step, step));
  Log(run.info.run_id, points);
  for (int64_t max_results : {1, 2, 3, 10, 99}) {
    SCOPED_TRACE(max_results);
    auto sampled = store_->GetMetricHistoryBulkInterval({run.info.run_id}, "m", std::nullopt,
                                                        std::nullopt, max_results);
    ASSERT_TRUE(sampled.has_value()) << sampled.error().message;
    std::set<int64_t> steps;
    for (const Metric& m : *sampled) {
      steps.insert(m.step);
      EXPECT_EQ(m.value, m.step * 0.5);
      EXPECT_EQ(m.run_id, run.info.run_id);
    }
    EXPECT_LE(static_cast<int64_t>(steps.size()), max_results);
    EXPECT_EQ(static_cast<int64_t>(sampled->size()), static_cast<int64_t>(steps.size()));
    ASSERT_FALSE(steps.empty());
    EXPECT_EQ(*steps.begin(), 0);
    if (max_results > 1) {
      EXPECT_EQ(*steps.rbegin(), 99);
      EXPECT_EQ(static_cast<int64_t>(steps.size()), max_results);
    }
  }
}

TEST_F(SqlTrackingStoreTest, BulkIntervalReturnsEveryStepUnderTheLimit) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1, 1, 0), M("m", 2, 2, 5), M("m", 3, 3, 7)});
  auto sampled = store_->GetMetricHistoryBulkInterval({run.info.run_id}, "m", std::nullopt,
                                                      std::nullopt, 10);
  ASSERT_TRUE(sampled.has_value());
  EXPECT_EQ(Steps(*sampled), (std::vector<int64_t>{0, 5, 7}));
}

TEST_F(SqlTrackingStoreTest, BulkIntervalRespectsTheStepRange) {
  store::Run run = NewRun("0");
  std::vector<Metric> points;
  for (int step = 0; step < 50; ++step) points.push_back(M("m", step, step, step));
  Log(run.info.run_id, points);
  auto sampled =
      store_->GetMetricHistoryBulkInterval({run.info.run_id}, "m", int64_t{10}, int64_t{20}, 3);
  ASSERT_TRUE(sampled.has_value());
  std::set<int64_t> steps;
  for (const Metric& m : *sampled) steps.insert(m.step);
  EXPECT_LE(steps.size(), 3u);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(*steps.begin(), 10);
  EXPECT_EQ(*steps.rbegin(), 20);
}

TEST_F(SqlTrackingStoreTest, BulkIntervalSamplesEachRunSeparately) {
  store::Run a = NewRun("0", "a");
  store::Run b = NewRun("0", "b");
  std::vector<Metric> a_points;
  std::vector<Metric> b_points;
  for (int step = 0; step < 20; ++step) a_points.push_back(M("m", 1, step, step));
  for (int step = 100; step < 130; ++step) b_points.push_back(M("m", 2, step, step));
  Log(a.info.run_id, a_points);
  Log(b.info.run_id, b_points);
  auto sampled = store_->GetMetricHistoryBulkInterval({a.info.run_id, b.info.run_id}, "m",
                                                      std::nullopt, std::nullopt, 4);
  ASSERT_TRUE(sampled.has_value());
  std::set<int64_t> a_steps;
  std::set<int64_t> b_steps;
  for (const Metric& m : *sampled) {
    if (m.run_id == a.info.run_id) {
      a_steps.insert(m.step);
    } else {
      EXPECT_EQ(m.run_id, b.info.run_id);
      b_steps.insert(m.step);
    }
  }
  EXPECT_EQ(a_steps.size(), 4u);
  EXPECT_EQ(b_steps.size(), 4u);
  ASSERT_FALSE(a_steps.empty());
  ASSERT_FALSE(b_steps.empty());
  EXPECT_EQ(*a_steps.begin(), 0);
  EXPECT_EQ(*a_steps.rbegin(), 19);
  EXPECT_EQ(*b_steps.begin(), 100);
  EXPECT_EQ(*b_steps.rbegin(), 129);
}

// ---- inputs and outputs ---------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, LogInputsRecordsDatasetsAndTheirTags) {
  store::Run run = NewRun("0");
  ASSERT_TRUE(store_->LogInputs(run.info.run_id,
                                {Input("train", "d1", {{"mlflow.data.context", "training"}}),
                                 Input("eval", "d2")},
                                {"model-1"})
                  .has_value());
  // Logging the same dataset again does not duplicate it.
  ASSERT_TRUE(store_->LogInputs(run.info.run_id, {Input("train", "d1")}, {}).has_value());
  store::Run stored = Get(run.info.run_id);
  ASSERT_EQ(stored.dataset_inputs.size(), 2u);
  EXPECT_EQ(stored.dataset_inputs[0].dataset.name, "train");
  EXPECT_EQ(stored.dataset_inputs[0].dataset.digest, "d1");
  EXPECT_EQ(Find(stored.dataset_inputs[0].tags, "mlflow.data.context"),
            std::optional<std::string>("training"));
  EXPECT_EQ(stored.dataset_inputs[1].dataset.name, "eval");
  EXPECT_EQ(stored.model_inputs, (std::vector<std::string>{"model-1"}));
}

TEST_F(SqlTrackingStoreTest, LogOutputsRecordsModels) {
  store::Run run = NewRun("0");
  ASSERT_TRUE(store_->LogOutputs(run.info.run_id, {ModelOutput{"m-1", 3}}).has_value());
  store::Run stored = Get(run.info.run_id);
  ASSERT_EQ(stored.model_outputs.size(), 1u);
  EXPECT_EQ(stored.model_outputs[0].model_id, "m-1");
  EXPECT_EQ(stored.model_outputs[0].step, 3);
}

// ---- search runs ----------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersOnTheLatestMetricValue) {
  std::string exp = NewExperiment("search");
  store::Run high = NewRun(exp, "high", 3);
  store::Run dropped = NewRun(exp, "dropped", 2);
  NewRun(exp, "missing", 1);
  Log(high.info.run_id, {M("acc", 0.9, 1, 0)});
  Log(dropped.info.run_id, {M("acc", 0.95, 1, 0), M("acc", 0.2, 2, 1)});
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {NumberClause(EntityKind::kMetric, "acc", Comparator::kGt, 0.5)};
  EXPECT_EQ(SearchNames(args), Names({"high"}));
  args.filter = {NumberClause(EntityKind::kMetric, "acc", Comparator::kLe, 0.2)};
  EXPECT_EQ(SearchNames(args), Names({"dropped"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersOnParams) {
  std::string exp = NewExperiment("search");
  store::Run a = NewRun(exp, "a", 3);
  store::Run b = NewRun(exp, "b", 2);
  NewRun(exp, "none", 1);
  Log(a.info.run_id, {}, {{"lr", "0.1"}});
  Log(b.info.run_id, {}, {{"lr", "0.2"}});
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kParam, "lr", Comparator::kEq, "0.1")};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
  // As in MLflow, a run without the param matches no comparison on it, not even '!='.
  args.filter = {StringClause(EntityKind::kParam, "lr", Comparator::kNe, "0.1")};
  EXPECT_EQ(SearchNames(args), Names({"b"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersOnTags) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "a", 3, {{"env", "prod"}});
  NewRun(exp, "b", 2, {{"env", "dev"}});
  NewRun(exp, "c", 1);
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kTag, "env", Comparator::kEq, "prod")};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
  args.filter = {StringClause(EntityKind::kTag, "mlflow.runName", Comparator::kEq, "c")};
  EXPECT_EQ(SearchNames(args), Names({"c"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersOnAttributes) {
  std::string exp = NewExperiment("search");
  store::Run a = NewRun(exp, "a", 100);
  NewRun(exp, "b", 200);
  NewRun(exp, "c", 300);
  UpdateRunArgs finish;
  finish.run_id = a.info.run_id;
  finish.status = "FINISHED";
  ASSERT_TRUE(store_->UpdateRun(finish).has_value());
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kAttribute, "run_name", Comparator::kEq, "b")};
  EXPECT_EQ(SearchNames(args), Names({"b"}));
  args.filter = {StringClause(EntityKind::kAttribute, "status", Comparator::kEq, "FINISHED")};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
  args.filter = {NumberClause(EntityKind::kAttribute, "start_time", Comparator::kGe, 200)};
  EXPECT_EQ(SearchNames(args), Names({"c", "b"}));
  args.filter = {StringClause(EntityKind::kAttribute, "run_id", Comparator::kEq, a.info.run_id)};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersOnDatasets) {
  std::string exp = NewExperiment("search");
  store::Run a = NewRun(exp, "a", 3);
  store::Run b = NewRun(exp, "b", 2);
  NewRun(exp, "none", 1);
  ASSERT_TRUE(store_->LogInputs(a.info.run_id,
                                {Input("train", "d1", {{"mlflow.data.context", "training"}})}, {})
                  .has_value());
  ASSERT_TRUE(store_->LogInputs(b.info.run_id,
                                {Input("eval", "d2", {{"mlflow.data.context", "evaluation"}})},
                                {})
                  .has_value());
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kDataset, "name", Comparator::kEq, "train")};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
  args.filter = {StringClause(EntityKind::kDataset, "digest", Comparator::kEq, "d2")};
  EXPECT_EQ(SearchNames(args), Names({"b"}));
  args.filter = {StringClause(EntityKind::kDataset, "context", Comparator::kEq, "evaluation")};
  EXPECT_EQ(SearchNames(args), Names({"b"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsFiltersWithInAndNotIn) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "a", 3, {{"k", "x"}});
  NewRun(exp, "b", 2, {{"k", "y"}});
  NewRun(exp, "c", 1, {{"k", "z"}});
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {ListClause(EntityKind::kAttribute, "run_name", Comparator::kIn, {"a", "c", "q"})};
  EXPECT_EQ(SearchNames(args), Names({"a", "c"}));
  args.filter = {ListClause(EntityKind::kTag, "k", Comparator::kNotIn, {"x", "y"})};
  EXPECT_EQ(SearchNames(args), Names({"c"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsLikeIsCaseSensitive) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "Alpha", 3);
  NewRun(exp, "alpha", 2);
  NewRun(exp, "ALPHABET", 1);
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kAttribute, "run_name", Comparator::kLike, "Alpha%")};
  EXPECT_EQ(SearchNames(args), Names({"Alpha"}));
  args.filter = {StringClause(EntityKind::kAttribute, "run_name", Comparator::kLike, "%lph%")};
  EXPECT_EQ(SearchNames(args), Names({"Alpha", "alpha"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsILikeIsCaseInsensitive) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "Alpha", 3);
  NewRun(exp, "alpha", 2);
  NewRun(exp, "ALPHABET", 1);
  NewRun(exp, "beta", 0);
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kAttribute, "run_name", Comparator::kILike, "alPHA%")};
  EXPECT_EQ(SearchNames(args), Names({"Alpha", "alpha", "ALPHABET"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsCombinesClausesWithAnd) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "a", 3, {{"env", "prod"}, {"team", "x"}});
  NewRun(exp, "b", 2, {{"env", "prod"}, {"team", "y"}});
  NewRun(exp, "c", 1, {{"env", "dev"}, {"team", "x"}});
  SearchRunsArgs args = InExperiment(exp);
  args.filter = {StringClause(EntityKind::kTag, "env", Comparator::kEq, "prod"),
                 StringClause(EntityKind::kTag, "team", Comparator::kEq, "x")};
  EXPECT_EQ(SearchNames(args), Names({"a"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsOnlySearchesTheGivenExperiments) {
  std::string one = NewExperiment("one");
  std::string two = NewExperiment("two");
  std::string three = NewExperiment("three");
  NewRun(one, "in-one", 3);
  NewRun(two, "in-two", 2);
  NewRun(three, "in-three", 1);
  SearchRunsArgs args;
  args.experiment_ids = {one, three};
  EXPECT_EQ(SearchNames(args), Names({"in-one", "in-three"}));
  args.experiment_ids = {};
  EXPECT_TRUE(SearchNames(args).empty());
}

TEST_F(SqlTrackingStoreTest, SearchRunsDefaultOrderIsStartTimeDescending) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "t100", 100);
  NewRun(exp, "t300", 300);
  NewRun(exp, "t200", 200);
  EXPECT_EQ(SearchNames(InExperiment(exp)), Names({"t300", "t200", "t100"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsOrdersByMetricAscendingWithMissingValuesLast) {
  std::string exp = NewExperiment("search");
  store::Run low = NewRun(exp, "low", 1);
  store::Run high = NewRun(exp, "high", 2);
  store::Run nan = NewRun(exp, "nan", 3);
  NewRun(exp, "missing", 4);
  store::Run negative = NewRun(exp, "negative", 5);
  Log(low.info.run_id, {M("m", 1.0, 1, 0)});
  Log(high.info.run_id, {M("m", 3.0, 1, 0)});
  Log(nan.info.run_id, {M("m", std::numeric_limits<double>::quiet_NaN(), 1, 0)});
  Log(negative.info.run_id, {M("m", -2.0, 1, 0)});
  SearchRunsArgs args = InExperiment(exp);
  args.order_by = {Order(EntityKind::kMetric, "m", true)};
  EXPECT_EQ(SearchNames(args), Names({"negative", "low", "high", "nan", "missing"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsOrdersByMetricDescendingWithMissingValuesLast) {
  std::string exp = NewExperiment("search");
  store::Run low = NewRun(exp, "low", 1);
  store::Run high = NewRun(exp, "high", 2);
  store::Run nan = NewRun(exp, "nan", 3);
  NewRun(exp, "missing", 4);
  Log(low.info.run_id, {M("m", 1.0, 1, 0)});
  Log(high.info.run_id, {M("m", 3.0, 1, 0)});
  Log(nan.info.run_id, {M("m", std::numeric_limits<double>::quiet_NaN(), 1, 0)});
  SearchRunsArgs args = InExperiment(exp);
  args.order_by = {Order(EntityKind::kMetric, "m", false)};
  EXPECT_EQ(SearchNames(args), Names({"high", "low", "nan", "missing"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsOrdersByParamWithMissingValuesLast) {
  std::string exp = NewExperiment("search");
  store::Run a = NewRun(exp, "a", 1);
  store::Run b = NewRun(exp, "b", 2);
  NewRun(exp, "none", 3);
  Log(a.info.run_id, {}, {{"p", "x"}});
  Log(b.info.run_id, {}, {{"p", "y"}});
  SearchRunsArgs args = InExperiment(exp);
  args.order_by = {Order(EntityKind::kParam, "p", false)};
  EXPECT_EQ(SearchNames(args), Names({"b", "a", "none"}));
  args.order_by = {Order(EntityKind::kParam, "p", true)};
  EXPECT_EQ(SearchNames(args), Names({"a", "b", "none"}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsOrdersByAttributeThenStartTime) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "b", 1);
  NewRun(exp, "a", 2);
  NewRun(exp, "b", 3);
  NewRun(exp, "c", 4);
  SearchRunsArgs args = InExperiment(exp);
  args.order_by = {Order(EntityKind::kAttribute, "run_name", true)};
  auto page = store_->SearchRuns(args);
  ASSERT_TRUE(page.has_value());
  std::vector<std::pair<std::string, int64_t>> got;
  for (const store::Run& run : page->first) {
    got.emplace_back(run.info.run_name, run.info.start_time);
  }
  // Ties on the requested key fall back to start_time DESC.
  EXPECT_EQ(got, (std::vector<std::pair<std::string, int64_t>>{{"a", 2}, {"b", 3}, {"b", 1},
                                                               {"c", 4}}));
}

TEST_F(SqlTrackingStoreTest, SearchRunsPagesWithOffsetAndMore) {
  std::string exp = NewExperiment("search");
  for (int i = 1; i <= 5; ++i) NewRun(exp, "r" + std::to_string(i), i);
  SearchRunsArgs args = InExperiment(exp);
  args.max_results = 2;
  bool more = false;
  EXPECT_EQ(SearchNames(args, &more), Names({"r5", "r4"}));
  EXPECT_TRUE(more);
  args.offset = 2;
  EXPECT_EQ(SearchNames(args, &more), Names({"r3", "r2"}));
  EXPECT_TRUE(more);
  args.offset = 4;
  EXPECT_EQ(SearchNames(args, &more), Names({"r1"}));
  EXPECT_FALSE(more);
  args.offset = 10;
  EXPECT_TRUE(SearchNames(args, &more).empty());
  EXPECT_FALSE(more);
}

TEST_F(SqlTrackingStoreTest, SearchRunsPageThatEndsExactlyHasNoMore) {
  std::string exp = NewExperiment("search");
  for (int i = 1; i <= 4; ++i) NewRun(exp, "r" + std::to_string(i), i);
  SearchRunsArgs args = InExperiment(exp);
  args.max_results = 2;
  args.offset = 2;
  bool more = true;
  EXPECT_EQ(SearchNames(args, &more), Names({"r2", "r1"}));
  EXPECT_FALSE(more);
}

// Ordered first by a metric, a search over enough runs walks the metric's values class by class
// (numbers, NaN, none) in index order; every page must be the one the general query gives.
TEST_F(SqlTrackingStoreTest, SearchRunsByFirstMetricPagesAsTheGeneralQuery) {
  std::string a = NewExperiment("first-metric-a");
  std::string b = NewExperiment("first-metric-b");
  const double inf = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 60; ++i) {
    std::string exp = i % 6 == 5 ? b : a;
    store::Run run = NewRun(exp, "r" + std::to_string(i), (i % 7) * 100);
    std::vector<Metric> metrics;
    if (i % 4 != 3) {  // a quarter have no value for m
      double m = i % 9 == 0 ? std::numeric_limits<double>::quiet_NaN()
                 : i == 10  ? inf
                 : i == 14  ? -inf
                            : static_cast<double>(i % 5) - 1.5;  // ties
      metrics.push_back(M("m", m, 1, 0));
    }
    if (i % 3 != 0) metrics.push_back(M("x", static_cast<double>(i % 4), 1, 0));
    std::vector<Tag> params;
    if (i % 5 != 4) params.push_back(Tag{"p", i % 2 == 0 ? "a" : "b"});
    Log(run.info.run_id, metrics, params);
    if (i % 11 == 0) {
      ASSERT_TRUE(store_->DeleteRun(run.info.run_id).has_value());
    }
  }
  auto page_ids = [&](const SearchRunsArgs& args, int64_t min_runs, bool* more) {
    store_->set_first_metric_plan_min_runs(min_runs);
    auto page = store_->SearchRuns(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> ids;
    if (!page) return ids;
    for (const store::Run& run : page->first) ids.push_back(run.info.run_id);
    *more = page->second;
    return ids;
  };
  std::vector<std::vector<OrderTerm>> orders = {
      {Order(EntityKind::kMetric, "m", true)},
      {Order(EntityKind::kMetric, "m", false)},
      {Order(EntityKind::kMetric, "m", false), Order(EntityKind::kParam, "p", true)},
      {Order(EntityKind::kMetric, "m", true), Order(EntityKind::kAttribute, "start_time", true)},
      {Order(EntityKind::kMetric, "m", false), Order(EntityKind::kMetric, "x", true)},
  };
  std::vector<std::vector<Clause>> filters = {
      {},
      {NumberClause(EntityKind::kMetric, "m", Comparator::kGt, -1.0)},
      {StringClause(EntityKind::kParam, "p", Comparator::kEq, "a")},
      {NumberClause(EntityKind::kMetric, "x", Comparator::kGe, 1.0)},
  };
  int pages = 0;
  for (const auto& order : orders) {
    for (const auto& filter : filters) {
      for (ViewType view : {ViewType::kActiveOnly, ViewType::kAll, ViewType::kDeletedOnly}) {
        for (const std::vector<std::string>& experiments :
             {std::vector<std::string>{a}, std::vector<std::string>{a, b}}) {
          for (int64_t size : {1, 7, 100}) {
            SearchRunsArgs args;
            args.experiment_ids = experiments;
            args.order_by = order;
            args.filter = filter;
            args.view_type = view;
            args.max_results = size;
            for (args.offset = 0;; args.offset += size) {
              bool more_general = false;
              bool more_walked = false;
              auto general = page_ids(args, 0, &more_general);
              auto walked = page_ids(args, 1, &more_walked);
              ASSERT_EQ(walked, general) << "order " << order.size() << " terms, offset "
                                         << args.offset << ", size " << size;
              ASSERT_EQ(more_walked, more_general);
              ++pages;
              if (!more_general) break;
            }
            // A page past the end is empty in both.
            bool more = true;
            args.offset += size;
            EXPECT_TRUE(page_ids(args, 1, &more).empty());
            EXPECT_FALSE(more);
          }
        }
      }
    }
  }
  EXPECT_GT(pages, 500);
}

TEST_F(SqlTrackingStoreTest, SearchRunsReturnsFullRuns) {
  std::string exp = NewExperiment("search");
  store::Run run = NewRun(exp, "full", 1, {{"t", "v"}});
  Log(run.info.run_id, {M("m", 2.0, 1, 0)}, {{"p", "1"}});
  auto page = store_->SearchRuns(InExperiment(exp));
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->first.size(), 1u);
  const store::Run& found = page->first[0];
  EXPECT_EQ(found.info.run_id, run.info.run_id);
  EXPECT_EQ(Find(found.params, "p"), std::optional<std::string>("1"));
  EXPECT_EQ(Find(found.tags, "t"), std::optional<std::string>("v"));
  ASSERT_TRUE(FindMetric(found, "m").has_value());
  EXPECT_EQ(FindMetric(found, "m")->value, 2.0);
}

TEST_F(SqlTrackingStoreTest, DeletedRunIsExcludedFromActiveOnly) {
  std::string exp = NewExperiment("search");
  NewRun(exp, "alive", 2);
  store::Run dead = NewRun(exp, "dead", 1);
  ASSERT_TRUE(store_->DeleteRun(dead.info.run_id).has_value());
  SearchRunsArgs args = InExperiment(exp);
  args.view_type = ViewType::kActiveOnly;
  EXPECT_EQ(SearchNames(args), Names({"alive"}));
  args.view_type = ViewType::kDeletedOnly;
  EXPECT_EQ(SearchNames(args), Names({"dead"}));
  args.view_type = ViewType::kAll;
  EXPECT_EQ(SearchNames(args), Names({"alive", "dead"}));
}

// ---- search experiments ---------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, SearchExperimentsFiltersByName) {
  NewExperiment("Project-A");
  NewExperiment("project-b");
  NewExperiment("other");
  SearchExperimentsArgs args;
  args.order_by = {Order(EntityKind::kAttribute, "name", true)};
  args.filter = {StringClause(EntityKind::kAttribute, "name", Comparator::kEq, "other")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"other"}));
  args.filter = {StringClause(EntityKind::kAttribute, "name", Comparator::kLike, "project%")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"project-b"}));
  args.filter = {StringClause(EntityKind::kAttribute, "name", Comparator::kILike, "project%")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"Project-A", "project-b"}));
  args.filter = {StringClause(EntityKind::kAttribute, "name", Comparator::kNe, "other")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"Default", "Project-A", "project-b"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsFiltersByTag) {
  NewExperiment("a", {{"team", "ml"}});
  NewExperiment("b", {{"team", "infra"}});
  NewExperiment("c");
  SearchExperimentsArgs args;
  args.filter = {StringClause(EntityKind::kTag, "team", Comparator::kEq, "ml")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"a"}));
  args.filter = {StringClause(EntityKind::kTag, "team", Comparator::kLike, "%a%")};
  EXPECT_EQ(SearchExperimentNames(args), Names({"b"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsFiltersByCreationTime) {
  NewExperiment("a");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::string b = NewExperiment("b");
  int64_t b_created = GetExperiment(b).creation_time;
  SearchExperimentsArgs args;
  args.filter = {NumberClause(EntityKind::kAttribute, "creation_time", Comparator::kGe,
                              static_cast<double>(b_created))};
  EXPECT_EQ(SearchExperimentNames(args), Names({"b"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsDefaultOrderIsNewestFirst) {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // after Default's creation
  NewExperiment("first");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  NewExperiment("second");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  NewExperiment("third");
  EXPECT_EQ(SearchExperimentNames(SearchExperimentsArgs{}),
            Names({"third", "second", "first", "Default"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsOrdersByName) {
  NewExperiment("b");
  NewExperiment("c");
  NewExperiment("a");
  SearchExperimentsArgs args;
  args.order_by = {Order(EntityKind::kAttribute, "name", true)};
  EXPECT_EQ(SearchExperimentNames(args), Names({"Default", "a", "b", "c"}));
  args.order_by = {Order(EntityKind::kAttribute, "name", false)};
  EXPECT_EQ(SearchExperimentNames(args), Names({"c", "b", "a", "Default"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsHonoursViewType) {
  NewExperiment("alive");
  std::string dead = NewExperiment("dead");
  ASSERT_TRUE(store_->DeleteExperiment(dead).has_value());
  SearchExperimentsArgs args;
  args.order_by = {Order(EntityKind::kAttribute, "name", true)};
  args.view_type = ViewType::kActiveOnly;
  EXPECT_EQ(SearchExperimentNames(args), Names({"Default", "alive"}));
  args.view_type = ViewType::kDeletedOnly;
  EXPECT_EQ(SearchExperimentNames(args), Names({"dead"}));
  args.view_type = ViewType::kAll;
  EXPECT_EQ(SearchExperimentNames(args), Names({"Default", "alive", "dead"}));
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsPagesWithOffsetAndMore) {
  for (const char* name : {"a", "b", "c", "d"}) NewExperiment(name);
  SearchExperimentsArgs args;
  args.order_by = {Order(EntityKind::kAttribute, "name", true)};
  args.max_results = 2;
  bool more = false;
  EXPECT_EQ(SearchExperimentNames(args, &more), Names({"Default", "a"}));
  EXPECT_TRUE(more);
  args.offset = 2;
  EXPECT_EQ(SearchExperimentNames(args, &more), Names({"b", "c"}));
  EXPECT_TRUE(more);
  args.offset = 4;
  EXPECT_EQ(SearchExperimentNames(args, &more), Names({"d"}));
  EXPECT_FALSE(more);
}

TEST_F(SqlTrackingStoreTest, SearchExperimentsReturnsTags) {
  NewExperiment("tagged", {{"k", "v"}});
  SearchExperimentsArgs args;
  args.filter = {StringClause(EntityKind::kAttribute, "name", Comparator::kEq, "tagged")};
  auto page = store_->SearchExperiments(args);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->first.size(), 1u);
  EXPECT_EQ(Find(page->first[0].tags, "k"), std::optional<std::string>("v"));
}

// ---- concurrency ----------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, ConcurrentLogBatchCallsAllCommit) {
  store::Run run = NewRun("0");
  const std::string id = run.info.run_id;
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches; ++i) {
        auto logged = store_->LogBatch(id, {M("m", t, i, t * kBatches + i)},
                                       {{"p" + std::to_string(t) + "-" + std::to_string(i), "v"}},
                                       {});
        if (!logged) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_EQ(History(id, "m").size(), static_cast<std::size_t>(kThreads * kBatches));
  EXPECT_EQ(Get(id).params.size(), static_cast<std::size_t>(kThreads * kBatches));
}

// Writes from several threads share transactions (group commit); the metric log's copy in memory
// must follow what committed, across merges, with failing writes between the good ones.
TEST_F(SqlTrackingStoreTest, ConcurrentWritesWithFailuresAmongThemKeepExactlyWhatSucceeded) {
  store::Run run = NewRun("0");
  const std::string id = run.info.run_id;
  constexpr int kThreads = 4;
  constexpr int kBatches = 12;
  constexpr int kPoints = 1000;  // 48,000 in all: the log is merged at least once on the way
  std::vector<std::thread> threads;
  std::vector<int> wrong(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches; ++i) {
        std::vector<Metric> batch;
        for (int j = 0; j < kPoints; ++j) {
          batch.push_back(M("m", j, 1, (static_cast<int64_t>(t) * kBatches + i) * kPoints + j));
        }
        if (!store_->LogBatch(id, batch, {}, {})) ++wrong[t];
        if (store_->LogBatch("no-such-run", batch, {}, {})) ++wrong[t];
        if (!store_->SetRunTag(id, {"t" + std::to_string(t), std::to_string(i)})) ++wrong[t];
        CreateRunArgs args;
        args.experiment_id = "404";
        if (store_->CreateRun(args)) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
  std::vector<Metric> history = History(id, "m");
  ASSERT_EQ(history.size(), static_cast<std::size_t>(kThreads * kBatches * kPoints));
  std::set<int64_t> steps;
  for (const Metric& m : history) steps.insert(m.step);
  EXPECT_EQ(steps.size(), history.size());
  store::Run stored = Get(id);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Find(stored.tags, "t" + std::to_string(t)),
              std::optional<std::string>(std::to_string(kBatches - 1)));
  }
}

TEST_F(SqlTrackingStoreTest, ConcurrentCreateExperimentAssignsDistinctIds) {
  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto id = store_->CreateExperiment(
            "exp-" + std::to_string(t) + "-" + std::to_string(i), "", {});
        ids[t].push_back(id ? *id : "error: " + id.error().message);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> distinct;
  for (const auto& list : ids) {
    for (const std::string& id : list) {
      EXPECT_TRUE(ParseInt64(id).has_value()) << id;
      distinct.insert(id);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kEach));
}

// ---- the metric log (SQLite) -----------------------------------------------------------------

std::vector<Metric> Batch(int keys, int64_t step) {
  std::vector<Metric> out;
  for (int i = 0; i < keys; ++i) out.push_back(M("m" + std::to_string(i), i + 0.5, 1000, step));
  return out;
}

TEST_F(SqlTrackingStoreTest, MetricLogIsMergedInBulkOnceItHoldsEnoughPoints) {
  store::Run run = NewRun("0");
  for (int step = 0; step < 32; ++step) Log(run.info.run_id, Batch(1000, step));
  EXPECT_EQ(LogPoints(), 32000);  // below the merge size (32768): still waiting
  EXPECT_EQ(Rows("metric_log"), 32);  // a row a request
  EXPECT_EQ(StoredPoints(), 0);
  Log(run.info.run_id, Batch(1000, 32));  // crosses it: merged in the same transaction
  EXPECT_EQ(Rows("metric_log"), 0);
  EXPECT_EQ(StoredPoints(), 33000);
  EXPECT_EQ(Rows("metric_blocks"), 1000);  // a block a series
  EXPECT_EQ(Steps(History(run.info.run_id, "m999")).size(), 33u);
}

TEST_F(SqlTrackingStoreTest, MetricReadsMergeWaitingPointsFirst) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1, 10, 0), M("m", 2, 11, 1), M("other", 3, 12, 0)});
  EXPECT_EQ(LogPoints(), 3);
  EXPECT_EQ(Steps(History(run.info.run_id, "m")), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(LogPoints(), 0);
  EXPECT_EQ(StoredPoints(), 3);

  Log(run.info.run_id, {M("m", 5, 13, 2)});
  auto bulk = store_->GetMetricHistoryBulkInterval({run.info.run_id}, "m", std::nullopt,
                                                   std::nullopt, 100);
  ASSERT_TRUE(bulk.has_value());
  EXPECT_EQ(Steps(*bulk), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(LogPoints(), 0);
  // Latest values are merged from the log too, before a run is read.
  Log(run.info.run_id, {M("m", 7, 14, 3)});
  EXPECT_EQ(LogPoints(), 1);
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->value, 7);
  EXPECT_EQ(LogPoints(), 0);
}

// Latest values merged from the log in bulk (decision 0018) must be what applying the points one
// at a time, in arrival order, leaves: the greatest (step, timestamp, value), the first logged
// among equals (NaN and 0 compare equal: NaN is kept as 0 with is_nan). Random points with many
// ties, in random batches, with reads (each a merge) and reopens (the next merge then runs in
// SQL instead of from memory) at random moments, against that rule computed here.
TEST_F(SqlTrackingStoreTest, LatestValuesMergedFromTheLogFollowTheOneAtATimeRule) {
  std::mt19937 rng(20261124);
  const std::vector<double> values = {0.0, 1.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::infinity()};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // As the store keeps a value (decision 0003): NaN as 0 with is_nan, infinities as +-DBL_MAX.
  auto stored = [](double v) {
    if (std::isnan(v)) return 0.0;
    if (std::isinf(v)) return std::copysign(std::numeric_limits<double>::max(), v);
    return v;
  };
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    store::Run run = NewRun("0");
    std::map<std::string, Metric> expected;
    for (int batch = 0; batch < 12; ++batch) {
      std::vector<Metric> points;
      int size = 1 + pick(6);
      for (int i = 0; i < size; ++i) {
        points.push_back(M("k" + std::to_string(pick(3)), values[pick(5)], pick(3), pick(3)));
      }
      Log(run.info.run_id, points);
      for (const Metric& p : points) {
        auto it = expected.find(p.key);
        if (it == expected.end()) {
          expected.emplace(p.key, p);
          continue;
        }
        const Metric& l = it->second;
        if (std::make_tuple(p.step, p.timestamp, stored(p.value)) >
            std::make_tuple(l.step, l.timestamp, stored(l.value))) {
          it->second = p;
        }
      }
      // Now and then the process "restarts": what it kept of the log is gone, and the next merge
      // runs in SQL from the log itself.
      if (pick(5) == 0) {
        Reopen();
        ASSERT_NE(store_, nullptr);
      }
      if (pick(3) != 0) continue;  // read (and merge) after about a third of the batches
      store::Run read = Get(run.info.run_id);
      ASSERT_EQ(read.metrics.size(), expected.size());
      for (const auto& [key, want] : expected) {
        auto got = FindMetric(read, key);
        ASSERT_TRUE(got.has_value()) << key;
        EXPECT_EQ(got->step, want.step) << key;
        EXPECT_EQ(got->timestamp, want.timestamp) << key;
        EXPECT_EQ(std::isnan(got->value), std::isnan(want.value)) << key;
        if (!std::isnan(want.value)) {
          EXPECT_EQ(got->value, stored(want.value)) << key;
        }
      }
    }
  }
}

// -0.0 reads back as 0.0 from history and from the run, as MLflow's SQLite store gives it.
TEST_F(SqlTrackingStoreTest, NegativeZeroMetricReadsBackAsZero) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", -0.0, 10, 0)});
  std::vector<Metric> points = History(run.info.run_id, "m");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_FALSE(std::signbit(points[0].value));
  auto latest = FindMetric(Get(run.info.run_id), "m");
  ASSERT_TRUE(latest.has_value());
  EXPECT_FALSE(std::signbit(latest->value));
}

TEST_F(SqlTrackingStoreTest, MetricPointLoggedAgainIsStoredOnceAndTheFirstIsKept) {
  store::Run run = NewRun("0");
  Metric first = M("m", 1.5, 10, 4);
  first.dataset_name = "first";
  Metric again = first;
  again.dataset_name = "second";
  Log(run.info.run_id, {first});
  Log(run.info.run_id, {again});  // both waiting in the log
  auto points = History(run.info.run_id, "m");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].dataset_name, "first");
  Log(run.info.run_id, {again});  // and once more after the merge
  points = History(run.info.run_id, "m");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].dataset_name, "first");
  // Once in each merge's block (the two in one merge were one), and read once.
  EXPECT_EQ(StoredPoints(), 2);
}

TEST_F(SqlTrackingStoreTest, MetricPointsWaitingInTheLogSurviveReopen) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, Batch(5, 0));
  Reopen();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(LogPoints(), 5);
  EXPECT_EQ(History(run.info.run_id, "m4").size(), 1u);
  EXPECT_EQ(StoredPoints(), 5);
}

// Two processes on one database (here: two stores, each with its own pool). A merged last, then
// appended; B merged A's points and appended as many of its own. A's copy of the log has the
// right size but the wrong points: it must not be trusted, or B's points would be dropped.
TEST_F(SqlTrackingStoreTest, AnotherProcessMergingTheLogMakesTheCopyUntrusted) {
  store::Run run = NewRun("0");
  const std::string& id = run.info.run_id;
  Log(id, {M("m", 0, 1, 0)});
  ASSERT_EQ(History(id, "m").size(), 1u);  // A merges: its copy is trusted from here
  auto other = SqlTrackingStore::Open(DatabaseOptions{(dir_ / "mlflow.db").string(), 2,
                                                       "NORMAL"});
  ASSERT_TRUE(other.has_value()) << other.error().message;
  Log(id, Batch(5, 1));  // A appends 5
  auto seen = (*other)->GetMetricHistory(id, "m0", std::nullopt, 0);  // B merges them
  ASSERT_TRUE(seen.has_value()) << seen.error().message;
  ASSERT_TRUE((*other)->LogBatch(id, Batch(5, 2), {}, {}).has_value());  // B appends 5
  EXPECT_EQ(LogPoints(), 5);
  for (int i = 0; i < 5; ++i) {  // A reads: everything B logged is there
    std::string key = "m" + std::to_string(i);
    EXPECT_EQ(Steps(History(id, key)), (std::vector<int64_t>{1, 2})) << key;
    auto latest = FindMetric(Get(id), key);
    ASSERT_TRUE(latest.has_value()) << key;
    EXPECT_EQ(latest->step, 2) << key;
  }
  EXPECT_EQ(LogPoints(), 0);
  EXPECT_EQ(StoredPoints(), 11);
}

// A database written before metric points were keyed by series id (schema 7), with points in
// `metrics` and more waiting in the log, opened by this build: migration 8 copies the points
// over, migration 10 merges the log and packs every point into blocks (a long series into
// several), and history reads, and later writes, see them all.
TEST_F(SqlTrackingStoreTest, PointsStoredBeforeTheSeriesMigrationAreKept) {
  store_.reset();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  std::string path = (dir_ / "mlflow.db").string();
  const std::string run_id = "0123456789abcdef0123456789abcdef";
  {
    auto conn = OpenSqlite(path, "NORMAL");
    ASSERT_TRUE(conn.has_value()) << conn.error().message;
    Connection& c = **conn;
    ASSERT_TRUE(c.Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                       "applied_at BIGINT NOT NULL)").has_value());
    for (const Migration& m : SqliteMigrations()) {
      if (m.version > 7) break;
      ASSERT_TRUE(c.Exec(m.sql).has_value()) << m.version;
      ASSERT_TRUE(c.Exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) +
                         ", 0)").has_value());
    }
    ASSERT_TRUE(c.Exec(
        "INSERT INTO runs (run_uuid, name, user_id, status, start_time, lifecycle_stage, "
        "artifact_uri, experiment_id) VALUES ('" + run_id + "', 'old', 'u', 'RUNNING', 1, "
        "'active', 'mlruns/0/x/artifacts', 0);"
        "INSERT INTO metrics VALUES ('" + run_id + "', 'loss', 0.5, 0, 10, 1, NULL, 'train', "
        "NULL), ('" + run_id + "', 'loss', 0.25, 0, 20, 2, NULL, NULL, NULL), ('" + run_id +
        "', 'acc', 0, 1, 10, 1, NULL, NULL, NULL);"
        "INSERT INTO latest_metrics VALUES ('" + run_id + "', 'loss', 0.25, 0, 20, 2), ('" +
        run_id + "', 'acc', 0, 1, 10, 1);"
        "INSERT INTO metric_log (run_uuid, key, value, is_nan, timestamp, step) VALUES ('" +
        run_id + "', 'loss', 0.125, 0, 30, 3);"
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 39999) "
        "INSERT INTO metrics SELECT '" + run_id + "', 'long', i * 0.5, 0, 1000 - i, i, NULL, "
        "NULL, NULL FROM n").has_value());
  }
  Open();
  EXPECT_EQ(Rows("metric_series"), 3);
  EXPECT_EQ(StoredPoints(), 40004);
  EXPECT_EQ(LogPoints(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM sqlite_master WHERE name IN ('metric_points', "
                  "'metrics')"), 0);
  EXPECT_EQ(Rows("metric_blocks"), 5);  // loss, acc, and long in three (16384 a block at most)
  std::vector<Metric> long_series = History(run_id, "long");
  ASSERT_EQ(long_series.size(), 40000u);
  EXPECT_EQ(long_series.front().step, 39999);  // history order: by timestamp first
  EXPECT_EQ(long_series.back().step, 0);
  std::vector<Metric> loss = History(run_id, "loss");
  EXPECT_EQ(Steps(loss), (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(loss.size(), 3u);
  EXPECT_EQ(loss[0].dataset_name, "train");
  EXPECT_EQ(loss[2].value, 0.125);
  std::vector<Metric> acc = History(run_id, "acc");
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_TRUE(std::isnan(acc[0].value));
  auto latest = FindMetric(Get(run_id), "loss");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 3);
  Log(run_id, {M("loss", 0.0625, 40, 4), M("new", 1, 40, 0)});
  EXPECT_EQ(Steps(History(run_id, "loss")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Rows("metric_series"), 4);
}

// Packed points that do not unpack (a damaged file, a foreign writer) are an error on read, never
// a crash or a made-up point; nothing else stops working.
TEST_F(SqlTrackingStoreTest, DamagedPackedPointsAreAnErrorNotACrash) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {M("m", 1, 10, 0), M("other", 2, 10, 0)});
  ASSERT_EQ(History(run.info.run_id, "m").size(), 1u);
  for (const char* bytes : {"x''", "x'02'", "x'01ff'", "x'01000000'",
                            "x'0100000000000000000000000000000000000000000000000000ff'",
                            // well-formed, but a NaN value, and a flag that is neither 0 nor 1
                            "x'0100000000000000000000000000000000000000000000f87f00000000'",
                            "x'0100000000000000000000000000000000000000000000000002000000'"}) {
    SCOPED_TRACE(bytes);
    {
      auto conn = OpenSqlite((dir_ / "mlflow.db").string(), "NORMAL");
      ASSERT_TRUE(conn.has_value()) << conn.error().message;
      ASSERT_TRUE((*conn)->Exec(std::string("UPDATE metric_blocks SET data = ") + bytes +
                                " WHERE series_id = (SELECT series_id FROM metric_series WHERE "
                                "key = 'm')").has_value());
      EXPECT_EQ((*conn)->Changes(), 1);
    }
    auto read = store_->GetMetricHistory(run.info.run_id, "m", std::nullopt, 0);
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error().code, ErrorCode::kInternalError);
  }
  EXPECT_EQ(History(run.info.run_id, "other").size(), 1u);
  Log(run.info.run_id, {M("other", 3, 11, 1)});
  EXPECT_EQ(Steps(History(run.info.run_id, "other")), (std::vector<int64_t>{0, 1}));
}

// A series spread over many blocks (a merge before each read writes one) reads back as the set of
// distinct points in history order, each with its first logging's dataset, whole or page by page
// (later pages skip the blocks that end before their cursor). Random points with many ties and
// repeats, in random batches, against that order computed here.
TEST_F(SqlTrackingStoreTest, HistoryReadFromManyBlocksIsEachPointOnceInOrder) {
  std::mt19937 rng(20261125);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<double> values = {0.0, 1.0, -1.0, std::numeric_limits<double>::quiet_NaN()};
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(round);
    store::Run run = NewRun("0");
    // (timestamp, step, value as stored, is_nan) -> first dataset name logged
    std::map<std::tuple<int64_t, int64_t, double, bool>, std::string> expected;
    for (int batch = 0; batch < 15; ++batch) {
      std::vector<Metric> points;
      for (int i = 0, n = 1 + pick(8); i < n; ++i) {
        Metric m = M("m", values[pick(4)], 10 * round + pick(6), pick(4));
        m.dataset_name = "b" + std::to_string(batch) + "-" + std::to_string(i);
        bool is_nan = std::isnan(m.value);
        expected.try_emplace({m.timestamp, m.step, is_nan ? 0.0 : m.value, is_nan},
                             m.dataset_name);
        points.push_back(m);
      }
      Log(run.info.run_id, points);
      if (pick(2) == 0) History(run.info.run_id, "m");  // a merge: another block
    }
    std::vector<std::tuple<int64_t, int64_t, double, bool, std::string>> want;
    for (const auto& [k, dataset] : expected) {
      want.emplace_back(std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), dataset);
    }
    auto as_tuples = [](const std::vector<Metric>& metrics) {
      std::vector<std::tuple<int64_t, int64_t, double, bool, std::string>> out;
      for (const Metric& m : metrics) {
        bool is_nan = std::isnan(m.value);
        out.emplace_back(m.timestamp, m.step, is_nan ? 0.0 : m.value, is_nan, m.dataset_name);
      }
      return out;
    };
    EXPECT_EQ(as_tuples(History(run.info.run_id, "m")), want);
    for (int64_t size : {1, 2, 5}) {
      SCOPED_TRACE(size);
      std::vector<Metric> paged;
      std::optional<MetricCursor> after;
      for (int pages = 0; pages < 200; ++pages) {
        auto page = store_->GetMetricHistory(run.info.run_id, "m", after, size);
        ASSERT_TRUE(page.has_value()) << page.error().message;
        paged.insert(paged.end(), page->first.begin(), page->first.end());
        if (!page->second) break;
        const Metric& last = page->first.back();
        bool is_nan = std::isnan(last.value);
        after = MetricCursor{last.timestamp, last.step, is_nan ? 0.0 : last.value, is_nan};
      }
      EXPECT_EQ(as_tuples(paged), want);
    }
  }
}

// ---- durability -----------------------------------------------------------------------------

TEST_F(SqlTrackingStoreTest, CommittedDataSurvivesReopen) {
  std::string exp = NewExperiment("durable", {{"k", "v"}});
  store::Run run = NewRun(exp, "kept", 42, {{"t", "1"}});
  Log(run.info.run_id, {M("m", 0.25, 7, 3)}, {{"p", "x"}});
  Reopen();
  ASSERT_NE(store_, nullptr);

  Experiment e = GetExperiment(exp);
  EXPECT_EQ(e.name, "durable");
  EXPECT_EQ(Find(e.tags, "k"), std::optional<std::string>("v"));
  store::Run stored = Get(run.info.run_id);
  EXPECT_EQ(stored.info.run_name, "kept");
  EXPECT_EQ(stored.info.start_time, 42);
  EXPECT_EQ(Find(stored.tags, "t"), std::optional<std::string>("1"));
  EXPECT_EQ(Find(stored.params, "p"), std::optional<std::string>("x"));
  auto m = FindMetric(stored, "m");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->value, 0.25);
  EXPECT_EQ(History(run.info.run_id, "m").size(), 1u);
}

TEST_F(SqlTrackingStoreTest, ReopenKeepsIdsAndTheSingleDefaultExperiment) {
  std::string first = NewExperiment("first");
  Reopen();
  ASSERT_NE(store_, nullptr);
  std::string second = NewExperiment("second");
  EXPECT_NE(first, second);
  SearchExperimentsArgs all;
  all.view_type = ViewType::kAll;
  all.order_by = {Order(EntityKind::kAttribute, "name", true)};
  EXPECT_EQ(SearchExperimentNames(all), Names({"Default", "first", "second"}));
}

TEST_F(SqlTrackingStoreTest, FailedWriteLeavesNothingAfterReopen) {
  store::Run run = NewRun("0");
  Log(run.info.run_id, {}, {{"p", "1"}});
  ASSERT_FALSE(store_->LogBatch(run.info.run_id, {M("m", 1, 1, 0)}, {{"p", "2"}}, {}).has_value());
  Reopen();
  ASSERT_NE(store_, nullptr);
  store::Run stored = Get(run.info.run_id);
  EXPECT_TRUE(stored.metrics.empty());
  EXPECT_EQ(Find(stored.params, "p"), std::optional<std::string>("1"));
}

}  // namespace
}  // namespace hokusai::store::sql
