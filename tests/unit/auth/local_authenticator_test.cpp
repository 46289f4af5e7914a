// LocalAuthenticator over a real SQLite store, with a second handle on the same database file
// standing in for `hokusai-registry keys` run offline while the server runs: a kept lookup is
// reused until a revocation or rotation — by either handle — moves the key epoch on.
#include "auth/local_authenticator.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "auth/key_service.hpp"
#include "common/util.hpp"
#include "store/sql/db.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::auth {
namespace {

constexpr const char* kSecret = "local-authenticator-test-secret";

// One process's view of the database: pool, auth store, key service.
struct Handle {
  explicit Handle(const std::string& path) {
    auto opened = store::sql::OpenDatabase(store::sql::DatabaseOptions{path, 2, "NORMAL"});
    EXPECT_TRUE(opened.has_value()) << (opened ? "" : opened.error().message);
    pool = *opened;
    store = std::make_unique<store::sql::SqlAuthStore>(pool);
    keys = std::make_unique<KeyService>(*store, kSecret, KeyDefaults{});
  }
  std::shared_ptr<store::sql::ConnectionPool> pool;
  std::unique_ptr<store::sql::SqlAuthStore> store;
  std::unique_ptr<KeyService> keys;
};

class LocalAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-localauth-" + NewHexId());
    std::filesystem::create_directories(dir_);
    std::string path = (dir_ / "mlflow.db").string();
    server_ = std::make_unique<Handle>(path);
    offline_ = std::make_unique<Handle>(path);
    authenticator_ = std::make_unique<LocalAuthenticator>(*server_->store, *server_->keys, "test");
  }

  void TearDown() override {
    authenticator_.reset();
    offline_.reset();
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  NewKey MintKey() {
    NewKeyRequest request;
    request.user_id = "alice";
    request.name = "alice's key";
    request.template_name = "developer";
    auto key = server_->keys->Create(request, nullptr);
    EXPECT_TRUE(key.has_value()) << (key ? "" : key.error().message);
    return key ? *key : NewKey{};
  }

  bool Accepted(const std::string& secret) {
    return authenticator_->Authenticate(secret, "127.0.0.1").has_value();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Handle> server_;
  std::unique_ptr<Handle> offline_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
};

TEST_F(LocalAuthenticatorTest, KeptLookupIsReusedWhileTheEpochStands) {
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));
  // Deleting the secret behind the store's back (no epoch change) goes unnoticed for now:
  // the proof that the second request did not look the key up again.
  auto conn = offline_->pool->AcquireWriter();
  ASSERT_TRUE(conn->Exec("DELETE FROM api_key_secrets").has_value());
  EXPECT_TRUE(Accepted(key.secret));
}

// A kept lookup is found by the presented key's digest, and the shape and checksum are checked
// only when none is found: a kept key must not let near misses of it in.
TEST_F(LocalAuthenticatorTest, KeptLookupAnswersOnlyTheExactKey) {
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));
  ASSERT_TRUE(Accepted(key.secret));  // kept
  const std::string& secret = key.secret;
  std::string changed_random = secret;
  changed_random[10] = changed_random[10] == 'a' ? 'b' : 'a';
  std::string changed_checksum = secret;
  changed_checksum.back() = changed_checksum.back() == 'a' ? 'b' : 'a';
  for (const std::string& near : {changed_random, changed_checksum, secret + "k",
                                  secret + std::string(4, 'k'), secret.substr(0, secret.size() - 1),
                                  "Bearer " + secret,
                                  std::string(64 * 1024, 'k')}) {
    EXPECT_FALSE(Accepted(near)) << near.substr(0, 80);
  }
  EXPECT_TRUE(Accepted(secret));
}

