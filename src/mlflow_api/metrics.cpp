#include <fmt/format.h>

#include "common/limits.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {
namespace {

Response MetricsResponse(const std::vector<store::Metric>& metrics, bool with_run_id,
                         const std::string& next_page_token) {
  json::Writer w;
  // A point is 60-90 bytes (`{"key":"loss","value":0.123,"timestamp":1700000000000,"step":1}`).
  w.Reserve(metrics.size() * (with_run_id ? 128 : 80) + 128);
  w.BeginObject().Key("metrics").BeginArray();
  for (const store::Metric& m : metrics) WriteMetric(w, m, with_run_id);
  w.EndArray();
  if (!next_page_token.empty()) w.Field("next_page_token", next_page_token);
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace

Result<Response> LogMetric(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(metric, MetricArg(args));
  HK_CHECK(store.LogBatch(run_id, {metric}, {}, {}));
  return EmptyJson();
}

Result<Response> GetMetricHistory(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(key, args.ReqString("metric_key"));
  HK_TRY(max_results, args.OptInt("max_results"));
  if (max_results && (*max_results <= 0 || *max_results > limits::kMaxResultsMetricHistory)) {
    return InvalidParameter(fmt::format(
        "Invalid value {} for parameter 'max_results' supplied. It must be between 1 and {}",
        *max_results, limits::kMaxResultsMetricHistory));
  }
  HK_TRY(token, args.OptString("page_token"));
  HK_TRY(after, DecodeMetricHistoryToken(token.value_or("")));
  HK_TRY(page, store.GetMetricHistory(run_id, key, after, max_results.value_or(0)));
  std::string next;
  if (page.second && !page.first.empty()) next = EncodeMetricHistoryToken(page.first.back());
  return MetricsResponse(page.first, false, next);
}

Result<Response> GetMetricHistoryBulk(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_ids, args.StringList("run_id"));
  if (run_ids.empty()) return tl::unexpected(MissingParameter("run_id"));
  if (run_ids.size() > limits::kMaxBulkRunIds) {
    return InvalidParameter(fmt::format("GetMetricHistoryBulk supports at most {} run IDs",
                                        limits::kMaxBulkRunIds));
  }
  HK_TRY(key, args.ReqString("metric_key"));
  HK_TRY(max_results, MaxResultsArg(args, limits::kMaxResultsMetricHistory,
                                    limits::kMaxResultsMetricHistory));
  std::vector<store::Metric> all;
  for (const std::string& run_id : run_ids) {
    HK_CHECK(ValidateRunId(run_id));
    int64_t remaining = max_results - static_cast<int64_t>(all.size());
    if (remaining <= 0) break;
    HK_TRY(page, store.GetMetricHistory(run_id, key, std::nullopt, remaining));
    for (store::Metric& m : page.first) {
      m.run_id = run_id;
      all.push_back(std::move(m));
    }
  }
  return MetricsResponse(all, true, "");
}

Result<Response> GetMetricHistoryBulkInterval(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_ids, args.StringList("run_ids"));
  if (run_ids.empty()) return tl::unexpected(MissingParameter("run_ids"));
  if (run_ids.size() > limits::kMaxBulkRunIds) {
    return InvalidParameter(fmt::format("GetMetricHistoryBulkInterval supports at most {} run IDs",
                                        limits::kMaxBulkRunIds));
  }
  for (const std::string& run_id : run_ids) HK_CHECK(ValidateRunId(run_id));
  HK_TRY(key, args.ReqString("metric_key"));
  HK_TRY(start_step, args.OptInt("start_step"));
  HK_TRY(end_step, args.OptInt("end_step"));
  if (start_step.has_value() != end_step.has_value()) {
    return InvalidParameter("If either start step or end step are specified, both must be "
                            "specified.");
  }
  if (start_step && *start_step > *end_step) {
    return InvalidParameter("end_step must be greater than start_step.");
  }
  HK_TRY(max_results, MaxResultsArg(args, limits::kMaxBulkIntervalResults,
                                    limits::kMaxBulkIntervalResults));
  HK_TRY(metrics, store.GetMetricHistoryBulkInterval(run_ids, key, start_step, end_step,
                                                      max_results));
  return MetricsResponse(metrics, true, "");
}

}  // namespace hokusai::mlflow_api
