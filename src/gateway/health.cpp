#include "gateway/health.hpp"

#include <chrono>

#include <fmt/format.h>

#include "json/writer.hpp"

namespace hokusai::gateway {
namespace {

Probe Run(UpstreamClient& client, http::Method method, std::string_view path,
          const http::QueryParams& query, const std::string& body, bool any_status) {
  auto started = std::chrono::steady_clock::now();
  auto answer = client.Call(method, path, query, body);
  Probe probe;
  probe.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
          .count();
  if (!answer) {
    probe.message = answer.error().message;
    return probe;
  }
  probe.status = answer->status;
  probe.ok = any_status || answer->status == 200;
  if (!probe.ok) {
    probe.message = fmt::format("{} {} answered {}", http::MethodName(method), path,
                                answer->status);
  }
  return probe;
}

void WriteProbe(json::Writer& w, std::string_view key, const Probe& probe) {
  w.Key(key).BeginObject().Field("ok", probe.ok).Field("status", int64_t{probe.status});
  // Whole microseconds: enough, and stable to read.
  w.Key("latency_ms").Double(static_cast<double>(static_cast<int64_t>(probe.latency_ms * 1000)) /
                             1000);
  if (!probe.message.empty()) w.Field("message", probe.message);
  w.EndObject();
}

}  // namespace

std::string HealthReport::Json(const std::string& upstream) const {
  json::Writer w;
  w.BeginObject().Field("ok", ok()).Field("upstream", upstream);
  WriteProbe(w, "reachable", reachable);
  WriteProbe(w, "experiments_api", experiments);
  WriteProbe(w, "artifacts_api", artifacts);
  w.EndObject();
  return w.Take();
}

HealthReport CheckUpstream(UpstreamClient& client) {
  HealthReport report;
  report.reachable = Run(client, http::Method::kGet, "/health", {}, "", true);
  if (!report.reachable.ok) {
    report.experiments.message = "not probed: the upstream is not reachable";
    report.artifacts.message = report.experiments.message;
    return report;
  }
  report.experiments = Run(client, http::Method::kPost, "/api/2.0/mlflow/experiments/search", {},
                           R"({"max_results": 1})", false);
  report.artifacts =
      Run(client, http::Method::kGet, "/api/2.0/mlflow-artifacts/artifacts", {}, "", false);
  return report;
}

Result<void> PingUpstream(UpstreamClient& client) {
  HK_TRY(answer, client.Call(http::Method::kGet, "/health", {}, ""));
  if (answer.status != 200) {
    return Fail(ErrorCode::kTemporarilyUnavailable,
                fmt::format("Upstream MLflow server {} answered GET /health with {}",
                            client.config().Display(), answer.status));
  }
  return {};
}

}  // namespace hokusai::gateway
