// AuthGate with a LocalAuthenticator over a real SQLite auth store: authentication failures,
// keys in URLs, scopes, per-user permissions, name-pattern scopes, admin users, rate limits,
// brute-force limits, trusted proxies, search visibility and the audit trail.
#include "auth/gate.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "auth/api_key.hpp"
#include "auth/audit_sink.hpp"
#include "auth/key_service.hpp"
#include "auth/local_authenticator.hpp"
#include "auth/principal.hpp"
#include "auth/rate_limiter.hpp"
#include "common/error.hpp"
#include "common/util.hpp"
#include "http/message.hpp"
#include "http/router.hpp"
#include "store/auth_store.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::auth {
namespace {

using http::Method;
using http::Operation;
using http::Resource;
using store::AuditEntry;
using store::Permission;
using Names = std::vector<std::string>;

const std::string kServerSecret(64, 's');

// The SQLite store, except that key lookups or permission lookups fail while the matching flag
// is set (a key store that is down).
class FlakyStore final : public store::AuthStore {
 public:
  explicit FlakyStore(store::AuthStore& inner) : inner_(inner) {}

  std::atomic<bool> fail_lookups{false};
  std::atomic<bool> fail_permissions{false};

  Result<store::KeyLookup> FindKeyByHash(const std::string& hash, int64_t now) override {
    if (fail_lookups) return Fail(ErrorCode::kInternalError, "Store error");
    return inner_.FindKeyByHash(hash, now);
  }
  Result<std::optional<Permission>> GetExperimentPermission(
      const std::string& id, const std::string& user_id) override {
    if (fail_permissions) return Fail(ErrorCode::kInternalError, "Store error");
    return inner_.GetExperimentPermission(id, user_id);
  }
  Result<std::optional<Permission>> GetModelPermission(const std::string& name,
                                                       const std::string& user_id) override {
    if (fail_permissions) return Fail(ErrorCode::kInternalError, "Store error");
    return inner_.GetModelPermission(name, user_id);
  }

  Result<store::User> CreateUser(const store::User& user) override {
    return inner_.CreateUser(user);
  }
  Result<store::User> GetUser(const std::string& user_id) override {
    return inner_.GetUser(user_id);
  }
  Result<std::vector<store::User>> ListUsers() override { return inner_.ListUsers(); }
  Result<int64_t> CountKeys() override { return inner_.CountKeys(); }
  Result<void> CreateKey(const store::ApiKeyRecord& key, const std::string& hash) override {
    return inner_.CreateKey(key, hash);
  }
  Result<void> CreateUserAndKey(const store::User& user, const store::ApiKeyRecord& key,
                                const std::string& hash) override {
    return inner_.CreateUserAndKey(user, key, hash);
  }
  Result<store::ApiKeyRecord> GetKey(const std::string& key_id) override {
    return inner_.GetKey(key_id);
  }
  Result<std::vector<store::ApiKeyRecord>> ListKeys(const std::string& user_id) override {
    return inner_.ListKeys(user_id);
  }
  Result<store::ApiKeyRecord> RevokeKey(const std::string& key_id, int64_t now) override {
    return inner_.RevokeKey(key_id, now);
  }
  Result<store::ApiKeyRecord> RotateKey(const std::string& key_id, const std::string& new_hash,
                                        const std::string& new_prefix, int64_t now,
                                        int64_t old_valid_until) override {
    return inner_.RotateKey(key_id, new_hash, new_prefix, now, old_valid_until);
  }
  Result<void> TouchKey(const std::string& key_id, int64_t now) override {
    return inner_.TouchKey(key_id, now);
  }
  Result<void> SetExperimentPermission(const std::string& id, const std::string& user_id,
                                       Permission permission) override {
    return inner_.SetExperimentPermission(id, user_id, permission);
  }
  Result<void> DeleteExperimentPermission(const std::string& id,
                                          const std::string& user_id) override {
    return inner_.DeleteExperimentPermission(id, user_id);
  }
  Result<void> SetModelPermission(const std::string& name, const std::string& user_id,
                                  Permission permission) override {
    return inner_.SetModelPermission(name, user_id, permission);
  }
  Result<void> DeleteModelPermission(const std::string& name,
                                     const std::string& user_id) override {
    return inner_.DeleteModelPermission(name, user_id);
  }
  Result<void> AppendAudit(const std::vector<AuditEntry>& entries) override {
    return inner_.AppendAudit(entries);
  }
  Result<std::pair<std::vector<AuditEntry>, bool>> SearchAudit(
      const store::AuditQuery& query) override {
    return inner_.SearchAudit(query);
  }

