// Gateway mode, assembled: `serve --upstream http://host:port` forwards the MLflow API,
// artifact and UI routes to an existing MLflow server, with the same route declarations, gate,
// keys and permissions as native mode. Built once by cli/ and read-only afterwards.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "gateway/upstream.hpp"
#include "gateway/upstream_locator.hpp"
#include "hokusai_api/model_catalog.hpp"
#include "http/proxy.hpp"
#include "http/router.hpp"
#include "store/auth_store.hpp"
#include "store/event_store.hpp"
#include "store/registry_store.hpp"

namespace hokusai::gateway {

struct GatewayOptions {
  std::string url;                  // --upstream / MLFLOW_SERVER_URL
  std::string path_style = "api";   // --upstream-path-style
  std::string token;                // --upstream-token
  std::string username;             // --upstream-username
  std::string password;             // --upstream-password
  double connect_timeout_seconds = 5;
  double timeout_seconds = 60;
  std::vector<std::string> trusted_proxies;  // whose X-Forwarded-* are believed
};

class Gateway {
 public:
  // Validates the options (INVALID_PARAMETER_VALUE naming the flag). `auth` must outlive it.
  static Result<std::unique_ptr<Gateway>> Create(const GatewayOptions& options,
                                                 store::AuthStore& auth);

  // Registration events for versions created through the gateway's model-versions/create:
  // written to `events`, then `committed` is called (may be empty). Call before RegisterRoutes;
  // `events` must outlive the gateway. Without it no events are written.
  void UseEvents(store::EventStore& events, std::function<void()> committed);

  // The MLflow tracking, registry and artifact routes (native declarations, forwarded) and the
  // MLflow UI's static routes (any valid key).
  Result<void> RegisterRoutes(http::RouteTable& table);

  // The registration API's catalog on the upstream (upstream_catalog.hpp): idempotency records
  // in `local`, events in the store given to UseEvents (required). Both must outlive it.
  std::unique_ptr<hokusai_api::ModelCatalog> MakeCatalog(store::RegistryStore& local);

  // What the server needs to relay.
  std::shared_ptr<const http::ProxyConfig> ProxyConfig();

  // Whether the upstream answers GET /health with 200; the error names it. Blocking.
  Result<void> Ping();
  // GET /health/mlflow: 200 with the report when every probe passes, 503 otherwise. Blocking.
  http::Response HealthResponse();
  // Finds an experiment's name on the upstream (the gate's name-pattern scopes). Blocking.
  Result<std::string> ExperimentName(const std::string& experiment_id);
  // Prometheus text for the upstream exchanges.
  std::string RenderMetrics() const;

  const UpstreamConfig& config() const { return client_.config(); }

 private:
  Gateway(UpstreamConfig config, std::vector<std::string> trusted_proxies, store::AuthStore& auth)
      : client_(std::move(config)),
        locator_(client_),
        trusted_proxies_(std::move(trusted_proxies)),
        auth_(auth) {}

  UpstreamClient client_;
  UpstreamLocator locator_;
  std::vector<std::string> trusted_proxies_;
  store::AuthStore& auth_;
  store::EventStore* events_ = nullptr;
  std::function<void()> events_committed_;
  http::UpstreamMetrics metrics_;
};

}  // namespace hokusai::gateway
