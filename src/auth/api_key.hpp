// API key format and hashing. A key is `hk_<env>_<40 base62 random><6 base62 checksum>`:
// the prefix says what it is (secret scanners match it), the checksum lets us reject typos and
// random strings without a store lookup, and only HMAC-SHA256(server secret, key) is stored.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace hokusai::auth {

enum class KeyEnvironment { kLive, kTest, kDev };

std::string_view EnvironmentName(KeyEnvironment env);
std::optional<KeyEnvironment> ParseEnvironment(std::string_view name);

inline constexpr std::size_t kKeyRandomChars = 40;
inline constexpr std::size_t kKeyChecksumChars = 6;
// The longest key: "hk_" + the longest environment name ("live", "test") + "_" + random + checksum.
inline constexpr std::size_t kMaxKeyChars = 3 + 4 + 1 + kKeyRandomChars + kKeyChecksumChars;
// Characters of the random part shown in listings ("hk_live_" + these).
inline constexpr std::size_t kKeyDisplayChars = 8;

struct ParsedKey {
  KeyEnvironment environment;
  std::string_view random;  // the 40 random characters
};

// A fresh key from the OS CSPRNG.
std::string GenerateKey(KeyEnvironment env);

// Checks prefix, alphabet, length and checksum. nullopt for anything that is not a well-formed
// key; the caller answers every such case with the same 401 as an unknown key.
std::optional<ParsedKey> ParseKey(std::string_view key);

// "hk_live_AbCdEfGh": safe to show and log.
std::string DisplayPrefix(std::string_view key);

// Lowercase hex HMAC-SHA256(secret, key): the stored lookup value.
std::string KeyHash(std::string_view secret, std::string_view key);

// HMAC-SHA256(secret, key) as bytes.
using KeyDigest = std::array<unsigned char, 32>;

// Lowercase hex of a digest: what the store keeps.
std::string DigestHex(const KeyDigest& digest);

// KeyHash under one secret, with the secret's inner and outer SHA-256 states computed once:
// a presented key then costs two SHA-256 compressions and no allocation (Digest), instead of
// HMAC()'s per-call set-up (~1.6 µs with OpenSSL 3). Safe to call from many threads at once.
class KeyHasher {
 public:
  explicit KeyHasher(std::string_view secret);
  ~KeyHasher();
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  KeyDigest Digest(std::string_view key) const;
  std::string Hash(std::string_view key) const;  // DigestHex(Digest(key))

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Lowercase hex SHA-256 of `data` (cache keys, request fingerprints).
std::string Sha256Hex(std::string_view data);

// Constant-time equality for equal-length secrets (false when lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// 32 random bytes as hex, for a new server secret.
std::string GenerateSecret();

}  // namespace hokusai::auth
