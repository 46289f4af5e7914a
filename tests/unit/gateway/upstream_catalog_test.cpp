// Gateway mode: the registration API's catalog on the upstream MLflow server (here a scripted
// fake). Registrations are several upstream writes undone on failure; ownership, events and
// idempotency records are checked in real SQLite stores.
#include "gateway/upstream_catalog.hpp"

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/util.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_event_store.hpp"
#include "store/sql/sql_registry_store.hpp"

namespace hokusai::gateway {
namespace {

using http::Method;
using store::Permission;

constexpr char kApi[] = "/api/2.0/mlflow/";

std::string Api(const std::string& endpoint) { return kApi + endpoint; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Answers from a script keyed by "METHOD path" or "METHOD path?query" (the exact key first).
// Each key holds a queue of answers: each call takes the front one, the last one stays for every
// further call until new answers are scripted for the key. Unscripted calls fail the test. Every
// call is recorded.
class ScriptedUpstream final : public UpstreamClient {
 public:
  struct Answer {
    int status = 200;
    std::string body;
  };
  struct Recorded {
    Method method;
    std::string path;  // canonical
    http::QueryParams query;
    std::string target;  // as the upstream would get it
    std::string body;
    std::string Line() const { return std::string(http::MethodName(method)) + " " + path; }
    std::optional<std::string> Param(const std::string& name) const {
      for (const auto& [key, value] : query) {
        if (key == name) return value;
      }
      return std::nullopt;
    }
  };

  ScriptedUpstream() : UpstreamClient(*ParseUpstreamUrl("http://mlflow:5000")) {}

  void On(Method method, const std::string& endpoint, int status, std::string body) {
    Add(Key(method, Api(endpoint), {}), Answer{status, std::move(body)});
  }
  void OnQuery(Method method, const std::string& endpoint, const http::QueryParams& query,
               int status, std::string body) {
    Add(Key(method, Api(endpoint), query), Answer{status, std::move(body)});
  }

  Result<http::ClientResponse> Call(Method method, std::string_view path,
                                    const http::QueryParams& query,
                                    const std::string& json_body) override {
    calls.push_back(Recorded{method, std::string(path), query,
                             UpstreamTarget(config(), path, query), json_body});
    auto it = script_.find(Key(method, std::string(path), query));
    if (it == script_.end()) it = script_.find(Key(method, std::string(path), {}));
    if (it == script_.end() || it->second.answers.empty()) {
      ADD_FAILURE() << "unscripted upstream call " << calls.back().Line() << " "
                    << calls.back().target;
      return Fail(ErrorCode::kTemporarilyUnavailable, "unscripted");
    }
    Queue& queue = it->second;
    Answer answer = queue.answers.front();
    if (queue.answers.size() > 1) {
      queue.answers.pop_front();
    } else {
      queue.last_served = true;
    }
    return http::ClientResponse{answer.status, {}, answer.body};
  }

  // "METHOD path" of every call, in order.
  std::vector<std::string> Lines() const {
    std::vector<std::string> out;
    for (const Recorded& call : calls) out.push_back(call.Line());
    return out;
  }

  std::vector<Recorded> calls;

 private:
  static std::string Key(Method method, const std::string& path, const http::QueryParams& query) {
    std::string key = std::string(http::MethodName(method)) + " " + path;
    if (!query.empty()) key += "?" + EncodeQuery(query);
    return key;
  }
  struct Queue {
    std::deque<Answer> answers;
    bool last_served = false;  // the one answer left was given: new answers replace it
  };
  void Add(const std::string& key, Answer answer) {
    Queue& queue = script_[key];
    if (queue.last_served) {
      queue.answers.clear();
      queue.last_served = false;
    }
    queue.answers.push_back(std::move(answer));
  }
  std::map<std::string, Queue> script_;
};

// A model version as the upstream writes it.
std::string VersionJson(const std::string& name, const std::string& version,
                        const std::string& aliases = "", const std::string& extra = "") {
  return R"({"name":")" + name + R"(","version":")" + version +
         R"(","creation_timestamp":"1700000000000","last_updated_timestamp":1700000000001,)"
         R"("current_stage":"None","source":"mlflow-artifacts:/1/r1/artifacts/model",)"
         R"("run_id":"r1","model_id":"m-abc","status":"READY",)"
         R"("tags":[{"key":"hokusai.version_label","value":"v1"}],"aliases":[)" +
         aliases + "]" + extra + "}";
}

std::string VersionAnswer(const std::string& name, const std::string& version,
                          const std::string& aliases = "") {
  return R"({"model_version":)" + VersionJson(name, version, aliases) + "}";
}

constexpr char kNotFound[] =
    R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=m not found"})";
constexpr char kServerError[] = R"({"error_code":"INTERNAL_ERROR","message":"boom"})";

class UpstreamCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-gw-catalog-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = store::sql::OpenDatabase(
        store::sql::DatabaseOptions{(dir_ / "reg.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    pool_ = *pool;
    auth_ = std::make_unique<store::sql::SqlAuthStore>(pool_);
    registry_ = std::make_unique<store::sql::SqlRegistryStore>(pool_);
    events_ = std::make_unique<store::sql::SqlEventStore>(pool_);
    catalog_ = MakeUpstreamCatalog(upstream_, locator_, *auth_, *registry_, *events_);
  }
  void TearDown() override {
    catalog_.reset();
    events_.reset();
    registry_.reset();
    auth_.reset();
    pool_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // What models.cpp asks for: a new model "m" owned by acme, a version from run r1.
  store::RegisterModelArgs Registration(const std::string& alias = "") {
    store::RegisterModelArgs args;
    args.model.name = "m";
    args.model.tags = {{"hokusai.model_type", "classifier"}};
    args.model.owner = "acme";
    args.version.source = "mlflow-artifacts:/1/r1/artifacts/model";
    args.version.run_id = "r1";
    args.version.model_id = "m-abc";
    args.version.tags = {{"hokusai.version_label", "v1"}};
    args.version.user_id = "acme";
    if (!alias.empty()) args.alias = alias;
    args.require_new_model = true;
    args.render = [this](const store::RegisteredModel& model, const store::ModelVersion& version) {
      ++renders_;
      return model.name + "/" + version.version;
    };
    return args;
  }

  static store::IdempotencyRecord Key(const std::string& key, const std::string& hash) {
    store::IdempotencyRecord record;
    record.user_id = "acme";
    record.key = key;
    record.request_hash = hash;
    record.status = 201;
    return record;
  }

  store::RegisterModelArgs WithKey(store::RegisterModelArgs args, const std::string& key,
                                   const std::string& hash) {
    args.idempotency = Key(key, hash);
    return args;
  }

  // The happy path of a registration of "m" version 1 with `alias`.
  void ScriptRegistration(const std::string& alias) {
    upstream_.On(Method::kPost, "registered-models/create", 200, R"({"registered_model":{"name":"m"}})");
    upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "1"));
    upstream_.On(Method::kPost, "registered-models/alias", 200, "{}");
    upstream_.On(Method::kGet, "model-versions/get", 200,
                 VersionAnswer("m", "1", "\"" + alias + "\""));
  }

  std::vector<store::EventWithDeliveries> Events() {
    auto page = events_->ListEvents(store::ListEventsQuery{});
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    return page ? page->events : std::vector<store::EventWithDeliveries>{};
  }

  std::optional<Permission> ModelPermission(const std::string& name, const std::string& user) {
    auto permission = auth_->GetModelPermission(name, user);
    EXPECT_TRUE(permission.has_value()) << (permission ? "" : permission.error().message);
    return permission ? *permission : std::nullopt;
  }

  // The key was released: no record, and a new reservation succeeds.
  void ExpectKeyFree(const std::string& key) {
    auto record = catalog_->GetIdempotencyRecord("acme", key);
    ASSERT_TRUE(record.has_value()) << record.error().message;
    EXPECT_FALSE(record->has_value());
    auto reserved = registry_->ReserveIdempotencyKey(Key(key, "other"));
    ASSERT_TRUE(reserved.has_value()) << reserved.error().message;
    EXPECT_FALSE(reserved->has_value());
  }

  // A trigger that makes every insert into `table` fail.
  void BreakInserts(const std::string& table) {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("CREATE TRIGGER broken_" + table + " BEFORE INSERT ON " + table +
                           " BEGIN SELECT RAISE(ABORT, 'broken for the test'); END"));
  }

