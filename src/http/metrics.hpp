// Request counters and latency histograms for /metrics, lock-free: one slot per route, fixed
// buckets, relaxed atomics (exact totals are not needed across threads at scrape time).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hokusai::http {

class RouteTable;

class RequestMetrics {
 public:
  // `capacity` slots; the last one also counts requests that matched no route, so the route
  // table must hold fewer than `capacity` routes.
  explicit RequestMetrics(std::size_t capacity);

  // Thread-safe. `route_index` is the route's position in the table, or -1 when none matched.
  void Record(long route_index, int status, double seconds);

  // Prometheus text exposition, labelled with the routes' methods and paths.
  std::string Render(const RouteTable& routes) const;

  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                      0.005,  0.01,    0.025,  0.05,  0.1,
                                                      0.5,    2.5};

 private:
  struct Slot {
    std::array<std::atomic<uint64_t>, 6> by_class{};  // 1xx..5xx, other
    std::array<std::atomic<uint64_t>, kBuckets.size()> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
  };
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace hokusai::http
