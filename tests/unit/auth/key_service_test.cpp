// KeyService over a real SQLite auth store: creating keys within the actor's bounds, rotation,
// revocation, ownership of reads, the first-start bootstrap, the server secret file and CIDR
// matching.
#include "auth/key_service.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "auth/api_key.hpp"
#include "auth/principal.hpp"
#include "auth/scopes.hpp"
#include "common/error.hpp"
#include "common/util.hpp"
#include "store/auth_store.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::auth {
namespace {

using Names = std::vector<std::string>;

constexpr int64_t kHourMs = 3600 * 1000;
const std::string kServerSecret(64, 'a');

void ExpectError(const Error& error, ErrorCode code) {
  EXPECT_EQ(error.code, code) << ErrorCodeName(error.code) << ": " << error.message;
  EXPECT_FALSE(error.message.empty());
}

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-keys-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool =
        store::sql::OpenDatabase(store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 2,
                                                                 "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    store_ = std::make_unique<store::sql::SqlAuthStore>(*pool);
    keys_ = std::make_unique<KeyService>(*store_, kServerSecret, KeyDefaults{});
  }

  void TearDown() override {
    keys_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  static NewKeyRequest Request(const std::string& user_id, const std::string& template_name = {},
                               Names scopes = {}) {
    NewKeyRequest request;
    request.user_id = user_id;
    request.name = "key of " + user_id;
    request.template_name = template_name;
    request.scopes = std::move(scopes);
    return request;
  }

  // A key minted offline (the operator), failing the test when refused.
  NewKey Offline(NewKeyRequest request) {
    auto key = keys_->Create(request, nullptr);
    EXPECT_TRUE(key.has_value()) << (key ? "" : key.error().message);
    return key ? std::move(*key) : NewKey{};
  }

  NewKey OfflineAdmin(const std::string& user_id = "root") {
    NewKeyRequest request = Request(user_id, "admin");
    request.admin_user = true;
    return Offline(request);
  }

  // The principal a request made with `key` carries.
  Principal ActorFor(const NewKey& key) {
    Identity identity;
    auto user = store_->GetUser(key.record.user_id);
    EXPECT_TRUE(user.has_value());
    if (user) identity.user = *user;
    identity.key = key.record;
    auto scopes = ParseScopes(key.record.scopes);
    EXPECT_TRUE(scopes.has_value());
    if (scopes) identity.scopes = *scopes;
    return Principal(std::make_shared<const Identity>(std::move(identity)));
  }

  bool Found(const std::string& secret, int64_t now) {
    return store_->FindKeyByHash(keys_->Hash(secret), now).has_value();
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlAuthStore> store_;
  std::unique_ptr<KeyService> keys_;
};

// ---- Create: what a key holds ---------------------------------------------------------------

TEST_F(KeyServiceTest, TemplateAndScopesTogetherAreInvalid) {
  auto key = keys_->Create(Request("alice", "reader", {"experiment:read"}), nullptr);
  ASSERT_FALSE(key.has_value());
  ExpectError(key.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_->CountKeys().value(), 0);
}

TEST_F(KeyServiceTest, TemplateGivesItsScopes) {
  EXPECT_EQ(Offline(Request("alice", "reader")).record.scopes,
            (Names{"experiment:read", "model:read"}));
  EXPECT_EQ(Offline(Request("alice", "admin")).record.scopes, (Names{"admin"}));
}

TEST_F(KeyServiceTest, ExplicitScopesAreStoredCanonically) {
  NewKey key = Offline(Request("alice", "", {"model:write:acme-*", "experiment:read",
                                             "experiment:read"}));
  EXPECT_EQ(key.record.scopes, (Names{"experiment:read", "model:write:acme-*"}));
}

TEST_F(KeyServiceTest, NeitherTemplateNorScopesIsDeveloper) {
  NewKey key = Offline(Request("alice"));
  EXPECT_EQ(key.record.scopes,
            (Names{"experiment:read", "experiment:write", "model:read", "model:write"}));
  auto user = store_->GetUser("alice");
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->roles, (Names{"developer"}));
  EXPECT_FALSE(user->is_admin);
}

TEST_F(KeyServiceTest, LegacyScopeNamesAreStoredAsCanonicalScopes) {
  EXPECT_EQ(Offline(Request("alice", "", {"mlflow:read"})).record.scopes,
            (Names{"experiment:read", "model:read"}));
  EXPECT_EQ(Offline(Request("alice", "", {"full_access"})).record.scopes,
            (Names{"experiment:write", "model:write"}));
  EXPECT_EQ(Offline(Request("alice", "", {"mlflow:write", "mlflow:access"})).record.scopes,
            (Names{"experiment:write", "model:write"}));
}

TEST_F(KeyServiceTest, UnknownScopeOrTemplateIsInvalid) {
  auto scope = keys_->Create(Request("alice", "", {"experiment:delete"}), nullptr);
  ASSERT_FALSE(scope.has_value());
  ExpectError(scope.error(), ErrorCode::kInvalidParameterValue);
  auto templ = keys_->Create(Request("alice", "superuser"), nullptr);
  ASSERT_FALSE(templ.has_value());
  ExpectError(templ.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_->CountKeys().value(), 0);
}

TEST_F(KeyServiceTest, SecretIsWellFormedAndOnlyItsHashFindsTheKey) {
  NewKey key = Offline(Request("alice"));
  EXPECT_TRUE(ParseKey(key.secret).has_value());
  EXPECT_EQ(key.record.key_prefix, DisplayPrefix(key.secret));
  EXPECT_EQ(key.record.environment, "live");
  EXPECT_EQ(key.record.key_id.size(), 32u);
  EXPECT_TRUE(key.record.created_by_key_id.empty());
  EXPECT_EQ(key.record.rate_limit_per_hour, KeyDefaults{}.rate_limit_per_hour);

  auto lookup = store_->FindKeyByHash(keys_->Hash(key.secret), NowMillis());
  ASSERT_TRUE(lookup.has_value()) << lookup.error().message;
  EXPECT_EQ(lookup->key.key_id, key.record.key_id);
  EXPECT_EQ(lookup->user.user_id, "alice");
  EXPECT_FALSE(store_->FindKeyByHash(key.secret, NowMillis()).has_value());
}

TEST_F(KeyServiceTest, EnvironmentNamesThePrefix) {
  NewKeyRequest request = Request("alice");
  request.environment = "test";
  NewKey key = Offline(request);
  EXPECT_EQ(key.secret.substr(0, 8), "hk_test_");
  EXPECT_EQ(key.record.environment, "test");

  request.environment = "prod";
  auto bad = keys_->Create(request, nullptr);
  ASSERT_FALSE(bad.has_value());
  ExpectError(bad.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(KeyServiceTest, OfflineCreateNeedsAUserId) {
  auto key = keys_->Create(Request(""), nullptr);
  ASSERT_FALSE(key.has_value());
  ExpectError(key.error(), ErrorCode::kInvalidParameterValue);
}

TEST_F(KeyServiceTest, BadNameOrUserIdIsInvalid) {
  NewKeyRequest unnamed = Request("alice");
  unnamed.name.clear();
  ExpectError(keys_->Create(unnamed, nullptr).error(), ErrorCode::kInvalidParameterValue);
  NewKeyRequest long_name = Request("alice");
  long_name.name = std::string(257, 'n');
  ExpectError(keys_->Create(long_name, nullptr).error(), ErrorCode::kInvalidParameterValue);
  ExpectError(keys_->Create(Request("bad\nuser"), nullptr).error(),
              ErrorCode::kInvalidParameterValue);
  ExpectError(keys_->Create(Request(std::string(257, 'u')), nullptr).error(),
              ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(store_->CountKeys().value(), 0);
}

TEST_F(KeyServiceTest, OfflineCreatesAnAdminUser) {
  NewKeyRequest request = Request("root", "admin");
  request.admin_user = true;
  request.email = "root@example.com";
  NewKey key = Offline(request);
  auto user = store_->GetUser("root");
  ASSERT_TRUE(user.has_value());
  EXPECT_TRUE(user->is_admin);
  EXPECT_EQ(user->email, "root@example.com");
  EXPECT_EQ(user->roles, (Names{"admin"}));
  EXPECT_EQ(key.record.scopes, (Names{"admin"}));
}

TEST_F(KeyServiceTest, ExpiryInThePastIsRefused) {
  NewKeyRequest request = Request("alice");
  request.expires_at = NowMillis() - 1000;
  auto key = keys_->Create(request, nullptr);
  ASSERT_FALSE(key.has_value());
  ExpectError(key.error(), ErrorCode::kInvalidParameterValue);

  request.expires_at = NowMillis() + kHourMs;
  EXPECT_EQ(Offline(request).record.expires_at, request.expires_at);
}

TEST_F(KeyServiceTest, BadAllowedAddressIsRefused) {
  for (std::string bad : {"10.0.0.0/33", "not-an-ip", "10.0.0.0/", "2001:db8::/129", "",
                          "10.0.0.0/8/8"}) {
    NewKeyRequest request = Request("alice");
    request.allowed_ips = {"10.0.0.0/8", bad};
    auto key = keys_->Create(request, nullptr);
    ASSERT_FALSE(key.has_value()) << bad;
    ExpectError(key.error(), ErrorCode::kInvalidParameterValue);
  }
  NewKeyRequest good = Request("alice");
  good.allowed_ips = {"10.0.0.0/8", "2001:db8::/32", "192.168.1.7"};
  EXPECT_EQ(Offline(good).record.allowed_ips, good.allowed_ips);
}

TEST_F(KeyServiceTest, RateLimitOutOfRangeIsRefused) {
  for (int64_t bad : {int64_t{0}, int64_t{-5}, int64_t{1'000'000'001}}) {
    NewKeyRequest request = Request("alice");
    request.rate_limit_per_hour = bad;
    auto key = keys_->Create(request, nullptr);
    ASSERT_FALSE(key.has_value()) << bad;
    ExpectError(key.error(), ErrorCode::kInvalidParameterValue);
  }
}

// ---- Create: the actor's bounds -------------------------------------------------------------

TEST_F(KeyServiceTest, DeveloperKeyCannotMintAdminOrWiderScopes) {
  Principal actor = ActorFor(Offline(Request("alice")));
  for (const NewKeyRequest& request :
       {Request("", "admin"), Request("", "", {"admin"}),
        Request("", "", {"experiment:write", "admin"})}) {
    auto key = keys_->Create(request, &actor);
    ASSERT_FALSE(key.has_value());
    ExpectError(key.error(), ErrorCode::kPermissionDenied);
    EXPECT_NE(key.error().message.find("admin"), std::string::npos) << key.error().message;
    EXPECT_NE(key.error().extra_json.find("\"required_scope\":\"admin\""), std::string::npos)
        << key.error().extra_json;
  }
  EXPECT_EQ(store_->CountKeys().value(), 1);

  // Narrower is fine, and the key belongs to the actor's user.
  auto reader = keys_->Create(Request("", "reader"), &actor);
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  EXPECT_EQ(reader->record.user_id, "alice");
  EXPECT_EQ(reader->record.created_by_key_id, actor.key().key_id);
}

TEST_F(KeyServiceTest, PatternKeyCannotMintBeyondItsPattern) {
  Principal actor = ActorFor(Offline(Request("alice", "", {"model:write:acme-*"})));
  for (const NewKeyRequest& request :
       {Request("", "", {"model:write"}), Request("", "", {"model:read:other-*"}),
        Request("", "", {"experiment:read"}), Request("", "reader")}) {
    auto key = keys_->Create(request, &actor);
    ASSERT_FALSE(key.has_value()) << request.scopes.size();
    ExpectError(key.error(), ErrorCode::kPermissionDenied);
  }
  auto narrower = keys_->Create(Request("", "", {"model:read:acme-prod-*"}), &actor);
  ASSERT_TRUE(narrower.has_value()) << narrower.error().message;
  EXPECT_EQ(narrower->record.scopes, (Names{"model:read:acme-prod-*"}));
}

TEST_F(KeyServiceTest, DeveloperKeyCannotMintForAnotherUser) {
  Offline(Request("bob"));
  Principal actor = ActorFor(Offline(Request("alice")));
  for (std::string user : {"bob", "carol"}) {
    auto key = keys_->Create(Request(user, "reader"), &actor);
    ASSERT_FALSE(key.has_value()) << user;
    ExpectError(key.error(), ErrorCode::kPermissionDenied);
  }
  EXPECT_FALSE(store_->GetUser("carol").has_value());
  EXPECT_EQ(store_->ListKeys("bob").value().size(), 1u);
}

TEST_F(KeyServiceTest, ActorCannotCreateAnAdminUser) {
  Principal actor = ActorFor(OfflineAdmin());
  NewKeyRequest request = Request("eve", "admin");
  request.admin_user = true;
  auto key = keys_->Create(request, &actor);
  ASSERT_FALSE(key.has_value());
  ExpectError(key.error(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(store_->GetUser("eve").has_value());
}

TEST_F(KeyServiceTest, KeyCannotOutliveItsCreator) {
  NewKeyRequest bounded = Request("alice");
  bounded.expires_at = NowMillis() + kHourMs;
  Principal actor = ActorFor(Offline(bounded));

  NewKeyRequest later = Request("", "reader");
  later.expires_at = *bounded.expires_at + 1000;
  auto refused = keys_->Create(later, &actor);
  ASSERT_FALSE(refused.has_value());
  ExpectError(refused.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(refused.error().message.find("expires_at"), std::string::npos);

  auto inherited = keys_->Create(Request("", "reader"), &actor);
  ASSERT_TRUE(inherited.has_value()) << inherited.error().message;
  EXPECT_EQ(inherited->record.expires_at, bounded.expires_at);

  NewKeyRequest earlier = Request("", "reader");
  earlier.expires_at = *bounded.expires_at - 1000;
  auto shorter = keys_->Create(earlier, &actor);
  ASSERT_TRUE(shorter.has_value()) << shorter.error().message;
  EXPECT_EQ(shorter->record.expires_at, earlier.expires_at);
}

TEST_F(KeyServiceTest, KeyCannotExceedItsCreatorsRateLimit) {
  NewKeyRequest limited = Request("alice");
  limited.rate_limit_per_hour = 100;
  Principal actor = ActorFor(Offline(limited));

  NewKeyRequest higher = Request("", "reader");
  higher.rate_limit_per_hour = 101;
  auto refused = keys_->Create(higher, &actor);
  ASSERT_FALSE(refused.has_value());
  ExpectError(refused.error(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(refused.error().message.find("rate_limit_per_hour"), std::string::npos);

  auto defaulted = keys_->Create(Request("", "reader"), &actor);
  ASSERT_TRUE(defaulted.has_value()) << defaulted.error().message;
  EXPECT_EQ(defaulted->record.rate_limit_per_hour, 100);

  NewKeyRequest lower = Request("", "reader");
  lower.rate_limit_per_hour = 50;
  auto ok = keys_->Create(lower, &actor);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->record.rate_limit_per_hour, 50);
}

TEST_F(KeyServiceTest, AdminKeyCreatesAKeyForANewUser) {
  Principal actor = ActorFor(OfflineAdmin());
  NewKeyRequest request = Request("newbie", "reader");
  request.email = "newbie@example.com";
  auto key = keys_->Create(request, &actor);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(key->record.user_id, "newbie");
  EXPECT_EQ(key->record.created_by_key_id, actor.key().key_id);
  auto user = store_->GetUser("newbie");
  ASSERT_TRUE(user.has_value());
  EXPECT_FALSE(user->is_admin);
  EXPECT_EQ(user->email, "newbie@example.com");
  EXPECT_EQ(user->roles, (Names{"reader"}));
  EXPECT_TRUE(Found(key->secret, NowMillis()));
}

// ---- Rotate ---------------------------------------------------------------------------------

TEST_F(KeyServiceTest, RotationWithoutOverlapEndsTheOldSecretAtOnce) {
  NewKey key = Offline(Request("alice"));
  auto rotated = keys_->Rotate(key.record.key_id, 0, nullptr);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  int64_t after = NowMillis();
  EXPECT_NE(rotated->secret, key.secret);
  EXPECT_TRUE(ParseKey(rotated->secret).has_value());
  EXPECT_EQ(rotated->record.key_id, key.record.key_id);
  EXPECT_EQ(rotated->record.scopes, key.record.scopes);
  EXPECT_EQ(rotated->record.key_prefix, DisplayPrefix(rotated->secret));
  EXPECT_FALSE(Found(key.secret, after));
  EXPECT_TRUE(Found(rotated->secret, after));
  EXPECT_TRUE(Found(rotated->secret, after + 30LL * 24 * kHourMs));
}

TEST_F(KeyServiceTest, RotationWithOverlapKeepsTheOldSecretUntilValidUntil) {
  NewKey key = Offline(Request("alice"));
  constexpr int64_t kOverlapSeconds = 600;
  int64_t before = NowMillis();
  auto rotated = keys_->Rotate(key.record.key_id, kOverlapSeconds, nullptr);
  int64_t after = NowMillis();
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;

  EXPECT_TRUE(Found(key.secret, after));
  EXPECT_TRUE(Found(key.secret, before + kOverlapSeconds * 1000 - 1));
  EXPECT_FALSE(Found(key.secret, after + kOverlapSeconds * 1000));
  auto old = store_->FindKeyByHash(keys_->Hash(key.secret), after);
  ASSERT_TRUE(old.has_value());
  ASSERT_TRUE(old->secret_valid_until.has_value());
  EXPECT_GE(*old->secret_valid_until, before + kOverlapSeconds * 1000);
  EXPECT_LE(*old->secret_valid_until, after + kOverlapSeconds * 1000);
  EXPECT_TRUE(Found(rotated->secret, after + kOverlapSeconds * 1000));
}

TEST_F(KeyServiceTest, RotationOverlapOutOfRangeIsRefused) {
  NewKey key = Offline(Request("alice"));
  for (int64_t bad : {int64_t{-1}, int64_t{7 * 24 * 3600 + 1}}) {
    auto rotated = keys_->Rotate(key.record.key_id, bad, nullptr);
    ASSERT_FALSE(rotated.has_value()) << bad;
    ExpectError(rotated.error(), ErrorCode::kInvalidParameterValue);
  }
  EXPECT_TRUE(Found(key.secret, NowMillis()));
  EXPECT_TRUE(keys_->Rotate(key.record.key_id, 7 * 24 * 3600, nullptr).has_value());
}

TEST_F(KeyServiceTest, RotatingAnUnknownOrRevokedKeyFails) {
  ExpectError(keys_->Rotate("0123456789abcdef0123456789abcdef", 0, nullptr).error(),
              ErrorCode::kResourceDoesNotExist);
  NewKey key = Offline(Request("alice"));
  ASSERT_TRUE(keys_->Revoke(key.record.key_id, nullptr).has_value());
  auto rotated = keys_->Rotate(key.record.key_id, 0, nullptr);
  ASSERT_FALSE(rotated.has_value());
  ExpectError(rotated.error(), ErrorCode::kInvalidState);
}

TEST_F(KeyServiceTest, RotatingAnotherUsersKeyLooksLikeAMissingKey) {
  NewKey bobs = Offline(Request("bob"));
  Principal alice = ActorFor(Offline(Request("alice")));
  auto rotated = keys_->Rotate(bobs.record.key_id, 0, &alice);
  ASSERT_FALSE(rotated.has_value());
  ExpectError(rotated.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_TRUE(Found(bobs.secret, NowMillis()));

  Principal admin = ActorFor(OfflineAdmin());
  EXPECT_TRUE(keys_->Rotate(bobs.record.key_id, 0, &admin).has_value());
}

// A key may not obtain, by rotating it, a working secret for a key of its user that holds more
// scopes than itself (principle 10: a key can never create a key with more scopes than itself).
TEST_F(KeyServiceTest, RotationCannotGiveAWeakerKeyTheSecretOfAStrongerOne) {
  NewKey developer = Offline(Request("alice"));
  Principal reader = ActorFor(Offline(Request("alice", "reader")));
  auto rotated = keys_->Rotate(developer.record.key_id, 0, &reader);
  ASSERT_FALSE(rotated.has_value())
      << "a reader key received a developer secret: scopes "
      << ::testing::PrintToString(rotated->record.scopes);
  ExpectError(rotated.error(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(Found(developer.secret, NowMillis()));
}

// Same bound for expiry: rotation must not hand a key that expires the secret of one that
// never does.
TEST_F(KeyServiceTest, RotationCannotGiveAnExpiringKeyTheSecretOfALongerLivedOne) {
  NewKey forever = Offline(Request("alice", "reader"));
  NewKeyRequest bounded = Request("alice", "reader");
  bounded.expires_at = NowMillis() + kHourMs;
  Principal actor = ActorFor(Offline(bounded));
  auto rotated = keys_->Rotate(forever.record.key_id, 0, &actor);
  ASSERT_FALSE(rotated.has_value()) << "an expiring key received a non-expiring secret";
  ExpectError(rotated.error(), ErrorCode::kPermissionDenied);
}

// And for the rate limit (decision 0009: a key cannot create a key with a higher limit than its
// own): a slow key must not trade itself up for a faster sibling by rotating it.
TEST_F(KeyServiceTest, RotationCannotGiveASlowerKeyTheSecretOfAFasterOne) {
  NewKeyRequest fast = Request("alice", "reader");
  fast.rate_limit_per_hour = 100'000;
  NewKey faster = Offline(fast);
  NewKeyRequest slow = Request("alice", "reader");
  slow.rate_limit_per_hour = 10;
  Principal actor = ActorFor(Offline(slow));
  auto rotated = keys_->Rotate(faster.record.key_id, 0, &actor);
  ASSERT_FALSE(rotated.has_value())
      << "a key limited to 10/h received the secret of a key limited to "
      << rotated->record.rate_limit_per_hour << "/h";
  ExpectError(rotated.error(), ErrorCode::kPermissionDenied);
  EXPECT_TRUE(Found(faster.secret, NowMillis()));
}

TEST_F(KeyServiceTest, KeyMayRotateItselfAndWeakerSiblings) {
  NewKey developer = Offline(Request("alice"));
  NewKey reader = Offline(Request("alice", "reader"));
  Principal actor = ActorFor(developer);
  auto sibling = keys_->Rotate(reader.record.key_id, 0, &actor);
  ASSERT_TRUE(sibling.has_value()) << sibling.error().message;
  auto itself = keys_->Rotate(developer.record.key_id, 60, &actor);
  ASSERT_TRUE(itself.has_value()) << itself.error().message;
  EXPECT_TRUE(Found(itself->secret, NowMillis()));
}

// ---- Revoke, Get, List ----------------------------------------------------------------------

TEST_F(KeyServiceTest, RevokeMarksTheKeyRevoked) {
  NewKey key = Offline(Request("alice"));
  int64_t before = NowMillis();
  auto revoked = keys_->Revoke(key.record.key_id, nullptr);
  ASSERT_TRUE(revoked.has_value()) << revoked.error().message;
  ASSERT_TRUE(revoked->revoked_at.has_value());
  EXPECT_GE(*revoked->revoked_at, before);
  auto lookup = store_->FindKeyByHash(keys_->Hash(key.secret), NowMillis());
  ASSERT_TRUE(lookup.has_value());
  EXPECT_EQ(lookup->key.revoked_at, revoked->revoked_at);
  auto again = keys_->Revoke(key.record.key_id, nullptr);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->revoked_at, revoked->revoked_at);
}

TEST_F(KeyServiceTest, RevokingAnotherUsersKeyLooksLikeAMissingKey) {
  NewKey bobs = Offline(Request("bob"));
  Principal alice = ActorFor(Offline(Request("alice")));
  auto revoked = keys_->Revoke(bobs.record.key_id, &alice);
  ASSERT_FALSE(revoked.has_value());
  ExpectError(revoked.error(), ErrorCode::kResourceDoesNotExist);
  EXPECT_FALSE(store_->GetKey(bobs.record.key_id)->revoked_at.has_value());

  auto own = ActorFor(Offline(Request("alice", "reader")));
  EXPECT_TRUE(keys_->Revoke(own.key().key_id, &alice).has_value());
  Principal admin = ActorFor(OfflineAdmin());
  EXPECT_TRUE(keys_->Revoke(bobs.record.key_id, &admin).has_value());
}

TEST_F(KeyServiceTest, GetShowsOwnKeysAndHidesOthers) {
  NewKey bobs = Offline(Request("bob"));
  NewKey alices = Offline(Request("alice"));
  Principal alice = ActorFor(alices);
  auto own = keys_->Get(alices.record.key_id, &alice);
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->key_id, alices.record.key_id);

  auto other = keys_->Get(bobs.record.key_id, &alice);
  ASSERT_FALSE(other.has_value());
  ExpectError(other.error(), ErrorCode::kResourceDoesNotExist);
  auto unknown = keys_->Get("0123456789abcdef0123456789abcdef", &alice);
  ASSERT_FALSE(unknown.has_value());
  ExpectError(unknown.error(), ErrorCode::kResourceDoesNotExist);

  Principal admin = ActorFor(OfflineAdmin());
  EXPECT_TRUE(keys_->Get(bobs.record.key_id, &admin).has_value());
  EXPECT_TRUE(keys_->Get(bobs.record.key_id, nullptr).has_value());
}

TEST_F(KeyServiceTest, ListShowsOwnKeysOrEveryKeyToAnAdmin) {
  Offline(Request("bob"));
  Offline(Request("bob", "reader"));
  NewKey alices = Offline(Request("alice"));
  Principal alice = ActorFor(alices);

  auto own = keys_->List("", &alice);
  ASSERT_TRUE(own.has_value());
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].key_id, alices.record.key_id);
  auto own_by_name = keys_->List("alice", &alice);
  ASSERT_TRUE(own_by_name.has_value());
  EXPECT_EQ(own_by_name->size(), 1u);

  auto others = keys_->List("bob", &alice);
  ASSERT_FALSE(others.has_value());
  ExpectError(others.error(), ErrorCode::kPermissionDenied);

  Principal admin = ActorFor(OfflineAdmin());
  EXPECT_EQ(keys_->List("", &admin).value().size(), 4u);
  EXPECT_EQ(keys_->List("bob", &admin).value().size(), 2u);
  EXPECT_EQ(keys_->List("", nullptr).value().size(), 4u);
  EXPECT_EQ(keys_->List("bob", nullptr).value().size(), 2u);
}

// ---- Bootstrap ------------------------------------------------------------------------------

TEST_F(KeyServiceTest, BootstrapMintsOneAdminKeyOnAnEmptyStoreOnly) {
  auto first = keys_->Bootstrap();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_TRUE(first->has_value());
  const NewKey& key = **first;
  EXPECT_EQ(key.record.user_id, "admin");
  EXPECT_EQ(key.record.scopes, (Names{"admin"}));
  EXPECT_TRUE(key.record.created_by_key_id.empty());
  auto user = store_->GetUser("admin");
  ASSERT_TRUE(user.has_value());
  EXPECT_TRUE(user->is_admin);
  EXPECT_TRUE(Found(key.secret, NowMillis()));

  auto second = keys_->Bootstrap();
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(store_->CountKeys().value(), 1);
}

TEST_F(KeyServiceTest, BootstrapDoesNothingWhenAnyKeyWasEverCreated) {
  NewKey key = Offline(Request("alice", "reader"));
  ASSERT_TRUE(keys_->Revoke(key.record.key_id, nullptr).has_value());
  auto bootstrap = keys_->Bootstrap();
  ASSERT_TRUE(bootstrap.has_value());
  EXPECT_FALSE(bootstrap->has_value());
  EXPECT_FALSE(store_->GetUser("admin").has_value());
  EXPECT_EQ(store_->CountKeys().value(), 1);
}

// ---- Hash -----------------------------------------------------------------------------------

TEST_F(KeyServiceTest, HashIsDeterministicAndKeyedBySecretAndServerSecret) {
  std::string a = GenerateKey(KeyEnvironment::kLive);
  std::string b = GenerateKey(KeyEnvironment::kLive);
  EXPECT_EQ(keys_->Hash(a), keys_->Hash(a));
  EXPECT_NE(keys_->Hash(a), keys_->Hash(b));
  EXPECT_EQ(keys_->Hash(a).size(), 64u);
  EXPECT_EQ(keys_->Hash(a).find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(keys_->Hash(a).find(a), std::string::npos);

  KeyService other(*store_, std::string(64, 'b'), KeyDefaults{});
  EXPECT_NE(other.Hash(a), keys_->Hash(a));
}

// ---- LoadOrCreateServerSecret ---------------------------------------------------------------

class KeyServiceServerSecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-secret-" + NewHexId());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void Write(const std::filesystem::path& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  std::filesystem::path dir_;
};

TEST_F(KeyServiceServerSecretTest, CreatesAnOwnerOnlyFileAndReadsItBack) {
  std::string path = (dir_ / "auth-secret").string();
  auto created = LoadOrCreateServerSecret(path);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_GE(created->size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto again = LoadOrCreateServerSecret(path);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(*again, *created);
}

TEST_F(KeyServiceServerSecretTest, ReadsAnExistingSecretWithoutItsLineBreak) {
  std::filesystem::path path = dir_ / "auth-secret";
  std::string secret(40, 'x');
  Write(path, secret + "\r\n", 0600);
  auto loaded = LoadOrCreateServerSecret(path.string());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(*loaded, secret);
}

TEST_F(KeyServiceServerSecretTest, RefusesAFileOthersCanRead) {
  std::filesystem::path path = dir_ / "auth-secret";
  Write(path, std::string(64, 'x') + "\n", 0644);
  auto loaded = LoadOrCreateServerSecret(path.string());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("600"), std::string::npos) << loaded.error().message;
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(LoadOrCreateServerSecret(path.string()).has_value());
}

TEST_F(KeyServiceServerSecretTest, RefusesAShortSecret) {
  std::filesystem::path path = dir_ / "auth-secret";
  Write(path, std::string(31, 'x') + "\n", 0600);
  EXPECT_FALSE(LoadOrCreateServerSecret(path.string()).has_value());
  Write(path, "", 0600);
  EXPECT_FALSE(LoadOrCreateServerSecret(path.string()).has_value());
}

TEST_F(KeyServiceServerSecretTest, MissingDirectoryIsAnError) {
  auto loaded = LoadOrCreateServerSecret((dir_ / "missing" / "auth-secret").string());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_FALSE(loaded.error().message.empty());
}

// ---- AddressInCidr / ValidCidr --------------------------------------------------------------

TEST(KeyServiceAddressInCidrTest, MatchesIpv4Networks) {
  EXPECT_TRUE(AddressInCidr("10.1.2.3", "10.0.0.0/8"));
  EXPECT_TRUE(AddressInCidr("10.255.255.255", "10.0.0.0/8"));
  EXPECT_FALSE(AddressInCidr("11.0.0.1", "10.0.0.0/8"));
  EXPECT_TRUE(AddressInCidr("192.168.1.130", "192.168.1.128/25"));
  EXPECT_FALSE(AddressInCidr("192.168.1.127", "192.168.1.128/25"));
  EXPECT_TRUE(AddressInCidr("172.31.0.1", "172.16.0.0/12"));
  EXPECT_FALSE(AddressInCidr("172.32.0.1", "172.16.0.0/12"));
}

TEST(KeyServiceAddressInCidrTest, MatchesIpv6Networks) {
  EXPECT_TRUE(AddressInCidr("2001:db8::1", "2001:db8::/32"));
  EXPECT_TRUE(AddressInCidr("2001:db8:ffff::1", "2001:db8::/32"));
  EXPECT_FALSE(AddressInCidr("2001:db9::1", "2001:db8::/32"));
  EXPECT_TRUE(AddressInCidr("fe80::1234", "fe80::/10"));
  EXPECT_FALSE(AddressInCidr("fec0::1", "fe80::/10"));
  EXPECT_TRUE(AddressInCidr("::1", "::1/128"));
  EXPECT_FALSE(AddressInCidr("::2", "::1/128"));
}

TEST(KeyServiceAddressInCidrTest, SingleAddressMatchesOnlyItself) {
  EXPECT_TRUE(AddressInCidr("192.168.1.7", "192.168.1.7"));
  EXPECT_FALSE(AddressInCidr("192.168.1.8", "192.168.1.7"));
  EXPECT_TRUE(AddressInCidr("192.168.1.7", "192.168.1.7/32"));
  EXPECT_FALSE(AddressInCidr("192.168.1.6", "192.168.1.7/32"));
  EXPECT_TRUE(AddressInCidr("2001:db8::7", "2001:db8::7"));
  EXPECT_FALSE(AddressInCidr("2001:db8::8", "2001:db8::7"));
}

TEST(KeyServiceAddressInCidrTest, ZeroPrefixMatchesEveryAddressOfItsFamily) {
  EXPECT_TRUE(AddressInCidr("1.2.3.4", "0.0.0.0/0"));
  EXPECT_TRUE(AddressInCidr("255.255.255.255", "0.0.0.0/0"));
  EXPECT_FALSE(AddressInCidr("2001:db8::1", "0.0.0.0/0"));
  EXPECT_TRUE(AddressInCidr("2001:db8::1", "::/0"));
}

TEST(KeyServiceAddressInCidrTest, Ipv4MappedAddressMatchesItsIpv4Network) {
  EXPECT_TRUE(AddressInCidr("::ffff:10.1.2.3", "10.0.0.0/8"));
  EXPECT_FALSE(AddressInCidr("::ffff:11.1.2.3", "10.0.0.0/8"));
}

TEST(KeyServiceAddressInCidrTest, BadInputMatchesNothing) {
  EXPECT_FALSE(AddressInCidr("not-an-ip", "0.0.0.0/0"));
  EXPECT_FALSE(AddressInCidr("", "0.0.0.0/0"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", ""));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", "10.0.0.0/33"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", "10.0.0.0/-1"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", "10.0.0.0/"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", "10.0.0.0/8x"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3", "10.0.0/8"));
  EXPECT_FALSE(AddressInCidr("10.1.2.3:80", "10.0.0.0/8"));
  EXPECT_FALSE(AddressInCidr("2001:db8::1", "2001:db8::/129"));
}

TEST(KeyServiceValidCidrTest, AcceptsAddressesAndNetworksOnly) {
  for (std::string good : {"10.0.0.0/8", "0.0.0.0/0", "1.2.3.4", "1.2.3.4/32", "::/0",
                           "2001:db8::/32", "::1", "::1/128"}) {
    EXPECT_TRUE(ValidCidr(good)) << good;
  }
  const Names bad_inputs = {"",           "/8",           "10.0.0.0/33", "10.0.0.0/ 8",
                            "10.0.0.0/+8", "host.example", "1.2.3.4/32/1", "::/129",
                            "1.2.3.4 ",   std::string(70, '1')};
  for (const std::string& bad : bad_inputs) {
    EXPECT_FALSE(ValidCidr(bad)) << bad;
  }
}

}  // namespace
}  // namespace hokusai::auth
