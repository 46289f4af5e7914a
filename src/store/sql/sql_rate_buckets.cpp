#include "store/sql/sql_rate_buckets.hpp"

#include <string>

namespace hokusai::store::sql {
namespace {

// ?1 id, ?2 capacity, ?3 now, ?4 tokens per ms, ?5 tokens to take (1, or 0 for a peek). The
// refill never goes back in time (replicas' clocks differ slightly) and never above capacity (a
// lowered limit applies at once). Written without LEAST/min, and with the refill spelled out in
// each SET (an upsert has no FROM), so that both engines run it; SET reads the row as it was.
const std::string& UpdateBucketSql() {
  static const std::string sql = [] {
    const std::string elapsed =
        "(CASE WHEN ?3 > rate_buckets.updated_ms THEN ?3 - rate_buckets.updated_ms ELSE 0 END)";
    const std::string grown = "(rate_buckets.tokens + " + elapsed + " * ?4)";
    const std::string refilled = "(CASE WHEN " + grown + " > ?2 THEN ?2 ELSE " + grown + " END)";
    return "INSERT INTO rate_buckets (bucket_id, tokens, updated_ms, taken) VALUES "
           "(?1, ?2 - ?5, ?3, ?5) ON CONFLICT (bucket_id) DO UPDATE SET tokens = CASE WHEN " +
           refilled + " >= ?5 THEN " + refilled + " - ?5 ELSE " + refilled +
           " END, taken = CASE WHEN " + refilled +
           " >= ?5 THEN ?5 ELSE 0 END, updated_ms = CASE WHEN ?3 > rate_buckets.updated_ms THEN "
           "?3 ELSE rate_buckets.updated_ms END RETURNING tokens, taken";
  }();
  return sql;
}

}  // namespace

Result<BucketState> SqlRateBuckets::Update(const std::string& id, int64_t capacity,
                                           double rate_per_ms, int64_t now_ms, bool take) {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare(UpdateBucketSql()));
  stmt.Bind(1, id).Bind(2, capacity).Bind(3, now_ms).Bind(4, rate_per_ms);
  stmt.Bind(5, static_cast<int64_t>(take ? 1 : 0));
  HK_TRY(row, stmt.Step());
  if (!row) return Fail(ErrorCode::kInternalError, "rate bucket update returned no row");
  BucketState state{stmt.Double(0), stmt.Int(1) != 0};
  HK_CHECK(stmt.Run());
  return state;
}

Result<void> SqlRateBuckets::Prune(int64_t before_ms) {
  auto conn = pool_->Acquire();
  HK_TRY(stmt, conn->Prepare("DELETE FROM rate_buckets WHERE updated_ms < ?"));
  stmt.Bind(1, before_ms);
  return stmt.Run();
}

}  // namespace hokusai::store::sql