 private:
  store::AuthStore& inner_;
};

http::TargetFinder Fixed(http::Target target) {
  return [target](const http::Request&) -> Result<http::Target> { return target; };
}

http::TargetFinder OnExperiment(const std::string& id) {
  http::Target target;
  target.experiment_ids = {id};
  return Fixed(target);
}

http::Route MakeRoute(Method method, std::string path, Operation operation, Resource resource,
                      http::TargetFinder target = nullptr) {
  http::Route route{};
  route.method = method;
  route.path = std::move(path);
  route.access = http::Access{operation, resource};
  route.execution = http::Execution::kBlocking;
  route.handler = [](const http::Request&) -> Result<http::Response> {
    return http::Response::Json("{}");
  };
  route.target = std::move(target);
  return route;
}

http::Route ReadExperiment(const std::string& id) {
  return MakeRoute(Method::kGet, "/api/2.0/mlflow/experiments/get", Operation::kRead,
                   Resource::kExperiment, OnExperiment(id));
}

http::Route WriteExperiment(const std::string& id) {
  return MakeRoute(Method::kPost, "/api/2.0/mlflow/experiments/update", Operation::kWrite,
                   Resource::kExperiment, OnExperiment(id));
}

http::Route ManageExperiment(const std::string& id) {
  return MakeRoute(Method::kPost, "/api/2.0/mlflow/experiments/delete", Operation::kManage,
                   Resource::kExperiment, OnExperiment(id));
}

http::Route WhoAmI() {
  return MakeRoute(Method::kGet, "/api/v1/whoami", Operation::kAuthenticated, Resource::kNone);
}

http::Request WithKey(const std::string& secret, const std::string& remote = "127.0.0.1") {
  http::Request request;
  request.remote_address = remote;
  request.credential.source = http::Credential::Source::kBearer;
  request.credential.secret = secret;
  return request;
}

std::optional<std::string> HeaderOf(const Error& error, const std::string& name) {
  for (const auto& [key, value] : error.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

void ExpectCode(const Result<void>& result, ErrorCode code) {
  ASSERT_FALSE(result.has_value()) << "admitted; expected " << ErrorCodeName(code);
  EXPECT_EQ(result.error().code, code)
      << ErrorCodeName(result.error().code) << ": " << result.error().message;
}

void ExpectAdmitted(const Result<void>& result) {
  EXPECT_TRUE(result.has_value()) << ErrorCodeName(result.error().code) << ": "
                                  << result.error().message;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-gate-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool =
        store::sql::OpenDatabase(store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 4,
                                                                 "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<store::sql::SqlTrackingStore>(*pool);
    sqlite_auth_ = std::make_unique<store::sql::SqlAuthStore>(*pool);
    store_ = std::make_unique<FlakyStore>(*sqlite_auth_);
    keys_ = std::make_unique<KeyService>(*store_, kServerSecret, KeyDefaults{});
    authenticator_ = std::make_unique<LocalAuthenticator>(*store_, *keys_, "hokusai-test");
    limiter_ = std::make_unique<RateLimiter>();
    audit_ = std::make_unique<AuditSink>(*store_);
    MakeGate();
  }

  void TearDown() override {
    gate_.reset();
    audit_.reset();
    authenticator_.reset();
    keys_.reset();
    store_.reset();
    sqlite_auth_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void MakeGate(GateConfig config = {}) {
    gate_ = std::make_unique<AuthGate>(
        std::move(config), *authenticator_, *store_, *limiter_, *audit_,
        [this](const std::string& id) -> Result<std::string> {
          HK_TRY(experiment, tracking_->GetExperiment(id));
          return experiment.name;
        });
  }

  GateConfig Defaults(Permission permission) {
    GateConfig config;
    config.default_permission = permission;
    return config;
  }

  NewKey Key(const std::string& user_id, const std::string& template_name,
             Names scopes = {}) {
    NewKeyRequest request;
    request.user_id = user_id;
    request.name = "key of " + user_id;
    request.template_name = template_name;
    request.scopes = std::move(scopes);
    return Create(request);
  }

  NewKey Create(const NewKeyRequest& request) {
    auto key = keys_->Create(request, nullptr);
    EXPECT_TRUE(key.has_value()) << (key ? "" : key.error().message);
    return key ? std::move(*key) : NewKey{};
  }

  NewKey AdminUserKey(const std::string& template_name, Names scopes = {}) {
    NewKeyRequest request;
    request.user_id = "root";
    request.name = "root key";
    request.admin_user = true;
    request.template_name = template_name;
    request.scopes = std::move(scopes);
    return Create(request);
  }

  std::string Experiment(const std::string& name, const std::string& owner) {
    auto id = tracking_->CreateExperiment(name, "", {}, owner);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message);
    return id ? *id : std::string();
  }

  void Grant(const std::string& experiment_id, const std::string& user, Permission permission) {
    auto ok = store_->SetExperimentPermission(experiment_id, user, permission);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
  }

  Result<void> Admit(const http::Route& route, http::Request& request) {
    return gate_->Admit(route, request);
  }

  Result<void> Admit(const http::Route& route, const std::string& secret) {
    http::Request request = WithKey(secret);
    return gate_->Admit(route, request);
  }

  // The principal an admitted request carries (fails the test when not admitted).
  std::shared_ptr<const Principal> PrincipalFor(const http::Route& route,
                                                const std::string& secret) {
    http::Request request = WithKey(secret);
    auto admitted = gate_->Admit(route, request);
    EXPECT_TRUE(admitted.has_value()) << (admitted ? "" : admitted.error().message);
    return request.principal;
  }

  // Every audit entry so far, oldest first.
  std::vector<AuditEntry> Audit() {
    audit_->Flush();
    store::AuditQuery query;
    query.max_results = 10'000;
    auto found = sqlite_auth_->SearchAudit(query);
    EXPECT_TRUE(found.has_value()) << (found ? "" : found.error().message);
    if (!found) return {};
    return std::vector<AuditEntry>(found->first.rbegin(), found->first.rend());
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlTrackingStore> tracking_;
  std::unique_ptr<store::sql::SqlAuthStore> sqlite_auth_;
  std::unique_ptr<FlakyStore> store_;
  std::unique_ptr<KeyService> keys_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<AuditSink> audit_;
  std::unique_ptr<AuthGate> gate_;
};

// ---- authentication -------------------------------------------------------------------------

TEST_F(GateTest, NoCredentialIsUnauthenticatedWithAChallenge) {
  http::Request request;
  request.remote_address = "127.0.0.1";
  auto admitted = Admit(WhoAmI(), request);
  ExpectCode(admitted, ErrorCode::kUnauthenticated);
  auto challenge = HeaderOf(admitted.error(), "WWW-Authenticate");
  ASSERT_TRUE(challenge.has_value());
  EXPECT_TRUE(Contains(*challenge, "Bearer realm=")) << *challenge;
  EXPECT_TRUE(Contains(*challenge, "Basic realm=")) << *challenge;
  EXPECT_EQ(request.principal, nullptr);
}

TEST_F(GateTest, EveryRefusedKeyGetsTheSameAnswer) {
  NewKey valid = Key("alice", "developer");
  NewKey revoked = Key("alice", "developer");
  ASSERT_TRUE(keys_->Revoke(revoked.record.key_id, nullptr).has_value());
  // An expired key, written straight to the store (Create refuses a past expiry).
  std::string expired_secret = GenerateKey(KeyEnvironment::kLive);
  store::ApiKeyRecord expired = valid.record;
  expired.key_id = NewHexId();
  expired.key_prefix = DisplayPrefix(expired_secret);
  expired.created_at = NowMillis() - 10'000;
  expired.expires_at = NowMillis() - 1'000;
  ASSERT_TRUE(store_->CreateKey(expired, keys_->Hash(expired_secret)).has_value());
  NewKeyRequest fenced_request;
  fenced_request.user_id = "alice";
  fenced_request.name = "fenced";
  fenced_request.allowed_ips = {"10.0.0.0/8"};
  NewKey fenced = Create(fenced_request);

  Error reference = auth::UnauthenticatedError();
  struct Case {
    std::string label;
    http::Request request;
  };
  std::vector<Case> cases;
  http::Request malformed;
  malformed.remote_address = "127.0.0.1";
  malformed.credential.source = http::Credential::Source::kBearer;
  malformed.credential.malformed = true;
  cases.push_back({"malformed", malformed});
  cases.push_back({"garbage", WithKey("not-a-key")});
  std::string bad_checksum = valid.secret;
  bad_checksum.back() = bad_checksum.back() == 'a' ? 'b' : 'a';
  cases.push_back({"bad checksum", WithKey(bad_checksum)});
  cases.push_back({"unknown", WithKey(GenerateKey(KeyEnvironment::kLive))});
  cases.push_back({"revoked", WithKey(revoked.secret)});
  cases.push_back({"expired", WithKey(expired_secret)});
  cases.push_back({"outside allow-list", WithKey(fenced.secret, "192.168.0.1")});
  for (Case& c : cases) {
    auto admitted = Admit(WhoAmI(), c.request);
    ExpectCode(admitted, ErrorCode::kUnauthenticated);
    if (admitted) continue;
    EXPECT_EQ(admitted.error().message, reference.message) << c.label;
    EXPECT_EQ(admitted.error().headers, reference.headers) << c.label;
    EXPECT_TRUE(admitted.error().extra_json.empty()) << c.label;
    EXPECT_EQ(c.request.principal, nullptr) << c.label;
  }
  ExpectAdmitted(Admit(WhoAmI(), valid.secret));
  http::Request inside = WithKey(fenced.secret, "10.20.30.40");
  ExpectAdmitted(Admit(WhoAmI(), inside));
}

TEST_F(GateTest, AdmittedRequestCarriesThePrincipal) {
  NewKey key = Key("alice", "developer");
  http::Request request = WithKey(key.secret, "192.0.2.10");
  ExpectAdmitted(Admit(WhoAmI(), request));
  ASSERT_NE(request.principal, nullptr);
  EXPECT_EQ(request.principal->user().user_id, "alice");
  EXPECT_EQ(request.principal->key().key_id, key.record.key_id);
  EXPECT_EQ(request.principal->client_ip, "192.0.2.10");
  EXPECT_EQ(request.principal->service_id(), "hokusai-test");
  EXPECT_EQ(request.principal->scopes().size(), key.record.scopes.size());
}

TEST_F(GateTest, KeyInTheQueryStringIsRefused) {
  NewKey key = Key("alice", "developer");
  const std::vector<std::pair<std::string, std::string>> params = {
      {"api_key", "whatever"},
      {"access_token", "x"},
      {"token", ""},
      {"q", key.secret},
      {"filter", GenerateKey(KeyEnvironment::kDev)}};
  for (const auto& [name, value] : params) {
    http::Request request = WithKey(key.secret);
    request.query = {{"experiment_id", "1"}, {name, value}};
    auto admitted = Admit(WhoAmI(), request);
    ExpectCode(admitted, ErrorCode::kInvalidParameterValue);
    EXPECT_EQ(request.principal, nullptr) << name;
    if (!admitted) {
      EXPECT_TRUE(Contains(admitted.error().message, "URL")) << admitted.error().message;
      EXPECT_FALSE(Contains(admitted.error().message, key.secret));
    }
  }
  http::Request harmless = WithKey(key.secret);
  harmless.query = {{"experiment_id", "1"}, {"max_results", "10"}};
  ExpectAdmitted(Admit(WhoAmI(), harmless));

  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 5u);
  for (const AuditEntry& e : audit) {
    EXPECT_EQ(e.outcome, "denied");
    EXPECT_EQ(e.status, 400);
    EXPECT_FALSE(Contains(e.detail, key.secret));
  }
}

TEST_F(GateTest, KeyStoreDownIsUnavailableNotUnauthenticated) {
  GateConfig config;
  config.auth_failures_per_minute = 1;
  MakeGate(config);
  NewKey key = Key("alice", "developer");
  store_->fail_lookups = true;
  for (int i = 0; i < 3; ++i) {
    http::Request request = WithKey(key.secret);
    auto admitted = Admit(WhoAmI(), request);
    ExpectCode(admitted, ErrorCode::kTemporarilyUnavailable);
    if (!admitted) {
      EXPECT_TRUE(HeaderOf(admitted.error(), "Retry-After").has_value());
    }
    EXPECT_EQ(request.principal, nullptr);
  }
  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].status, 503);
  EXPECT_EQ(audit[0].outcome, "unavailable");

  store_->fail_lookups = false;
  ExpectAdmitted(Admit(WhoAmI(), key.secret));
}

TEST_F(GateTest, PermissionStoreDownLetsNothingThrough) {
  NewKey key = Key("alice", "developer");
  std::string experiment = Experiment("alices", "alice");
  store_->fail_permissions = true;
  http::Request request = WithKey(key.secret);
  auto admitted = Admit(ReadExperiment(experiment), request);
  EXPECT_FALSE(admitted.has_value());
  EXPECT_EQ(request.principal, nullptr);
}

// ---- scopes ---------------------------------------------------------------------------------

TEST_F(GateTest, ReaderKeyOnAWriteRouteIsDeniedNamingTheScopes) {
  NewKey reader = Key("alice", "reader");
  std::string experiment = Experiment("alices", "alice");
  http::Request request = WithKey(reader.secret);
  auto admitted = Admit(WriteExperiment(experiment), request);
  ExpectCode(admitted, ErrorCode::kPermissionDenied);
  ASSERT_FALSE(admitted.has_value());
  const std::string& extra = admitted.error().extra_json;
  EXPECT_TRUE(Contains(extra, "\"required_scope\":\"experiment:write\"")) << extra;
  EXPECT_TRUE(Contains(extra, "\"key_scopes\":[\"experiment:read\",\"model:read\"]")) << extra;
  EXPECT_TRUE(Contains(admitted.error().message, "experiment:write")) << admitted.error().message;
  EXPECT_EQ(request.principal, nullptr);

  ExpectAdmitted(Admit(ReadExperiment(experiment), reader.secret));
}

TEST_F(GateTest, AdminRouteNeedsTheAdminScope) {
  http::Route route =
      MakeRoute(Method::kGet, "/api/v1/audit", Operation::kAdmin, Resource::kNone);
  NewKey developer = Key("alice", "developer");
  auto denied = Admit(route, developer.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_scope\":\"admin\""))
        << denied.error().extra_json;
  }
  ExpectAdmitted(Admit(route, AdminUserKey("admin").secret));
  // The scope decides, not the user flag.
  ExpectAdmitted(Admit(route, Key("bob", "admin").secret));
}

