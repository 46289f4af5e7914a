#include "gateway/gateway.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/key_service.hpp"
#include "auth/principal.hpp"
#include "gateway/forward_hooks.hpp"
#include "gateway/header_policy.hpp"
#include "gateway/health.hpp"
#include "gateway/upstream_catalog.hpp"
#include "mlflow_api/artifacts_api.hpp"
#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/tracking_api.hpp"

namespace hokusai::gateway {
namespace {

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::Create(const GatewayOptions& options,
                                                 store::AuthStore& auth) {
  auto config = ParseUpstreamUrl(options.url);
  if (!config) {
    return InvalidParameter(fmt::format("--upstream: {}", config.error().message));
  }
  HK_TRY(style, ParsePathStyle(options.path_style));
  config->path_style = style;
  if (!options.token.empty() && (!options.username.empty() || !options.password.empty())) {
    return InvalidParameter(
        "give either --upstream-token or --upstream-username/--upstream-password, not both");
  }
  for (const std::string* secret : {&options.token, &options.username, &options.password}) {
    if (!SafeHeaderValue(*secret)) {
      return InvalidParameter("upstream credentials must not contain control characters");
    }
  }
  if (options.username.find(':') != std::string::npos) {
    return InvalidParameter("--upstream-username must not contain ':'");
  }
  if (options.connect_timeout_seconds <= 0 || options.timeout_seconds <= 0) {
    return InvalidParameter("--upstream-connect-timeout and --upstream-timeout must be > 0");
  }
  config->token = options.token;
  config->username = options.username;
  config->password = options.password;
  config->connect_timeout = Millis(options.connect_timeout_seconds);
  config->timeout = Millis(options.timeout_seconds);
  return std::unique_ptr<Gateway>(
      new Gateway(std::move(*config), options.trusted_proxies, auth));
}

void Gateway::UseEvents(store::EventStore& events, std::function<void()> committed) {
  events_ = &events;
  events_committed_ = std::move(committed);
}

std::unique_ptr<hokusai_api::ModelCatalog> Gateway::MakeCatalog(store::RegistryStore& local) {
  return MakeUpstreamCatalog(client_, locator_, auth_, local, *events_);
}

Result<void> Gateway::RegisterRoutes(http::RouteTable& table) {
  VersionCreated version_created;
  if (events_ != nullptr) {
    version_created = [this](const store::ModelVersion& version, const std::string& user) {
      auto event = events_->AppendVersionCreated(version, user);
      if (!event) {
        spdlog::error("gateway: registration event for '{}' version {} not written: {}",
                      version.name, version.version, event.error().message);
        return;
      }
      if (events_committed_) events_committed_();
    };
  }
  http::ForwardFor forward_for = MakeForwardFor(auth_, std::move(version_created));
  HK_CHECK(mlflow_api::RegisterTrackingRoutes(table, locator_, forward_for));
  HK_CHECK(mlflow_api::RegisterRegistryRoutes(table, locator_, forward_for));
  HK_CHECK(mlflow_api::RegisterArtifactRoutes(table, locator_, forward_for));
  // The MLflow UI: static files that name no resource, for any valid key (a browser sends the
  // key as the Basic password after the 401). Its data comes through the ajax-api routes
  // above, authorized one by one.
  const http::Access kAnyKey{http::Operation::kAuthenticated, http::Resource::kNone};
  for (const char* path : {"/", "/static-files/{path*}"}) {
    http::Route route{http::Method::kGet, path, kAnyKey, http::Execution::kBlocking, nullptr};
    route.forward = std::make_shared<const http::Forward>();
    HK_CHECK(table.Add(std::move(route)));
  }
  return {};
}

std::shared_ptr<const http::ProxyConfig> Gateway::ProxyConfig() {
  auto proxy = std::make_shared<http::ProxyConfig>();
  const UpstreamConfig& upstream = client_.config();
  proxy->host = upstream.host;
  proxy->port = upstream.port;
  proxy->display = upstream.Display();
  proxy->connect_timeout = upstream.connect_timeout;
  proxy->timeout = upstream.timeout;
  proxy->metrics = &metrics_;
  proxy->target = [&upstream](const http::Request& request) {
    return UpstreamTarget(upstream, request.canonical_path, request.query);
  };
  proxy->request_headers = [this, &upstream](const http::Request& request) {
    ForwardContext context;
    if (request.principal) {
      context.user_id = request.principal->user().user_id;
      context.key_id = request.principal->key().key_id;
    }
    context.peer = request.remote_address;
    context.peer_is_trusted_proxy =
        std::any_of(trusted_proxies_.begin(), trusted_proxies_.end(), [&](const std::string& c) {
          return auth::AddressInCidr(request.remote_address, c);
        });
    context.upstream_authorization = upstream.Authorization();
    return UpstreamRequestHeaders(request.headers, context);
  };
  proxy->response_headers = [origin = "http://" + upstream.Authority(),
                             base = upstream.base_path](const http::HeaderList& headers) {
    return ClientResponseHeaders(headers, origin, base);
  };
  return proxy;
}

Result<void> Gateway::Ping() { return PingUpstream(client_); }

http::Response Gateway::HealthResponse() {
  HealthReport report = CheckUpstream(client_);
  return http::Response::Json(report.Json(client_.config().Display()), report.ok() ? 200 : 503);
}

Result<std::string> Gateway::ExperimentName(const std::string& experiment_id) {
  return locator_.ExperimentName(experiment_id);
}

std::string Gateway::RenderMetrics() const { return metrics_.Render(); }

}  // namespace hokusai::gateway
