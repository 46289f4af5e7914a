#include "auth/api_key.hpp"

// SHA256_Init/Update/Final: see KeyHasher::State.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdlib>

namespace hokusai::auth {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// CRC-32 (IEEE), table-driven: it runs on every authenticated request.
constexpr std::array<uint32_t, 256> kCrcTable = [] {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < table.size(); ++i) {
    uint32_t crc = i;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    table[i] = crc;
  }
  return table;
}();

uint32_t Crc32(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (char c : data) crc = (crc >> 8) ^ kCrcTable[(crc ^ static_cast<unsigned char>(c)) & 0xffu];
  return ~crc;
}

std::string Checksum(std::string_view body) {
  uint32_t crc = Crc32(body);
  std::string out(kKeyChecksumChars, '0');
  for (std::size_t i = kKeyChecksumChars; i-- > 0;) {
    out[i] = kAlphabet[crc % 62];
    crc /= 62;
  }
  return out;
}

std::string Hex(const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string_view EnvironmentName(KeyEnvironment env) {
  switch (env) {
    case KeyEnvironment::kLive: return "live";
    case KeyEnvironment::kTest: return "test";
    case KeyEnvironment::kDev: return "dev";
  }
  return "live";
}

std::optional<KeyEnvironment> ParseEnvironment(std::string_view name) {
  if (name == "live") return KeyEnvironment::kLive;
  if (name == "test") return KeyEnvironment::kTest;
  if (name == "dev") return KeyEnvironment::kDev;
  return std::nullopt;
}

std::string GenerateKey(KeyEnvironment env) {
  std::string prefix = "hk_" + std::string(EnvironmentName(env)) + "_";
  std::string random;
  random.reserve(kKeyRandomChars);
  // Rejection sampling keeps every character uniform over the 62-letter alphabet.
  while (random.size() < kKeyRandomChars) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // no entropy: cannot continue
    for (unsigned char b : bytes) {
      if (b < 248 && random.size() < kKeyRandomChars) random.push_back(kAlphabet[b % 62]);
    }
  }
  std::string body = prefix + random;
  return body + Checksum(body);
}

std::optional<ParsedKey> ParseKey(std::string_view key) {
  if (key.substr(0, 3) != "hk_") return std::nullopt;
  std::size_t second = key.find('_', 3);
  if (second == std::string_view::npos) return std::nullopt;
  auto env = ParseEnvironment(key.substr(3, second - 3));
  if (!env) return std::nullopt;
  std::string_view rest = key.substr(second + 1);
  if (rest.size() != kKeyRandomChars + kKeyChecksumChars) return std::nullopt;
  for (char c : rest) {
    if (!IsBase62(c)) return std::nullopt;
  }
  std::string_view body = key.substr(0, second + 1 + kKeyRandomChars);
  std::string expected = Checksum(body);
  if (!ConstantTimeEquals(expected, rest.substr(kKeyRandomChars))) return std::nullopt;
  return ParsedKey{*env, rest.substr(0, kKeyRandomChars)};
}

std::string DisplayPrefix(std::string_view key) {
  std::size_t second = key.find('_', 3);
  if (second == std::string_view::npos) return "hk_?";
  return std::string(key.substr(0, std::min(key.size(), second + 1 + kKeyDisplayChars)));
}

std::string KeyHash(std::string_view secret, std::string_view key) {
  return KeyHasher(secret).Hash(key);
}

namespace {

constexpr std::size_t kShaBlockBytes = 64;

// A SHA-256 state that has absorbed one block: the secret (zero-padded, or its digest when it
// is longer than a block) XORed with `pad` (RFC 2104).
SHA256_CTX PaddedState(const std::array<unsigned char, kShaBlockBytes>& block, unsigned char pad) {
  std::array<unsigned char, kShaBlockBytes> padded{};
  for (std::size_t i = 0; i < block.size(); ++i) padded[i] = block[i] ^ pad;
  SHA256_CTX state;
  SHA256_Init(&state);
  SHA256_Update(&state, padded.data(), padded.size());
  OPENSSL_cleanse(padded.data(), padded.size());
  return state;
}

}  // namespace

// The low-level SHA-256 API (deprecated, not removed, in OpenSSL 3) because its state is a plain
// struct: a presented key copies the two prepared states by value. The EVP equivalent,
// EVP_MD_CTX_copy_ex, allocates and frees a provider context per copy in OpenSSL 3.0, which cost
// more than the two compressions a key needs.
struct KeyHasher::State {
  SHA256_CTX inner;
  SHA256_CTX outer;
  ~State() { OPENSSL_cleanse(this, sizeof(*this)); }
};

KeyHasher::KeyHasher(std::string_view secret) : state_(std::make_unique<State>()) {
  std::array<unsigned char, kShaBlockBytes> block{};
  if (secret.size() > block.size()) {
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), block.data());
  } else {
    std::copy(secret.begin(), secret.end(), block.begin());
  }
  state_->inner = PaddedState(block, 0x36);
  state_->outer = PaddedState(block, 0x5c);
  OPENSSL_cleanse(block.data(), block.size());
}

KeyHasher::~KeyHasher() = default;

KeyDigest KeyHasher::Digest(std::string_view key) const {
  KeyDigest inner;
  KeyDigest digest;
  SHA256_CTX scratch = state_->inner;
  SHA256_Update(&scratch, key.data(), key.size());
  SHA256_Final(inner.data(), &scratch);
  scratch = state_->outer;
  SHA256_Update(&scratch, inner.data(), inner.size());
  SHA256_Final(digest.data(), &scratch);
  return digest;
}

std::string KeyHasher::Hash(std::string_view key) const { return DigestHex(Digest(key)); }

std::string DigestHex(const KeyDigest& digest) { return Hex(digest.data(), digest.size()); }

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return Hex(digest, size);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string GenerateSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  return Hex(bytes, sizeof(bytes));
}

}  // namespace hokusai::auth