TEST_F(GateTest, AuthenticatedRouteTakesAnyValidKey) {
  NewKey narrow = Key("alice", "", {"model:read:x-*"});
  auto principal = PrincipalFor(WhoAmI(), narrow.secret);
  ASSERT_NE(principal, nullptr);
  EXPECT_EQ(principal->user().user_id, "alice");
  http::Route post =
      MakeRoute(Method::kPost, "/api/v1/keys", Operation::kAuthenticated, Resource::kNone);
  ExpectAdmitted(Admit(post, narrow.secret));
}

TEST_F(GateTest, ExperimentPatternScopeIsCheckedAgainstTheExperimentName) {
  NewKey key = Key("alice", "", {"experiment:write:team-*"});
  std::string mine = Experiment("team-a", "alice");
  std::string other = Experiment("other", "alice");
  ExpectAdmitted(Admit(WriteExperiment(mine), key.secret));
  auto denied = Admit(WriteExperiment(other), key.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_scope\":\"experiment:write\""))
        << denied.error().extra_json;
  }
}

TEST_F(GateTest, ModelPatternScopeIsCheckedAgainstTheNewName) {
  NewKey key = Key("alice", "", {"model:write:acme-*"});
  auto create = [](const std::string& name) {
    http::Target target;
    target.new_name = name;
    return MakeRoute(Method::kPost, "/api/2.0/mlflow/registered-models/create", Operation::kWrite,
                     Resource::kModel, Fixed(target));
  };
  ExpectAdmitted(Admit(create("acme-x"), key.secret));
  auto denied = Admit(create("other"), key.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_scope\":\"model:write\""))
        << denied.error().extra_json;
    EXPECT_TRUE(Contains(denied.error().message, "other")) << denied.error().message;
  }
  // An experiment route is out of this key's reach altogether.
  std::string experiment = Experiment("acme-exp", "alice");
  ExpectCode(Admit(ReadExperiment(experiment), key.secret), ErrorCode::kPermissionDenied);
}

