#include "store/sql/metric_log.hpp"

#include <algorithm>
#include <bit>
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
  // -0.0 as 0.0: SQLite keeps a REAL zero as the integer 0, so MLflow's store (and ours before
  // points were packed) reads it back as 0.0; packed points keep the bits, and must agree.
  if (value == 0.0) return {false, 0.0};
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

// The packed points (decision 0020). A log row: format byte 1, then per point its key and the
// point; a block: format byte 1, then per point the point. A point: timestamp, step and the
// value's bits as 8-byte little-endian integers, a flags byte (1 = NaN), then model id, dataset
// name and dataset digest, each a varint length and its bytes.
constexpr char kFormat = 1;
constexpr std::size_t kFixedBytes = 25;
// A block holds at most this many points; a merge writes one block a series, or more.
constexpr std::size_t kBlockPoints = 16384;

void PutUint64(std::string& out, uint64_t v) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out.append(bytes, 8);
}

void PutBytes(std::string& out, std::string_view bytes) {
  uint64_t n = bytes.size();
  while (n >= 0x80) {
    out += static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out += static_cast<char>(n);
  out.append(bytes);
}

void PutPoint(std::string& out, int64_t timestamp, int64_t step, double value, bool is_nan,
              std::string_view model_id, std::string_view dataset_name,
              std::string_view dataset_digest) {
  PutUint64(out, static_cast<uint64_t>(timestamp));
  PutUint64(out, static_cast<uint64_t>(step));
  PutUint64(out, std::bit_cast<uint64_t>(value));
  out += static_cast<char>(is_nan ? 1 : 0);
  PutBytes(out, model_id);
  PutBytes(out, dataset_name);
  PutBytes(out, dataset_digest);
}

// Reads packed points back; every read checks the bytes are there.
class Unpacker {
 public:
  explicit Unpacker(std::string_view bytes) : rest_(bytes) {}
  bool Format() {
    if (rest_.empty() || rest_[0] != kFormat) return false;
    rest_.remove_prefix(1);
    return true;
  }
  bool Done() const { return rest_.empty(); }
  bool Bytes(std::string_view& out) {
    uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
      if (rest_.empty() || shift > 63) return false;
      auto c = static_cast<unsigned char>(rest_[0]);
      rest_.remove_prefix(1);
      n |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) break;
    }
    if (n > rest_.size()) return false;
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool Point(StoredPoint& p) {
    if (rest_.size() < kFixedBytes) return false;
    p.timestamp = static_cast<int64_t>(Uint64(0));
    p.step = static_cast<int64_t>(Uint64(8));
    p.value = std::bit_cast<double>(Uint64(16));
    // Stored values are finite (SanitizeMetricValue) and the flag 0 or 1; anything else is
    // damage, and a NaN would break the order reads sort by.
    if (!std::isfinite(p.value) || static_cast<unsigned char>(rest_[24]) > 1) return false;
    p.is_nan = rest_[24] != 0;
    rest_.remove_prefix(kFixedBytes);
    return Bytes(p.model_id) && Bytes(p.dataset_name) && Bytes(p.dataset_digest);
  }

 private:
  uint64_t Uint64(std::size_t at) const {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(rest_[at + i]);
    return v;
  }
  std::string_view rest_;
};

Error Unreadable(std::string_view what) {
  return Error{ErrorCode::kInternalError, fmt::format("stored metric points unreadable: {}", what)};
}

// One row a request: `total` counts the log's points up to and including the row (the log is
// always emptied whole), so the last row's is the log's size.
constexpr const char* kAppend =
    "INSERT INTO metric_log (run_uuid, points, total, data) VALUES (?1, ?2, ?2 + "
    "coalesce((SELECT total FROM metric_log ORDER BY seq DESC LIMIT 1), 0), ?3) RETURNING total";
constexpr const char* kLogPoints =
    "SELECT coalesce((SELECT total FROM metric_log ORDER BY seq DESC LIMIT 1), 0)";
constexpr const char* kReadLog = "SELECT run_uuid, data FROM metric_log ORDER BY seq";
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
constexpr const char* kAddBlock =
    "INSERT INTO metric_blocks (series_id, points, last_timestamp, data) VALUES (?, ?, ?, ?)";