  std::filesystem::path dir_;
  std::shared_ptr<store::sql::ConnectionPool> pool_;
  std::unique_ptr<store::sql::SqlAuthStore> auth_;
  std::unique_ptr<store::sql::SqlRegistryStore> registry_;
  std::unique_ptr<store::sql::SqlEventStore> events_;
  ScriptedUpstream upstream_;
  UpstreamLocator locator_{upstream_};
  std::unique_ptr<hokusai_api::ModelCatalog> catalog_;
  int renders_ = 0;
};

// ---- registration ---------------------------------------------------------------------------

TEST_F(UpstreamCatalogTest, RegistersModelVersionAndAliasUpstreamAndRecordsItLocally) {
  ScriptRegistration("champion");
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_TRUE(result.has_value()) << result.error().message;

  ASSERT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "POST " + Api("registered-models/create"),
                                   "POST " + Api("model-versions/create"),
                                   "POST " + Api("registered-models/alias"),
                                   "GET " + Api("model-versions/get"),
                               }));
  const std::string& create = upstream_.calls[0].body;
  EXPECT_TRUE(Contains(create, R"("name":"m")")) << create;
  EXPECT_TRUE(Contains(create, R"({"key":"hokusai.model_type","value":"classifier"})")) << create;
  const std::string& version = upstream_.calls[1].body;
  EXPECT_TRUE(Contains(version, R"("source":"mlflow-artifacts:/1/r1/artifacts/model")")) << version;
  EXPECT_TRUE(Contains(version, R"("run_id":"r1")")) << version;
  EXPECT_TRUE(Contains(version, R"("model_id":"m-abc")")) << version;
  EXPECT_TRUE(Contains(version, R"({"key":"hokusai.version_label","value":"v1"})")) << version;
  EXPECT_EQ(upstream_.calls[2].body, R"({"name":"m","alias":"champion","version":"1"})");
  EXPECT_EQ(upstream_.calls[3].query, (http::QueryParams{{"name", "m"}, {"version", "1"}}));

  EXPECT_TRUE(result->model_created);
  EXPECT_FALSE(result->replayed);
  EXPECT_EQ(result->model.name, "m");
  EXPECT_EQ(result->version.name, "m");
  EXPECT_EQ(result->version.version, "1");
  EXPECT_EQ(result->version.run_id, "r1");
  EXPECT_EQ(result->version.model_id, "m-abc");
  EXPECT_EQ(result->version.creation_timestamp, 1700000000000);
  ASSERT_EQ(result->version.tags.size(), 1u);
  EXPECT_EQ(result->version.tags[0].key, "hokusai.version_label");
  EXPECT_EQ(result->version.aliases, std::vector<std::string>{"champion"});
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->response, "m/1");
  EXPECT_EQ(renders_, 1);

  EXPECT_EQ(ModelPermission("m", "acme"), Permission::kManage);
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.type, store::kEventModelVersionCreated);
  EXPECT_EQ(events[0].event.model_name, "m");
  EXPECT_EQ(events[0].event.version, "1");
  EXPECT_TRUE(Contains(events[0].event.payload, R"("user_id":"acme")")) << events[0].event.payload;

  auto stored = catalog_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->request_hash, "h1");
  EXPECT_EQ((*stored)->status, 201);
  EXPECT_EQ((*stored)->response, "m/1");
}