// ---- permissions ----------------------------------------------------------------------------

TEST_F(GateTest, DefaultReadLetsOthersReadButNotWrite) {
  MakeGate(Defaults(Permission::kRead));
  NewKey alice = Key("alice", "developer");
  Key("bob", "developer");
  std::string bobs = Experiment("bobs", "bob");

  auto denied = Admit(WriteExperiment(bobs), alice.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    const std::string& extra = denied.error().extra_json;
    EXPECT_TRUE(Contains(extra, "\"required_permission\":\"EDIT\"")) << extra;
    EXPECT_TRUE(Contains(extra, "\"permission\":\"READ\"")) << extra;
    EXPECT_TRUE(Contains(extra, bobs)) << extra;
  }
  ExpectAdmitted(Admit(ReadExperiment(bobs), alice.secret));
}

TEST_F(GateTest, DefaultNoPermissionsHidesOthersExperiments) {
  MakeGate(Defaults(Permission::kNoPermissions));
  NewKey alice = Key("alice", "developer");
  std::string bobs = Experiment("bobs", "bob");
  auto denied = Admit(ReadExperiment(bobs), alice.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    const std::string& extra = denied.error().extra_json;
    EXPECT_TRUE(Contains(extra, "\"required_permission\":\"READ\"")) << extra;
    EXPECT_TRUE(Contains(extra, "\"permission\":\"NO_PERMISSIONS\"")) << extra;
  }
  Grant(bobs, "alice", Permission::kRead);
  ExpectAdmitted(Admit(ReadExperiment(bobs), alice.secret));
  ExpectCode(Admit(WriteExperiment(bobs), alice.secret), ErrorCode::kPermissionDenied);
  Grant(bobs, "alice", Permission::kEdit);
  ExpectAdmitted(Admit(WriteExperiment(bobs), alice.secret));
}

