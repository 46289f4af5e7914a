#include "auth/local_authenticator.hpp"

#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "common/util.hpp"

namespace hokusai::auth {
namespace {
constexpr int64_t kTouchIntervalMs = 60'000;
constexpr std::size_t kMaxTouchEntries = 100'000;
}  // namespace

LocalAuthenticator::LocalAuthenticator(store::AuthStore& store, const KeyService& keys,
                                       std::string service_id)
    : store_(store), keys_(keys), service_id_(std::move(service_id)) {}

Result<Principal> LocalAuthenticator::Authenticate(std::string_view secret,
                                                   std::string_view client_ip) {
  if (!ParseKey(secret)) return tl::unexpected(UnauthenticatedError());
  int64_t now = NowMillis();
  auto found = store_.FindKeyByHash(keys_.Hash(secret), now);
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
  auto scopes = ParseScopes(key.scopes);
  if (!scopes) {
    spdlog::error("key {} has unreadable scopes: {}", key.key_id, scopes.error().message);
    return tl::unexpected(UnauthenticatedError());
  }
  Principal principal;
  principal.user = std::move(lookup.user);
  principal.key = key;
  principal.scopes = std::move(*scopes);
  principal.client_ip = std::string(client_ip);
  principal.service_id = service_id_;
  Touch(key.key_id, now);
  return principal;
}

void LocalAuthenticator::Touch(const std::string& key_id, int64_t now) {
  {
    std::lock_guard lock(touch_mutex_);
    auto it = last_touch_.find(key_id);
    if (it != last_touch_.end() && now - it->second < kTouchIntervalMs) return;
    if (last_touch_.size() >= kMaxTouchEntries) last_touch_.clear();
    last_touch_[key_id] = now;
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
