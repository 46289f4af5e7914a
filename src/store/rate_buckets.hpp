// Token buckets kept in the shared store, so that every replica draws on the same ones (a key's
// hourly limit is the key's, not each replica's). auth::RateLimiter uses it when configured.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace hokusai::store {

struct BucketState {
  double tokens = 0;     // left after this call
  bool taken = false;    // whether the call took a token (always false for a peek)
};

// Thread-safe.
class RateBucketStore {
 public:
  virtual ~RateBucketStore() = default;
  // Refills bucket `id` (at most `capacity` tokens, `rate_per_ms` tokens per millisecond since its
  // last update; a new bucket is full) and, when `take`, takes one token if one is there. Atomic
  // across replicas.
  virtual Result<BucketState> Update(const std::string& id, int64_t capacity,
                                     double rate_per_ms, int64_t now_ms, bool take) = 0;
  // Forgets buckets not updated since `before_ms` (they have refilled: a fresh bucket is the same).
  virtual Result<void> Prune(int64_t before_ms) = 0;
};

}  // namespace hokusai::store
