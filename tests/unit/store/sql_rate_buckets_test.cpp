// Rate buckets in the store, as replicas share them: the SQL bucket gives the same decisions as
// the in-memory one step for step, two limiters on one store draw on one bucket, a failing store
// falls back to the replica's own buckets, and idle buckets are pruned. On SQLite here; the
// PostgreSQL leg of the integration suite runs the same statement on PostgreSQL.
#include "store/sql/sql_rate_buckets.hpp"

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "auth/rate_limiter.hpp"
#include "common/util.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::store::sql {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

class SqlRateBucketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-buckets-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = OpenDatabase(DatabaseOptions{(dir_ / "registry.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    pool_ = *pool;
    buckets_ = std::make_unique<SqlRateBuckets>(pool_);
  }
  void TearDown() override {
    buckets_.reset();
    pool_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t Rows() {
    auto conn = pool_->Acquire();
    auto stmt = conn->Prepare("SELECT count(*) FROM rate_buckets");
    EXPECT_TRUE(stmt.has_value());
    EXPECT_TRUE(stmt->Step().value_or(false));
    return stmt->Int(0);
  }

  std::filesystem::path dir_;
  std::shared_ptr<ConnectionPool> pool_;
  std::unique_ptr<SqlRateBuckets> buckets_;
};

TEST_F(SqlRateBucketsTest, DecidesAsTheInMemoryBucketStepForStep) {
  auth::RateLimiter local;
  auth::RateLimiter shared(buckets_.get());
  struct Step {
    int64_t at_ms;
    int64_t capacity;
    bool take;
  };
  // A burst past capacity, refills, a peek, a lowered capacity, a clock that goes back.
  const Step steps[] = {
      {0, 3, true},     {0, 3, true},     {0, 3, true},      {0, 3, true},
      {10'000, 3, false}, {20'000, 3, true}, {20'001, 3, true}, {80'000, 3, true},
      {80'000, 1, true}, {80'000, 1, true}, {70'000, 1, true}, {200'000, 5, false},
      {200'000, 5, true},
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    const Step& s = steps[i];
    auth::RateDecision want = s.take ? local.Take("k", s.capacity, 60, kT0 + s.at_ms)
                                     : local.Peek("k", s.capacity, 60, kT0 + s.at_ms);
    auth::RateDecision got = s.take ? shared.Take("k", s.capacity, 60, kT0 + s.at_ms)
                                    : shared.Peek("k", s.capacity, 60, kT0 + s.at_ms);
    EXPECT_EQ(got.allowed, want.allowed) << "step " << i;
    EXPECT_EQ(got.remaining, want.remaining) << "step " << i;
    EXPECT_EQ(got.retry_after_seconds, want.retry_after_seconds) << "step " << i;
    EXPECT_EQ(got.reset_seconds, want.reset_seconds) << "step " << i;
  }
}

TEST_F(SqlRateBucketsTest, TwoReplicasDrawOnOneBucket) {
  auth::RateLimiter first(buckets_.get());
  auth::RateLimiter second(buckets_.get());
  for (int i = 0; i < 4; ++i) {
    auth::RateLimiter& replica = i % 2 == 0 ? first : second;
    EXPECT_TRUE(replica.Take("key-1", 4, 3600, kT0).allowed) << i;
  }
  EXPECT_FALSE(first.Take("key-1", 4, 3600, kT0).allowed);
  EXPECT_FALSE(second.Take("key-1", 4, 3600, kT0).allowed);
  // Another key has a bucket of its own.
  EXPECT_TRUE(second.Take("key-2", 4, 3600, kT0).allowed);
}

class FailingBuckets final : public RateBucketStore {
 public:
  Result<BucketState> Update(const std::string&, int64_t, double, int64_t, bool) override {
    ++calls;
    return Fail(ErrorCode::kTemporarilyUnavailable, "store down");
  }
  Result<void> Prune(int64_t) override { return {}; }
  int calls = 0;
};

TEST(SharedRateLimiterTest, AFailingStoreFallsBackToTheReplicasOwnBuckets) {
  FailingBuckets down;
  auth::RateLimiter limiter(&down);
  EXPECT_TRUE(limiter.Take("k", 2, 60, kT0).allowed);
  EXPECT_TRUE(limiter.Take("k", 2, 60, kT0).allowed);
  EXPECT_FALSE(limiter.Take("k", 2, 60, kT0).allowed);  // still limited, locally
  EXPECT_EQ(down.calls, 3);                              // and the store is asked every time
}

TEST_F(SqlRateBucketsTest, IdleBucketsArePruned) {
  ASSERT_TRUE(buckets_->Update("old", 5, 0.001, kT0, true));
  ASSERT_TRUE(buckets_->Update("new", 5, 0.001, kT0 + 10'000, true));
  EXPECT_EQ(Rows(), 2);
  ASSERT_TRUE(buckets_->Prune(kT0 + 5'000));
  EXPECT_EQ(Rows(), 1);
  auto fresh = buckets_->Update("old", 5, 0.001, kT0 + 10'000, false);
  ASSERT_TRUE(fresh);
  EXPECT_DOUBLE_EQ(fresh->tokens, 5.0);  // a pruned bucket comes back full
}

}  // namespace
}  // namespace hokusai::store::sql
