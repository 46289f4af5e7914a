// Authenticates keys against an external auth service speaking the /api/v1/keys/validate
// contract (spec §1), for deployments whose keys live in the platform's own service
// (`--auth-service-url`). Keys are never stored here: a positive answer is cached for a few
// seconds under a hash of the key, and every failure to get an answer is a 503, never a pass
// (security principle 11).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/authenticator.hpp"
#include "common/util.hpp"

namespace hokusai::auth {

// Most principals held in the cache; when full (after dropping expired ones) new answers are
// simply not cached.
inline constexpr std::size_t kMaxExternalAuthCacheEntries = 10'000;
// Seconds a client is told to wait when the service cannot answer.
inline constexpr int kAuthServiceRetryAfterSeconds = 5;
// Seconds a client is told to wait after a 429 without a usable Retry-After.
inline constexpr int kAuthServiceDefaultLimitRetryAfterSeconds = 60;
// The per-key request limit used when the service reports none (it enforces its own with 429).
inline constexpr int64_t kExternalDefaultRateLimitPerHour = 100'000;

struct ExternalAuthConfig {
  std::string url;         // http://host:port/api/v1/keys/validate
  std::string service_id;  // sent as `service_id`; empty: not sent
  std::chrono::milliseconds timeout{5000};  // for the whole exchange with the service
  // How long a positive answer is reused (never beyond the key's expiry). 0: no cache. This is
  // also how long a key revoked at the service may keep working here.
  int cache_seconds = 10;
  // Milliseconds since the epoch; replaceable in tests.
  std::function<int64_t()> now_ms = NowMillis;
};

class ExternalAuthenticator final : public Authenticator {
 public:
  // Checks the configuration: an http:// URL (https is refused in this build), a positive
  // timeout, cache_seconds >= 0. INVALID_PARAMETER_VALUE naming the bad setting; start-up
  // exits on it.
  static Result<std::unique_ptr<ExternalAuthenticator>> Create(ExternalAuthConfig config);

  // Malformed keys are refused without a call. Otherwise the cache, else one POST carrying the
  // key both as `Authorization: Bearer` and as `api_key` in the JSON body (either generation
  // of the service reads one of them). Service answers map to: 200 → the principal
  // (PERMISSION_DENIED when it reports an insufficient balance); 401/403 → UNAUTHENTICATED;
  // 429 → REQUEST_LIMIT_EXCEEDED with the service's Retry-After; anything else, a timeout, a
  // connection error or an unreadable 200 → TEMPORARILY_UNAVAILABLE with Retry-After. Only
  // 200s with sufficient balance are cached. Thread-safe.
  Result<Principal> Authenticate(std::string_view secret, std::string_view client_ip) override;

  // GET on the service URL without credentials: any HTTP answer means reachable (a validate
  // endpoint typically answers 405), so /ready spends none of the service's brute-force budget.
  Result<void> Ping() override;

  bool IsLocal() const override { return false; }

 private:
  struct CacheEntry {
    Principal principal;
    int64_t expires_ms = 0;
  };

  explicit ExternalAuthenticator(ExternalAuthConfig config, std::string authority);

  Result<Principal> CallService(std::string_view secret, std::string_view client_ip);
  std::optional<Principal> CacheLookup(const std::string& cache_key, int64_t now);
  void CacheStore(const std::string& cache_key, const Principal& principal, int64_t now);

  const ExternalAuthConfig config_;
  const std::string authority_;  // host:port of the service, for logs and /ready
  std::mutex mutex_;
  std::unordered_map<std::string, CacheEntry> cache_;  // guarded by mutex_
};

}  // namespace hokusai::auth
