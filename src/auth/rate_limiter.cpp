#include "auth/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace hokusai::auth {

RateDecision RateLimiter::Take(const std::string& id, int64_t capacity, int64_t period_seconds,
                               int64_t now_ms) {
  return Update(id, capacity, period_seconds, now_ms, true);
}

RateDecision RateLimiter::Peek(const std::string& id, int64_t capacity, int64_t period_seconds,
                               int64_t now_ms) {
  return Update(id, capacity, period_seconds, now_ms, false);
}

RateDecision RateLimiter::Update(const std::string& id, int64_t capacity, int64_t period_seconds,
                                 int64_t now_ms, bool take) {
  capacity = std::max<int64_t>(capacity, 1);
  period_seconds = std::max<int64_t>(period_seconds, 1);
  // Tokens per millisecond.
  double rate = static_cast<double>(capacity) / (static_cast<double>(period_seconds) * 1000.0);
  Shard& shard = shards_[std::hash<std::string>{}(id) % shards_.size()];
  std::lock_guard lock(shard.mutex);
  if (shard.buckets.size() >= kMaxBucketsPerShard) {
    // Bound memory (principle 8): forget buckets that have refilled completely; they hold no
    // state a fresh bucket would not have.
    std::erase_if(shard.buckets, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return b.tokens + static_cast<double>(now_ms - b.updated_ms) * rate >=
             static_cast<double>(capacity);
    });
    if (shard.buckets.size() >= kMaxBucketsPerShard) shard.buckets.clear();
  }
  auto [it, inserted] = shard.buckets.try_emplace(id);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = static_cast<double>(capacity);
    bucket.updated_ms = now_ms;
  } else if (now_ms > bucket.updated_ms) {
    bucket.tokens = std::min(static_cast<double>(capacity),
                             bucket.tokens + static_cast<double>(now_ms - bucket.updated_ms) * rate);
    bucket.updated_ms = now_ms;
  }
  // A lowered capacity (the key's limit changed) applies at once.
  bucket.tokens = std::min(bucket.tokens, static_cast<double>(capacity));

  RateDecision decision;
  decision.limit = capacity;
  if (take) {
    if (bucket.tokens >= 1.0) {
      bucket.tokens -= 1.0;
    } else {
      decision.allowed = false;
    }
  }
  decision.remaining = static_cast<int64_t>(std::floor(bucket.tokens));
  if (bucket.tokens < 1.0) {
    decision.retry_after_seconds =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / rate / 1000.0)));
  }
  decision.reset_seconds = static_cast<int64_t>(
      std::ceil((static_cast<double>(capacity) - bucket.tokens) / rate / 1000.0));
  return decision;
}

}  // namespace hokusai::auth
