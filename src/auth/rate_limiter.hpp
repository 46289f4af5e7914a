// Token buckets by key (a key id, or a client address for brute-force limits). Thread-safe:
// buckets live in mutex-guarded shards.
//
// With a shared bucket store (several replicas on one PostgreSQL), every bucket lives there and
// all replicas draw on it; while the store fails, this replica's own buckets answer (the limit is
// then per replica) and a warning is logged at most once a minute.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "store/rate_buckets.hpp"

namespace hokusai::auth {

struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;
  int64_t remaining = 0;
  int64_t retry_after_seconds = 0;  // when not allowed: until one token is back
  int64_t reset_seconds = 0;        // until the bucket is full again
};

class RateLimiter {
 public:
  // Buckets kept per shard (16 shards); beyond it, full buckets are forgotten.
  static constexpr std::size_t kMaxBucketsPerShard = 16384;
  // Shared buckets idle this long have refilled whatever their period (at most an hour) and are
  // deleted, at most once per interval.
  static constexpr int64_t kSharedIdleMs = 3600 * 1000;
  static constexpr int64_t kSharedPruneIntervalMs = 60 * 1000;

  RateLimiter() = default;
  explicit RateLimiter(store::RateBucketStore* shared) : shared_(shared) {}

  // A bucket holds `capacity` tokens and refills `capacity` tokens per `period_seconds`.
  RateDecision Take(const std::string& id, int64_t capacity, int64_t period_seconds,
                    int64_t now_ms);
  // The state without taking a token (whoami).
  RateDecision Peek(const std::string& id, int64_t capacity, int64_t period_seconds,
                    int64_t now_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ms = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  RateDecision Update(const std::string& id, int64_t capacity, int64_t period_seconds,
                      int64_t now_ms, bool take);
  RateDecision UpdateLocal(const std::string& id, int64_t capacity, double rate, int64_t now_ms,
                           bool take);
  // The shared bucket's answer, or nullopt when the store failed.
  std::optional<RateDecision> UpdateShared(const std::string& id, int64_t capacity, double rate,
                                           int64_t now_ms, bool take);

  store::RateBucketStore* shared_ = nullptr;
  std::atomic<int64_t> next_prune_ms_{0};
  std::atomic<int64_t> next_warning_ms_{0};
  std::array<Shard, 16> shards_;
};

}  // namespace hokusai::auth