TEST_F(GateTest, ManageNeedsTheManagePermission) {
  MakeGate(Defaults(Permission::kNoPermissions));
  NewKey alice = Key("alice", "developer");
  NewKey bob = Key("bob", "developer");
  std::string alices = Experiment("alices", "alice");
  ExpectAdmitted(Admit(ManageExperiment(alices), alice.secret));

  Grant(alices, "bob", Permission::kEdit);
  ExpectAdmitted(Admit(WriteExperiment(alices), bob.secret));
  auto denied = Admit(ManageExperiment(alices), bob.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_permission\":\"MANAGE\""))
        << denied.error().extra_json;
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"permission\":\"EDIT\""))
        << denied.error().extra_json;
  }
  // A reader key cannot manage even what its user owns.
  ExpectCode(Admit(ManageExperiment(alices), Key("alice", "reader").secret),
             ErrorCode::kPermissionDenied);
}

TEST_F(GateTest, AdminUserBypassesPermissionsButNotScopes) {
  MakeGate(Defaults(Permission::kNoPermissions));
  std::string bobs = Experiment("bobs", "bob");
  NewKey admin = AdminUserKey("admin");
  ExpectAdmitted(Admit(ReadExperiment(bobs), admin.secret));
  ExpectAdmitted(Admit(ManageExperiment(bobs), admin.secret));

  NewKey reader = AdminUserKey("reader");
  ExpectAdmitted(Admit(ReadExperiment(bobs), reader.secret));
  auto denied = Admit(WriteExperiment(bobs), reader.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_scope\":\"experiment:write\""))
        << denied.error().extra_json;
  }
}

TEST_F(GateTest, ExperimentsOnlyReadByAWriteNeedRead) {
  MakeGate(Defaults(Permission::kNoPermissions));
  std::string bobs = Experiment("bobs", "bob");
  http::Target target;
  target.read_experiment_ids = {bobs};
  target.new_name = "churn";
  http::Route route = MakeRoute(Method::kPost, "/api/2.0/mlflow/model-versions/create",
                                Operation::kWrite, Resource::kModel, Fixed(target));
  NewKey alice = Key("alice", "developer");
  auto denied = Admit(route, alice.secret);
  ExpectCode(denied, ErrorCode::kPermissionDenied);
  if (!denied) {
    EXPECT_TRUE(Contains(denied.error().extra_json, "\"required_permission\":\"READ\""))
        << denied.error().extra_json;
  }
  Grant(bobs, "alice", Permission::kRead);
  ExpectAdmitted(Admit(route, alice.secret));

  // The key must also be able to read experiments.
  NewKey models_only = Key("alice", "", {"model:write"});
  auto scope_denied = Admit(route, models_only.secret);
  ExpectCode(scope_denied, ErrorCode::kPermissionDenied);
  if (!scope_denied) {
    EXPECT_TRUE(Contains(scope_denied.error().extra_json, "\"required_scope\":\"experiment:read\""))
        << scope_denied.error().extra_json;
  }
}

