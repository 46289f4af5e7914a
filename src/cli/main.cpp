// hokusai-registry: the one binary. Parses flags (each also read from its environment
// variable), picks the concrete store, builds the route table and runs the server.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/ops_routes.hpp"
#include "common/version.hpp"
#include "http/canonical_path.hpp"
#include "http/server.hpp"
#include "artifacts/local/local_artifact_repository.hpp"
#include "mlflow_api/artifacts_api.hpp"
#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/tracking_api.hpp"
#include "store/sqlite/sqlite_registry_store.hpp"
#include "store/sqlite/sqlite_tracking_store.hpp"

namespace {

using namespace hokusai;

constexpr std::size_t kMetricSlots = 512;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 5000;
  std::string backend_store_uri = "sqlite:///hokusai-data/registry.db";
  std::string artifacts_destination = "hokusai-data/artifacts";
  std::string static_prefix;
  int workers = 0;
  int blocking_threads = 0;
  std::string sqlite_synchronous = "NORMAL";
  bool access_log = true;
  std::string log_level = "info";
};

// sqlite:///relative/path or sqlite:////absolute/path (the SQLAlchemy form MLflow users know),
// or a plain file path.
Result<std::string> SqlitePathFromUri(const std::string& uri) {
  constexpr std::string_view kScheme = "sqlite:///";
  if (uri.rfind(kScheme, 0) == 0) {
    std::string path = uri.substr(kScheme.size());
    if (path.empty()) return InvalidParameter("--backend-store-uri: empty SQLite path");
    return path;
  }
  if (uri.find("://") != std::string::npos) {
    return InvalidParameter("--backend-store-uri: unsupported store '" +
                            uri.substr(0, uri.find("://")) +
                            "'; this build supports sqlite:///<path>");
  }
  return uri;
}

int Serve(const ServeOptions& options) {
  auto level = spdlog::level::from_str(options.log_level);
  spdlog::set_level(level);

  auto prefix = http::NormalizeStaticPrefix(options.static_prefix);
  if (!prefix) {
    spdlog::critical("{}", prefix.error().message);
    return 2;
  }
  if (options.port < 0 || options.port > 65535) {
    spdlog::critical("--port must be between 0 and 65535");
    return 2;
  }
  auto path = SqlitePathFromUri(options.backend_store_uri);
  if (!path) {
    spdlog::critical("{}", path.error().message);
    return 2;
  }
  std::error_code ec;
  auto parent = std::filesystem::path(*path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    spdlog::critical("cannot create directory '{}': {}", parent.string(), ec.message());
    return 2;
  }
  store::sqlite::SqliteOptions sqlite_options;
  sqlite_options.path = *path;
  sqlite_options.synchronous = options.sqlite_synchronous;
  auto store = store::sqlite::SqliteTrackingStore::Open(sqlite_options);
  if (!store) {
    spdlog::critical("cannot open the store: {}", store.error().message);
    return 2;
  }
  // The registry shares the tracking store's database: sources are checked against its runs and
  // logged models in one transaction.
  store::sqlite::SqliteRegistryStore registry((*store)->pool());
  if (options.artifacts_destination.find("://") != std::string::npos) {
    spdlog::critical("--artifacts-destination: '{}' is not supported; this build stores "
                     "artifacts in a local directory",
                     options.artifacts_destination);
    return 2;
  }
  auto artifact_repository =
      artifacts::LocalArtifactRepository::Open(options.artifacts_destination);
  if (!artifact_repository) {
    spdlog::critical("{}", artifact_repository.error().message);
    return 2;
  }

  http::RouteTable table;
  http::RequestMetrics metrics(kMetricSlots);
  auto registered = mlflow_api::RegisterTrackingRoutes(table, **store);
  if (registered) registered = mlflow_api::RegisterRegistryRoutes(table, **store, registry);
  if (registered) {
    registered = mlflow_api::RegisterArtifactRoutes(table, **store, registry, **artifact_repository);
  }
  if (registered) {
    registered = cli::RegisterOpsRoutes(table, **store, **artifact_repository, metrics);
  }
  if (!registered || table.routes().size() >= kMetricSlots) {
    spdlog::critical("route table: {}", registered ? "too many routes" : registered.error().message);
    return 2;
  }

  http::ServerConfig config;
  config.host = options.host;
  config.port = static_cast<uint16_t>(options.port);
  config.workers = options.workers;
  config.blocking_threads = options.blocking_threads;
  config.static_prefix = *prefix;
  config.access_log = options.access_log;
  http::Server server(config, table, metrics);
  auto port = server.Listen();
  if (!port) {
    spdlog::critical("{}", port.error().message);
    return 2;
  }
  spdlog::info(
      "hokusai-registry {} listening on http://{}:{} (store: sqlite {}, synchronous={}, "
      "artifacts: {})",
      kVersion, options.host, *port, *path, options.sqlite_synchronous,
      options.artifacts_destination);
  server.Run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hokusai Registry: an MLflow-compatible tracking and model-registry server"};
  app.set_version_flag("--version", std::string(hokusai::kVersion));
  app.require_subcommand(1);

  ServeOptions options;
  CLI::App* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--host", options.host, "Bind address")->envname("HOKUSAI_HOST")
      ->capture_default_str();
  serve->add_option("--port", options.port, "Port (0: any free port)")->envname("HOKUSAI_PORT")
      ->capture_default_str();
  serve->add_option("--backend-store-uri", options.backend_store_uri,
                    "sqlite:///<relative path>, sqlite:////<absolute path> or a file path")
      ->envname("HOKUSAI_BACKEND_STORE_URI")
      ->capture_default_str();
  serve->add_option("--artifacts-destination", options.artifacts_destination,
                    "Directory that holds artifacts (created if missing)")
      ->envname("HOKUSAI_ARTIFACTS_DESTINATION")
      ->capture_default_str();
  serve->add_option("--static-prefix", options.static_prefix,
                    "Extra mount prefix, e.g. /registry")
      ->envname("HOKUSAI_STATIC_PREFIX");
  serve->add_option("--workers", options.workers, "I/O threads (0: one per core)")
      ->envname("HOKUSAI_WORKERS")
      ->capture_default_str();
  serve->add_option("--blocking-threads", options.blocking_threads,
                    "Threads for store calls (0: 2 x cores, at least 4)")
      ->envname("HOKUSAI_BLOCKING_THREADS")
      ->capture_default_str();
  serve->add_option("--sqlite-synchronous", options.sqlite_synchronous,
                    "NORMAL (survives a process crash) or FULL (also survives power loss)")
      ->envname("HOKUSAI_SQLITE_SYNCHRONOUS")
      ->check(CLI::IsMember({"NORMAL", "FULL"}))
      ->capture_default_str();
  serve->add_option("--access-log", options.access_log, "Log one line per request (true/false)")
      ->envname("HOKUSAI_ACCESS_LOG")
      ->capture_default_str();
  serve->add_option("--log-level", options.log_level, "trace, debug, info, warn, error")
      ->envname("HOKUSAI_LOG_LEVEL")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) return Serve(options);
  return 0;
}
