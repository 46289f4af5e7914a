#include <memory>

#include "mlflow_api/handlers.hpp"
#include "mlflow_api/targets.hpp"
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
  Locate locate;  // how the gate finds the experiment(s) it touches
  HandlerFn handler;
};

constexpr Operation kRead = Operation::kRead;
constexpr Operation kWrite = Operation::kWrite;
constexpr Operation kManage = Operation::kManage;
constexpr Resource kExperiment = Resource::kExperiment;

// The tracking route table. Every entry names its operation and resource (security principle 1).
constexpr Entry kEntries[] = {
    {Method::kPost, "/experiments/create", kWrite, kExperiment, Locate::kNewExperiment,
     CreateExperiment},
    {Method::kGet, "/experiments/get", kRead, kExperiment, Locate::kExperimentId, GetExperiment},
    {Method::kGet, "/experiments/get-by-name", kRead, kExperiment, Locate::kExperimentName,
     GetExperimentByName},
    {Method::kPost, "/experiments/search", kRead, kExperiment, Locate::kListing, SearchExperiments},
    {Method::kGet, "/experiments/search", kRead, kExperiment, Locate::kListing, SearchExperiments},
    {Method::kPost, "/experiments/delete", kManage, kExperiment, Locate::kExperimentId,
     DeleteExperiment},
    {Method::kPost, "/experiments/restore", kManage, kExperiment, Locate::kExperimentId,
     RestoreExperiment},
    {Method::kPost, "/experiments/update", kWrite, kExperiment, Locate::kExperimentUpdate,
     UpdateExperiment},
    {Method::kPost, "/experiments/set-experiment-tag", kWrite, kExperiment, Locate::kExperimentId,
     SetExperimentTag},
    {Method::kPost, "/experiments/delete-experiment-tag", kWrite, kExperiment,
     Locate::kExperimentId,
     DeleteExperimentTag},
    {Method::kPost, "/runs/create", kWrite, kExperiment, Locate::kExperimentId, CreateRun},
    {Method::kGet, "/runs/get", kRead, kExperiment, Locate::kRun, GetRun},
    {Method::kPost, "/runs/update", kWrite, kExperiment, Locate::kRun, UpdateRun},
    {Method::kPost, "/runs/delete", kManage, kExperiment, Locate::kRun, DeleteRun},
    {Method::kPost, "/runs/restore", kManage, kExperiment, Locate::kRun, RestoreRun},
    {Method::kPost, "/runs/search", kRead, kExperiment, Locate::kExperimentIds, SearchRuns},
    {Method::kPost, "/runs/set-tag", kWrite, kExperiment, Locate::kRun, SetRunTag},
    {Method::kPost, "/runs/delete-tag", kWrite, kExperiment, Locate::kRun, DeleteRunTag},
    {Method::kPost, "/runs/log-metric", kWrite, kExperiment, Locate::kRunAndModels, LogMetric},
    {Method::kPost, "/runs/log-parameter", kWrite, kExperiment, Locate::kRun, LogParameter},
    {Method::kPost, "/runs/log-batch", kWrite, kExperiment, Locate::kRunAndModels, LogBatch},
    {Method::kPost, "/runs/log-model", kWrite, kExperiment, Locate::kRun, LogModel},
    {Method::kPost, "/runs/log-inputs", kWrite, kExperiment, Locate::kRunAndModels, LogInputs},
    {Method::kPost, "/runs/outputs", kWrite, kExperiment, Locate::kRunAndModels, LogOutputs},
    {Method::kGet, "/metrics/get-history", kRead, kExperiment, Locate::kRun, GetMetricHistory},
    {Method::kGet, "/metrics/get-history-bulk", kRead, kExperiment, Locate::kRunIds,
     GetMetricHistoryBulk},
    {Method::kGet, "/metrics/get-history-bulk-interval", kRead, kExperiment, Locate::kRunIdsPlural,
     GetMetricHistoryBulkInterval},
};

}  // namespace

namespace {

// One loop for both modes, so gateway mode reuses exactly the native declarations: with a
// store, each route runs its handler; without one, `forward_for` makes it a forwarded route.
Result<void> Register(http::RouteTable& table, store::TrackingStore* store,
                      const std::shared_ptr<ResourceLocator>& owned, ResourceLocator& locator,
                      const http::ForwardFor* forward_for) {
  for (const Entry& entry : kEntries) {
    http::Route route{entry.method, std::string("/api/2.0/mlflow") + entry.path,
                      Access{entry.operation, entry.resource}, http::Execution::kBlocking, nullptr};
    if (store != nullptr) {
      HandlerFn fn = entry.handler;
      route.handler = [store, fn](const Request& request) { return fn(*store, request); };
    }
    http::TargetFinder find = MakeTargetFinder(entry.locate, locator);
    if (owned) {
      // Native mode: the finder keeps the store locator alive as long as the table.
      route.target = [owned, find](const Request& request) { return find(request); };
    } else {
      route.target = std::move(find);
    }
    if (forward_for != nullptr) {
      route.forward = std::make_shared<const http::Forward>((*forward_for)(route));
    }
    HK_CHECK(table.Add(std::move(route)));
  }
  return {};
}

}  // namespace

Result<void> RegisterTrackingRoutes(http::RouteTable& table, store::TrackingStore& store) {
  auto locator = std::make_shared<StoreLocator>(store);
  return Register(table, &store, locator, *locator, nullptr);
}

Result<void> RegisterTrackingRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for) {
  return Register(table, nullptr, nullptr, locator, &forward_for);
}

}  // namespace hokusai::mlflow_api
