// Gateway mode as the server sees it: where the upstream is and how an admitted request is
// turned into an upstream request. Beast-free; the gateway library fills it in (path mapping,
// header policy) and the server relays (server.cpp: per-worker keep-alive pools, streaming both
// ways).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "http/client.hpp"
#include "http/message.hpp"

namespace hokusai::http {

// Upstream exchanges since start: count by outcome and a latency histogram of the time to the
// upstream's answer head. Relaxed atomics: written by every worker, read by /metrics.
class UpstreamMetrics {
 public:
  enum class Outcome { kAnswered, kConnectError, kTimeout, kBroken };
  void Record(Outcome outcome, double seconds);
  // Prometheus text (hokusai_upstream_requests_total, hokusai_upstream_latency_seconds).
  std::string Render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   10};
  std::array<std::atomic<int64_t>, 4> outcomes_{};
  std::array<std::atomic<int64_t>, kBuckets.size() + 1> buckets_{};
  std::atomic<int64_t> sum_micros_{0};
};

// Marks an Error caused by the upstream (a lookup the gate needed could not reach it): the
// server answers with this header's value as the status (502 or 504) and never sends the
// header itself. Set only by the gateway library.
inline constexpr std::string_view kUpstreamFailureHeader = "X-Hokusai-Upstream-Failure";

struct ProxyConfig {
  std::string host;  // upstream host name or address
  uint16_t port = 80;
  std::string display;  // "http://host:port/base": named in errors and logs, no credentials
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{60000};  // per read or write of the upstream exchange
  // The request target (path and query) the upstream gets for an admitted request.
  std::function<std::string(const Request&)> target;
  // The headers the upstream gets for an admitted request (the server adds Host and framing).
  // An error refuses the request.
  std::function<Result<HeaderList>(const Request&)> request_headers;
  // What the client gets of the upstream answer's headers (the server frames the body and
  // sets Content-Type itself from the answer).
  std::function<HeaderList(const HeaderList&)> response_headers;
  // Bound on an answer read whole (routes with Forward::after); beyond it: 502.
  std::size_t max_buffered_answer_bytes = 64 * 1024 * 1024;
  UpstreamMetrics* metrics = nullptr;  // optional; must outlive the server
};

}  // namespace hokusai::http