TEST_F(UpstreamCatalogTest, RegistrationWithoutAliasOrKeyMakesNoAliasCallsAndRecordsNoKey) {
  upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "4"));
  store::RegisterModelArgs args = Registration();
  args.require_new_model = false;
  args.version.model_id.clear();
  auto result = catalog_->RegisterModel(args);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(upstream_.Lines(), std::vector<std::string>{"POST " + Api("model-versions/create")});
  EXPECT_FALSE(Contains(upstream_.calls[0].body, "model_id")) << upstream_.calls[0].body;
  EXPECT_FALSE(result->model_created);
  EXPECT_EQ(result->version.version, "4");
  EXPECT_EQ(result->status, 0);
  EXPECT_EQ(result->response, "m/4");  // rendered even without an idempotency key
  // An existing model gets no new owner; the event is written all the same.
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(UpstreamCatalogTest, AFailedReadBackStillAnswersWithTheAlias) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "1"));
  upstream_.On(Method::kPost, "registered-models/alias", 200, "{}");
  upstream_.On(Method::kGet, "model-versions/get", 503, "unavailable");
  auto result = catalog_->RegisterModel(Registration("champion"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->version.aliases, std::vector<std::string>{"champion"});
  EXPECT_EQ(Events().size(), 1u);
  EXPECT_EQ(upstream_.calls.size(), 4u);  // nothing undone
}

TEST_F(UpstreamCatalogTest, AFailedAliasDeletesTheVersionAndModelAndReleasesTheKey) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "1"));
  upstream_.On(Method::kPost, "registered-models/alias", 500, kServerError);
  upstream_.On(Method::kDelete, "model-versions/delete", 200, "{}");
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  ASSERT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "POST " + Api("registered-models/create"),
                                   "POST " + Api("model-versions/create"),
                                   "POST " + Api("registered-models/alias"),
                                   "DELETE " + Api("model-versions/delete"),
                                   "DELETE " + Api("registered-models/delete"),
                               }));
  EXPECT_EQ(upstream_.calls[3].body, R"({"name":"m","version":"1"})");
  EXPECT_EQ(upstream_.calls[4].body, R"({"name":"m"})");
  EXPECT_TRUE(Events().empty());
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  EXPECT_EQ(renders_, 0);
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AnAliasRefusedWithAnErrorCodeKeepsThatCodeAndIsUndone) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "1"));
  upstream_.On(Method::kPost, "registered-models/alias", 400,
               R"({"error_code":"INVALID_PARAMETER_VALUE","message":"bad alias"})");
  upstream_.On(Method::kDelete, "model-versions/delete", 200, "{}");
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  auto result = catalog_->RegisterModel(WithKey(Registration("v1"), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(result.error().message, "bad alias");
  EXPECT_EQ(upstream_.Lines().size(), 5u);
  EXPECT_EQ(upstream_.Lines()[3], "DELETE " + Api("model-versions/delete"));
  EXPECT_EQ(upstream_.Lines()[4], "DELETE " + Api("registered-models/delete"));
  EXPECT_TRUE(Events().empty());
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AFailedAliasOnAnExistingModelDeletesOnlyTheVersion) {
  ASSERT_TRUE(auth_->RecordUpstreamModelOwner("m", "bob"));
  upstream_.On(Method::kPost, "model-versions/create", 200, VersionAnswer("m", "7"));
  upstream_.On(Method::kPost, "registered-models/alias", 500, kServerError);
  upstream_.On(Method::kDelete, "model-versions/delete", 200, "{}");
  store::RegisterModelArgs args = Registration("champion");
  args.require_new_model = false;
  ASSERT_FALSE(catalog_->RegisterModel(args).has_value());
  EXPECT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "POST " + Api("model-versions/create"),
                                   "POST " + Api("registered-models/alias"),
                                   "DELETE " + Api("model-versions/delete"),
                               }));
  EXPECT_EQ(upstream_.calls[2].body, R"({"name":"m","version":"7"})");
  // The existing model's permission rows are left alone.
  EXPECT_EQ(ModelPermission("m", "bob"), Permission::kManage);
}