// A block whose last (greatest) timestamp is before `from` holds nothing at or after it.
constexpr const char* kSeriesBlocks =
    "SELECT data FROM metric_blocks WHERE series_id = (SELECT series_id FROM metric_series "
    "WHERE run_uuid = ?1 AND key = ?2) AND last_timestamp >= ?3 ORDER BY block_id";

Result<int64_t> LogPoints(Connection& conn) {
  HK_TRY(rows, conn.Prepare(kLogPoints));
  HK_TRY(row, rows.Step());
  return row ? rows.Int(0) : 0;
}

// Writes a series' points, sorted and each once, as blocks of at most kBlockPoints.
class BlockWriter {
 public:
  explicit BlockWriter(Statement& insert) : insert_(insert) {}
  Result<void> Add(int64_t series, int64_t timestamp, int64_t step, double value, bool is_nan,
                   std::string_view model_id, std::string_view dataset_name,
                   std::string_view dataset_digest) {
    if (series != series_ || count_ == kBlockPoints) HK_CHECK(Flush());
    series_ = series;
    if (data_.empty()) data_ += kFormat;
    PutPoint(data_, timestamp, step, value, is_nan, model_id, dataset_name, dataset_digest);
    last_timestamp_ = timestamp;  // points come sorted: the last has the greatest
    ++count_;
    return {};
  }
  Result<void> Flush() {
    if (count_ == 0) return {};
    insert_.Reset();
    insert_.Bind(1, series_).Bind(2, static_cast<int64_t>(count_)).Bind(3, last_timestamp_);
    insert_.BindBlob(4, data_);
    HK_CHECK(insert_.Run());
    data_.clear();
    count_ = 0;
    return {};
  }

 private:
  Statement& insert_;
  int64_t series_ = 0;
  int64_t last_timestamp_ = 0;
  std::size_t count_ = 0;
  std::string data_;
};

}  // namespace

Result<SeriesPoints> SeriesPoints::Read(Connection& conn, const std::string& run_id,
                                        const std::string& key, int64_t from_timestamp) {
  SeriesPoints out;
  HK_TRY(blocks, conn.Prepare(kSeriesBlocks));
  blocks.Bind(1, run_id).Bind(2, key).Bind(3, from_timestamp);
  HK_CHECK(ForEachRow(blocks, [&] { out.blocks_.push_back(blocks.Blob(0)); }));
  for (const std::string& block : out.blocks_) {
    Unpacker unpack(block);
    if (!unpack.Format()) return tl::unexpected(Unreadable("block format"));
    while (!unpack.Done()) {
      StoredPoint p;
      if (!unpack.Point(p)) return tl::unexpected(Unreadable("block truncated"));
      out.points_.push_back(p);
    }
  }
  // Blocks are in merge order and each is sorted: a stable sort leaves the first logged of equal
  // points first, and that one is kept.
  std::stable_sort(out.points_.begin(), out.points_.end(),
                   [](const StoredPoint& a, const StoredPoint& b) {
                     return HistoryOrder(a) < HistoryOrder(b);
                   });
  auto last = std::unique(out.points_.begin(), out.points_.end(),
                          [](const StoredPoint& a, const StoredPoint& b) {
                            return HistoryOrder(a) == HistoryOrder(b);
                          });
  out.points_.erase(last, out.points_.end());
  return out;
}

Result<void> MovePointsIntoBlocks(Connection& conn) {
  HK_TRY(add, conn.Prepare(kAddBlock));
  BlockWriter writer(add);
  HK_TRY(points, conn.Prepare(
                     "SELECT series_id, timestamp, step, value, is_nan, coalesce(model_id, ''), "
                     "coalesce(dataset_name, ''), coalesce(dataset_digest, '') FROM metric_points "
                     "ORDER BY series_id, timestamp, step, value, is_nan"));
  for (;;) {
    HK_TRY(row, points.Step());
    if (!row) break;
    HK_CHECK(writer.Add(points.Int(0), points.Int(1), points.Int(2), points.Double(3),
                        points.Int(4) != 0, points.Text(5), points.Text(6), points.Text(7)));
  }
  HK_CHECK(writer.Flush());
  return conn.Exec("DROP TABLE metric_points");
}

