#include <fmt/format.h>

#include "http/proxy.hpp"

namespace hokusai::http {
namespace {

constexpr std::array<std::string_view, 4> kOutcomeNames = {"answered", "connect_error", "timeout",
                                                           "broken"};

}  // namespace

void UpstreamMetrics::Record(Outcome outcome, double seconds) {
  outcomes_[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  if (outcome != Outcome::kAnswered) return;
  std::size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<int64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string UpstreamMetrics::Render() const {
  std::string out =
      "# HELP hokusai_upstream_requests_total Requests forwarded to the upstream MLflow server, "
      "by outcome.\n"
      "# TYPE hokusai_upstream_requests_total counter\n";
  for (std::size_t i = 0; i < kOutcomeNames.size(); ++i) {
    out += fmt::format("hokusai_upstream_requests_total{{outcome=\"{}\"}} {}\n", kOutcomeNames[i],
                       outcomes_[i].load(std::memory_order_relaxed));
  }
  out +=
      "# HELP hokusai_upstream_latency_seconds Time from sending a request to the upstream's "
      "answer head.\n"
      "# TYPE hokusai_upstream_latency_seconds histogram\n";
  int64_t cumulative = 0;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("hokusai_upstream_latency_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[i],
                       cumulative);
  }
  cumulative += buckets_[kBuckets.size()].load(std::memory_order_relaxed);
  out += fmt::format("hokusai_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("hokusai_upstream_latency_seconds_sum {}\n",
                     static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  out += fmt::format("hokusai_upstream_latency_seconds_count {}\n", cumulative);
  return out;
}

}  // namespace hokusai::http
