#include "mlflow_api/handlers.hpp"
#include "mlflow_api/tracking_api.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Access;
using http::Method;
using http::Operation;
using http::Resource;
using HandlerFn = Result<Response> (*)(Store&, const Request&);

struct Entry {
  Method method;
  const char* path;  // below /api/2.0/mlflow
  Operation operation;
  Resource resource;
  HandlerFn handler;
};

constexpr Operation kRead = Operation::kRead;
constexpr Operation kWrite = Operation::kWrite;
constexpr Resource kExperiment = Resource::kExperiment;

// The tracking route table. Every entry names its operation and resource (security principle 1).
constexpr Entry kEntries[] = {
    {Method::kPost, "/experiments/create", kWrite, kExperiment, CreateExperiment},
    {Method::kGet, "/experiments/get", kRead, kExperiment, GetExperiment},
    {Method::kGet, "/experiments/get-by-name", kRead, kExperiment, GetExperimentByName},
    {Method::kPost, "/experiments/search", kRead, kExperiment, SearchExperiments},
    {Method::kGet, "/experiments/search", kRead, kExperiment, SearchExperiments},
    {Method::kPost, "/experiments/delete", kWrite, kExperiment, DeleteExperiment},
    {Method::kPost, "/experiments/restore", kWrite, kExperiment, RestoreExperiment},
    {Method::kPost, "/experiments/update", kWrite, kExperiment, UpdateExperiment},
    {Method::kPost, "/experiments/set-experiment-tag", kWrite, kExperiment, SetExperimentTag},
    {Method::kPost, "/experiments/delete-experiment-tag", kWrite, kExperiment,
     DeleteExperimentTag},
    {Method::kPost, "/runs/create", kWrite, kExperiment, CreateRun},
    {Method::kGet, "/runs/get", kRead, kExperiment, GetRun},
    {Method::kPost, "/runs/update", kWrite, kExperiment, UpdateRun},
    {Method::kPost, "/runs/delete", kWrite, kExperiment, DeleteRun},
    {Method::kPost, "/runs/restore", kWrite, kExperiment, RestoreRun},
    {Method::kPost, "/runs/search", kRead, kExperiment, SearchRuns},
    {Method::kPost, "/runs/set-tag", kWrite, kExperiment, SetRunTag},
    {Method::kPost, "/runs/delete-tag", kWrite, kExperiment, DeleteRunTag},
    {Method::kPost, "/runs/log-metric", kWrite, kExperiment, LogMetric},
    {Method::kPost, "/runs/log-parameter", kWrite, kExperiment, LogParameter},
    {Method::kPost, "/runs/log-batch", kWrite, kExperiment, LogBatch},
    {Method::kPost, "/runs/log-model", kWrite, kExperiment, LogModel},
    {Method::kPost, "/runs/log-inputs", kWrite, kExperiment, LogInputs},
    {Method::kPost, "/runs/outputs", kWrite, kExperiment, LogOutputs},
    {Method::kGet, "/metrics/get-history", kRead, kExperiment, GetMetricHistory},
    {Method::kGet, "/metrics/get-history-bulk", kRead, kExperiment, GetMetricHistoryBulk},
    {Method::kGet, "/metrics/get-history-bulk-interval", kRead, kExperiment,
     GetMetricHistoryBulkInterval},
};

}  // namespace

Result<void> RegisterTrackingRoutes(http::RouteTable& table, store::TrackingStore& store) {
  for (const Entry& entry : kEntries) {
    HandlerFn fn = entry.handler;
    HK_CHECK(table.Add(http::Route{
        entry.method, std::string("/api/2.0/mlflow") + entry.path,
        Access{entry.operation, entry.resource}, http::Execution::kBlocking,
        [&store, fn](const Request& request) { return fn(store, request); }}));
  }
  return {};
}

}  // namespace hokusai::mlflow_api
