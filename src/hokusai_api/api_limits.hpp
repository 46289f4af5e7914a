// Named limits of the Hokusai API (security principle 8). Kept apart from common/limits.hpp
// only because that file belongs to another module; they may move there.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hokusai::hokusai_api::api_limits {

// Names, user ids and service ids, in code points.
inline constexpr std::size_t kMaxNameLength = 256;
inline constexpr std::size_t kMaxUserIdLength = 256;
inline constexpr std::size_t kMaxServiceIdLength = 256;
// Key ids are 32 hex characters; anything longer is not worth a store lookup.
inline constexpr std::size_t kMaxKeyIdLength = 64;
// A presented key longer than this is answered like any malformed key (one 401).
inline constexpr std::size_t kMaxApiKeyLength = 256;

// Keys.
inline constexpr std::size_t kMaxScopes = 32;
inline constexpr std::size_t kMaxScopeNameLength = 300;  // "experiment:write:" + 256-char pattern
inline constexpr std::size_t kMaxTemplateNameLength = 64;
inline constexpr std::size_t kMaxAllowedIps = 64;
inline constexpr std::size_t kMaxCidrLength = 64;
inline constexpr std::size_t kMaxClientIpLength = 64;
inline constexpr int64_t kMaxKeyLifetimeDays = 3650;
inline constexpr int64_t kMaxRateLimitPerHour = 1'000'000'000;
inline constexpr int64_t kMaxRotationOverlapSeconds = 7 * 24 * 3600;
// Per-key rate limits are per hour.
inline constexpr int64_t kRateLimitPeriodSeconds = 3600;

// Audit log reads.
inline constexpr int64_t kDefaultAuditResults = 100;
inline constexpr int64_t kMaxAuditResults = 1000;

// Key validation brute-force guard: how long a client that exhausted its failure budget keeps
// being checked before each attempt, and how many such clients are remembered.
inline constexpr int64_t kFailureLockoutSeconds = 60;
inline constexpr std::size_t kMaxThrottledClients = 65536;

}  // namespace hokusai::hokusai_api::api_limits
