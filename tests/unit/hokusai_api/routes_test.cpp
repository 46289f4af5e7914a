// The Hokusai routes end to end below HTTP: each request is found in the route table, admitted
// by the real gate (unless public) and handled, over a temporary SQLite database, as the server
// would run it.
#include "hokusai_api/hokusai_api.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "auth/api_key.hpp"
#include "auth/local_authenticator.hpp"
#include "common/util.hpp"
#include "http/error_response.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::hokusai_api {
namespace {

using http::Method;

constexpr int64_t kFailuresPerMinute = 5;

std::optional<std::string_view> HeaderOf(const http::Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

class HokusaiRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-api-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = store::sql::OpenDatabase(
        store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<store::sql::SqlTrackingStore>(*pool);
    registry_ = std::make_unique<store::sql::SqlRegistryStore>(*pool);
    auth_store_ = std::make_unique<store::sql::SqlAuthStore>(*pool);
    keys_ = std::make_unique<auth::KeyService>(*auth_store_, "unit-test-server-secret",
                                               auth::KeyDefaults{});
    authenticator_ =
        std::make_unique<auth::LocalAuthenticator>(*auth_store_, *keys_, "hokusai-registry");
    audit_ = std::make_unique<auth::AuditSink>(*auth_store_);
    auth::GateConfig config;
    config.auth_failures_per_minute = kFailuresPerMinute;
    gate_ = std::make_unique<auth::AuthGate>(
        config, *authenticator_, *auth_store_, limiter_, *audit_,
        [this](const std::string& id) -> Result<std::string> {
          HK_TRY(experiment, tracking_->GetExperiment(id));
          return experiment.name;
        });
    table_ = std::make_unique<http::RouteTable>();
    ASSERT_TRUE(RegisterHokusaiRoutes(*table_, Deps(keys_.get())));
    auto bootstrap = keys_->Bootstrap();
    ASSERT_TRUE(bootstrap && *bootstrap);
    admin_key_ = (*bootstrap)->secret;
  }

  void TearDown() override {
    table_.reset();
    gate_.reset();
    audit_.reset();
    authenticator_.reset();
    keys_.reset();
    auth_store_.reset();
    registry_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  HokusaiApiDeps Deps(auth::KeyService* keys) {
    return HokusaiApiDeps{keys,       *authenticator_, *gate_,     limiter_,
                          *audit_,    *auth_store_,    *tracking_, *registry_,
                          "hokusai-registry", ""};
  }

  struct Call {
    Method method = Method::kGet;
    std::string path;
    std::string body;
    std::string key;  // sent as Authorization: Bearer
    http::QueryParams query;
    std::string remote = "10.0.0.1";
  };

  // What the server would answer, minus the HTTP framing.
  http::Response Send(const Call& call, http::RouteTable* table = nullptr) {
    if (table == nullptr) table = table_.get();
    http::Request request;
    request.method = call.method;
    request.canonical_path = call.path;
    request.body = call.body;
    request.content_type = call.body.empty() ? "" : "application/json";
    request.query = call.query;
    request.remote_address = call.remote;
    request.headers = {{"host", "registry.test:5000"}};
    if (!call.key.empty()) {
      request.credential.source = http::Credential::Source::kBearer;
      request.credential.secret = call.key;
    }
    bool known = false;
    http::PathParams params;
    const http::Route* route = table->Find(call.method, call.path, &known, &params);
    if (route == nullptr) return http::NotFoundResponse();
    request.path_params = std::move(params);
    if (route->access.operation != http::Operation::kPublic) {
      auto admitted = gate_->Admit(*route, request);
      if (!admitted) return http::ErrorResponse(admitted.error());
    }
    auto result = route->handler(request);
    http::Response response = result ? std::move(*result) : http::ErrorResponse(result.error());
    gate_->Completed(*route, request, response.status);
    return response;
  }

  simdjson::dom::element Json(const http::Response& response) {
    auto parsed = parser_.parse(response.body);
    EXPECT_EQ(parsed.error(), simdjson::SUCCESS) << response.body;
    return parsed.value_unsafe();
  }

  static std::string Str(simdjson::dom::element element) {
    std::string_view text;
    EXPECT_EQ(element.get(text), simdjson::SUCCESS);
    return std::string(text);
  }

  // Creates a key as the admin and returns {secret, key_id}.
  std::pair<std::string, std::string> CreateKey(const std::string& body) {
    http::Response response = Send({Method::kPost, "/api/v1/keys", body, admin_key_});
    EXPECT_EQ(response.status, 201) << response.body;
    simdjson::dom::element root = Json(response);
    return {Str(root["api_key"]), Str(root["key_id"])};
  }

  http::Response Validate(const std::string& key, const std::string& remote = "10.0.0.1") {
    return Send({Method::kPost, "/api/v1/keys/validate", "", key, {}, remote});
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlTrackingStore> tracking_;
  std::unique_ptr<store::sql::SqlRegistryStore> registry_;
  std::unique_ptr<store::sql::SqlAuthStore> auth_store_;
  std::unique_ptr<auth::KeyService> keys_;
  std::unique_ptr<auth::LocalAuthenticator> authenticator_;
  auth::RateLimiter limiter_;
  std::unique_ptr<auth::AuditSink> audit_;
  std::unique_ptr<auth::AuthGate> gate_;
  std::unique_ptr<http::RouteTable> table_;
  std::string admin_key_;
  simdjson::dom::parser parser_;
};

TEST_F(HokusaiRoutesTest, EveryRouteDeclaresItsAccess) {
  using http::Operation;
  using http::Resource;
  struct Expected {
    Operation operation;
    Resource resource;
  };
  // What each Hokusai route must declare; the permission endpoints are checked by pattern below.
  const std::map<std::string, Expected> expected = {
      {"POST /api/v1/keys", {Operation::kAuthenticated, Resource::kNone}},
      {"GET /api/v1/keys", {Operation::kAuthenticated, Resource::kNone}},
      {"POST /api/v1/keys/validate", {Operation::kPublic, Resource::kNone}},
      {"GET /api/v1/keys/{key_id}", {Operation::kAuthenticated, Resource::kNone}},
      {"DELETE /api/v1/keys/{key_id}", {Operation::kAuthenticated, Resource::kNone}},
      {"POST /api/v1/keys/{key_id}/rotate", {Operation::kAuthenticated, Resource::kNone}},
      {"GET /api/v1/whoami", {Operation::kAuthenticated, Resource::kNone}},
      {"GET /api/v1/audit", {Operation::kAdmin, Resource::kNone}},
      {"POST /api/v1/models/register", {Operation::kWrite, Resource::kModel}},
      {"POST /api/v1/models/baseline", {Operation::kWrite, Resource::kModel}},
      {"GET /api/v1/models", {Operation::kRead, Resource::kModel}},
      {"GET /api/v1/models/{name}/{version}", {Operation::kRead, Resource::kModel}},
      {"POST /api/v1/models/{name}/{version}/transition", {Operation::kWrite, Resource::kModel}},
      {"GET /api/v1/events", {Operation::kAdmin, Resource::kNone}},
      {"GET /api/v1/events/{event_id}", {Operation::kAdmin, Resource::kNone}},
      {"POST /api/v1/events/{event_id}/replay", {Operation::kAdmin, Resource::kNone}},
  };
  std::size_t own_routes = 0;
  int permission_routes = 0;
  for (const http::Route& route : table_->routes()) {
    EXPECT_EQ(route.execution, http::Execution::kBlocking) << route.path;
    std::string key = std::string(http::MethodName(route.method)) + " " + route.path;
    if (route.path.starts_with("/api/v1/")) {
      auto found = expected.find(key);
      ASSERT_NE(found, expected.end()) << "undeclared in this test: " << key;
      ++own_routes;
      EXPECT_EQ(route.access.operation, found->second.operation) << key;
      EXPECT_EQ(route.access.resource, found->second.resource) << key;
      EXPECT_EQ(static_cast<bool>(route.target), found->second.resource != Resource::kNone) << key;
    } else {
      ++permission_routes;
      EXPECT_TRUE(route.path.starts_with("/api/2.0/mlflow/experiments/permissions/") ||
                  route.path.starts_with("/api/2.0/mlflow/registered-models/permissions/"))
          << key;
      EXPECT_EQ(route.access.operation, Operation::kManage) << key;
      EXPECT_NE(route.access.resource, Resource::kNone) << key;
      EXPECT_TRUE(route.target) << key;
    }
  }
  EXPECT_EQ(own_routes, expected.size());
  EXPECT_EQ(permission_routes, 8);
}

// --- /api/v1/keys/validate ---

TEST_F(HokusaiRoutesTest, ValidateAcceptsTheHeaderShape) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc","user_id":"alice","template":"reader"})");
  http::Response response =
      Send({Method::kPost, "/api/v1/keys/validate", R"({"service_id":"gateway"})", secret});
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element root = Json(response);
  EXPECT_EQ(Str(root["user_id"]), "alice");
  EXPECT_EQ(Str(root["key_id"]), key_id);
  EXPECT_EQ(Str(root["service_id"]), "gateway");
  EXPECT_EQ(Str(root["user"]["id"]), "alice");
  EXPECT_TRUE(root["has_sufficient_balance"].get_bool().value());
  EXPECT_TRUE(root["expires_at"].is_null());
  EXPECT_EQ(response.body.find(secret), std::string::npos);
  EXPECT_TRUE(HeaderOf(response, "RateLimit-Remaining"));
}

TEST_F(HokusaiRoutesTest, ValidateAcceptsTheBodyShape) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc","user_id":"alice","template":"reader"})");
  http::Response response = Send(
      {Method::kPost, "/api/v1/keys/validate", R"({"api_key":")" + secret + "\"}", ""});
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element root = Json(response);
  EXPECT_EQ(Str(root["key_id"]), key_id);
  EXPECT_EQ(Str(root["service_id"]), "hokusai-registry");
}