MetricLog::Writer::~Writer() {
  if (committed_) return;
  if (log_.points_.size() > mark_) log_.points_.resize(mark_);
  if (changed_) log_.trusted_ = false;  // the transaction may or may not have reached the disk
}

Result<void> MetricLog::Writer::Append(const std::string& run_id,
                                       const std::vector<Metric>& metrics) {
  changed_ = true;
  uint32_t run = log_.RunIndex(run_id);
  std::string data;
  data.reserve(1 + metrics.size() * (kFixedBytes + 8));
  data += kFormat;
  for (const Metric& m : metrics) {
    auto [is_nan, value] = SanitizeMetricValue(m.value);
    PutBytes(data, m.key);
    PutPoint(data, m.timestamp, m.step, value, is_nan, m.model_id, m.dataset_name,
             m.dataset_digest);
    log_.points_.push_back(Point{run, is_nan, value, m.timestamp, m.step, m.key, m.model_id,
                                 m.dataset_name, m.dataset_digest});
  }
  HK_TRY(append, conn_.Prepare(kAppend));
  append.Bind(1, run_id).Bind(2, static_cast<int64_t>(metrics.size())).BindBlob(3, data);
  HK_TRY(row, append.Step());
  if (!row) return Fail(ErrorCode::kInternalError, "metric log append returned no row");
  int64_t total = append.Int(0);
  HK_CHECK(append.Run());  // to the statement's end
  if (total >= kMergeRows) HK_CHECK(Merge());
  return {};
}

Result<void> MetricLog::Writer::Merge() {
  changed_ = true;
  HK_TRY(count, conn_.Prepare(kCountMerge));
  HK_TRY(counted, count.Step());
  if (!counted) return Fail(ErrorCode::kInternalError, "metric_log_merges has no row");
  int64_t generation = count.Int(0);
  HK_TRY(points, LogPoints(conn_));
  // Nobody merged since this process last did (the count it wrote is the one before this
  // merge's), and the log holds exactly what the copy holds.
  bool trusted = log_.trusted_ && log_.generation_ == generation - 1 &&
                 points == static_cast<int64_t>(log_.points_.size());
  if (!trusted) HK_CHECK(log_.Reload(conn_));
  HK_CHECK(log_.MergeFromMemory(conn_));
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

Result<void> MetricLog::Reload(Connection& conn) {
  Clear();
  HK_TRY(rows, conn.Prepare(kReadLog));
  for (;;) {
    HK_TRY(row, rows.Step());
    if (!row) break;
    uint32_t run = RunIndex(rows.Text(0));
    std::string data = rows.Blob(1);
    Unpacker unpack(data);
    if (!unpack.Format()) return tl::unexpected(Unreadable("log format"));
    while (!unpack.Done()) {
      std::string_view key;
      StoredPoint p;
      if (!unpack.Bytes(key) || !unpack.Point(p)) {
        return tl::unexpected(Unreadable("log row truncated"));
      }
      points_.push_back(Point{run, p.is_nan, p.value, p.timestamp, p.step, std::string(key),
                              std::string(p.model_id), std::string(p.dataset_name),
                              std::string(p.dataset_digest)});
    }
  }
  return {};
}

Result<void> MetricLog::MergeFromMemory(Connection& conn) {
  // Series by series, each in the blocks' order; arrival order among equal points (the first of
  // them is kept).
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
  HK_TRY(add_block, conn.Prepare(kAddBlock));
  BlockWriter blocks(add_block);
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
      if (k > begin) {  // the same point logged twice in this merge: the first stays
        const Point& prev = points_[order[k - 1]];
        if (std::tie(p.timestamp, p.step, p.value, p.is_nan) ==
            std::tie(prev.timestamp, prev.step, prev.value, prev.is_nan)) {
          continue;
        }
      }
      HK_CHECK(blocks.Add(series, p.timestamp, p.step, p.value, p.is_nan, p.model_id,
                          p.dataset_name, p.dataset_digest));
    }
    begin = end;
  }
  return blocks.Flush();
}

}  // namespace hokusai::store::sql