TEST_F(GateTest, TargetFinderErrorIsAnsweredAsItIs) {
  NewKey key = Key("alice", "developer");
  http::Route route = MakeRoute(
      Method::kGet, "/api/2.0/mlflow/runs/get", Operation::kRead, Resource::kExperiment,
      [](const http::Request& request) -> Result<http::Target> {
        EXPECT_NE(request.principal, nullptr);  // finders may read the caller
        return Fail(ErrorCode::kResourceDoesNotExist, "Run 'x' not found");
      });
  http::Request request = WithKey(key.secret);
  ExpectCode(Admit(route, request), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(request.principal, nullptr);
}

// ---- rate limits ----------------------------------------------------------------------------

TEST_F(GateTest, KeyRateLimitAnswers429WithHeaders) {
  NewKeyRequest request;
  request.user_id = "alice";
  request.name = "slow";
  request.rate_limit_per_hour = 2;
  NewKey key = Create(request);
  ExpectAdmitted(Admit(WhoAmI(), key.secret));
  ExpectAdmitted(Admit(WhoAmI(), key.secret));
  http::Request third = WithKey(key.secret);
  auto limited = Admit(WhoAmI(), third);
  ExpectCode(limited, ErrorCode::kRequestLimitExceeded);
  EXPECT_EQ(third.principal, nullptr);
  ASSERT_FALSE(limited.has_value());
  const Error& error = limited.error();
  auto retry_after = HeaderOf(error, "Retry-After");
  ASSERT_TRUE(retry_after.has_value());
  EXPECT_GE(ParseInt64(*retry_after).value_or(0), 1) << *retry_after;
  EXPECT_EQ(HeaderOf(error, "RateLimit-Limit"), std::optional<std::string>("2"));
  EXPECT_EQ(HeaderOf(error, "RateLimit-Remaining"), std::optional<std::string>("0"));
  auto reset = HeaderOf(error, "RateLimit-Reset");
  ASSERT_TRUE(reset.has_value());
  EXPECT_GE(ParseInt64(*reset).value_or(0), 1) << *reset;

  // Another key of the same user has its own budget.
  ExpectAdmitted(Admit(WhoAmI(), Key("alice", "developer").secret));

  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].outcome, "rate_limited");
  EXPECT_EQ(audit[0].status, 429);
  EXPECT_EQ(audit[0].key_id, key.record.key_id);
}

TEST_F(GateTest, TooManyFailuresFromOneClientAnswer429) {
  GateConfig config;
  config.auth_failures_per_minute = 3;
  MakeGate(config);
  std::string unknown = GenerateKey(KeyEnvironment::kLive);
  for (int i = 0; i < 3; ++i) {
    http::Request request = WithKey(unknown, "203.0.113.5");
    ExpectCode(Admit(WhoAmI(), request), ErrorCode::kUnauthenticated);
  }
  http::Request fourth = WithKey(unknown, "203.0.113.5");
  auto limited = Admit(WhoAmI(), fourth);
  ExpectCode(limited, ErrorCode::kRequestLimitExceeded);
  if (!limited) {
    EXPECT_TRUE(HeaderOf(limited.error(), "Retry-After").has_value());
  }
  http::Request no_credential;
  no_credential.remote_address = "203.0.113.5";
  ExpectCode(Admit(WhoAmI(), no_credential), ErrorCode::kRequestLimitExceeded);

  http::Request elsewhere = WithKey(unknown, "203.0.113.6");
  ExpectCode(Admit(WhoAmI(), elsewhere), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(gate_->AllowFailure("198.51.100.1"));

  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 6u);
  EXPECT_EQ(audit[0].outcome, "unauthenticated");
  EXPECT_EQ(audit[3].outcome, "rate_limited");
  EXPECT_EQ(audit[3].status, 429);
  EXPECT_EQ(audit[3].client_address, "203.0.113.5");
}

TEST_F(GateTest, AllowFailureCountsPerClient) {
  GateConfig config;
  config.auth_failures_per_minute = 2;
  MakeGate(config);
  EXPECT_TRUE(gate_->AllowFailure("192.0.2.1"));
  EXPECT_TRUE(gate_->AllowFailure("192.0.2.1"));
  EXPECT_FALSE(gate_->AllowFailure("192.0.2.1"));
  EXPECT_TRUE(gate_->AllowFailure("192.0.2.2"));
}

TEST_F(GateTest, DecisionsAreCountedForMetrics) {
  NewKey reader = Key("alice", "reader");
  std::string experiment = Experiment("alices", "alice");
  ExpectAdmitted(Admit(WhoAmI(), reader.secret));
  ExpectAdmitted(Admit(ReadExperiment(experiment), reader.secret));
  ExpectCode(Admit(WriteExperiment(experiment), reader.secret), ErrorCode::kPermissionDenied);
  http::Request anonymous;
  ExpectCode(Admit(WhoAmI(), anonymous), ErrorCode::kUnauthenticated);
  http::Request in_url = WithKey(reader.secret);
  in_url.query = {{"api_key", "x"}};
  ExpectCode(Admit(WhoAmI(), in_url), ErrorCode::kInvalidParameterValue);

  std::string metrics = gate_->RenderMetrics();
  EXPECT_TRUE(Contains(metrics, "# TYPE hokusai_auth_decisions_total counter")) << metrics;
  EXPECT_TRUE(Contains(metrics, "hokusai_auth_decisions_total{outcome=\"allowed\"} 2\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "hokusai_auth_decisions_total{outcome=\"denied\"} 1\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "hokusai_auth_decisions_total{outcome=\"unauthenticated\"} 1\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "hokusai_auth_decisions_total{outcome=\"bad_request\"} 1\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "hokusai_auth_decisions_total{outcome=\"rate_limited\"} 0\n"))
      << metrics;
}

// ---- client address -------------------------------------------------------------------------

http::Request FromPeer(const std::string& peer, std::vector<std::string> forwarded = {}) {
  http::Request request;
  request.remote_address = peer;
  for (std::string& value : forwarded) request.headers.emplace_back("x-forwarded-for", value);
  return request;
}

TEST_F(GateTest, ForwardedForIsIgnoredWithoutTrustedProxies) {
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"203.0.113.9"})), "10.0.0.1");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1")), "10.0.0.1");
}