TEST_F(HokusaiRoutesTest, ValidateRefusesTwoDifferentKeys) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc"})");
  http::Response response = Send(
      {Method::kPost, "/api/v1/keys/validate", R"({"api_key":")" + secret + "\"}", admin_key_});
  EXPECT_EQ(response.status, 400) << response.body;
}

TEST_F(HokusaiRoutesTest, ValidateGivesOneBodyForEveryBadKey) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc"})");
  ASSERT_EQ(Send({Method::kDelete, "/api/v1/keys/" + key_id, "", admin_key_}).status, 200);
  http::Response revoked = Validate(secret);
  http::Response garbage = Validate("hk_live_not-a-key");
  http::Response unknown = Validate(auth::GenerateKey(auth::KeyEnvironment::kLive));
  http::Response none = Validate("");
  EXPECT_EQ(revoked.status, 401);
  for (const http::Response* other : {&garbage, &unknown, &none}) {
    EXPECT_EQ(other->status, 401);
    EXPECT_EQ(other->body, revoked.body);
  }
}

TEST_F(HokusaiRoutesTest, ValidateRefusesAClientIpOutsideTheAllowList) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc","allowed_ips":["192.168.0.0/16"]})");
  http::Response inside = Send({Method::kPost, "/api/v1/keys/validate",
                                R"({"client_ip":"192.168.3.4"})", secret});
  EXPECT_EQ(inside.status, 200) << inside.body;
  http::Response outside = Send({Method::kPost, "/api/v1/keys/validate",
                                 R"({"client_ip":"10.9.9.9"})", secret});
  EXPECT_EQ(outside.status, 401) << outside.body;
}