TEST_F(UpstreamCatalogTest, AFailedVersionCreateDeletesTheModelThisCallCreated) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 500, kServerError);
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "POST " + Api("registered-models/create"),
                                   "POST " + Api("model-versions/create"),
                                   "DELETE " + Api("registered-models/delete"),
                               }));
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  EXPECT_TRUE(Events().empty());
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AFailedVersionCreateInAnExistingModelDeletesNothing) {
  upstream_.On(Method::kPost, "model-versions/create", 400,
               R"({"error_code":"INVALID_PARAMETER_VALUE","message":"bad source"})");
  store::RegisterModelArgs args = WithKey(Registration("champion"), "k1", "h1");
  args.require_new_model = false;
  auto result = catalog_->RegisterModel(args);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(upstream_.Lines(), std::vector<std::string>{"POST " + Api("model-versions/create")});
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AVersionAnswerWithoutANumberDeletesOnlyTheModel) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 200, R"({"model_version":{"name":"m"}})");
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  auto result = catalog_->RegisterModel(Registration("champion"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_EQ(upstream_.Lines().back(), "DELETE " + Api("registered-models/delete"));
  EXPECT_EQ(upstream_.Lines().size(), 3u);
}

TEST_F(UpstreamCatalogTest, AnExistingModelIsAlreadyExistsAndNothingIsDeleted) {
  ASSERT_TRUE(auth_->RecordUpstreamModelOwner("m", "bob"));
  upstream_.On(Method::kPost, "registered-models/create", 400,
               R"({"error_code":"RESOURCE_ALREADY_EXISTS","message":"Registered Model (name=m) already exists."})");
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(upstream_.Lines(), std::vector<std::string>{"POST " + Api("registered-models/create")});
  // The other owner keeps the model; the key is free for the retry models.cpp makes.
  EXPECT_EQ(ModelPermission("m", "bob"), Permission::kManage);
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AFailedEventWriteUndoesTheWholeRegistration) {
  ScriptRegistration("champion");
  upstream_.On(Method::kDelete, "model-versions/delete", 200, "{}");
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  BreakInserts("registration_events");
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  std::vector<std::string> lines = upstream_.Lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[4], "DELETE " + Api("model-versions/delete"));
  EXPECT_EQ(lines[5], "DELETE " + Api("registered-models/delete"));
  EXPECT_FALSE(ModelPermission("m", "acme").has_value());
  EXPECT_EQ(renders_, 0);
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AFailedOwnershipRecordDeletesTheNewModel) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kDelete, "registered-models/delete", 200, "{}");
  BreakInserts("registered_model_permissions");
  auto result = catalog_->RegisterModel(WithKey(Registration(), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "POST " + Api("registered-models/create"),
                                   "DELETE " + Api("registered-models/delete"),
                               }));
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AFailedUndoStillAnswersWithTheOriginalError) {
  upstream_.On(Method::kPost, "registered-models/create", 200, "{}");
  upstream_.On(Method::kPost, "model-versions/create", 400,
               R"({"error_code":"INVALID_PARAMETER_VALUE","message":"bad source"})");
  upstream_.On(Method::kDelete, "registered-models/delete", 500, kServerError);
  auto result = catalog_->RegisterModel(WithKey(Registration(), "k1", "h1"));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(result.error().message, "bad source");
  ExpectKeyFree("k1");
}

TEST_F(UpstreamCatalogTest, AnUnstoredIdempotencyAnswerLeavesTheRegistrationAndTheReservation) {
  ScriptRegistration("champion");
  {
    auto conn = pool_->AcquireWriter();
    ASSERT_TRUE(conn->Exec("CREATE TRIGGER broken_complete BEFORE UPDATE ON idempotency_keys "
                           "BEGIN SELECT RAISE(ABORT, 'broken for the test'); END"));
  }
  auto result = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->response, "m/1");
  EXPECT_EQ(Events().size(), 1u);
  EXPECT_EQ(upstream_.calls.size(), 4u);  // nothing undone
  // The key stays reserved until the reservation lapses: a retry is told to wait.
  EXPECT_EQ((*catalog_->GetIdempotencyRecord("acme", "k1"))->status, 0);
  auto retry = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(retry.has_value());
  EXPECT_EQ(retry.error().code, ErrorCode::kResourceConflict);
}

// ---- idempotency ----------------------------------------------------------------------------

TEST_F(UpstreamCatalogTest, IdempotencyReplaysTheSameKeyAndHashWithoutUpstreamCalls) {
  ScriptRegistration("champion");
  ASSERT_TRUE(catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1")));
  std::size_t calls = upstream_.calls.size();
  auto again = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->status, 201);
  EXPECT_EQ(again->response, "m/1");
  EXPECT_FALSE(again->model_created);
  EXPECT_EQ(upstream_.calls.size(), calls);
  EXPECT_EQ(renders_, 1);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(UpstreamCatalogTest, IdempotencyKeyWithADifferentHashIsAConflict) {
  ScriptRegistration("champion");
  ASSERT_TRUE(catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1")));
  std::size_t calls = upstream_.calls.size();
  auto conflict = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h2"));
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, ErrorCode::kResourceConflict);
  EXPECT_EQ(upstream_.calls.size(), calls);
  // The stored answer is untouched.
  EXPECT_EQ((*catalog_->GetIdempotencyRecord("acme", "k1"))->response, "m/1");
}

TEST_F(UpstreamCatalogTest, IdempotencyKeyInProgressIsAConflictAndStaysReserved) {
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(Key("k1", "h1")));
  auto pending = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h1"));
  ASSERT_FALSE(pending.has_value());
  EXPECT_EQ(pending.error().code, ErrorCode::kResourceConflict);
  EXPECT_TRUE(Contains(pending.error().message, "progress")) << pending.error().message;
  EXPECT_TRUE(upstream_.calls.empty());
  // The reservation belongs to the request in progress: a conflicting one must not release it.
  auto record = catalog_->GetIdempotencyRecord("acme", "k1");
  ASSERT_TRUE(record.has_value() && record->has_value());
  EXPECT_EQ((*record)->status, 0);
  // A different body with the key in progress is a conflict too.
  auto other = catalog_->RegisterModel(WithKey(Registration("champion"), "k1", "h2"));
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kResourceConflict);
  EXPECT_TRUE(upstream_.calls.empty());
}

