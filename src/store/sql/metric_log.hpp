// SQLite's metric points (decisions 0016, 0018, 0019 and 0020). `log-batch` appends one row to
// `metric_log` holding all of its points, packed; they reach `metric_blocks` (a series' points,
// packed, one row a series per merge) and `latest_metrics` (the latest per key) in bulk, when
// the log holds kMergeRows points and before any read of either table.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "store/sql/db.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {

// MLflow's SQL store cannot hold infinities and keeps NaN as 0 with a flag; we store the same way
// so that reads, filters and ordering agree with the reference server. Returns {is_nan, value}.
std::pair<bool, double> SanitizeMetricValue(double value);

// `INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) <rows>` under the
// latest-value rule: a row replaces the stored one only if its (step, timestamp, value) is
// greater, so among equals the first logged stays. Both dialects.
std::string LatestMetricUpsert(std::string_view rows);

// One stored point of a series; the strings view bytes its SeriesPoints owns.
struct StoredPoint {
  int64_t timestamp = 0;
  int64_t step = 0;
  double value = 0;  // as stored: SanitizeMetricValue
  bool is_nan = false;
  std::string_view model_id;
  std::string_view dataset_name;
  std::string_view dataset_digest;
};

// The order of a series' history, and what makes two of its points the same point.
inline auto HistoryOrder(const StoredPoint& p) {
  return std::make_tuple(p.timestamp, p.step, p.value, p.is_nan);
}

// A series' points read from its blocks, in the order MLflow's history has them -- (timestamp,
// step, value, is_nan) -- and each point once: a point logged again keeps the first logging's
// model and dataset. Every point from `from_timestamp` on is there (a later page's reads skip
// the blocks that end before it), and some before it may be. The caller settles the log first.
class SeriesPoints {
 public:
  SeriesPoints() = default;
  // Moves keep the blocks where they are (a deque's elements do not move); a copy would leave
  // the points viewing the original's bytes.
  SeriesPoints(SeriesPoints&&) = default;
  SeriesPoints& operator=(SeriesPoints&&) = default;
  SeriesPoints(const SeriesPoints&) = delete;
  SeriesPoints& operator=(const SeriesPoints&) = delete;

  static Result<SeriesPoints> Read(Connection& conn, const std::string& run_id,
                                   const std::string& key,
                                   int64_t from_timestamp = std::numeric_limits<int64_t>::min());
  const std::vector<StoredPoint>& points() const { return points_; }

 private:
  std::deque<std::string> blocks_;  // the bytes points_' strings view; a deque never moves them
  std::vector<StoredPoint> points_;
};

// Migration 10's step: every point of `metric_points` into `metric_blocks`, then the table dropped.
Result<void> MovePointsIntoBlocks(Connection& conn);

// The log, and a copy in memory of what this process appended since its last merge, so that a
// merge sorts and picks the latest values without reading the log back. The copy is trusted only
// when this process made the last merge (the count in metric_log_merges is the one it wrote), no
// transaction that appended since ended without committing, and the log holds exactly as many
// points as the copy; otherwise -- at start, or when another process on the same database
// appended or merged -- the merge reads the log back first. Not thread-safe: every use is under
// the pool's writer lease.
class MetricLog {
 public:
  static constexpr int64_t kMergeRows = 32768;

  // One write transaction's use of the log. The caller holds the writer lease and the open
  // transaction for the Writer's whole life, and calls Committed() once the transaction has
  // committed; a Writer destroyed without it undoes its changes to the copy in memory.
  class Writer {
   public:
    Writer(MetricLog& log, Connection& conn) : log_(log), conn_(conn), mark_(log.points_.size()) {}
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();

    // Appends the points, then merges the log if it now holds kMergeRows points or more.
    Result<void> Append(const std::string& run_id, const std::vector<Metric>& metrics);
    // Merges every point in the log into `metric_blocks` and `latest_metrics`, and empties it.
    Result<void> Merge();
    void Committed();

   private:
    MetricLog& log_;
    Connection& conn_;
    std::size_t mark_;
    bool changed_ = false;
    std::optional<int64_t> merged_;  // the merge count this transaction wrote
    bool committed_ = false;
  };

 private:
  struct Point {
    uint32_t run = 0;  // index into runs_
    bool is_nan = false;
    double value = 0;  // as stored: SanitizeMetricValue
    int64_t timestamp = 0;
    int64_t step = 0;
    std::string key;
    std::string model_id;
    std::string dataset_name;
    std::string dataset_digest;
  };

  uint32_t RunIndex(const std::string& run_id);
  Result<void> Reload(Connection& conn);
  Result<void> MergeFromMemory(Connection& conn);
  void Clear();

  std::vector<Point> points_;  // arrival order
  std::vector<std::string> runs_;
  std::unordered_map<std::string, uint32_t> run_index_;
  // The merge count of this process's last committed merge; none before its first.
  std::optional<int64_t> generation_;
  bool trusted_ = false;
};

}  // namespace hokusai::store::sql