TEST_F(HokusaiRoutesTest, ValidateThrottlesAnAddressThatKeepsFailing) {
  for (int64_t i = 0; i < kFailuresPerMinute; ++i) {
    EXPECT_EQ(Validate("hk_live_guess" + std::to_string(i)).status, 401);
  }
  http::Response throttled = Validate("hk_live_guess-again");
  EXPECT_EQ(throttled.status, 429) << throttled.body;
  EXPECT_EQ(HeaderOf(throttled, "Retry-After"), "60");
  // Even a right guess now gets 429 from that address, so guessing on teaches nothing.
  EXPECT_EQ(Validate(admin_key_).status, 429);
  EXPECT_EQ(Validate(admin_key_, "10.0.0.2").status, 200);
}

TEST_F(HokusaiRoutesTest, ValidateSpendsTheKeysRateLimit) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc","rate_limit_per_hour":2})");
  EXPECT_EQ(Validate(secret).status, 200);
  http::Response last = Validate(secret);
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(HeaderOf(last, "RateLimit-Remaining"), "0");
  http::Response limited = Validate(secret);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_TRUE(HeaderOf(limited, "Retry-After"));
  EXPECT_EQ(HeaderOf(limited, "RateLimit-Limit"), "2");
}

// --- key management ---

TEST_F(HokusaiRoutesTest, CreateShowsTheSecretOnceAndNothingElseDoes) {
  http::Response created = Send({Method::kPost, "/api/v1/keys",
                                 R"({"name":"ci","user_id":"bob","template":"reader",
                                     "environment":"test","expires_in_days":30})",
                                 admin_key_});
  ASSERT_EQ(created.status, 201) << created.body;
  simdjson::dom::element root = Json(created);
  std::string secret = Str(root["api_key"]);
  std::string key_id = Str(root["key_id"]);
  EXPECT_TRUE(secret.starts_with("hk_test_"));
  EXPECT_EQ(Str(root["user_id"]), "bob");
  EXPECT_TRUE(root["is_active"].get_bool().value());
  EXPECT_FALSE(root["expires_at"].is_null());

  std::string random_part = secret.substr(std::string_view("hk_test_").size() + 8);
  for (const http::Response& response :
       {Send({Method::kGet, "/api/v1/keys", "", admin_key_, {{"user_id", "bob"}}}),
        Send({Method::kGet, "/api/v1/keys/" + key_id, "", admin_key_}),
        Send({Method::kGet, "/api/v1/whoami", "", secret}),
        Validate(secret)}) {
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.body.find(random_part), std::string::npos) << response.body;
  }
}