TEST_F(GateTest, ForwardedForIsBelievedOnlyFromATrustedProxy) {
  GateConfig config;
  config.trusted_proxies = {"10.0.0.0/8", "fd00::/8"};
  MakeGate(config);
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"203.0.113.9"})), "203.0.113.9");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("198.51.100.1", {"203.0.113.9"})), "198.51.100.1");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("fd00::1", {"2001:db8::5"})), "2001:db8::5");
}

TEST_F(GateTest, ClientIsTheNearestUntrustedHop) {
  GateConfig config;
  config.trusted_proxies = {"10.0.0.0/8"};
  MakeGate(config);
  // The client may prepend anything; only hops added by trusted proxies count.
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"6.6.6.6, 203.0.113.9, 10.0.0.2"})),
            "203.0.113.9");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"6.6.6.6,203.0.113.9"})), "203.0.113.9");
  // Every hop trusted: the farthest one.
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"10.0.0.3, 10.0.0.2"})), "10.0.0.3");
  // An unreadable hop ends the walk at the last trusted address.
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"garbage, 10.0.0.2"})), "10.0.0.2");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"203.0.113.9:4711"})), "10.0.0.1");
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"10.0.0.0/8"})), "10.0.0.1");
}

// A proxy that adds its own X-Forwarded-For line after the client's (HAProxy's `option
// forwardfor`, for example) sends two field lines; per RFC 9110 §5.3 they are one list in
// order, so the hop the trusted proxy added is the last one.
TEST_F(GateTest, SeveralForwardedForLinesAreOneList) {
  GateConfig config;
  config.trusted_proxies = {"10.0.0.0/8"};
  MakeGate(config);
  EXPECT_EQ(gate_->ClientAddress(FromPeer("10.0.0.1", {"6.6.6.6", "203.0.113.9"})),
            "203.0.113.9");
}

TEST_F(GateTest, AllowListUsesTheResolvedClientAddress) {
  NewKeyRequest request;
  request.user_id = "alice";
  request.name = "office only";
  request.allowed_ips = {"203.0.113.0/24"};
  NewKey key = Create(request);

  http::Request direct = WithKey(key.secret, "10.0.0.1");
  direct.headers.emplace_back("x-forwarded-for", "203.0.113.9");
  ExpectCode(Admit(WhoAmI(), direct), ErrorCode::kUnauthenticated);

  GateConfig config;
  config.trusted_proxies = {"10.0.0.0/8"};
  MakeGate(config);
  http::Request proxied = WithKey(key.secret, "10.0.0.1");
  proxied.headers.emplace_back("x-forwarded-for", "203.0.113.9");
  ExpectAdmitted(Admit(WhoAmI(), proxied));
  ASSERT_NE(proxied.principal, nullptr);
  EXPECT_EQ(proxied.principal->client_ip, "203.0.113.9");

  http::Request spoofed = WithKey(key.secret, "198.51.100.1");
  spoofed.headers.emplace_back("x-forwarded-for", "203.0.113.9");
  ExpectCode(Admit(WhoAmI(), spoofed), ErrorCode::kUnauthenticated);
}

// ---- visibility -----------------------------------------------------------------------------

TEST_F(GateTest, AdminUserSeesEverything) {
  auto principal = PrincipalFor(WhoAmI(), AdminUserKey("admin").secret);
  ASSERT_NE(principal, nullptr);
  EXPECT_EQ(principal->experiment_visibility, std::nullopt);
  EXPECT_EQ(principal->model_visibility, std::nullopt);
}

TEST_F(GateTest, UserSeesByPermissionAndDefault) {
  MakeGate(Defaults(Permission::kRead));
  auto principal = PrincipalFor(WhoAmI(), Key("alice", "developer").secret);
  ASSERT_NE(principal, nullptr);
  for (const auto& visibility : {principal->experiment_visibility, principal->model_visibility}) {
    ASSERT_TRUE(visibility.has_value());
    EXPECT_EQ(visibility->user_id, "alice");
    EXPECT_TRUE(visibility->default_readable);
    EXPECT_TRUE(visibility->name_patterns.empty());
  }

  MakeGate(Defaults(Permission::kNoPermissions));
  principal = PrincipalFor(WhoAmI(), Key("alice", "reader").secret);
  ASSERT_NE(principal, nullptr);
  ASSERT_TRUE(principal->experiment_visibility.has_value());
  EXPECT_FALSE(principal->experiment_visibility->default_readable);
  ASSERT_TRUE(principal->model_visibility.has_value());
  EXPECT_FALSE(principal->model_visibility->default_readable);
}

