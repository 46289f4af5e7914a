// Creating, listing, rotating and revoking API keys: the one implementation behind the key admin
// API, the offline `hokusai-registry keys` commands and the first-start bootstrap. Only keyed
// hashes are stored; a secret exists in memory just long enough to be shown once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/api_key.hpp"
#include "auth/principal.hpp"
#include "common/error.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

class KeyHasher;

struct KeyDefaults {
  int64_t rate_limit_per_hour = 100000;
};

struct NewKeyRequest {
  std::string user_id;  // empty: the actor's own user (offline: required)
  std::string email;    // for a user created by this request
  bool admin_user = false;  // create the user as is_admin (offline and bootstrap only)
  std::string name;
  std::vector<std::string> scopes;  // scope names (legacy names accepted); or
  std::string template_name;        // "reader", "developer", "admin"; neither: "developer"
  std::string environment = "live";
  std::optional<int64_t> expires_at;  // ms since the epoch
  std::vector<std::string> allowed_ips;  // CIDRs or single addresses
  std::optional<int64_t> rate_limit_per_hour;
};

struct NewKey {
  std::string secret;  // shown once
  store::ApiKeyRecord record;
};

class KeyService {
 public:
  KeyService(store::AuthStore& store, std::string server_secret, KeyDefaults defaults);

  // `actor` null: an operator acting offline (anything goes). Otherwise a key may create keys
  // for its own user, or for anyone when it holds `admin`; never with scopes beyond its own, a
  // later expiry than its own or a higher rate limit. A missing user is created (admin actors
  // and operators only). INVALID_PARAMETER_VALUE names each bad field; PERMISSION_DENIED says
  // what the actor lacks.
  Result<NewKey> Create(const NewKeyRequest& request, const Principal* actor);
  // A new secret with the same settings; the old one keeps working for `overlap_seconds`
  // (0..7 days).
  Result<NewKey> Rotate(const std::string& key_id, int64_t overlap_seconds,
                        const Principal* actor);
  Result<store::ApiKeyRecord> Revoke(const std::string& key_id, const Principal* actor);
  Result<store::ApiKeyRecord> Get(const std::string& key_id, const Principal* actor);
  // `user_id` empty: the actor's own keys (an admin: every key; offline: every key).
  Result<std::vector<store::ApiKeyRecord>> List(const std::string& user_id,
                                                const Principal* actor);

  // On a store with no keys at all: creates user "admin" (is_admin) and an admin key, and
  // returns it. Otherwise nullopt.
  Result<std::optional<NewKey>> Bootstrap();

  // HMAC-SHA256 of a presented key with the server secret: hex (as stored), and bytes.
  std::string Hash(std::string_view key) const;
  KeyDigest Digest(std::string_view key) const;

 private:
  Result<store::ApiKeyRecord> Owned(const std::string& key_id, const Principal* actor);

  store::AuthStore& store_;
  std::shared_ptr<const KeyHasher> hasher_;  // the server secret lives only in its states
  KeyDefaults defaults_;
};

// Reads the server secret from `path`, or creates it there (mode 0600) when the file does not
// exist. Refuses a file readable by group or others.
Result<std::string> LoadOrCreateServerSecret(const std::string& path);

// Whether `ip` lies in `cidr` ("10.0.0.0/8", "2001:db8::/32", or a single address).
bool AddressInCidr(std::string_view ip, std::string_view cidr);
// Whether `cidr` is a well-formed CIDR or address.
bool ValidCidr(std::string_view cidr);

}  // namespace hokusai::auth