TEST_F(UpstreamCatalogTest, IdempotencyKeysAreScopedPerUserInGatewayMode) {
  ScriptRegistration("champion");
  ASSERT_FALSE(*registry_->ReserveIdempotencyKey(Key("k1", "h1")));
  store::RegisterModelArgs args = WithKey(Registration("champion"), "k1", "h1");
  args.idempotency->user_id = "bob";
  auto result = catalog_->RegisterModel(args);
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->replayed);
  EXPECT_EQ((*catalog_->GetIdempotencyRecord("bob", "k1"))->status, 201);
  EXPECT_EQ((*catalog_->GetIdempotencyRecord("acme", "k1"))->status, 0);
}

// ---- search ---------------------------------------------------------------------------------

class UpstreamCatalogSearchTest : public UpstreamCatalogTest {
 protected:
  // Two upstream pages: a/2, a/1 (token t1), then b/1, o'brien/1.
  void ScriptPages() {
    upstream_.On(Method::kGet, "model-versions/search", 200,
                 R"({"model_versions":[)" + VersionJson("a", "2") + "," + VersionJson("a", "1") +
                     R"(],"next_page_token":"t1"})");
    upstream_.On(Method::kGet, "model-versions/search", 200,
                 R"({"model_versions":[)" + VersionJson("b", "1") + "," +
                     VersionJson("o'brien", "1") + "]}");
  }

  std::vector<std::string> Search(const store::SearchRegistryArgs& args, bool* more = nullptr) {
    auto page = catalog_->SearchModelVersions(args);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    std::vector<std::string> out;
    if (!page) return out;
    for (const store::ModelVersion& v : page->first) out.push_back(v.name + "/" + v.version);
    if (more != nullptr) *more = page->second;
    return out;
  }

  static store::SearchRegistryArgs Page(int64_t max_results, int64_t offset = 0) {
    store::SearchRegistryArgs args;
    args.max_results = max_results;
    args.offset = offset;
    return args;
  }

  static store::Clause NameIs(const std::string& name) {
    store::Clause clause;
    clause.kind = store::EntityKind::kAttribute;
    clause.key = "name";
    clause.string_value = name;
    return clause;
  }

  static store::Clause TagIs(const std::string& key, const std::string& value) {
    store::Clause clause;
    clause.kind = store::EntityKind::kTag;
    clause.key = key;
    clause.string_value = value;
    return clause;
  }
};

TEST_F(UpstreamCatalogSearchTest, FollowsUpstreamPagesToTheEnd) {
  ScriptPages();
  bool more = true;
  EXPECT_EQ(Search(Page(100), &more),
            (std::vector<std::string>{"a/2", "a/1", "b/1", "o'brien/1"}));
  EXPECT_FALSE(more);
  ASSERT_EQ(upstream_.calls.size(), 2u);
  EXPECT_EQ(upstream_.calls[0].Line(), "GET " + Api("model-versions/search"));
  EXPECT_EQ(upstream_.calls[0].Param("max_results"), "1000");
  EXPECT_FALSE(upstream_.calls[0].Param("page_token").has_value());
  EXPECT_FALSE(upstream_.calls[0].Param("filter").has_value());
  EXPECT_EQ(upstream_.calls[1].Param("page_token"), "t1");
}

TEST_F(UpstreamCatalogSearchTest, AppliesOffsetAndMaxResultsAcrossPages) {
  ScriptPages();
  bool more = false;
  EXPECT_EQ(Search(Page(2, 1), &more), (std::vector<std::string>{"a/1", "b/1"}));
  EXPECT_TRUE(more);
}

TEST_F(UpstreamCatalogSearchTest, AFullLastPageHasNoMore) {
  ScriptPages();
  bool more = true;
  EXPECT_EQ(Search(Page(1, 3), &more), (std::vector<std::string>{"o'brien/1"}));
  EXPECT_FALSE(more);
  EXPECT_EQ(upstream_.calls.size(), 2u);
}

TEST_F(UpstreamCatalogSearchTest, StopsAsSoonAsThePageIsFull) {
  ScriptPages();
  bool more = false;
  EXPECT_EQ(Search(Page(1), &more), std::vector<std::string>{"a/2"});
  EXPECT_TRUE(more);
  EXPECT_EQ(upstream_.calls.size(), 1u);
}

TEST_F(UpstreamCatalogSearchTest, DropsVersionsTheVisibilityHides) {
  ASSERT_TRUE(auth_->RecordUpstreamModelOwner("a", "acme"));
  ScriptPages();
  store::SearchRegistryArgs args = Page(100);
  args.visibility = store::Visibility{"acme", false, {}};
  // Without a row and with no default read, only acme's own model is listed.
  EXPECT_EQ(Search(args), (std::vector<std::string>{"a/2", "a/1"}));
}