TEST_F(HokusaiRoutesTest, CreateNamesUnknownFields) {
  http::Response response =
      Send({Method::kPost, "/api/v1/keys", R"({"name":"ci","scope":"admin"})", admin_key_});
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("'scope'"), std::string::npos) << response.body;
}

TEST_F(HokusaiRoutesTest, AKeyCannotMintMoreThanItHolds) {
  auto [reader, key_id] = CreateKey(R"({"name":"r","user_id":"bob","template":"reader"})");
  http::Response response = Send(
      {Method::kPost, "/api/v1/keys", R"({"name":"x","scopes":["experiment:write"]})", reader});
  EXPECT_EQ(response.status, 403) << response.body;
}

TEST_F(HokusaiRoutesTest, ListShowsOwnKeysWithTheListFields) {
  auto [bob_key, bob_key_id] = CreateKey(R"({"name":"b","user_id":"bob","template":"reader"})");
  CreateKey(R"({"name":"c","user_id":"carol","template":"reader"})");
  http::Response response = Send({Method::kGet, "/api/v1/keys", "", bob_key});
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::array keys = Json(response)["keys"].get_array().value();
  ASSERT_EQ(keys.size(), 1u);
  simdjson::dom::element key = keys.at(0).value();
  EXPECT_EQ(Str(key["key_id"]), bob_key_id);
  for (const char* field : {"name", "key_prefix", "user_id", "scopes", "environment",
                            "created_at", "last_used_at", "expires_at", "revoked_at", "is_active",
                            "allowed_ips", "rate_limit_per_hour"}) {
    EXPECT_EQ(key[field].error(), simdjson::SUCCESS) << field;
  }
  EXPECT_EQ(key["api_key"].error(), simdjson::NO_SUCH_FIELD);
}

