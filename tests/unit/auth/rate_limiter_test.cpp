// Token buckets: a burst of `capacity`, then refusal with a retry time, refill with simulated
// time, Peek without taking, independent ids, lowered capacities and concurrent takers.
#include "auth/rate_limiter.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hokusai::auth {
namespace {

// An arbitrary start time (ms since the epoch).
constexpr int64_t kT0 = 1'700'000'000'000;

TEST(RateLimiterTest, AllowsCapacityThenRefusesWithRetryAfter) {
  RateLimiter limiter;
  for (int64_t i = 0; i < 3; ++i) {
    RateDecision decision = limiter.Take("k", 3, 60, kT0);
    EXPECT_TRUE(decision.allowed) << i;
    EXPECT_EQ(decision.limit, 3);
    EXPECT_EQ(decision.remaining, 2 - i);
  }
  RateDecision refused = limiter.Take("k", 3, 60, kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 3);
  EXPECT_EQ(refused.remaining, 0);
  // One token per 20 s.
  EXPECT_GE(refused.retry_after_seconds, 1);
  EXPECT_GE(refused.retry_after_seconds, 20);
  EXPECT_LE(refused.retry_after_seconds, 21);
  EXPECT_GE(refused.reset_seconds, 60);
  EXPECT_LE(refused.reset_seconds, 61);
}

TEST(RateLimiterTest, RetryAfterIsAtLeastOneSecondForFastBuckets) {
  RateLimiter limiter;
  // 1000 tokens per second: a token is back within a millisecond.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Take("fast", 1000, 1, kT0).allowed);
  RateDecision refused = limiter.Take("fast", 1000, 1, kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1);
}

TEST(RateLimiterTest, RefillsWithTime) {
  RateLimiter limiter;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Take("k", 3, 60, kT0).allowed);
  EXPECT_FALSE(limiter.Take("k", 3, 60, kT0).allowed);
  EXPECT_FALSE(limiter.Take("k", 3, 60, kT0 + 19'000).allowed);
  EXPECT_TRUE(limiter.Take("k", 3, 60, kT0 + 21'000).allowed);
  EXPECT_FALSE(limiter.Take("k", 3, 60, kT0 + 21'000).allowed);
  // A long pause refills to capacity and no further.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Take("k", 3, 60, kT0 + 3'600'000).allowed) << i;
  }
  EXPECT_FALSE(limiter.Take("k", 3, 60, kT0 + 3'600'000).allowed);
}

TEST(RateLimiterTest, ClockGoingBackwardsNeitherRefillsNorBreaks) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.Take("k", 1, 60, kT0).allowed);
  EXPECT_FALSE(limiter.Take("k", 1, 60, kT0 - 120'000).allowed);
  EXPECT_FALSE(limiter.Take("k", 1, 60, kT0 + 30'000).allowed);
  EXPECT_TRUE(limiter.Take("k", 1, 60, kT0 + 61'000).allowed);
}

TEST(RateLimiterTest, PeekDoesNotTakeATokenAndAlwaysAllows) {
  RateLimiter limiter;
  for (int i = 0; i < 5; ++i) {
    RateDecision peek = limiter.Peek("k", 2, 60, kT0);
    EXPECT_TRUE(peek.allowed);
    EXPECT_EQ(peek.remaining, 2);
    EXPECT_EQ(peek.limit, 2);
  }
  ASSERT_TRUE(limiter.Take("k", 2, 60, kT0).allowed);
  EXPECT_EQ(limiter.Peek("k", 2, 60, kT0).remaining, 1);
  ASSERT_TRUE(limiter.Take("k", 2, 60, kT0).allowed);
  RateDecision empty = limiter.Peek("k", 2, 60, kT0);
  EXPECT_EQ(empty.remaining, 0);
  EXPECT_GE(empty.retry_after_seconds, 1);
  EXPECT_FALSE(limiter.Take("k", 2, 60, kT0).allowed);
}

TEST(RateLimiterTest, IdsHaveIndependentBuckets) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.Take("a", 1, 3600, kT0).allowed);
  EXPECT_FALSE(limiter.Take("a", 1, 3600, kT0).allowed);
  EXPECT_TRUE(limiter.Take("b", 1, 3600, kT0).allowed);
  EXPECT_FALSE(limiter.Take("b", 1, 3600, kT0).allowed);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(limiter.Take("client-" + std::to_string(i), 1, 3600, kT0).allowed) << i;
  }
}

TEST(RateLimiterTest, LoweredCapacityAppliesAtOnce) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.Take("k", 100, 3600, kT0).allowed);
  EXPECT_EQ(limiter.Peek("k", 100, 3600, kT0).remaining, 99);
  // The key's limit drops to 2: at most 2 more requests.
  RateDecision first = limiter.Take("k", 2, 3600, kT0);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.limit, 2);
  EXPECT_EQ(first.remaining, 1);
  EXPECT_TRUE(limiter.Take("k", 2, 3600, kT0).allowed);
  EXPECT_FALSE(limiter.Take("k", 2, 3600, kT0).allowed);
}

TEST(RateLimiterTest, NonPositiveCapacityAndPeriodCountAsOne) {
  RateLimiter limiter;
  RateDecision decision = limiter.Take("k", 0, 0, kT0);
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.limit, 1);
  EXPECT_FALSE(limiter.Take("k", 0, 0, kT0).allowed);
  EXPECT_TRUE(limiter.Take("k", 0, 0, kT0 + 1'001).allowed);
}

TEST(RateLimiterTest, ConcurrentTakersNeverExceedCapacity) {
  RateLimiter limiter;
  constexpr int kThreads = 8;
  constexpr int kTakesPerThread = 200;
  constexpr int64_t kCapacity = 500;
  std::atomic<int64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kTakesPerThread; ++i) {
        if (limiter.Take("shared", kCapacity, 3600, kT0).allowed) ++allowed;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), kCapacity);
}

}  // namespace
}  // namespace hokusai::auth