TEST_F(GateTest, PatternScopesNarrowVisibility) {
  auto principal = PrincipalFor(
      WhoAmI(), Key("alice", "", {"model:read:acme-*", "model:write:beta-*", "experiment:read"})
                    .secret);
  ASSERT_NE(principal, nullptr);
  ASSERT_TRUE(principal->model_visibility.has_value());
  EXPECT_EQ(principal->model_visibility->name_patterns, (Names{"acme-*", "beta-*"}));
  ASSERT_TRUE(principal->experiment_visibility.has_value());
  EXPECT_TRUE(principal->experiment_visibility->name_patterns.empty());

  // An admin user with a narrowed key is narrowed too.
  auto admin = PrincipalFor(WhoAmI(), AdminUserKey("", {"model:read:acme-*", "experiment:read"})
                                          .secret);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(admin->model_visibility.has_value());
  EXPECT_EQ(admin->model_visibility->name_patterns, (Names{"acme-*"}));
  EXPECT_TRUE(admin->model_visibility->default_readable);
  EXPECT_EQ(admin->experiment_visibility, std::nullopt);
}

// ---- audit ----------------------------------------------------------------------------------

TEST_F(GateTest, CompletedWritesAreAudited) {
  NewKey key = Key("alice", "developer");
  std::string experiment = Experiment("alices", "alice");
  http::Route route = WriteExperiment(experiment);
  http::Request ok = WithKey(key.secret, "192.0.2.44");
  ExpectAdmitted(Admit(route, ok));
  gate_->Completed(route, ok, 200);
  http::Request failed = WithKey(key.secret, "192.0.2.44");
  ExpectAdmitted(Admit(route, failed));
  gate_->Completed(route, failed, 500);

  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 2u);
  const AuditEntry& e = audit[0];
  EXPECT_EQ(e.user_id, "alice");
  EXPECT_EQ(e.key_id, key.record.key_id);
  EXPECT_EQ(e.method, "POST");
  EXPECT_EQ(e.route, "/api/2.0/mlflow/experiments/update");
  EXPECT_EQ(e.resource, "experiment:" + experiment);
  EXPECT_EQ(e.outcome, "allowed");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.client_address, "192.0.2.44");
  EXPECT_GT(e.timestamp, 0);
  EXPECT_EQ(audit[1].outcome, "failed");
  EXPECT_EQ(audit[1].status, 500);
  for (const AuditEntry& entry : audit) EXPECT_FALSE(Contains(entry.detail, key.secret));
}

TEST_F(GateTest, ReadsAreNotAuditedButAdminAndAuthenticatedWritesAre) {
  NewKey admin = AdminUserKey("admin");
  std::string experiment = Experiment("exp", "root");
  auto run = [&](const http::Route& route) {
    http::Request request = WithKey(admin.secret);
    ExpectAdmitted(Admit(route, request));
    gate_->Completed(route, request, 200);
  };
  run(ReadExperiment(experiment));
  run(WhoAmI());
  EXPECT_TRUE(Audit().empty());

  run(MakeRoute(Method::kGet, "/api/v1/audit", Operation::kAdmin, Resource::kNone));
  run(MakeRoute(Method::kPost, "/api/v1/keys", Operation::kAuthenticated, Resource::kNone));
  run(ManageExperiment(experiment));
  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].route, "/api/v1/audit");
  EXPECT_EQ(audit[1].route, "/api/v1/keys");
  EXPECT_EQ(audit[2].route, "/api/2.0/mlflow/experiments/delete");

  // A request the gate refused carries no principal: Completed adds nothing more.
  http::Request refused;
  gate_->Completed(WriteExperiment(experiment), refused, 401);
  EXPECT_EQ(Audit().size(), 3u);
}

TEST_F(GateTest, DenialsAreAudited) {
  MakeGate(Defaults(Permission::kRead));
  NewKey alice = Key("alice", "developer");
  std::string bobs = Experiment("bobs", "bob");
  ExpectCode(Admit(WriteExperiment(bobs), alice.secret), ErrorCode::kPermissionDenied);
  http::Request anonymous;
  anonymous.remote_address = "198.51.100.7";
  ExpectCode(Admit(WriteExperiment(bobs), anonymous), ErrorCode::kUnauthenticated);

  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 2u);
  const AuditEntry& denied = audit[0];
  EXPECT_EQ(denied.outcome, "denied");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.user_id, "alice");
  EXPECT_EQ(denied.key_id, alice.record.key_id);
  EXPECT_EQ(denied.method, "POST");
  EXPECT_EQ(denied.route, "/api/2.0/mlflow/experiments/update");
  EXPECT_EQ(denied.resource, "experiment:" + bobs);
  EXPECT_FALSE(denied.detail.empty());

  const AuditEntry& unauthenticated = audit[1];
  EXPECT_EQ(unauthenticated.outcome, "unauthenticated");
  EXPECT_EQ(unauthenticated.status, 401);
  EXPECT_TRUE(unauthenticated.user_id.empty());
  EXPECT_TRUE(unauthenticated.key_id.empty());
  EXPECT_EQ(unauthenticated.client_address, "198.51.100.7");
}

}  // namespace
}  // namespace hokusai::auth