TEST_F(HokusaiRoutesTest, AnotherUsersKeyIsNotVisible) {
  auto [bob_key, bob_key_id] = CreateKey(R"({"name":"b","user_id":"bob","template":"reader"})");
  auto [carol_key, carol_key_id] =
      CreateKey(R"({"name":"c","user_id":"carol","template":"reader"})");
  for (const Call& call : {Call{Method::kGet, "/api/v1/keys/" + carol_key_id, "", bob_key},
                           Call{Method::kDelete, "/api/v1/keys/" + carol_key_id, "", bob_key},
                           Call{Method::kPost, "/api/v1/keys/" + carol_key_id + "/rotate", "",
                                bob_key}}) {
    http::Response response = Send(call);
    EXPECT_TRUE(response.status == 403 || response.status == 404) << response.body;
  }
  EXPECT_EQ(Validate(carol_key).status, 200);
}

TEST_F(HokusaiRoutesTest, RevokeStopsTheKeyAtOnce) {
  auto [secret, key_id] = CreateKey(R"({"name":"svc"})");
  http::Response revoked = Send({Method::kDelete, "/api/v1/keys/" + key_id, "", admin_key_});
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  simdjson::dom::element root = Json(revoked);
  EXPECT_FALSE(root["is_active"].get_bool().value());
  EXPECT_FALSE(root["revoked_at"].is_null());
  EXPECT_EQ(Validate(secret).status, 401);
}

TEST_F(HokusaiRoutesTest, RotateKeepsTheOldSecretForTheOverlap) {
  auto [old_secret, key_id] = CreateKey(R"({"name":"svc"})");
  http::Response rotated = Send({Method::kPost, "/api/v1/keys/" + key_id + "/rotate",
                                 R"({"overlap_seconds":3600})", admin_key_});
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  simdjson::dom::element root = Json(rotated);
  std::string new_secret = Str(root["api_key"]);
  EXPECT_NE(new_secret, old_secret);
  EXPECT_EQ(Str(root["key_id"]), key_id);
  EXPECT_FALSE(root["previous_secret_valid_until"].is_null());
  EXPECT_EQ(Validate(old_secret).status, 200);
  EXPECT_EQ(Validate(new_secret).status, 200);

  http::Response again = Send({Method::kPost, "/api/v1/keys/" + key_id + "/rotate", "",
                               admin_key_});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Validate(new_secret).status, 401);
}

TEST_F(HokusaiRoutesTest, WhoAmIDescribesThePrincipal) {
  auto [secret, key_id] = CreateKey(R"({"name":"laptop","user_id":"bob","template":"reader",
                                        "rate_limit_per_hour":50})");
  http::Response response = Send({Method::kGet, "/api/v1/whoami", "", secret});
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element root = Json(response);
  EXPECT_EQ(Str(root["user_id"]), "bob");
  EXPECT_EQ(Str(root["user"]["id"]), "bob");
  EXPECT_EQ(Str(root["key_id"]), key_id);
  EXPECT_EQ(Str(root["key_name"]), "laptop");
  EXPECT_EQ(root["rate_limit_per_hour"].get_int64().value(), 50);
  EXPECT_EQ(root["rate_limit_remaining"].get_int64().value(), 49);  // this request took one
  EXPECT_EQ(Str(root["tracking_uri"]), "http://registry.test:5000");
  EXPECT_EQ(Str(root["environment_lines"].at(0)),
            "export MLFLOW_TRACKING_URI=http://registry.test:5000");
  EXPECT_EQ(Str(root["environment_lines"].at(1)), "export MLFLOW_TRACKING_TOKEN=<your key>");
  EXPECT_EQ(response.body.find(secret), std::string::npos);
}

