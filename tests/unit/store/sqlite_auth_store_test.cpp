// The SQLite identity store: users, API keys and their secrets (lookup, revocation, rotation),
// resource permissions (including owners recorded by the tracking and registry stores), the
// visibility filter of the searches, and the audit log.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/auth_store.hpp"
#include "store/registry_store.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"
#include "store/tracking_store.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {
namespace {

void ExpectError(const Error& error, ErrorCode code) {
  EXPECT_EQ(error.code, code) << ErrorCodeName(error.code) << ": " << error.message;
  EXPECT_FALSE(error.message.empty());
}

using Names = std::vector<std::string>;

class SqlAuthStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-auth-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = OpenDatabase(DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<SqlTrackingStore>(*pool);
    registry_ = std::make_unique<SqlRegistryStore>(*pool);
    auth_ = std::make_unique<SqlAuthStore>(*pool);
  }

  void TearDown() override {
    auth_.reset();
    registry_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  static User MakeUser(const std::string& user_id, bool is_admin = false) {
    User user;
    user.user_id = user_id;
    user.email = user_id + "@example.com";
    user.roles = {"data science", "ops"};
    user.is_admin = is_admin;
    user.created_at = 1000;
    return user;
  }

  static ApiKeyRecord MakeKey(const std::string& key_id, const std::string& user_id,
                              int64_t created_at = 2000) {
    ApiKeyRecord key;
    key.key_id = key_id;
    key.user_id = user_id;
    key.name = "key " + key_id;
    key.key_prefix = "hk_live_" + key_id.substr(0, 8);
    key.environment = "live";
    key.scopes = {"experiment:read", "model:write:team a*"};
    key.allowed_ips = {"10.0.0.0/8", "192.168.1.7/32"};
    key.rate_limit_per_hour = 500;
    key.created_at = created_at;
    key.expires_at = 99000;
    key.created_by_key_id = "creator";
    return key;
  }

  void AddUser(const std::string& user_id) {
    auto user = auth_->CreateUser(MakeUser(user_id));
    ASSERT_TRUE(user.has_value()) << user.error().message;
  }

  void AddKey(const std::string& key_id, const std::string& user_id, const std::string& hash,
              int64_t created_at = 2000) {
    auto created = auth_->CreateKey(MakeKey(key_id, user_id, created_at), hash);
    ASSERT_TRUE(created.has_value()) << created.error().message;
  }

  std::string NewExperiment(const std::string& name, const std::string& owner = {}) {
    auto id = tracking_->CreateExperiment(name, "", {}, owner);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error().message);
    return id ? *id : std::string();
  }

  void NewModel(const std::string& name, const std::string& owner = {}) {
    CreateRegisteredModelArgs args;
    args.name = name;
    args.owner = owner;
    auto model = registry_->CreateRegisteredModel(args);
    ASSERT_TRUE(model.has_value()) << model.error().message;
  }

  // A version of model `name` made from a fresh run.
  void NewVersion(const std::string& name) {
    if (run_id_.empty()) {
      std::string experiment = NewExperiment("runs-" + NewHexId());
      CreateRunArgs run;
      run.experiment_id = experiment;
      run.start_time = 1000;
      auto created = tracking_->CreateRun(run);
      ASSERT_TRUE(created.has_value()) << created.error().message;
      run_id_ = created->info.run_id;
    }
    CreateModelVersionArgs args;
    args.name = name;
    args.source = "runs:/" + run_id_ + "/model";
    args.parsed_source.kind = ModelVersionSource::Kind::kRun;
    args.parsed_source.run_id = run_id_;
    args.parsed_source.path = "model";
    auto version = registry_->CreateModelVersion(args);
    ASSERT_TRUE(version.has_value()) << version.error().message;
  }

  void SetExperiment(const std::string& id, const std::string& user, Permission permission) {
    auto ok = auth_->SetExperimentPermission(id, user, permission);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
  }

  void SetModel(const std::string& name, const std::string& user, Permission permission) {
    auto ok = auth_->SetModelPermission(name, user, permission);
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
  }

  std::optional<Permission> ExperimentPermission(const std::string& id, const std::string& user) {
    auto permission = auth_->GetExperimentPermission(id, user);
    EXPECT_TRUE(permission.has_value()) << (permission ? "" : permission.error().message);
    return permission ? *permission : std::nullopt;
  }

