#include "auth/api_key.hpp"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hokusai::auth {
namespace {

TEST(ApiKeyTest, GeneratedKeysHaveThePrefixLengthAndParse) {
  for (auto env : {KeyEnvironment::kLive, KeyEnvironment::kTest, KeyEnvironment::kDev}) {
    std::string key = GenerateKey(env);
    std::string prefix = "hk_" + std::string(EnvironmentName(env)) + "_";
    EXPECT_EQ(key.rfind(prefix, 0), 0u) << key;
    EXPECT_EQ(key.size(), prefix.size() + kKeyRandomChars + kKeyChecksumChars);
    EXPECT_LE(key.size(), kMaxKeyChars);
    if (env != KeyEnvironment::kDev) {
      EXPECT_EQ(key.size(), kMaxKeyChars);
    }
    auto parsed = ParseKey(key);
    ASSERT_TRUE(parsed.has_value()) << key;
    EXPECT_EQ(parsed->environment, env);
    EXPECT_EQ(parsed->random.size(), kKeyRandomChars);
  }
}

TEST(ApiKeyTest, GeneratedKeysAreDistinct) {
  std::set<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.insert(GenerateKey(KeyEnvironment::kLive));
  EXPECT_EQ(keys.size(), 1000u);
}

TEST(ApiKeyTest, AnyChangedCharacterFailsTheChecksum) {
  std::string key = GenerateKey(KeyEnvironment::kLive);
  for (std::size_t i = 8; i < key.size(); ++i) {
    std::string changed = key;
    changed[i] = changed[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(ParseKey(changed).has_value()) << i;
  }
}

TEST(ApiKeyTest, MalformedKeysAreRejected) {
  std::string good = GenerateKey(KeyEnvironment::kLive);
  for (std::string bad : {std::string(""), std::string("hk_live_"), std::string("hk_prod_") +
                          good.substr(8), good.substr(0, good.size() - 1), good + "x",
                          std::string("Bearer ") + good, "sk_live_" + good.substr(8),
                          good.substr(0, 10) + "-" + good.substr(11)}) {
    EXPECT_FALSE(ParseKey(bad).has_value()) << bad;
  }
}

TEST(ApiKeyTest, DisplayPrefixShowsEightRandomCharacters) {
  std::string key = GenerateKey(KeyEnvironment::kTest);
  EXPECT_EQ(DisplayPrefix(key), key.substr(0, 16));
}

TEST(ApiKeyTest, KeyHashIsKeyedHmacSha256Hex) {
  // RFC 4231 test case 2.
  EXPECT_EQ(KeyHash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(KeyHash("secret-a", "k"), KeyHash("secret-b", "k"));
}

TEST(ApiKeyTest, KeyHasherDigestIsTheBytesOfItsHash) {
  KeyHasher hasher("Jefe");
  KeyDigest digest = hasher.Digest("what do ya want for nothing?");
  EXPECT_EQ(DigestHex(digest), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hasher.Hash("what do ya want for nothing?"), DigestHex(digest));
  EXPECT_NE(hasher.Digest("what do ya want for nothing!"), digest);
}

TEST(ApiKeyTest, KeyHasherMatchesRfc4231ForEverySecretLength) {
  // RFC 4231 test case 6: a 131-byte key, longer than SHA-256's block, is hashed first.
  KeyHasher long_secret(std::string(131, '\xaa'));
  EXPECT_EQ(long_secret.Hash("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Test case 1: a 20-byte key, zero-padded.
  KeyHasher short_secret(std::string(20, '\x0b'));
  EXPECT_EQ(short_secret.Hash("Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // A secret of exactly one block, and the same hasher reused from several threads.
  KeyHasher block_secret(std::string(64, 's'));
  std::string expected = block_secret.Hash("hk_live_key");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (block_secret.Hash("hk_live_key") != expected) ++mismatches;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_NE(block_secret.Hash("hk_live_key"), KeyHasher(std::string(63, 's')).Hash("hk_live_key"));
}

TEST(ApiKeyTest, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(ApiKeyTest, GeneratedSecretIs64HexCharacters) {
  std::string secret = GenerateSecret();
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(secret, GenerateSecret());
}

}  // namespace
}  // namespace hokusai::auth
