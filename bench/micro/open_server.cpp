// hokusai-bench-open-server: W7's unauthenticated baseline (bench/README.md). It is the HTTP
// server, route table and MLflow tracking handlers of `hokusai-registry serve`, built from the
// same libraries, with a gate that admits every request: no key is parsed, looked up,
// rate-limited, scoped or audited. bench/bench.py runs it on the benchmarked SQLite store and
// compares its `experiments/get` throughput with the real server's under a key. It is a
// measuring instrument, built only by bench/run and never installed. The product has no way to
// turn authentication off.
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "mlflow_api/tracking_api.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace {

using namespace hokusai;

// Admits everything, records nothing: what the real gate's cost is measured against.
class OpenGate final : public http::Gate {
 public:
  Result<void> Admit(const http::Route&, http::Request&) override { return {}; }
  void Completed(const http::Route&, const http::Request&, int) override {}
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"W7's unauthenticated baseline: hokusai-registry's server and tracking handlers "
               "with a gate that admits every request (benchmarks only)"};
  std::string database;
  uint16_t port = 0;
  app.add_option("--database", database, "the SQLite file of the benchmarked store")->required();
  app.add_option("--port", port, "port on 127.0.0.1")->required();
  CLI11_PARSE(app, argc, argv);

  store::sql::DatabaseOptions options;
  options.path = database;
  auto tracking = store::sql::SqlTrackingStore::Open(options);
  if (!tracking) {
    spdlog::critical("cannot open the store: {}", tracking.error().message);
    return 2;
  }
  http::RouteTable table;
  const http::Access kPublic{http::Operation::kPublic, http::Resource::kNone};
  auto registered = table.Add({http::Method::kGet, "/health", kPublic, http::Execution::kInline,
                               [](const http::Request&) -> Result<http::Response> {
                                 return http::Response::Text("OK");
                               }});
  if (registered) registered = mlflow_api::RegisterTrackingRoutes(table, **tracking);
  if (!registered) {
    spdlog::critical("cannot register routes: {}", registered.error().message);
    return 2;
  }
  http::ServerConfig config;  // as `serve` with its defaults, and --access-log false like bench.py
  config.host = "127.0.0.1";
  config.port = port;
  config.access_log = false;
  http::RequestMetrics metrics(512);
  OpenGate gate;
  http::Server server(config, table, metrics, gate);
  auto listening = server.Listen();
  if (!listening) {
    spdlog::critical("cannot listen: {}", listening.error().message);
    return 2;
  }
  spdlog::warn("benchmark baseline on 127.0.0.1:{}: every request is admitted without a key",
               *listening);
  server.Run();
  return 0;
}
