#include "auth/local_authenticator.hpp"

#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "common/util.hpp"

namespace hokusai::auth {
namespace {
constexpr int64_t kTouchIntervalMs = 60'000;
constexpr std::size_t kMaxShardEntries = 10'000;
}  // namespace

LocalAuthenticator::LocalAuthenticator(store::AuthStore& store, const KeyService& keys,
                                       std::string service_id)
    : store_(store), keys_(keys), service_id_(std::move(service_id)) {}

Result<Principal> LocalAuthenticator::Authenticate(std::string_view secret,
                                                   std::string_view client_ip) {
  if (!ParseKey(secret)) return tl::unexpected(UnauthenticatedError());
  int64_t now = NowMillis();
  HK_TRY(principal, Lookup(keys_.Hash(secret), now));
  const store::ApiKeyRecord& key = principal.key();
  if (!key.allowed_ips.empty()) {
    bool allowed = false;
    for (const std::string& cidr : key.allowed_ips) {
      if (AddressInCidr(client_ip, cidr)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) return tl::unexpected(UnauthenticatedError());
  }
  principal.client_ip = std::string(client_ip);
  Touch(key.key_id, now);
  return std::move(principal);
}

Result<Principal> LocalAuthenticator::Lookup(const std::string& hash, int64_t now) {
  // Read before the store is: a revocation committed meanwhile leaves what is kept below
  // under the old epoch, which the next request will not reuse.
  std::optional<uint64_t> epoch = store_.KeyEpoch();
  if (epoch) {
    if (auto kept = Reuse(hash, *epoch, now)) return std::move(*kept);
  }
  auto found = store_.FindKeyByHash(hash, now);
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
  if (epoch) Keep(hash, principal.identity, lookup.secret_valid_until, *epoch, now);
  return principal;
}

std::optional<Principal> LocalAuthenticator::Reuse(const std::string& hash, uint64_t epoch,
                                                   int64_t now) {
  auto& shard = kept_.For(hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(hash);
  if (it == shard.entries.end()) return std::nullopt;
  const Kept& kept = it->second;
  const std::optional<int64_t>& expires_at = kept.identity->key.expires_at;
  bool current = kept.epoch == epoch && now - kept.looked_up_at < kReuseMs &&
                 now >= kept.looked_up_at && (!expires_at || *expires_at > now) &&
                 (!kept.secret_valid_until || *kept.secret_valid_until > now);
  if (!current) {
    shard.entries.erase(it);
    return std::nullopt;
  }
  return Principal(kept.identity);
}

void LocalAuthenticator::Keep(const std::string& hash, std::shared_ptr<const Identity> identity,
                              std::optional<int64_t> secret_valid_until, uint64_t epoch,
                              int64_t now) {
  auto& shard = kept_.For(hash);
  std::lock_guard lock(shard.mutex);
  if (shard.entries.size() >= kMaxShardEntries) shard.entries.clear();
  shard.entries.insert_or_assign(hash,
                                 Kept{std::move(identity), secret_valid_until, epoch, now});
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

Result<void> LocalAuthenticator::Ping() {
  auto count = store_.CountKeys();
  if (!count) return tl::unexpected(KeyStoreUnavailable());
  return {};
}

}  // namespace hokusai::auth