TEST_F(HokusaiRoutesTest, KeyRoutesAnswer501WithAnExternalAuthService) {
  http::RouteTable external;
  ASSERT_TRUE(RegisterHokusaiRoutes(external, Deps(nullptr)));
  for (const Call& call : {Call{Method::kPost, "/api/v1/keys", R"({"name":"x"})", admin_key_},
                           Call{Method::kGet, "/api/v1/keys", "", admin_key_}}) {
    http::Response response = Send(call, &external);
    EXPECT_EQ(response.status, 501) << response.body;
    EXPECT_NE(response.body.find("external auth service"), std::string::npos);
  }
  EXPECT_EQ(Send({Method::kGet, "/api/v1/whoami", "", admin_key_}, &external).status, 200);
}

TEST_F(HokusaiRoutesTest, AKeyHandlerWithoutAPrincipalRefuses) {
  // The gate always sets one; if it ever did not, KeyService must not see a null actor (which
  // it reads as an operator acting offline).
  const http::Route* route = table_->Find(Method::kPost, "/api/v1/keys");
  ASSERT_NE(route, nullptr);
  http::Request request;
  request.method = Method::kPost;
  request.body = R"({"name":"x","user_id":"mallory","template":"admin"})";
  auto result = route->handler(request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnauthenticated);
}

// --- audit ---

TEST_F(HokusaiRoutesTest, AuditShowsFailedValidationsToAdminsOnly) {
  Validate("hk_live_wrong", "10.7.7.7");
  http::Response response = Send(
      {Method::kGet, "/api/v1/audit", "", admin_key_, {{"outcome", "unauthenticated"}}});
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::array entries = Json(response)["entries"].get_array().value();
  ASSERT_GE(entries.size(), 1u);
  simdjson::dom::element entry = entries.at(0).value();
  EXPECT_EQ(Str(entry["route"]), "/api/v1/keys/validate");
  EXPECT_EQ(Str(entry["client_address"]), "10.7.7.7");
  EXPECT_EQ(response.body.find("hk_live_wrong"), std::string::npos);

  auto [reader, key_id] = CreateKey(R"({"name":"r","user_id":"bob","template":"reader"})");
  EXPECT_EQ(Send({Method::kGet, "/api/v1/audit", "", reader}).status, 403);
}

TEST_F(HokusaiRoutesTest, AuditPagesWithATokenLikeMlflow) {
  for (int i = 0; i < 3; ++i) Validate("hk_live_wrong" + std::to_string(i), "10.7.7.7");
  http::Response first = Send({Method::kGet, "/api/v1/audit", "", admin_key_,
                               {{"outcome", "unauthenticated"}, {"max_results", "2"}}});
  ASSERT_EQ(first.status, 200) << first.body;
  simdjson::dom::element root = Json(first);
  EXPECT_EQ(root["entries"].get_array().value().size(), 2u);
  std::string token = Str(root["next_page_token"]);
  http::Response second =
      Send({Method::kGet, "/api/v1/audit", "", admin_key_,
            {{"outcome", "unauthenticated"}, {"max_results", "2"}, {"page_token", token}}});
  ASSERT_EQ(second.status, 200) << second.body;
  simdjson::dom::element next = Json(second);
  EXPECT_EQ(next["entries"].get_array().value().size(), 1u);
  EXPECT_EQ(next["next_page_token"].error(), simdjson::NO_SUCH_FIELD);
}

// --- MLflow permission endpoints ---

class PermissionRoutesTest : public HokusaiRoutesTest {
 protected:
  void SetUp() override {
    HokusaiRoutesTest::SetUp();
    auto id = tracking_->CreateExperiment("exp", "", {}, "admin");
    ASSERT_TRUE(id) << id.error().message;
    experiment_id_ = *id;
    ASSERT_TRUE(registry_->CreateRegisteredModel({"churn", "", {}, "admin"}));
    store::User bob;
    bob.user_id = "bob";
    ASSERT_TRUE(auth_store_->CreateUser(bob));
  }

