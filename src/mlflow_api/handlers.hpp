// Handler functions behind the tracking routes; one per endpoint, all alike:
// parse -> validate -> call the store -> write JSON.
#pragma once

#include "common/error.hpp"
#include "http/message.hpp"
#include "json/writer.hpp"
#include "mlflow_api/request_args.hpp"
#include "mlflow_api/validation.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

using Store = store::TrackingStore;
using http::Request;
using http::Response;

// Experiments (experiments.cpp).
Result<Response> CreateExperiment(Store& store, const Request& request);
Result<Response> GetExperiment(Store& store, const Request& request);
Result<Response> GetExperimentByName(Store& store, const Request& request);
Result<Response> SearchExperiments(Store& store, const Request& request);
Result<Response> DeleteExperiment(Store& store, const Request& request);
Result<Response> RestoreExperiment(Store& store, const Request& request);
Result<Response> UpdateExperiment(Store& store, const Request& request);
Result<Response> SetExperimentTag(Store& store, const Request& request);
Result<Response> DeleteExperimentTag(Store& store, const Request& request);

// Runs (runs.cpp).
Result<Response> CreateRun(Store& store, const Request& request);
Result<Response> GetRun(Store& store, const Request& request);
Result<Response> UpdateRun(Store& store, const Request& request);
Result<Response> DeleteRun(Store& store, const Request& request);
Result<Response> RestoreRun(Store& store, const Request& request);
Result<Response> SearchRuns(Store& store, const Request& request);
Result<Response> SetRunTag(Store& store, const Request& request);
Result<Response> DeleteRunTag(Store& store, const Request& request);
Result<Response> LogParameter(Store& store, const Request& request);
Result<Response> LogBatch(Store& store, const Request& request);
Result<Response> LogModel(Store& store, const Request& request);
Result<Response> LogInputs(Store& store, const Request& request);
Result<Response> LogOutputs(Store& store, const Request& request);

// Metrics (metrics.cpp).
Result<Response> LogMetric(Store& store, const Request& request);
Result<Response> GetMetricHistory(Store& store, const Request& request);
Result<Response> GetMetricHistoryBulk(Store& store, const Request& request);
Result<Response> GetMetricHistoryBulkInterval(Store& store, const Request& request);

// Shared by the handler files.
Response EmptyJson();
// run_id, falling back to the deprecated run_uuid.
Result<std::string> RunIdArg(const Args& args);
Result<store::ViewType> ViewTypeArg(const Args& args, std::string_view key);
Result<int64_t> MaxResultsArg(const Args& args, int64_t default_value, int64_t maximum);
// The parameters every offset-paged search shares: filter, order_by, max_results, page_token.
struct SearchParams {
  std::vector<store::Clause> filter;
  std::vector<store::OrderTerm> order_by;
  int64_t max_results = 0;
  int64_t offset = 0;
};
Result<SearchParams> SearchParamsArg(const Args& args, store::SearchTarget target,
                                     int64_t default_max_results, int64_t max_results);

// {"<key>": [items...], "next_page_token": ...}; the token is present only when `page.second`
// says more rows exist after this page, which started at `offset`.
template <typename T, typename WriteFn>
Response PageResponse(std::string_view key, const std::pair<std::vector<T>, bool>& page,
                      int64_t offset, WriteFn write) {
  json::Writer w;
  w.BeginObject().Key(key).BeginArray();
  for (const T& item : page.first) write(w, item);
  w.EndArray();
  if (page.second) {
    w.Field("next_page_token", EncodePageToken(offset + static_cast<int64_t>(page.first.size())));
  }
  w.EndObject();
  return Response::Json(w.Take());
}

// Parses and validates a Metric message (log-metric body or a log-batch element).
Result<store::Metric> MetricArg(const Args& item);

}  // namespace hokusai::mlflow_api
