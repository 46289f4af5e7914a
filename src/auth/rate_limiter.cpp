#include "auth/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include <spdlog/spdlog.h>

namespace hokusai::auth {

RateDecision RateLimiter::Take(const std::string& id, int64_t capacity, int64_t period_seconds,
                               int64_t now_ms) {
  return Update(id, capacity, period_seconds, now_ms, true);
}

RateDecision RateLimiter::Peek(const std::string& id, int64_t capacity, int64_t period_seconds,
                               int64_t now_ms) {
  return Update(id, capacity, period_seconds, now_ms, false);
}

namespace {

constexpr int64_t kWarningIntervalMs = 60 * 1000;

// The decision for a bucket left with `tokens` (of `capacity`, refilling `rate` per ms).
RateDecision Decide(double tokens, int64_t capacity, double rate, bool allowed) {
  RateDecision decision;
  decision.limit = capacity;
  decision.allowed = allowed;
  decision.remaining = static_cast<int64_t>(std::floor(tokens));
  if (tokens < 1.0) {
    decision.retry_after_seconds =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - tokens) / rate / 1000.0)));
  }
  decision.reset_seconds =
      static_cast<int64_t>(std::ceil((static_cast<double>(capacity) - tokens) / rate / 1000.0));
  return decision;
}

}  // namespace

RateDecision RateLimiter::Update(const std::string& id, int64_t capacity, int64_t period_seconds,
                                 int64_t now_ms, bool take) {
  capacity = std::max<int64_t>(capacity, 1);
  period_seconds = std::max<int64_t>(period_seconds, 1);
  // Tokens per millisecond.
  double rate = static_cast<double>(capacity) / (static_cast<double>(period_seconds) * 1000.0);
  if (shared_ != nullptr) {
    if (auto decision = UpdateShared(id, capacity, rate, now_ms, take)) return *decision;
  }
  return UpdateLocal(id, capacity, rate, now_ms, take);
}

std::optional<RateDecision> RateLimiter::UpdateShared(const std::string& id, int64_t capacity,
                                                      double rate, int64_t now_ms, bool take) {
  auto state = shared_->Update(id, capacity, rate, now_ms, take);
  if (!state) {
    int64_t due = next_warning_ms_.load(std::memory_order_relaxed);
    if (now_ms >= due && next_warning_ms_.compare_exchange_strong(due, now_ms + kWarningIntervalMs)) {
      spdlog::warn("shared rate limits unavailable ({}); this replica counts alone until the "
                   "store answers",
                   state.error().message);
    }
    return std::nullopt;
  }
  int64_t prune_due = next_prune_ms_.load(std::memory_order_relaxed);
  if (now_ms >= prune_due &&
      next_prune_ms_.compare_exchange_strong(prune_due, now_ms + kSharedPruneIntervalMs)) {
    (void)shared_->Prune(now_ms - kSharedIdleMs);  // best effort: the next prune retries
  }
  return Decide(state->tokens, capacity, rate, !take || state->taken);
}

RateDecision RateLimiter::UpdateLocal(const std::string& id, int64_t capacity, double rate,
                                      int64_t now_ms, bool take) {
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
  bool allowed = true;
  if (take) {
    if (bucket.tokens >= 1.0) {
      bucket.tokens -= 1.0;
    } else {
      allowed = false;
    }
  }
  return Decide(bucket.tokens, capacity, rate, allowed);
}

}  // namespace hokusai::auth
