#include "http/metrics.hpp"

#include <fmt/format.h>

#include "http/router.hpp"

namespace hokusai::http {

RequestMetrics::RequestMetrics(std::size_t capacity) {
  slots_.reserve(capacity);
  for (std::size_t i = 0; i < capacity; ++i) slots_.push_back(std::make_unique<Slot>());
}

void RequestMetrics::Record(long route_index, int status, double seconds) {
  std::size_t index = route_index < 0 || static_cast<std::size_t>(route_index) + 1 >= slots_.size()
                          ? slots_.size() - 1
                          : static_cast<std::size_t>(route_index);
  Slot& slot = *slots_[index];
  int status_class = status / 100;
  std::size_t class_index = status_class >= 1 && status_class <= 5 ? status_class - 1 : 5;
  slot.by_class[class_index].fetch_add(1, std::memory_order_relaxed);
  for (std::size_t b = 0; b < kBuckets.size(); ++b) {
    if (seconds <= kBuckets[b]) {
      slot.buckets[b].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  slot.count.fetch_add(1, std::memory_order_relaxed);
  slot.sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string RequestMetrics::Render(const RouteTable& routes) const {
  static constexpr std::array<const char*, 6> kClassNames = {"1xx", "2xx", "3xx",
                                                             "4xx", "5xx", "other"};
  std::string out;
  out += "# HELP hokusai_http_requests_total Requests by route and status class.\n";
  out += "# TYPE hokusai_http_requests_total counter\n";
  auto label = [&](std::size_t i) {
    if (i < routes.routes().size()) {
      const Route& r = routes.routes()[i];
      return fmt::format("method=\"{}\",route=\"{}\"", MethodName(r.method), r.path);
    }
    return std::string("method=\"\",route=\"unmatched\"");
  };
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = *slots_[i];
    if (slot.count.load(std::memory_order_relaxed) == 0) continue;
    for (std::size_t c = 0; c < kClassNames.size(); ++c) {
      uint64_t n = slot.by_class[c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += fmt::format("hokusai_http_requests_total{{{},status=\"{}\"}} {}\n", label(i),
                         kClassNames[c], n);
    }
  }
  out += "# HELP hokusai_http_request_duration_seconds Request latency by route.\n";
  out += "# TYPE hokusai_http_request_duration_seconds histogram\n";
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = *slots_[i];
    uint64_t count = slot.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    uint64_t cumulative = 0;
    std::string l = label(i);
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += slot.buckets[b].load(std::memory_order_relaxed);
      out += fmt::format("hokusai_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", l,
                         kBuckets[b], cumulative);
    }
    out += fmt::format("hokusai_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", l,
                       count);
    out += fmt::format("hokusai_http_request_duration_seconds_sum{{{}}} {}\n", l,
                       static_cast<double>(slot.sum_micros.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("hokusai_http_request_duration_seconds_count{{{}}} {}\n", l, count);
  }
  return out;
}

}  // namespace hokusai::http