TEST_F(UpstreamCatalogSearchTest, VisibilityAppliesBeforeOffsetAndNamePatterns) {
  ASSERT_TRUE(auth_->RecordUpstreamModelOwner("b", "bob"));
  ASSERT_TRUE(auth_->SetModelPermission("b", "acme", Permission::kNoPermissions));
  ScriptPages();
  store::SearchRegistryArgs args = Page(100, 1);
  args.visibility = store::Visibility{"acme", true, {"a*", "b*", "o*"}};
  // b is denied by its row; the offset counts visible versions only.
  EXPECT_EQ(Search(args), (std::vector<std::string>{"a/1", "o'brien/1"}));
  ScriptPages();
  args = Page(100);
  args.visibility = store::Visibility{"acme", true, {"o*"}};
  EXPECT_EQ(Search(args), std::vector<std::string>{"o'brien/1"});
}

TEST_F(UpstreamCatalogSearchTest, PlainClausesGoUpstreamAndAreCheckedHereToo) {
  ScriptPages();  // the upstream ignores the filter: the catalog still applies it
  store::SearchRegistryArgs args = Page(100);
  args.filter = {NameIs("a"), TagIs("hokusai.version_label", "v1")};
  EXPECT_EQ(Search(args), (std::vector<std::string>{"a/2", "a/1"}));
  EXPECT_EQ(upstream_.calls[0].Param("filter"),
            "name = 'a' AND tags.`hokusai.version_label` = 'v1'");
  args.filter = {TagIs("hokusai.version_label", "v2")};
  ScriptPages();
  EXPECT_TRUE(Search(args).empty());
}

TEST_F(UpstreamCatalogSearchTest, AQuotedNameIsMatchedHereOnly) {
  ScriptPages();
  store::SearchRegistryArgs args = Page(100);
  args.filter = {NameIs("o'brien")};
  EXPECT_EQ(Search(args), std::vector<std::string>{"o'brien/1"});
  ASSERT_FALSE(upstream_.calls.empty());
  for (const auto& call : upstream_.calls) EXPECT_FALSE(call.Param("filter").has_value());
  // Backslashes and backquoted tag keys stay local too; the plain clause still goes upstream.
  upstream_.calls.clear();
  ScriptPages();
  args.filter = {NameIs("a"), TagIs("odd`key", "x"), TagIs("k", "back\\slash")};
  EXPECT_TRUE(Search(args).empty());
  EXPECT_EQ(upstream_.calls[0].Param("filter"), "name = 'a'");
}

TEST_F(UpstreamCatalogSearchTest, UnsupportedClausesAreAnInternalError) {
  store::SearchRegistryArgs args = Page(100);
  store::Clause run = NameIs("r1");
  run.key = "run_id";
  args.filter = {run};
  auto page = catalog_->SearchModelVersions(args);
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error().code, ErrorCode::kInternalError);
  store::Clause like = NameIs("a%");
  like.op = store::Comparator::kLike;
  args.filter = {like};
  EXPECT_FALSE(catalog_->SearchModelVersions(args).has_value());
  EXPECT_TRUE(upstream_.calls.empty());
}

TEST_F(UpstreamCatalogSearchTest, UpstreamErrorsAndMalformedPagesAreErrors) {
  upstream_.On(Method::kGet, "model-versions/search", 500, kServerError);
  auto failed = catalog_->SearchModelVersions(Page(10));
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kTemporarilyUnavailable);
  ScriptedUpstream malformed;
  malformed.On(Method::kGet, "model-versions/search", 200, R"({"model_versions":[{"name":"a"}]})");
  auto catalog = MakeUpstreamCatalog(malformed, locator_, *auth_, *registry_, *events_);
  auto bad = catalog->SearchModelVersions(Page(10));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kTemporarilyUnavailable);
  // An empty answer ({} in MLflow) is an empty page.
  ScriptedUpstream empty;
  empty.On(Method::kGet, "model-versions/search", 200, "{}");
  catalog = MakeUpstreamCatalog(empty, locator_, *auth_, *registry_, *events_);
  auto none = catalog->SearchModelVersions(Page(10));
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->first.empty());
  EXPECT_FALSE(none->second);
}

// ---- stage aliases --------------------------------------------------------------------------

class UpstreamCatalogStageTest : public UpstreamCatalogTest {
 protected:
  const store::Tag kTag{"lifecycle_stage", "Production"};
  void ScriptVersion() {
    upstream_.On(Method::kGet, "model-versions/get", 200, VersionAnswer("m", "2"));
    upstream_.On(Method::kPost, "registered-models/alias", 200, "{}");
  }
};

TEST_F(UpstreamCatalogStageTest, SetsTheAliasThenTheLifecycleTag) {
  ScriptVersion();
  upstream_.On(Method::kGet, "registered-models/alias", 200, VersionAnswer("m", "1"));
  upstream_.On(Method::kPost, "model-versions/set-tag", 200, "{}");
  auto done = catalog_->SetStageAlias("m", "2", "production", kTag);
  ASSERT_TRUE(done.has_value()) << done.error().message;
  ASSERT_EQ(upstream_.Lines(), (std::vector<std::string>{
                                   "GET " + Api("model-versions/get"),
                                   "GET " + Api("registered-models/alias"),
                                   "POST " + Api("registered-models/alias"),
                                   "POST " + Api("model-versions/set-tag"),
                               }));
  EXPECT_EQ(upstream_.calls[1].query,
            (http::QueryParams{{"name", "m"}, {"alias", "production"}}));
  EXPECT_EQ(upstream_.calls[2].body, R"({"name":"m","alias":"production","version":"2"})");
  EXPECT_EQ(upstream_.calls[3].body,
            R"({"name":"m","version":"2","key":"lifecycle_stage","value":"Production"})");
}

