// hokusai-registry: the one binary. Parses flags (each also read from its environment
// variable), picks the concrete store, builds the route table and runs the server.
#include <filesystem>
#include <iostream>
#include <memory>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "auth/audit_sink.hpp"
#include "auth/external_authenticator.hpp"
#include "auth/gate.hpp"
#include "auth/key_service.hpp"
#include "auth/local_authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "cli/keys_command.hpp"
#include "cli/ops_routes.hpp"
#include "hokusai_api/hokusai_api.hpp"
#include "common/version.hpp"
#include "http/canonical_path.hpp"
#include "http/server.hpp"
#include "artifacts/open_repository.hpp"
#include "events/webhook_dispatcher.hpp"
#include "gateway/gateway.hpp"
#include "mlflow_api/artifacts_api.hpp"
#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/tracking_api.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_event_store.hpp"
#include "store/sql/sql_rate_buckets.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace {

using namespace hokusai;

constexpr std::size_t kMetricSlots = 512;

// The store's group commit (decision 0021): how many run writes, in how many transactions.
std::string RenderStoreMetrics(const store::sql::SqlTrackingStore& tracking) {
  auto counts = tracking.pool()->write_counts();
  return fmt::format(
      "# HELP hokusai_store_writes_total Writes of the run-writing routes.\n"
      "# TYPE hokusai_store_writes_total counter\n"
      "hokusai_store_writes_total {}\n"
      "# HELP hokusai_store_write_transactions_total Transactions that carried them (group "
      "commit).\n"
      "# TYPE hokusai_store_write_transactions_total counter\n"
      "hokusai_store_write_transactions_total {}\n",
      counts.writes, counts.transactions);
}

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 5000;
  cli::StoreOptions store;
  std::string artifacts_destination = "hokusai-data/artifacts";
  std::string static_prefix;
  int workers = 0;
  int blocking_threads = 0;
  std::string sqlite_synchronous = "NORMAL";
  bool access_log = true;
  std::string log_level = "info";
  // Keys and permissions.
  std::string default_permission = "READ";
  std::vector<std::string> trusted_proxies;
  int64_t auth_failures_per_minute = 30;
  int64_t default_key_rate_limit = 100000;
  std::string public_url;
  std::string service_id = "hokusai-registry";
  // External auth service.
  std::string auth_service_url;
  double auth_service_timeout = 5;
  int auth_cache_seconds = 10;
  // Gateway mode (docs/gateway.md): empty `gateway.url` is native mode.
  gateway::GatewayOptions gateway;
  // Registration-event webhooks (docs/events.md).
  std::vector<std::string> webhook_urls;
  std::string webhook_secret_flag;  // refused: set HOKUSAI_WEBHOOK_SECRET instead
  int webhook_max_attempts = 8;
  int64_t webhook_backoff_ms = 1000;
  double webhook_timeout = 10;
};

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
  auto default_permission = store::ParsePermission(options.default_permission);
  if (!default_permission) {
    spdlog::critical("--default-permission must be READ, EDIT, MANAGE or NO_PERMISSIONS");
    return 2;
  }
  for (const std::string& cidr : options.trusted_proxies) {
    if (!auth::ValidCidr(cidr)) {
      spdlog::critical("--trusted-proxies: '{}' is not an address or CIDR", cidr);
      return 2;
    }
  }
  auto opened = cli::OpenStore(options.store, options.sqlite_synchronous);
  if (!opened) {
    spdlog::critical("{}", opened.error().message);
    return 2;
  }
  auto& tracking = opened->tracking;
  const std::string& path = opened->path;
  // The registry shares the tracking store's database: sources are checked against its runs and
  // logged models in one transaction.
  store::sql::SqlRegistryStore registry(tracking->pool());
  store::sql::SqlAuthStore& auth_store = *opened->auth;
  auto artifact_repository = artifacts::OpenArtifactRepository(options.artifacts_destination);
  if (!artifact_repository) {
    spdlog::critical("{}", artifact_repository.error().message);
    return 2;
  }
  // A bucket that does not answer (or refuses our credentials) fails start-up, not the first
  // upload. A gateway stores no artifacts of its own: its destination is not used.
  if (options.gateway.url.empty()) {
    if (auto ready = (*artifact_repository)->Check(); !ready) {
      spdlog::critical("--artifacts-destination {}: {}", options.artifacts_destination,
                       ready.error().message);
      return 2;
    }
  }

  // Gateway mode: the upstream is named and checked before anything is served; one that does
  // not answer fails start-up. Keys, users, permissions and audit stay in the local store.
  std::unique_ptr<gateway::Gateway> upstream;
  if (!options.gateway.url.empty()) {
    gateway::GatewayOptions gateway_options = options.gateway;
    gateway_options.trusted_proxies = options.trusted_proxies;
    auto created = gateway::Gateway::Create(gateway_options, auth_store);
    if (!created) {
      spdlog::critical("{}", created.error().message);
      return 2;
    }
    upstream = std::move(*created);
    spdlog::info("gateway mode: MLflow routes are forwarded to {} (path style {})",
                 upstream->config().Display(), options.gateway.path_style);
    if (auto reachable = upstream->Ping(); !reachable) {
      spdlog::critical("upstream MLflow server {} is not usable: {}", upstream->config().Display(),
                       reachable.error().message);
      return 2;
    }
  }

  // Keys: the built-in store, or an external auth service.
  std::unique_ptr<auth::KeyService> keys;
  std::unique_ptr<auth::Authenticator> authenticator;
  if (options.auth_service_url.empty()) {
    keys = std::make_unique<auth::KeyService>(auth_store, opened->server_secret,
                                              auth::KeyDefaults{options.default_key_rate_limit});
    authenticator =
        std::make_unique<auth::LocalAuthenticator>(auth_store, *keys, options.service_id);
  } else {
    auth::ExternalAuthConfig external;
    external.url = options.auth_service_url;
    external.service_id = options.service_id;
    external.timeout = std::chrono::milliseconds(
        static_cast<int64_t>(options.auth_service_timeout * 1000));
    external.cache_seconds = options.auth_cache_seconds;
    auto created = auth::ExternalAuthenticator::Create(external);
    if (!created) {
      spdlog::critical("{}", created.error().message);
      return 2;
    }
    authenticator = std::move(*created);
  }
  // Replicas on one PostgreSQL share their buckets through it; one SQLite server keeps its own.
  std::unique_ptr<store::sql::SqlRateBuckets> shared_buckets;
  if (store::postgres::IsPostgresUrl(path)) {
    shared_buckets = std::make_unique<store::sql::SqlRateBuckets>(tracking->pool());
  }
  auth::RateLimiter limiter(shared_buckets.get());
  auth::AuditSink audit(auth_store);
  auth::GateConfig gate_config;
  gate_config.default_permission = *default_permission;
  gate_config.trusted_proxies = options.trusted_proxies;
  gate_config.auth_failures_per_minute = options.auth_failures_per_minute;
  auth::AuthGate gate(gate_config, *authenticator, auth_store, limiter, audit,
                      [&tracking, &upstream](const std::string& id) -> Result<std::string> {
                        if (upstream) return upstream->ExperimentName(id);
                        HK_TRY(experiment, tracking->GetExperiment(id));
                        return experiment.name;
                      });

  if (!options.webhook_secret_flag.empty()) {
    spdlog::critical("--webhook-secret is not accepted on the command line (it would show in "
                     "`ps`); set the environment variable HOKUSAI_WEBHOOK_SECRET instead");
    return 2;
  }
  // Registration events: written by the registry store with each new version (in gateway mode
  // once the upstream acknowledged it), delivered by the dispatcher's thread.
  store::sql::SqlEventStore event_store(tracking->pool());
  events::WebhookConfig webhooks;
  webhooks.endpoints = options.webhook_urls;
  // The HMAC key is read from the environment only: a flag would show in `ps`.
  if (const char* secret = std::getenv("HOKUSAI_WEBHOOK_SECRET")) webhooks.secret = secret;
  webhooks.max_attempts = options.webhook_max_attempts;
  webhooks.backoff_base_ms = options.webhook_backoff_ms;
  webhooks.timeout_ms = static_cast<int64_t>(options.webhook_timeout * 1000);
  auto dispatcher = events::WebhookDispatcher::Create(event_store, std::move(webhooks));
  if (!dispatcher) {
    spdlog::critical("--webhook-*: {}", dispatcher.error().message);
    return 2;
  }
  std::unique_ptr<hokusai_api::ModelCatalog> upstream_catalog;
  if (upstream) {
    upstream->UseEvents(event_store, [d = dispatcher->get()] { d->Wake(); });
    upstream_catalog = upstream->MakeCatalog(registry);
  }

  http::RouteTable table;
  http::RequestMetrics metrics(kMetricSlots);
  Result<void> registered;
  if (upstream) {
    registered = upstream->RegisterRoutes(table);
  } else {
    registered = mlflow_api::RegisterTrackingRoutes(table, *tracking);
    if (registered) registered = mlflow_api::RegisterRegistryRoutes(table, *tracking, registry);
  }
  if (registered && !upstream) {
    registered = mlflow_api::RegisterArtifactRoutes(table, *tracking, registry, **artifact_repository);
  }
  if (registered) {
    registered =
        cli::RegisterOpsRoutes(table, *tracking, **artifact_repository, *authenticator, metrics,
                               [&gate, &upstream, &tracking] {
                                 return gate.RenderMetrics() + RenderStoreMetrics(*tracking) +
                                        (upstream ? upstream->RenderMetrics() : std::string());
                               },
                               upstream ? std::make_shared<const cli::OpsUpstream>(
                                              cli::OpsUpstream{
                                                  upstream->config().Display(),
                                                  [&upstream] { return upstream->Ping(); },
                                                  [&upstream] { return upstream->HealthResponse(); }})
                                        : nullptr);
  }
  if (registered) {
    hokusai_api::HokusaiApiDeps deps{keys.get(), *authenticator, gate,     limiter,
                                     audit,      auth_store,     *tracking, registry,
                                     options.service_id, options.public_url};
    deps.artifacts = artifact_repository->get();
    deps.events = &event_store;
    deps.events_committed = [d = dispatcher->get()] { d->Wake(); };
    deps.catalog = upstream_catalog.get();
    registered = hokusai_api::RegisterHokusaiRoutes(table, std::move(deps));
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
  if (upstream) config.proxy = upstream->ProxyConfig();
  http::Server server(config, table, metrics, gate);
  auto port = server.Listen();
  if (!port) {
    spdlog::critical("{}", port.error().message);
    return 2;
  }
  std::string url = options.public_url.empty()
                        ? fmt::format("http://{}:{}",
                                      options.host == "0.0.0.0" || options.host == "::"
                                          ? std::string("127.0.0.1")
                                          : options.host,
                                      *port)
                        : options.public_url;
  if (keys) {
    // Security principle 9: no default credentials; the first admin key is shown once.
    auto minted = keys->Bootstrap();
    if (!minted) {
      spdlog::critical("cannot create the first admin key: {}", minted.error().message);
      return 2;
    }
    if (*minted) cli::PrintBootstrapBanner(**minted, url);
  }
  spdlog::info(
      "hokusai-registry {} listening on {} (store: {}, artifacts: {}, keys: {}, default "
      "permission: {})",
      kVersion, url,
      store::postgres::IsPostgresUrl(path)
          ? "postgresql " + store::postgres::RedactDatabaseUrl(path)
          : fmt::format("sqlite {}, synchronous={}", path, options.sqlite_synchronous),
      options.artifacts_destination,
      keys ? "built-in" : "external auth service " + options.auth_service_url,
      options.default_permission);
  if (auto started = (*dispatcher)->Start(); !started) {
    spdlog::critical("webhooks: {}", started.error().message);
    return 2;
  }
  if (!options.webhook_urls.empty()) {
    spdlog::info("registration events are delivered to {} webhook endpoint(s)",
                 options.webhook_urls.size());
  }
  server.Run();
  (*dispatcher)->Stop();
  audit.Flush();
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
  cli::AddStoreOptions(*serve, options.store);
  serve->add_option("--artifacts-destination", options.artifacts_destination,
                    "Where artifacts live: a directory (created if missing) or "
                    "s3://bucket[/prefix] (docs/artifacts-s3.md)")
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

  serve->add_option("--default-permission", options.default_permission,
                    "Permission of a user on experiments and models they have no grant for: "
                    "READ, EDIT, MANAGE or NO_PERMISSIONS")
      ->envname("HOKUSAI_DEFAULT_PERMISSION")
      ->capture_default_str();
  serve->add_option("--trusted-proxies", options.trusted_proxies,
                    "Peers (CIDRs) whose X-Forwarded-For is believed")
      ->envname("HOKUSAI_TRUSTED_PROXIES")
      ->delimiter(',');
  serve->add_option("--auth-failures-per-minute", options.auth_failures_per_minute,
                    "Failed authentications allowed per client address per minute before 429")
      ->envname("HOKUSAI_AUTH_FAILURES_PER_MINUTE")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  serve->add_option("--default-key-rate-limit", options.default_key_rate_limit,
                    "rate_limit_per_hour of keys created without one")
      ->envname("HOKUSAI_DEFAULT_KEY_RATE_LIMIT")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}))
      ->capture_default_str();
  serve->add_option("--public-url", options.public_url,
                    "Base URL clients use (shown by whoami and the first-start banner)")
      ->envname("HOKUSAI_PUBLIC_URL");
  serve->add_option("--auth-service-url", options.auth_service_url,
                    "Validate keys with this external service (the /api/v1/keys/validate "
                    "contract) instead of the built-in key store")
      ->envname("HOKUSAI_AUTH_SERVICE_URL");
  serve->add_option("--auth-service-id", options.service_id,
                    "service_id sent to the auth service and reported by validate")
      ->envname("AUTH_SERVICE_ID")
      ->capture_default_str();
  serve->add_option("--auth-service-timeout", options.auth_service_timeout,
                    "Seconds to wait for the auth service")
      ->envname("AUTH_SERVICE_TIMEOUT")
      ->check(CLI::Range(0.05, 120.0))
      ->capture_default_str();
  serve->add_option("--auth-cache-seconds", options.auth_cache_seconds,
                    "Seconds a positive answer of the auth service is reused")
      ->envname("HOKUSAI_AUTH_CACHE_SECONDS")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  // Gateway mode (docs/gateway.md). Credentials are never logged; prefer the environment
  // variables to flags for them (flags show in the process list).
  serve->add_option("--upstream", options.gateway.url,
                    "Gateway mode: forward the MLflow API, artifact and UI routes to this MLflow "
                    "server (http://host:port[/base])")
      ->envname("MLFLOW_SERVER_URL");
  serve->add_option("--upstream-path-style", options.gateway.path_style,
                    "How the upstream is asked for API routes: api (/api/2.0/...) or ajax-api")
      ->envname("HOKUSAI_UPSTREAM_PATH_STYLE")
      ->check(CLI::IsMember({"api", "ajax-api"}))
      ->capture_default_str();
  serve->add_option("--upstream-token", options.gateway.token,
                    "Sent to the upstream as Authorization: Bearer")
      ->envname("HOKUSAI_UPSTREAM_TOKEN");
  serve->add_option("--upstream-username", options.gateway.username,
                    "Sent to the upstream with --upstream-password as Authorization: Basic")
      ->envname("HOKUSAI_UPSTREAM_USERNAME");
  serve->add_option("--upstream-password", options.gateway.password,
                    "See --upstream-username")
      ->envname("HOKUSAI_UPSTREAM_PASSWORD");
  serve->add_option("--upstream-connect-timeout", options.gateway.connect_timeout_seconds,
                    "Seconds to wait for a connection to the upstream (then 504)")
      ->envname("HOKUSAI_UPSTREAM_CONNECT_TIMEOUT")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  serve->add_option("--upstream-timeout", options.gateway.timeout_seconds,
                    "Seconds to wait for each read or write of an upstream exchange (then 504)")
      ->envname("HOKUSAI_UPSTREAM_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  // Refused with a message that does not repeat it: the secret belongs in the environment.
  serve->add_option("--webhook-secret", options.webhook_secret_flag)->group("");
  serve->add_option("--webhook-url", options.webhook_urls,
                    "Endpoint that receives registration events (repeatable; http://...)")
      ->envname("HOKUSAI_WEBHOOK_URLS")
      ->delimiter(',');
  serve->add_option("--webhook-max-attempts", options.webhook_max_attempts,
                    "Attempts per event and endpoint before it is dead-lettered")
      ->envname("HOKUSAI_WEBHOOK_MAX_ATTEMPTS")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  serve->add_option("--webhook-backoff-ms", options.webhook_backoff_ms,
                    "First retry delay; doubles per attempt up to 5 minutes")
      ->envname("HOKUSAI_WEBHOOK_BACKOFF_MS")
      ->check(CLI::Range(int64_t{10}, int64_t{600000}))
      ->capture_default_str();
  serve->add_option("--webhook-timeout", options.webhook_timeout,
                    "Seconds one delivery attempt may take")
      ->envname("HOKUSAI_WEBHOOK_TIMEOUT")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();

  cli::KeysCommand keys_command(app);

  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) return Serve(options);
  return keys_command.Run();
}
