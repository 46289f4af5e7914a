#include "store/sql/metric_log.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

namespace hokusai::store::sql {

std::pair<bool, double> SanitizeMetricValue(double value) {
  if (std::isnan(value)) return {true, 0.0};
  if (std::isinf(value)) {
    return {false, value > 0 ? std::numeric_limits<double>::max()
                             : -std::numeric_limits<double>::max()};
  }
  return {false, value};
}

std::string LatestMetricUpsert(std::string_view rows) {
  return fmt::format(
      "INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) {} "
      "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, "
      "timestamp = excluded.timestamp, step = excluded.step WHERE "
      "(excluded.step, excluded.timestamp, excluded.value) > "
      "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
      rows);
}

namespace {

// Points are appended up to kAppendRows per statement (a statement's fixed cost per step is a
// good part of a one-row insert): 9 parameters a row, 576 a statement.
constexpr std::size_t kAppendRows = 64;
constexpr int kAppendColumns = 9;

std::string AppendSql(std::size_t rows) {
  std::string sql =
      "INSERT INTO metric_log (run_uuid, key, value, is_nan, timestamp, step, model_id, "
      "dataset_name, dataset_digest) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) {
    if (i > 0) sql += ", ";
    sql += "(?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), nullif(?, ''))";
  }
  return sql;
}

// The log is always emptied whole, so its seq values run from its first to its last row.
constexpr const char* kRows =
    "SELECT coalesce((SELECT max(seq) FROM metric_log) - (SELECT min(seq) FROM metric_log) + 1, "
    "0)";
constexpr const char* kEmpty = "DELETE FROM metric_log";
constexpr const char* kCountMerge =
    "UPDATE metric_log_merges SET generation = generation + 1 WHERE id = 1 RETURNING generation";

const std::string& UpsertLatestSql() {
  static const std::string sql = LatestMetricUpsert("VALUES (?, ?, ?, ?, ?, ?)");
  return sql;
}
// A series' id, created on its first point (decision 0019).
constexpr const char* kAddSeries =
    "INSERT INTO metric_series (run_uuid, key) VALUES (?, ?) ON CONFLICT DO NOTHING";
constexpr const char* kFindSeries =
    "SELECT series_id FROM metric_series WHERE run_uuid = ? AND key = ?";
// A point already stored (or twice in the log) is kept once, the earliest logged.
constexpr const char* kInsertPoint =
    "INSERT INTO metric_points (series_id, timestamp, step, value, is_nan, model_id, "
    "dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), "
    "nullif(?, '')) ON CONFLICT DO NOTHING";

// The same merge in SQL, from the log itself. Latest: per series the greatest (step, timestamp,
// value), the earliest logged among equals, then the upsert rule against what is stored. Points:
// sorted in the keyed table's order so consecutive inserts land on the same page. (`WHERE true`
// keeps SQLite from reading ON CONFLICT as a join constraint.)
const std::string& MergeLatestSql() {
  static const std::string sql = LatestMetricUpsert(
      "SELECT run_uuid, key, value, is_nan, timestamp, step FROM (SELECT run_uuid, key, value, "
      "is_nan, timestamp, step, row_number() OVER (PARTITION BY run_uuid, key ORDER BY step DESC, "
      "timestamp DESC, value DESC, seq) AS pick FROM metric_log) AS ranked WHERE pick = 1");
  return sql;
}
constexpr const char* kMergeSeriesSql =
    "INSERT INTO metric_series (run_uuid, key) SELECT DISTINCT run_uuid, key FROM metric_log "
    "WHERE true ORDER BY run_uuid, key ON CONFLICT DO NOTHING";
constexpr const char* kMergePointsSql =
    "INSERT INTO metric_points (series_id, timestamp, step, value, is_nan, model_id, "
    "dataset_name, dataset_digest) SELECT s.series_id, l.timestamp, l.step, l.value, l.is_nan, "
    "l.model_id, l.dataset_name, l.dataset_digest FROM metric_log l JOIN metric_series s "
    "ON s.run_uuid = l.run_uuid AND s.key = l.key WHERE true "
    "ORDER BY s.series_id, l.timestamp, l.step, l.value, l.is_nan, l.seq ON CONFLICT DO NOTHING";

Result<int64_t> LogRows(Connection& conn) {
  HK_TRY(rows, conn.Prepare(kRows));
  HK_TRY(row, rows.Step());
  return row ? rows.Int(0) : 0;
}

}  // namespace

MetricLog::Writer::~Writer() {
  if (committed_) return;
  log_.points_.resize(mark_);
  if (changed_) log_.trusted_ = false;  // the transaction may or may not have reached the disk
}