TEST_F(UpstreamCatalogStageTest, AFailedTagPutsTheAliasBackWhereItWas) {
  ScriptVersion();
  upstream_.On(Method::kGet, "registered-models/alias", 200, VersionAnswer("m", "1"));
  upstream_.On(Method::kPost, "model-versions/set-tag", 500, kServerError);
  auto done = catalog_->SetStageAlias("m", "2", "production", kTag);
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::kTemporarilyUnavailable);
  ASSERT_EQ(upstream_.calls.size(), 5u);
  EXPECT_EQ(upstream_.calls[4].Line(), "POST " + Api("registered-models/alias"));
  EXPECT_EQ(upstream_.calls[4].body, R"({"name":"m","alias":"production","version":"1"})");
}

TEST_F(UpstreamCatalogStageTest, AFailedTagDeletesAnAliasThatDidNotExist) {
  // MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE (older) or 404.
  const std::vector<std::pair<int, std::string>> missing_answers = {
      {400, R"({"error_code":"INVALID_PARAMETER_VALUE","message":"Registered model alias production not found."})"},
      {404, kNotFound}};
  for (const auto& [status, missing] : missing_answers) {
    SCOPED_TRACE(missing);
    ScriptedUpstream upstream;
    upstream.On(Method::kGet, "model-versions/get", 200, VersionAnswer("m", "2"));
    upstream.On(Method::kGet, "registered-models/alias", status, missing);
    upstream.On(Method::kPost, "registered-models/alias", 200, "{}");
    upstream.On(Method::kPost, "model-versions/set-tag", 500, kServerError);
    upstream.On(Method::kDelete, "registered-models/alias", 200, "{}");
    auto catalog = MakeUpstreamCatalog(upstream, locator_, *auth_, *registry_, *events_);
    ASSERT_FALSE(catalog->SetStageAlias("m", "2", "production", kTag).has_value());
    ASSERT_EQ(upstream.calls.size(), 5u);
    EXPECT_EQ(upstream.calls[4].Line(), "DELETE " + Api("registered-models/alias"));
    EXPECT_EQ(upstream.calls[4].query,
              (http::QueryParams{{"name", "m"}, {"alias", "production"}}));
  }
}

TEST_F(UpstreamCatalogStageTest, AMissingVersionWritesNothing) {
  upstream_.On(Method::kGet, "model-versions/get", 404,
               R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=m, version=9) not found"})");
  auto done = catalog_->SetStageAlias("m", "9", "production", kTag);
  ASSERT_FALSE(done.has_value());
  EXPECT_EQ(done.error().code, ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(upstream_.calls.size(), 1u);
}

TEST_F(UpstreamCatalogStageTest, AnUnreadableAliasWritesNothing) {
  ScriptVersion();
  upstream_.On(Method::kGet, "registered-models/alias", 503, "busy");
  ASSERT_FALSE(catalog_->SetStageAlias("m", "2", "production", kTag).has_value());
  EXPECT_EQ(upstream_.calls.size(), 2u);
}

// ---- lookups --------------------------------------------------------------------------------

TEST_F(UpstreamCatalogTest, NewestLoggedModelIsNoneWithoutALoggedModelsApi) {
  upstream_.On(Method::kPost, "logged-models/search", 404, "<html>Not Found</html>");
  auto found = catalog_->NewestLoggedModel("1", "r1", "clf");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_FALSE(found->has_value());
}

TEST_F(UpstreamCatalogTest, NewestLoggedModelFindsTheNameInTheRunsModels) {
  upstream_.On(Method::kPost, "logged-models/search", 200,
               R"({"models":[{"info":{"name":"other","model_id":"m-1"}},)"
               R"({"info":{"name":"clf","model_id":"m-2"}},{"info":{"name":"clf","model_id":"m-0"}}]})");
  auto found = catalog_->NewestLoggedModel("1", "r1", "clf");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(*found, "m-2");
  ASSERT_EQ(upstream_.calls.size(), 1u);
  const std::string& body = upstream_.calls[0].body;
  EXPECT_TRUE(Contains(body, R"("experiment_ids":["1"])")) << body;
  EXPECT_TRUE(Contains(body, R"("filter":"source_run_id = 'r1'")")) << body;
  EXPECT_TRUE(Contains(body, R"({"field_name":"creation_timestamp","ascending":false})")) << body;
  EXPECT_FALSE(Contains(body, "page_token")) << body;
}

TEST_F(UpstreamCatalogTest, NewestLoggedModelFollowsPages) {
  upstream_.On(Method::kPost, "logged-models/search", 200,
               R"({"models":[{"info":{"name":"other","model_id":"m-1"}}],"next_page_token":"p2"})");
  upstream_.On(Method::kPost, "logged-models/search", 200,
               R"({"models":[{"info":{"name":"clf","model_id":"m-3"}}]})");
  auto found = catalog_->NewestLoggedModel("1", "r1", "clf");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(*found, "m-3");
  ASSERT_EQ(upstream_.calls.size(), 2u);
  EXPECT_TRUE(Contains(upstream_.calls[1].body, R"("page_token":"p2")")) << upstream_.calls[1].body;
}

TEST_F(UpstreamCatalogTest, NewestLoggedModelIsNoneWhenNoPageHasTheName) {
  upstream_.On(Method::kPost, "logged-models/search", 200,
               R"({"models":[{"info":{"name":"other","model_id":"m-1"}}]})");
  auto found = catalog_->NewestLoggedModel("1", "r1", "clf");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(upstream_.calls.size(), 1u);
}

