#include "auth/local_authenticator.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "auth/api_key.hpp"
#include "common/util.hpp"

namespace hokusai::auth {
namespace {
constexpr int64_t kTouchIntervalMs = 60'000;
constexpr std::size_t kMaxShardEntries = 10'000;
// A kept-lookup table starts this small and doubles up to kMaxSlots; at kMaxSlots / 2 entries
// it is emptied.
constexpr std::size_t kFirstSlots = 64;
constexpr std::size_t kMaxSlots = 16'384;
}  // namespace

LocalAuthenticator::LocalAuthenticator(store::AuthStore& store, const KeyService& keys,
                                       std::string service_id)
    : store_(store), keys_(keys), service_id_(std::move(service_id)) {}

Result<Principal> LocalAuthenticator::Authenticate(std::string_view secret,
                                                   std::string_view client_ip) {
  // Longer than any key: refused before it is hashed.
  if (secret.size() > kMaxKeyChars) return tl::unexpected(UnauthenticatedError());
  int64_t now = NowMillis();
  bool touch = false;
  bool checks_ip = false;
  HK_TRY(principal, Lookup(secret, keys_.Digest(secret), now, touch, checks_ip));
  if (checks_ip) {
    bool allowed = false;
    for (const std::string& cidr : principal.key().allowed_ips) {
      if (AddressInCidr(client_ip, cidr)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) return tl::unexpected(UnauthenticatedError());
  }
  principal.client_ip = std::string(client_ip);
  if (touch) Touch(principal.key().key_id, now);
  return std::move(principal);
}

Result<Principal> LocalAuthenticator::Lookup(std::string_view secret, const KeyDigest& digest,
                                             int64_t now, bool& touch, bool& checks_ip) {
  // Read before the store is: a revocation committed meanwhile leaves what is kept below
  // under the old epoch, which the next request will not reuse.
  std::optional<uint64_t> epoch = store_.KeyEpoch();
  if (epoch) {
    if (auto kept = Reuse(digest, *epoch, now, touch, checks_ip)) return std::move(*kept);
  }
  if (!ParseKey(secret)) return tl::unexpected(UnauthenticatedError());
  auto found = store_.FindKeyByHash(DigestHex(digest), now);
  if (!found) {
    if (found.error().code == ErrorCode::kResourceDoesNotExist) {
      return tl::unexpected(UnauthenticatedError());
    }
    spdlog::error("key lookup failed: {}", found.error().message);
    return tl::unexpected(KeyStoreUnavailable());
  }
  store::KeyLookup& lookup = *found;
  const store::ApiKeyRecord& key = lookup.key;
  if (key.revoked_at || (key.expires_at && *key.expires_at <= now)) {
    return tl::unexpected(UnauthenticatedError());
  }
  auto scopes = ParseScopes(key.scopes);
  if (!scopes) {
    spdlog::error("key {} has unreadable scopes: {}", key.key_id, scopes.error().message);
    return tl::unexpected(UnauthenticatedError());
  }
  auto identity = std::make_shared<Identity>();
  identity->user = std::move(lookup.user);
  identity->key = std::move(lookup.key);
  identity->scopes = std::move(*scopes);
  identity->service_id = service_id_;
  Principal principal(std::move(identity));
  touch = true;  // Touch() itself records a use at most once a minute
  checks_ip = !principal.key().allowed_ips.empty();
  if (epoch) Keep(digest, principal.identity, lookup.secret_valid_until, *epoch, now);
  return principal;
}

std::optional<Principal> LocalAuthenticator::Reuse(const KeyDigest& digest, uint64_t epoch,
                                                   int64_t now, bool& touch, bool& checks_ip) {
  auto& shard = KeptShard(digest);
  std::lock_guard lock(shard.mutex);
  Kept* kept = shard.entries.Find(digest);
  if (kept == nullptr || kept->identity == nullptr) return std::nullopt;
  bool current = kept->epoch == epoch && now - kept->looked_up_at < kReuseMs &&
                 now >= kept->looked_up_at && (!kept->valid_until || *kept->valid_until > now);
  if (!current) {
    kept->identity.reset();  // the slot stays, empty, for the next Keep of this hash
    return std::nullopt;
  }
  checks_ip = kept->checks_ip;
  if (checks_ip) {
    touch = true;  // Touch() decides, after the allow-list has let the request in
  } else if (now - kept->touched_at >= kTouchIntervalMs || now < kept->touched_at) {
    kept->touched_at = now;
    touch = true;
  }
  return Principal(kept->identity);
}

void LocalAuthenticator::Keep(const KeyDigest& digest, std::shared_ptr<const Identity> identity,
                              std::optional<int64_t> secret_valid_until, uint64_t epoch,
                              int64_t now) {
  std::optional<int64_t> valid_until = identity->key.expires_at;
  if (secret_valid_until && (!valid_until || *secret_valid_until < *valid_until)) {
    valid_until = secret_valid_until;
  }
  bool checks_ip = !identity->key.allowed_ips.empty();
  auto& shard = KeptShard(digest);
  std::lock_guard lock(shard.mutex);
  shard.entries.Put(digest) = Kept{std::move(identity), valid_until, epoch, now, now, checks_ip};
}

void LocalAuthenticator::Touch(const std::string& key_id, int64_t now) {
  {
    auto& shard = last_touch_.For(key_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(key_id);
    if (it != shard.entries.end() && now - it->second < kTouchIntervalMs) return;
    if (shard.entries.size() >= kMaxShardEntries) shard.entries.clear();
    shard.entries[key_id] = now;
  }
  auto touched = store_.TouchKey(key_id, now);
  if (!touched) spdlog::warn("could not record last use of key {}: {}", key_id, touched.error().message);
}

// Bytes of an HMAC-SHA256 are uniformly spread already: any eight of them will do (the shard
// was chosen by the first).
std::size_t LocalAuthenticator::KeptTable::Home(const KeyDigest& digest) const {
  uint64_t bits = 0;
  std::memcpy(&bits, digest.data() + 8, sizeof bits);
  return static_cast<std::size_t>(bits) & (slots_.size() - 1);
}

LocalAuthenticator::Kept* LocalAuthenticator::KeptTable::Find(const KeyDigest& digest) {
  if (slots_.empty()) return nullptr;
  for (std::size_t i = Home(digest);; i = (i + 1) & (slots_.size() - 1)) {
    Slot& slot = slots_[i];
    if (!slot.used) return nullptr;
    if (slot.digest == digest) return &slot.kept;
  }
}

LocalAuthenticator::Kept& LocalAuthenticator::KeptTable::Put(const KeyDigest& digest) {
  if (Kept* kept = Find(digest)) return *kept;
  if (slots_.empty() || used_ + 1 > slots_.size() / 2) Grow();
  for (std::size_t i = Home(digest);; i = (i + 1) & (slots_.size() - 1)) {
    Slot& slot = slots_[i];
    if (slot.used) continue;
    slot.used = true;
    slot.digest = digest;
    ++used_;
    return slot.kept;
  }
}

void LocalAuthenticator::KeptTable::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.clear();
  used_ = 0;
  if (old.size() >= kMaxSlots) {  // at its largest and half full: start again
    slots_.resize(kFirstSlots);
    return;
  }
  slots_.resize(old.empty() ? kFirstSlots : old.size() * 2);
  for (Slot& slot : old) {
    if (!slot.used) continue;
    Put(slot.digest) = std::move(slot.kept);
  }
}

Result<void> LocalAuthenticator::Ping() {
  auto count = store_.CountKeys();
  if (!count) return tl::unexpected(KeyStoreUnavailable());
  return {};
}

}  // namespace hokusai::auth