// Hundreds of keys in use: the kept-lookup tables grow (several times per shard) and keep every
// lookup across it, and an epoch change still makes every one of them stale.
TEST_F(LocalAuthenticatorTest, ManyKeptLookupsSurviveTheTablesGrowingAndGoStaleTogether) {
  std::vector<NewKey> keys;
  for (int i = 0; i < 1200; ++i) keys.push_back(MintKey());
  for (const NewKey& key : keys) ASSERT_TRUE(Accepted(key.secret));
  {
    auto conn = offline_->pool->AcquireWriter();
    ASSERT_TRUE(conn->Exec("DELETE FROM api_key_secrets WHERE key_id != '" +
                           keys.front().record.key_id + "'").has_value());
  }
  for (const NewKey& key : keys) EXPECT_TRUE(Accepted(key.secret));  // all kept
  ASSERT_TRUE(offline_->keys->Revoke(keys.front().record.key_id, nullptr).has_value());
  int accepted = 0;
  for (const NewKey& key : keys) accepted += Accepted(key.secret) ? 1 : 0;
  EXPECT_EQ(accepted, 0);  // revoked, or looked up again and gone
}

TEST_F(LocalAuthenticatorTest, AllowListIsCheckedOnEveryRequestIncludingKeptLookups) {
  NewKeyRequest request;
  request.user_id = "alice";
  request.name = "fenced";
  request.template_name = "developer";
  request.allowed_ips = {"10.0.0.0/8"};
  auto key = server_->keys->Create(request, nullptr);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_TRUE(authenticator_->Authenticate(key->secret, "10.1.2.3").has_value());  // kept now
  EXPECT_TRUE(authenticator_->Authenticate(key->secret, "10.1.2.4").has_value());
  EXPECT_FALSE(authenticator_->Authenticate(key->secret, "192.168.0.1").has_value());
  EXPECT_FALSE(Accepted(key->secret));  // 127.0.0.1
}

TEST_F(LocalAuthenticatorTest, RevocationByAnotherProcessIsSeenOnTheNextRequest) {
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));
  ASSERT_TRUE(Accepted(key.secret));  // now kept
  ASSERT_TRUE(offline_->keys->Revoke(key.record.key_id, nullptr).has_value());
  auto refused = authenticator_->Authenticate(key.secret, "127.0.0.1");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(LocalAuthenticatorTest, RevocationInThisProcessIsSeenOnTheNextRequest) {
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));
  ASSERT_TRUE(server_->keys->Revoke(key.record.key_id, nullptr).has_value());
  EXPECT_FALSE(Accepted(key.secret));
}

TEST_F(LocalAuthenticatorTest, RotationWithoutOverlapRetiresTheKeptSecretAtOnce) {
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));
  auto rotated = offline_->keys->Rotate(key.record.key_id, 0, nullptr);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  EXPECT_FALSE(Accepted(key.secret));
  EXPECT_TRUE(Accepted(rotated->secret));
}

TEST_F(LocalAuthenticatorTest, EpochMovesOnRevocationAndRotationOnly) {
  auto epoch = [&] { return server_->store->KeyEpoch(); };
  ASSERT_TRUE(epoch().has_value());
  uint64_t start = *epoch();
  NewKey key = MintKey();
  ASSERT_TRUE(Accepted(key.secret));  // creation and last-use writes leave it alone
  EXPECT_EQ(*epoch(), start);
  ASSERT_TRUE(offline_->keys->Rotate(key.record.key_id, 60, nullptr).has_value());
  EXPECT_EQ(*epoch(), start + 1);
  EXPECT_EQ(offline_->store->KeyEpoch(), epoch());
  ASSERT_TRUE(server_->keys->Revoke(key.record.key_id, nullptr).has_value());
  EXPECT_EQ(*offline_->store->KeyEpoch(), start + 2);
}

TEST_F(LocalAuthenticatorTest, EpochFileIsPrivateToTheOwner) {
  auto status = std::filesystem::status(dir_ / "mlflow.db-keyepoch");
  ASSERT_TRUE(std::filesystem::exists(status));
  auto others = std::filesystem::perms::group_all | std::filesystem::perms::others_all;
  EXPECT_EQ(status.permissions() & others, std::filesystem::perms::none);
}

}  // namespace
}  // namespace hokusai::auth