  std::optional<Permission> ModelPermission(const std::string& name, const std::string& user) {
    auto permission = auth_->GetModelPermission(name, user);
    EXPECT_TRUE(permission.has_value()) << (permission ? "" : permission.error().message);
    return permission ? *permission : std::nullopt;
  }

  // Every page of an experiment search by name, concatenated; `pages` counts them.
  Names SearchExperimentNames(const Visibility& visibility, int64_t page_size, int* pages) {
    Names names;
    SearchExperimentsArgs args;
    args.order_by = {OrderTerm{EntityKind::kAttribute, "name", true}};
    args.max_results = page_size;
    args.visibility = visibility;
    *pages = 0;
    for (;;) {
      auto page = tracking_->SearchExperiments(args);
      EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
      if (!page) return names;
      ++*pages;
      EXPECT_LE(static_cast<int64_t>(page->first.size()), page_size);
      for (const Experiment& e : page->first) names.push_back(e.name);
      if (!page->second) return names;
      args.offset += page_size;
    }
  }

  Names SearchModelNames(const Visibility& visibility, int64_t page_size, int* pages) {
    Names names;
    SearchRegistryArgs args;
    args.order_by = {OrderTerm{EntityKind::kAttribute, "name", true}};
    args.max_results = page_size;
    args.visibility = visibility;
    *pages = 0;
    for (;;) {
      auto page = registry_->SearchRegisteredModels(args);
      EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
      if (!page) return names;
      ++*pages;
      EXPECT_LE(static_cast<int64_t>(page->first.size()), page_size);
      for (const RegisteredModel& m : page->first) names.push_back(m.name);
      if (!page->second) return names;
      args.offset += page_size;
    }
  }