TEST_F(UpstreamCatalogTest, NewestLoggedModelPassesUpstreamErrorsOn) {
  upstream_.On(Method::kPost, "logged-models/search", 404,
               R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Experiment 1 not found"})");
  auto found = catalog_->NewestLoggedModel("1", "r1", "clf");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(UpstreamCatalogTest, NewestLoggedModelNeverSendsAQuotedRunId) {
  auto found = catalog_->NewestLoggedModel("1", "r1' OR '1'='1", "clf");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_FALSE(found->has_value());
  EXPECT_TRUE(upstream_.calls.empty());
}

TEST_F(UpstreamCatalogTest, ModelExistsAsksTheUpstream) {
  upstream_.OnQuery(Method::kGet, "registered-models/get", {{"name", "m"}}, 200,
                    R"({"registered_model":{"name":"m"}})");
  upstream_.OnQuery(Method::kGet, "registered-models/get", {{"name", "gone"}}, 404, kNotFound);
  upstream_.OnQuery(Method::kGet, "registered-models/get", {{"name", "busy"}}, 503, "busy");
  auto present = catalog_->ModelExists("m");
  ASSERT_TRUE(present.has_value()) << present.error().message;
  EXPECT_TRUE(*present);
  auto gone = catalog_->ModelExists("gone");
  ASSERT_TRUE(gone.has_value()) << gone.error().message;
  EXPECT_FALSE(*gone);
  auto busy = catalog_->ModelExists("busy");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST_F(UpstreamCatalogTest, RequireAsksTheUpstreamAndAnchorMakesPermissionsWritable) {
  upstream_.OnQuery(Method::kGet, "registered-models/get", {{"name", "m"}}, 200,
                    R"({"registered_model":{"name":"m"}})");
  upstream_.OnQuery(Method::kGet, "registered-models/get", {{"name", "gone"}}, 404, kNotFound);
  upstream_.OnQuery(Method::kGet, "experiments/get", {{"experiment_id", "9"}}, 404,
                    R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"No Experiment with id=9 exists"})");
  EXPECT_TRUE(catalog_->RequireModel("m").has_value());
  auto gone = catalog_->RequireModel("gone");
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kResourceDoesNotExist);
  auto no_experiment = catalog_->RequireExperiment("9");
  ASSERT_FALSE(no_experiment.has_value());
  EXPECT_EQ(no_experiment.error().code, ErrorCode::kResourceDoesNotExist);

  ASSERT_TRUE(catalog_->AnchorModelPermissions("m").has_value());
  ASSERT_TRUE(auth_->SetModelPermission("m", "bob", Permission::kRead).has_value());
  EXPECT_EQ(ModelPermission("m", "bob"), Permission::kRead);
  ASSERT_TRUE(catalog_->AnchorExperimentPermissions("9").has_value());
  ASSERT_TRUE(auth_->SetExperimentPermission("9", "bob", Permission::kRead).has_value());
}

// ---- parsing --------------------------------------------------------------------------------

TEST(UpstreamCatalogParseTest, NumbersMayBeStringsOrNumbers) {
  UpstreamConfig config = *ParseUpstreamUrl("http://mlflow:5000");
  auto version = ParseUpstreamModelVersion(
      config,
      R"({"model_version":{"name":"m","version":"3","creation_timestamp":1700000000123,)"
      R"("last_updated_timestamp":"1700000000456","tags":[{"key":"k","value":"v"}],)"
      R"("aliases":["a","b"]}})",
      "/model_version");
  ASSERT_TRUE(version.has_value()) << version.error().message;
  EXPECT_EQ(version->name, "m");
  EXPECT_EQ(version->version, "3");
  EXPECT_EQ(version->creation_timestamp, 1700000000123);
  EXPECT_EQ(version->last_updated_timestamp, 1700000000456);
  EXPECT_EQ(version->current_stage, "None");  // MLflow leaves defaults out
  EXPECT_EQ(version->status, "READY");
  ASSERT_EQ(version->tags.size(), 1u);
  EXPECT_EQ(version->tags[0].value, "v");
  EXPECT_EQ(version->aliases, (std::vector<std::string>{"a", "b"}));
}

TEST(UpstreamCatalogParseTest, FollowsThePointer) {
  UpstreamConfig config = *ParseUpstreamUrl("http://mlflow:5000");
  auto version = ParseUpstreamModelVersion(
      config, R"({"registered_model":{"latest_versions":[{"name":"m","version":"5"}]}})",
      "/registered_model/latest_versions/0");
  ASSERT_TRUE(version.has_value()) << version.error().message;
  EXPECT_EQ(version->version, "5");
}

TEST(UpstreamCatalogParseTest, MissingOrMalformedVersionsAreUnavailable) {
  UpstreamConfig config = *ParseUpstreamUrl("http://mlflow:5000");
  for (const char* body : {
           R"({"model_version":{"version":"1"}})",
           R"({"model_version":{"name":"m"}})",
           R"({"model_version":{"name":"m","version":1}})",
           R"({"model_version":"m/1"})",
           R"({})",
           "not json",
       }) {
    SCOPED_TRACE(body);
    auto version = ParseUpstreamModelVersion(config, body, "/model_version");
    ASSERT_FALSE(version.has_value());
    EXPECT_EQ(version.error().code, ErrorCode::kTemporarilyUnavailable);
    EXPECT_TRUE(Contains(version.error().message, "http://mlflow:5000")) << version.error().message;
  }
}

}  // namespace
}  // namespace hokusai::gateway