Result<void> MetricLog::Writer::Append(const std::string& run_id,
                                       const std::vector<Metric>& metrics) {
  changed_ = true;
  static const std::string kFullAppend = AppendSql(kAppendRows);
  uint32_t run = log_.RunIndex(run_id);
  for (std::size_t begin = 0; begin < metrics.size(); begin += kAppendRows) {
    std::size_t count = std::min(kAppendRows, metrics.size() - begin);
    HK_TRY(append, conn_.Prepare(count == kAppendRows ? kFullAppend : AppendSql(count)));
    for (std::size_t i = 0; i < count; ++i) {
      const Metric& m = metrics[begin + i];
      auto [is_nan, value] = SanitizeMetricValue(m.value);
      int at = static_cast<int>(i) * kAppendColumns;
      append.Bind(at + 1, run_id).Bind(at + 2, m.key).Bind(at + 3, value);
      append.Bind(at + 4, static_cast<int64_t>(is_nan)).Bind(at + 5, m.timestamp);
      append.Bind(at + 6, m.step).Bind(at + 7, m.model_id).Bind(at + 8, m.dataset_name);
      append.Bind(at + 9, m.dataset_digest);
      log_.points_.push_back(Point{run, is_nan, value, m.timestamp, m.step, m.key, m.model_id,
                                   m.dataset_name, m.dataset_digest});
    }
    HK_CHECK(append.Run());
  }
  HK_TRY(rows, LogRows(conn_));
  if (rows >= kMergeRows) HK_CHECK(Merge());
  return {};
}

Result<void> MetricLog::Writer::Merge() {
  changed_ = true;
  HK_TRY(count, conn_.Prepare(kCountMerge));
  HK_TRY(counted, count.Step());
  if (!counted) return Fail(ErrorCode::kInternalError, "metric_log_merges has no row");
  int64_t generation = count.Int(0);
  HK_TRY(rows, LogRows(conn_));
  // Nobody merged since this process last did (the count it wrote is the one before this
  // merge's), and the log holds exactly what the copy holds.
  bool trusted = log_.trusted_ && log_.generation_ == generation - 1 &&
                 rows == static_cast<int64_t>(log_.points_.size());
  if (trusted) {
    HK_CHECK(log_.MergeFromMemory(conn_));
  } else {
    HK_CHECK(conn_.Run(MergeLatestSql()));
    HK_CHECK(conn_.Run(kMergeSeriesSql));
    HK_CHECK(conn_.Run(kMergePointsSql));
  }
  HK_CHECK(conn_.Run(kEmpty));
  merged_ = generation;
  return {};
}

void MetricLog::Writer::Committed() {
  committed_ = true;
  if (!merged_) return;
  log_.Clear();  // the log is empty, and so is what is known of it
  log_.generation_ = merged_;
  log_.trusted_ = true;
}

uint32_t MetricLog::RunIndex(const std::string& run_id) {
  auto [it, added] = run_index_.try_emplace(run_id, static_cast<uint32_t>(runs_.size()));
  if (added) runs_.push_back(run_id);
  return it->second;
}

void MetricLog::Clear() {
  points_.clear();
  runs_.clear();
  run_index_.clear();
}

Result<void> MetricLog::MergeFromMemory(Connection& conn) {
  // The keyed table's order, arrival order among equal points (the first of them is kept).
  std::vector<uint32_t> order(points_.size());
  std::iota(order.begin(), order.end(), 0u);
  auto keyed = [&](uint32_t i) {
    const Point& p = points_[i];
    return std::make_tuple(std::string_view(runs_[p.run]), std::string_view(p.key), p.timestamp,
                           p.step, p.value, p.is_nan);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return keyed(a) < keyed(b); });

  HK_TRY(latest, conn.Prepare(UpsertLatestSql()));
  HK_TRY(add_series, conn.Prepare(kAddSeries));
  HK_TRY(find_series, conn.Prepare(kFindSeries));
  HK_TRY(insert, conn.Prepare(kInsertPoint));
  for (std::size_t begin = 0; begin < order.size();) {
    // One series: the same run and key. Its latest point: the greatest (step, timestamp, value),
    // the first logged among equals.
    const Point& first = points_[order[begin]];
    std::size_t end = begin;
    uint32_t best = order[begin];
    auto rank = [&](uint32_t i) {
      const Point& p = points_[i];
      return std::make_tuple(p.step, p.timestamp, p.value);
    };
    for (; end < order.size(); ++end) {
      const Point& p = points_[order[end]];
      if (p.run != first.run || p.key != first.key) break;
      uint32_t i = order[end];
      if (rank(i) > rank(best) || (rank(i) == rank(best) && i < best)) best = i;
    }
    const Point& top = points_[best];
    const std::string& run_id = runs_[first.run];
    latest.Reset();
    latest.Bind(1, run_id).Bind(2, top.key).Bind(3, top.value);
    latest.Bind(4, static_cast<int64_t>(top.is_nan)).Bind(5, top.timestamp).Bind(6, top.step);
    HK_CHECK(latest.Run());
    add_series.Reset();
    add_series.Bind(1, run_id).Bind(2, first.key);
    HK_CHECK(add_series.Run());
    find_series.Reset();
    find_series.Bind(1, run_id).Bind(2, first.key);
    HK_TRY(found, find_series.Step());
    if (!found) return Fail(ErrorCode::kInternalError, "metric series missing after insert");
    int64_t series = find_series.Int(0);
    for (std::size_t k = begin; k < end; ++k) {
      const Point& p = points_[order[k]];
      insert.Reset();
      insert.Bind(1, series).Bind(2, p.timestamp).Bind(3, p.step).Bind(4, p.value);
      insert.Bind(5, static_cast<int64_t>(p.is_nan)).Bind(6, p.model_id);
      insert.Bind(7, p.dataset_name).Bind(8, p.dataset_digest);
      HK_CHECK(insert.Run());
    }
    begin = end;
  }
  return {};
}

}  // namespace hokusai::store::sql