  // "name/version" of every visible version, over all pages.
  Names SearchVersionNames(const Visibility& visibility, int64_t page_size, int* pages) {
    Names names;
    SearchRegistryArgs args;
    args.order_by = {OrderTerm{EntityKind::kAttribute, "name", true},
                     OrderTerm{EntityKind::kAttribute, "version_number", true}};
    args.max_results = page_size;
    args.visibility = visibility;
    *pages = 0;
    for (;;) {
      auto page = registry_->SearchModelVersions(args);
      EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
      if (!page) return names;
      ++*pages;
      EXPECT_LE(static_cast<int64_t>(page->first.size()), page_size);
      for (const ModelVersion& v : page->first) names.push_back(v.name + "/" + v.version);
      if (!page->second) return names;
      args.offset += page_size;
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqlTrackingStore> tracking_;
  std::unique_ptr<SqlRegistryStore> registry_;
  std::unique_ptr<SqlAuthStore> auth_;
  std::string run_id_;
};

// ---- permission names -----------------------------------------------------------------------

TEST(PermissionNameTest, RoundTripsEveryLevel) {
  for (Permission p : {Permission::kNoPermissions, Permission::kRead, Permission::kEdit,
                       Permission::kManage}) {
    EXPECT_EQ(ParsePermission(PermissionName(p)), p);
  }
  EXPECT_EQ(PermissionName(Permission::kNoPermissions), "NO_PERMISSIONS");
  EXPECT_EQ(PermissionName(Permission::kManage), "MANAGE");
  EXPECT_EQ(ParsePermission("read"), std::nullopt);
  EXPECT_EQ(ParsePermission(""), std::nullopt);
}

// ---- users ----------------------------------------------------------------------------------

TEST_F(SqlAuthStoreTest, CreatesAndGetsUser) {
  auto created = auth_->CreateUser(MakeUser("alice", true));
  ASSERT_TRUE(created.has_value()) << created.error().message;
  auto user = auth_->GetUser("alice");
  ASSERT_TRUE(user.has_value()) << user.error().message;
  EXPECT_EQ(user->user_id, "alice");
  EXPECT_EQ(user->email, "alice@example.com");
  EXPECT_EQ(user->roles, (Names{"data science", "ops"}));
  EXPECT_TRUE(user->is_admin);
  EXPECT_EQ(user->created_at, 1000);
  EXPECT_EQ(created->roles, user->roles);
}

TEST_F(SqlAuthStoreTest, UserWithoutRolesReadsBackEmpty) {
  User user = MakeUser("bob");
  user.roles.clear();
  ASSERT_TRUE(auth_->CreateUser(user).has_value());
  auto stored = auth_->GetUser("bob");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->roles.empty());
  EXPECT_FALSE(stored->is_admin);
}

TEST_F(SqlAuthStoreTest, DuplicateUserIsAlreadyExists) {
  AddUser("alice");
  User again = MakeUser("alice");
  again.email = "other@example.com";
  auto duplicate = auth_->CreateUser(again);
  ASSERT_FALSE(duplicate.has_value());
  ExpectError(duplicate.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(auth_->GetUser("alice")->email, "alice@example.com");
}

TEST_F(SqlAuthStoreTest, UnknownUserIsNotFound) {
  auto user = auth_->GetUser("nobody");
  ASSERT_FALSE(user.has_value());
  ExpectError(user.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlAuthStoreTest, ListsUsersById) {
  AddUser("carol");
  AddUser("alice");
  auto users = auth_->ListUsers();
  ASSERT_TRUE(users.has_value());
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].user_id, "alice");
  EXPECT_EQ((*users)[1].user_id, "carol");
}

TEST_F(SqlAuthStoreTest, ListElementWithLineBreakIsRejected) {
  User user = MakeUser("alice");
  user.roles = {"a\nb"};
  auto created = auth_->CreateUser(user);
  ASSERT_FALSE(created.has_value());
  ExpectError(created.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_FALSE(auth_->GetUser("alice").has_value());
}

// ---- keys -----------------------------------------------------------------------------------

TEST_F(SqlAuthStoreTest, CreatedKeyIsFoundByHash) {
  AddUser("alice");
  EXPECT_EQ(auth_->CountKeys().value(), 0);
  AddKey("k1", "alice", "hash-1");
  EXPECT_EQ(auth_->CountKeys().value(), 1);

  auto lookup = auth_->FindKeyByHash("hash-1", 5000);
  ASSERT_TRUE(lookup.has_value()) << lookup.error().message;
  const ApiKeyRecord& key = lookup->key;
  EXPECT_EQ(key.key_id, "k1");
  EXPECT_EQ(key.user_id, "alice");
  EXPECT_EQ(key.name, "key k1");
  EXPECT_EQ(key.key_prefix, "hk_live_k1");
  EXPECT_EQ(key.environment, "live");
  EXPECT_EQ(key.scopes, (Names{"experiment:read", "model:write:team a*"}));
  EXPECT_EQ(key.allowed_ips, (Names{"10.0.0.0/8", "192.168.1.7/32"}));
  EXPECT_EQ(key.rate_limit_per_hour, 500);
  EXPECT_EQ(key.created_at, 2000);
  EXPECT_EQ(key.last_used_at, std::nullopt);
  EXPECT_EQ(key.expires_at, std::optional<int64_t>(99000));
  EXPECT_EQ(key.revoked_at, std::nullopt);
  EXPECT_EQ(key.created_by_key_id, "creator");
  EXPECT_EQ(lookup->user.user_id, "alice");
  EXPECT_EQ(lookup->user.roles, (Names{"data science", "ops"}));
  EXPECT_EQ(lookup->secret_valid_until, std::nullopt);

  auto by_id = auth_->GetKey("k1");
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->scopes, key.scopes);
}

TEST_F(SqlAuthStoreTest, KeyForUnknownUserIsNotFound) {
  auto created = auth_->CreateKey(MakeKey("k1", "ghost"), "hash-1");
  ASSERT_FALSE(created.has_value());
  ExpectError(created.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(auth_->CountKeys().value(), 0);
}

TEST_F(SqlAuthStoreTest, DuplicateKeyIdOrHashIsAlreadyExists) {
  AddUser("alice");
  AddKey("k1", "alice", "hash-1");
  auto same_id = auth_->CreateKey(MakeKey("k1", "alice"), "hash-2");
  ASSERT_FALSE(same_id.has_value());
  ExpectError(same_id.error(), ErrorCode::kResourceAlreadyExists);
  auto same_hash = auth_->CreateKey(MakeKey("k2", "alice"), "hash-1");
  ASSERT_FALSE(same_hash.has_value());
  ExpectError(same_hash.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(auth_->CountKeys().value(), 1);
  EXPECT_FALSE(auth_->FindKeyByHash("hash-2", 5000).has_value());
}

TEST_F(SqlAuthStoreTest, CreateUserAndKeyCreatesMissingUserOnly) {
  ASSERT_TRUE(auth_->CreateUserAndKey(MakeUser("root", true), MakeKey("k1", "root"), "h1"));
  User changed = MakeUser("root", false);
  changed.email = "changed@example.com";
  ASSERT_TRUE(auth_->CreateUserAndKey(changed, MakeKey("k2", "root"), "h2"));
  auto user = auth_->GetUser("root");
  ASSERT_TRUE(user.has_value());
  EXPECT_TRUE(user->is_admin);
  EXPECT_EQ(user->email, "root@example.com");
  EXPECT_EQ(auth_->CountKeys().value(), 2);
  EXPECT_EQ(auth_->FindKeyByHash("h2", 5000)->key.key_id, "k2");
}

TEST_F(SqlAuthStoreTest, CreateUserAndKeyIsAtomic) {
  AddUser("alice");
  AddKey("k1", "alice", "h1");
  auto failed = auth_->CreateUserAndKey(MakeUser("bob"), MakeKey("k1", "bob"), "h2");
  ASSERT_FALSE(failed.has_value());
  ExpectError(failed.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_FALSE(auth_->GetUser("bob").has_value());
}

TEST_F(SqlAuthStoreTest, UnknownHashIsNotFound) {
  AddUser("alice");
  AddKey("k1", "alice", "hash-1");
  auto lookup = auth_->FindKeyByHash("hash-unknown", 5000);
  ASSERT_FALSE(lookup.has_value());
  ExpectError(lookup.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(lookup.error().message.find("hash-unknown"), std::string::npos);
}

TEST_F(SqlAuthStoreTest, RevokedKeyIsStillFoundWithItsFirstRevocationTime) {
  AddUser("alice");
  AddKey("k1", "alice", "hash-1");
  auto revoked = auth_->RevokeKey("k1", 3000);
  ASSERT_TRUE(revoked.has_value()) << revoked.error().message;
  EXPECT_EQ(revoked->revoked_at, std::optional<int64_t>(3000));
  auto again = auth_->RevokeKey("k1", 4000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->revoked_at, std::optional<int64_t>(3000));

  auto lookup = auth_->FindKeyByHash("hash-1", 5000);
  ASSERT_TRUE(lookup.has_value());
  EXPECT_EQ(lookup->key.revoked_at, std::optional<int64_t>(3000));

  auto unknown = auth_->RevokeKey("nope", 3000);
  ASSERT_FALSE(unknown.has_value());
  ExpectError(unknown.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlAuthStoreTest, RotationWithOverlapKeepsOldSecretUntilValidUntil) {
  AddUser("alice");
  AddKey("k1", "alice", "old");
  auto rotated = auth_->RotateKey("k1", "new", "hk_live_NEWPREFX", 10000, 20000);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  EXPECT_EQ(rotated->key_prefix, "hk_live_NEWPREFX");

  auto old_before = auth_->FindKeyByHash("old", 19999);
  ASSERT_TRUE(old_before.has_value());
  EXPECT_EQ(old_before->key.key_id, "k1");
  EXPECT_EQ(old_before->secret_valid_until, std::optional<int64_t>(20000));
  EXPECT_EQ(old_before->key.key_prefix, "hk_live_NEWPREFX");

  auto old_after = auth_->FindKeyByHash("old", 20000);
  ASSERT_FALSE(old_after.has_value());
  ExpectError(old_after.error(), ErrorCode::kResourceDoesNotExist);

  auto fresh = auth_->FindKeyByHash("new", 30000);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->secret_valid_until, std::nullopt);
  EXPECT_EQ(auth_->CountKeys().value(), 1);
}

TEST_F(SqlAuthStoreTest, RotationWithoutOverlapRetiresOldSecretAtOnce) {
  AddUser("alice");
  AddKey("k1", "alice", "old");
  ASSERT_TRUE(auth_->RotateKey("k1", "new", "hk_live_NEWPREFX", 10000, 10000).has_value());
  EXPECT_FALSE(auth_->FindKeyByHash("old", 10000).has_value());
  EXPECT_FALSE(auth_->FindKeyByHash("old", 5000).has_value());
  EXPECT_TRUE(auth_->FindKeyByHash("new", 10000).has_value());
}

TEST_F(SqlAuthStoreTest, SecondRotationKeepsTheEarlierEndOfOlderSecrets) {
  AddUser("alice");
  AddKey("k1", "alice", "s0");
  ASSERT_TRUE(auth_->RotateKey("k1", "s1", "p1", 10000, 15000).has_value());
  ASSERT_TRUE(auth_->RotateKey("k1", "s2", "p2", 11000, 30000).has_value());
  EXPECT_EQ(auth_->FindKeyByHash("s0", 12000)->secret_valid_until, std::optional<int64_t>(15000));
  EXPECT_FALSE(auth_->FindKeyByHash("s0", 16000).has_value());
  EXPECT_EQ(auth_->FindKeyByHash("s1", 16000)->secret_valid_until, std::optional<int64_t>(30000));
  EXPECT_EQ(auth_->FindKeyByHash("s2", 16000)->secret_valid_until, std::nullopt);
}

TEST_F(SqlAuthStoreTest, RevokedKeyCannotBeRotated) {
  AddUser("alice");
  AddKey("k1", "alice", "old");
  ASSERT_TRUE(auth_->RevokeKey("k1", 3000).has_value());
  auto rotated = auth_->RotateKey("k1", "new", "p", 4000, 4000);
  ASSERT_FALSE(rotated.has_value());
  ExpectError(rotated.error(), ErrorCode::kInvalidState);
  EXPECT_FALSE(auth_->FindKeyByHash("new", 4000).has_value());
  EXPECT_TRUE(auth_->FindKeyByHash("old", 4000).has_value());

  auto unknown = auth_->RotateKey("nope", "x", "p", 4000, 4000);
  ASSERT_FALSE(unknown.has_value());
  ExpectError(unknown.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlAuthStoreTest, ListsKeysNewestFirstByUserOrAll) {
  AddUser("alice");
  AddUser("bob");
  AddKey("a1", "alice", "h1", 100);
  AddKey("b1", "bob", "h2", 200);
  AddKey("a2", "alice", "h3", 300);
  auto keys_of = [&](const std::string& user) {
    Names ids;
    auto keys = auth_->ListKeys(user);
    EXPECT_TRUE(keys.has_value());
    if (keys) {
      for (const ApiKeyRecord& k : *keys) ids.push_back(k.key_id);
    }
    return ids;
  };
  EXPECT_EQ(keys_of("alice"), (Names{"a2", "a1"}));
  EXPECT_EQ(keys_of("bob"), (Names{"b1"}));
  EXPECT_EQ(keys_of(""), (Names{"a2", "b1", "a1"}));
  EXPECT_EQ(keys_of("nobody"), Names{});
}

TEST_F(SqlAuthStoreTest, TouchKeyRecordsLastUseMovingForwardOnly) {
  AddUser("alice");
  AddKey("k1", "alice", "h1");
  ASSERT_TRUE(auth_->TouchKey("k1", 7000).has_value());
  EXPECT_EQ(auth_->GetKey("k1")->last_used_at, std::optional<int64_t>(7000));
  ASSERT_TRUE(auth_->TouchKey("k1", 6000).has_value());
  EXPECT_EQ(auth_->GetKey("k1")->last_used_at, std::optional<int64_t>(7000));
  ASSERT_TRUE(auth_->TouchKey("k1", 8000).has_value());
  EXPECT_EQ(auth_->FindKeyByHash("h1", 9000)->key.last_used_at, std::optional<int64_t>(8000));

  auto unknown = auth_->TouchKey("nope", 8000);
  ASSERT_FALSE(unknown.has_value());
  ExpectError(unknown.error(), ErrorCode::kResourceDoesNotExist);
}

// ---- permissions ----------------------------------------------------------------------------

TEST_F(SqlAuthStoreTest, ExperimentPermissionIsSetOverwrittenAndDeleted) {
  std::string id = NewExperiment("exp");
  EXPECT_EQ(ExperimentPermission(id, "bob"), std::nullopt);
  SetExperiment(id, "bob", Permission::kRead);
  EXPECT_EQ(ExperimentPermission(id, "bob"), Permission::kRead);
  EXPECT_EQ(ExperimentPermission(id, "carol"), std::nullopt);
  SetExperiment(id, "bob", Permission::kNoPermissions);
  EXPECT_EQ(ExperimentPermission(id, "bob"), Permission::kNoPermissions);
  ASSERT_TRUE(auth_->DeleteExperimentPermission(id, "bob").has_value());
  EXPECT_EQ(ExperimentPermission(id, "bob"), std::nullopt);
  EXPECT_TRUE(auth_->DeleteExperimentPermission(id, "bob").has_value());
}

TEST_F(SqlAuthStoreTest, ExperimentPermissionOnUnknownExperiment) {
  EXPECT_EQ(ExperimentPermission("424242", "bob"), std::nullopt);
  EXPECT_EQ(ExperimentPermission("not-a-number", "bob"), std::nullopt);
  auto set = auth_->SetExperimentPermission("424242", "bob", Permission::kRead);
  ASSERT_FALSE(set.has_value());
  ExpectError(set.error(), ErrorCode::kResourceDoesNotExist);
  auto set_bad = auth_->SetExperimentPermission("abc", "bob", Permission::kRead);
  ASSERT_FALSE(set_bad.has_value());
  ExpectError(set_bad.error(), ErrorCode::kResourceDoesNotExist);
  auto deleted = auth_->DeleteExperimentPermission("424242", "bob");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlAuthStoreTest, ModelPermissionIsSetOverwrittenAndDeleted) {
  NewModel("churn");
  EXPECT_EQ(ModelPermission("churn", "bob"), std::nullopt);
  SetModel("churn", "bob", Permission::kEdit);
  EXPECT_EQ(ModelPermission("churn", "bob"), Permission::kEdit);
  SetModel("churn", "bob", Permission::kManage);
  EXPECT_EQ(ModelPermission("churn", "bob"), Permission::kManage);
  EXPECT_EQ(ModelPermission("churn", "carol"), std::nullopt);
  ASSERT_TRUE(auth_->DeleteModelPermission("churn", "bob").has_value());
  EXPECT_EQ(ModelPermission("churn", "bob"), std::nullopt);

  EXPECT_EQ(ModelPermission("missing", "bob"), std::nullopt);
  auto set = auth_->SetModelPermission("missing", "bob", Permission::kRead);
  ASSERT_FALSE(set.has_value());
  ExpectError(set.error(), ErrorCode::kResourceDoesNotExist);
  auto deleted = auth_->DeleteModelPermission("missing", "bob");
  ASSERT_FALSE(deleted.has_value());
  ExpectError(deleted.error(), ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlAuthStoreTest, ModelPermissionSurvivesRename) {
  NewModel("churn");
  SetModel("churn", "bob", Permission::kEdit);
  ASSERT_TRUE(registry_->RenameRegisteredModel("churn", "churn-v2").has_value());
  EXPECT_EQ(ModelPermission("churn-v2", "bob"), Permission::kEdit);
  EXPECT_EQ(ModelPermission("churn", "bob"), std::nullopt);
}

TEST_F(SqlAuthStoreTest, ModelPermissionGoesWithTheModel) {
  NewModel("churn", "alice");
  SetModel("churn", "bob", Permission::kEdit);
  ASSERT_TRUE(registry_->DeleteRegisteredModel("churn").has_value());
  NewModel("churn");
  EXPECT_EQ(ModelPermission("churn", "bob"), std::nullopt);
  EXPECT_EQ(ModelPermission("churn", "alice"), std::nullopt);
}

TEST_F(SqlAuthStoreTest, ExperimentCreatorGetsManage) {
  std::string owned = NewExperiment("owned", "alice");
  std::string unowned = NewExperiment("unowned");
  EXPECT_EQ(ExperimentPermission(owned, "alice"), Permission::kManage);
  EXPECT_EQ(ExperimentPermission(unowned, "alice"), std::nullopt);
  EXPECT_EQ(ExperimentPermission(unowned, ""), std::nullopt);
}

TEST_F(SqlAuthStoreTest, ModelCreatorGetsManage) {
  NewModel("owned", "alice");
  NewModel("unowned");
  EXPECT_EQ(ModelPermission("owned", "alice"), Permission::kManage);
  EXPECT_EQ(ModelPermission("unowned", "alice"), std::nullopt);
}

TEST_F(SqlAuthStoreTest, FailedCreateRecordsNoOwner) {
  std::string id = NewExperiment("exp", "alice");
  auto duplicate = tracking_->CreateExperiment("exp", "", {}, "mallory");
  ASSERT_FALSE(duplicate.has_value());
  ExpectError(duplicate.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(ExperimentPermission(id, "mallory"), std::nullopt);
  EXPECT_EQ(ExperimentPermission(id, "alice"), Permission::kManage);

  NewModel("churn", "alice");
  CreateRegisteredModelArgs args;
  args.name = "churn";
  args.owner = "mallory";
  auto duplicate_model = registry_->CreateRegisteredModel(args);
  ASSERT_FALSE(duplicate_model.has_value());
  ExpectError(duplicate_model.error(), ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(ModelPermission("churn", "mallory"), std::nullopt);
  EXPECT_EQ(ModelPermission("churn", "alice"), Permission::kManage);
}

// ---- visibility -----------------------------------------------------------------------------

TEST_F(SqlAuthStoreTest, ExperimentSearchHidesNoPermissionsWhenDefaultReadable) {
  for (const char* name : {"e1", "e2", "e3", "e4", "e5"}) NewExperiment(name);
  std::string e2 = tracking_->GetExperimentByName("e2")->experiment_id;
  std::string e4 = tracking_->GetExperimentByName("e4")->experiment_id;
  SetExperiment(e2, "bob", Permission::kNoPermissions);
  SetExperiment(e4, "bob", Permission::kRead);
  SetExperiment(e4, "carol", Permission::kNoPermissions);

  int pages = 0;
  EXPECT_EQ(SearchExperimentNames(Visibility{"bob", true, {}}, 2, &pages),
            (Names{"Default", "e1", "e3", "e4", "e5"}));
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(SearchExperimentNames(Visibility{"carol", true, {}}, 100, &pages),
            (Names{"Default", "e1", "e2", "e3", "e5"}));
}

TEST_F(SqlAuthStoreTest, ExperimentSearchShowsOnlyGrantedWhenNotDefaultReadable) {
  for (const char* name : {"e1", "e2", "e3", "e4", "e5"}) NewExperiment(name, "alice");
  for (const char* name : {"e1", "e3", "e5"}) {
    SetExperiment(tracking_->GetExperimentByName(name)->experiment_id, "bob", Permission::kRead);
  }
  SetExperiment(tracking_->GetExperimentByName("e2")->experiment_id, "bob",
                Permission::kNoPermissions);

  int pages = 0;
  EXPECT_EQ(SearchExperimentNames(Visibility{"bob", false, {}}, 2, &pages),
            (Names{"e1", "e3", "e5"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(SearchExperimentNames(Visibility{"alice", false, {}}, 2, &pages),
            (Names{"e1", "e2", "e3", "e4", "e5"}));
  EXPECT_EQ(SearchExperimentNames(Visibility{"nobody", false, {}}, 2, &pages), Names{});
  EXPECT_EQ(pages, 1);
}

TEST_F(SqlAuthStoreTest, ExperimentSearchAppliesNamePatterns) {
  for (const char* name : {"acme-a", "acme-b", "acme b", "other", "ACME-c"}) {
    NewExperiment(name, "alice");
  }
  SetExperiment(tracking_->GetExperimentByName("acme-b")->experiment_id, "bob",
                Permission::kNoPermissions);
  int pages = 0;
  EXPECT_EQ(SearchExperimentNames(Visibility{"bob", true, {"acme-*"}}, 1, &pages),
            (Names{"acme-a"}));
  EXPECT_EQ(SearchExperimentNames(Visibility{"bob", true, {"acme*", "oth*"}}, 1, &pages),
            (Names{"acme b", "acme-a", "other"}));
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(SearchExperimentNames(Visibility{"alice", false, {"acme b"}}, 10, &pages),
            (Names{"acme b"}));
  // Without a visibility the search is unrestricted.
  SearchExperimentsArgs all;
  EXPECT_EQ(tracking_->SearchExperiments(all)->first.size(), 6u);
}

TEST_F(SqlAuthStoreTest, ModelSearchAppliesVisibility) {
  for (const char* name : {"m1", "m2", "m3", "m4", "team-x", "team-y"}) NewModel(name, "alice");
  SetModel("m2", "bob", Permission::kNoPermissions);
  SetModel("m3", "bob", Permission::kRead);
  SetModel("team-x", "bob", Permission::kEdit);
  SetModel("team-y", "bob", Permission::kNoPermissions);

  int pages = 0;
  EXPECT_EQ(SearchModelNames(Visibility{"bob", true, {}}, 2, &pages),
            (Names{"m1", "m3", "m4", "team-x"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(SearchModelNames(Visibility{"bob", false, {}}, 1, &pages), (Names{"m3", "team-x"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(SearchModelNames(Visibility{"bob", true, {"team-*"}}, 1, &pages), (Names{"team-x"}));
  EXPECT_EQ(SearchModelNames(Visibility{"bob", false, {"m*"}}, 5, &pages), (Names{"m3"}));
  EXPECT_EQ(SearchModelNames(Visibility{"alice", false, {}}, 4, &pages).size(), 6u);
  EXPECT_EQ(pages, 2);
}

TEST_F(SqlAuthStoreTest, ModelVersionSearchFollowsTheModelsVisibility) {
  for (const char* name : {"m1", "m2", "team-x"}) {
    NewModel(name, "alice");
    NewVersion(name);
    NewVersion(name);
  }
  SetModel("m2", "bob", Permission::kNoPermissions);
  SetModel("team-x", "bob", Permission::kRead);

  int pages = 0;
  EXPECT_EQ(SearchVersionNames(Visibility{"bob", true, {}}, 3, &pages),
            (Names{"m1/1", "m1/2", "team-x/1", "team-x/2"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(SearchVersionNames(Visibility{"bob", false, {}}, 1, &pages),
            (Names{"team-x/1", "team-x/2"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(SearchVersionNames(Visibility{"bob", true, {"m*"}}, 1, &pages),
            (Names{"m1/1", "m1/2"}));
  EXPECT_EQ(SearchVersionNames(Visibility{"alice", false, {"team-*", "m2"}}, 10, &pages),
            (Names{"m2/1", "m2/2", "team-x/1", "team-x/2"}));
}

// ---- audit ----------------------------------------------------------------------------------

TEST_F(SqlAuthStoreTest, AuditIsAppendedAndSearchedNewestFirst) {
  std::vector<AuditEntry> entries;
  for (int i = 0; i < 6; ++i) {
    AuditEntry e;
    e.timestamp = 1000 + i * 100;
    e.user_id = i % 2 == 0 ? "alice" : "bob";
    e.key_id = i % 3 == 0 ? "k0" : "k1";
    e.method = "POST";
    e.route = "/api/2.0/mlflow/experiments/create";
    e.resource = "experiment:" + std::to_string(i);
    e.outcome = i == 5 ? "denied" : "allowed";
    e.status = i == 5 ? 403 : 200;
    e.client_address = "10.0.0.1";
    e.detail = "entry " + std::to_string(i);
    entries.push_back(e);
  }
  ASSERT_TRUE(auth_->AppendAudit(entries).has_value());
  ASSERT_TRUE(auth_->AppendAudit({}).has_value());

  auto details = [&](const AuditQuery& query, bool* more) {
    Names out;
    auto page = auth_->SearchAudit(query);
    EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
    if (!page) return out;
    for (const AuditEntry& e : page->first) out.push_back(e.detail);
    *more = page->second;
    return out;
  };
  bool more = true;
  EXPECT_EQ(details(AuditQuery{}, &more),
            (Names{"entry 5", "entry 4", "entry 3", "entry 2", "entry 1", "entry 0"}));
  EXPECT_FALSE(more);

  auto all = auth_->SearchAudit(AuditQuery{});
  ASSERT_TRUE(all.has_value());
  const AuditEntry& newest = all->first.front();
  EXPECT_GT(newest.id, all->first.back().id);
  EXPECT_EQ(newest.timestamp, 1500);
  EXPECT_EQ(newest.user_id, "bob");
  EXPECT_EQ(newest.key_id, "k1");
  EXPECT_EQ(newest.method, "POST");
  EXPECT_EQ(newest.route, "/api/2.0/mlflow/experiments/create");
  EXPECT_EQ(newest.resource, "experiment:5");
  EXPECT_EQ(newest.outcome, "denied");
  EXPECT_EQ(newest.status, 403);
  EXPECT_EQ(newest.client_address, "10.0.0.1");

  AuditQuery by_user;
  by_user.user_id = "alice";
  EXPECT_EQ(details(by_user, &more), (Names{"entry 4", "entry 2", "entry 0"}));
  AuditQuery by_key;
  by_key.key_id = "k0";
  EXPECT_EQ(details(by_key, &more), (Names{"entry 3", "entry 0"}));
  AuditQuery by_outcome;
  by_outcome.outcome = "denied";
  EXPECT_EQ(details(by_outcome, &more), (Names{"entry 5"}));
  AuditQuery window;
  window.since = 1100;
  window.until = 1400;
  EXPECT_EQ(details(window, &more), (Names{"entry 3", "entry 2", "entry 1"}));
  AuditQuery combined;
  combined.user_id = "bob";
  combined.key_id = "k1";
  combined.since = 1200;
  EXPECT_EQ(details(combined, &more), (Names{"entry 5"}));

  AuditQuery page;
  page.max_results = 4;
  EXPECT_EQ(details(page, &more), (Names{"entry 5", "entry 4", "entry 3", "entry 2"}));
  EXPECT_TRUE(more);
  page.offset = 4;
  EXPECT_EQ(details(page, &more), (Names{"entry 1", "entry 0"}));
  EXPECT_FALSE(more);
  AuditQuery exact;
  exact.max_results = 6;
  EXPECT_EQ(details(exact, &more).size(), 6u);
  EXPECT_FALSE(more);
}

}  // namespace
}  // namespace hokusai::store::sql