  std::string ExperimentBody(const std::string& permission) const {
    return R"({"experiment_id":")" + experiment_id_ + R"(","username":"bob")" +
           (permission.empty() ? "" : R"(,"permission":")" + permission + "\"") + "}";
  }

  std::string experiment_id_;
};

TEST_F(PermissionRoutesTest, ExperimentPermissionLifecycle) {
  const std::string base = "/api/2.0/mlflow/experiments/permissions";
  http::Response created =
      Send({Method::kPost, base + "/create", ExperimentBody("READ"), admin_key_});
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.body,
            R"({"experiment_permission":{"experiment_id":")" + experiment_id_ +
                R"(","user_id":"bob","permission":"READ"}})");
  EXPECT_EQ(Send({Method::kPost, base + "/create", ExperimentBody("EDIT"), admin_key_}).status,
            400);

  http::QueryParams query = {{"experiment_id", experiment_id_}, {"username", "bob"}};
  EXPECT_EQ(Send({Method::kPatch, base + "/update", ExperimentBody("EDIT"), admin_key_}).body,
            "{}");
  http::Response got = Send({Method::kGet, base + "/get", "", admin_key_, query});
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Str(Json(got)["experiment_permission"]["permission"]), "EDIT");

  EXPECT_EQ(Send({Method::kDelete, base + "/delete", ExperimentBody(""), admin_key_}).status,
            200);
  EXPECT_EQ(Send({Method::kGet, base + "/get", "", admin_key_, query}).status, 404);
  EXPECT_EQ(Send({Method::kDelete, base + "/delete", ExperimentBody(""), admin_key_}).status,
            404);
}

TEST_F(PermissionRoutesTest, ModelPermissionLifecycle) {
  const std::string base = "/api/2.0/mlflow/registered-models/permissions";
  std::string body = R"({"name":"churn","username":"bob","permission":"MANAGE"})";
  http::Response created = Send({Method::kPost, base + "/create", body, admin_key_});
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.body,
            R"({"registered_model_permission":{"name":"churn","user_id":"bob",)"
            R"("permission":"MANAGE"}})");
  http::Response got =
      Send({Method::kGet, base + "/get", "", admin_key_, {{"name", "churn"}, {"username", "bob"}}});
  EXPECT_EQ(Str(Json(got)["registered_model_permission"]["permission"]), "MANAGE");
}

TEST_F(PermissionRoutesTest, RefusesUnknownResourcesUsersAndPermissions) {
  const std::string base = "/api/2.0/mlflow/experiments/permissions";
  http::Response unknown_experiment = Send(
      {Method::kPost, base + "/create",
       R"({"experiment_id":"99999","username":"bob","permission":"READ"})", admin_key_});
  EXPECT_EQ(unknown_experiment.status, 404) << unknown_experiment.body;
  http::Response unknown_model =
      Send({Method::kPost, "/api/2.0/mlflow/registered-models/permissions/create",
            R"({"name":"nope","username":"bob","permission":"READ"})", admin_key_});
  EXPECT_EQ(unknown_model.status, 404) << unknown_model.body;
  http::Response unknown_user = Send(
      {Method::kPost, base + "/create",
       R"({"experiment_id":")" + experiment_id_ + R"(","username":"zed","permission":"READ"})",
       admin_key_});
  EXPECT_EQ(unknown_user.status, 404) << unknown_user.body;
  http::Response bad_permission =
      Send({Method::kPost, base + "/create", ExperimentBody("OWNER"), admin_key_});
  EXPECT_EQ(bad_permission.status, 400) << bad_permission.body;
}

TEST_F(PermissionRoutesTest, OnlyAManagerMayGrant) {
  auto [bob_key, key_id] = CreateKey(R"({"name":"b","user_id":"bob","template":"developer"})");
  http::Response response =
      Send({Method::kPost, "/api/2.0/mlflow/experiments/permissions/create",
            ExperimentBody("MANAGE"), bob_key});
  EXPECT_EQ(response.status, 403) << response.body;
}

}  // namespace
}  // namespace hokusai::hokusai_api
