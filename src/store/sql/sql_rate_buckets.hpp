// RateBucketStore in the SQL database (table rate_buckets, migration 5; UNLOGGED on PostgreSQL:
// after a database crash every bucket starts full again, which a rate limit can afford, and no
// request waits for a WAL flush). One statement per call, outside the writer lock.
#pragma once

#include <memory>

#include "store/rate_buckets.hpp"
#include "store/sql/db.hpp"

namespace hokusai::store::sql {

class SqlRateBuckets final : public RateBucketStore {
 public:
  explicit SqlRateBuckets(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<BucketState> Update(const std::string& id, int64_t capacity, double rate_per_ms,
                             int64_t now_ms, bool take) override;
  Result<void> Prune(int64_t before_ms) override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace hokusai::store::sql
