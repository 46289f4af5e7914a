// Token buckets by key (a key id, or a client address for brute-force limits). Thread-safe:
// buckets live in mutex-guarded shards.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

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

  std::array<Shard, 16> shards_;
};

}  // namespace hokusai::auth
