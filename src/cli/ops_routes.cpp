#include "cli/ops_routes.hpp"

#include "common/version.hpp"
#include "json/writer.hpp"

namespace hokusai::cli {

using http::Access;
using http::Execution;
using http::Method;
using http::Operation;
using http::Request;
using http::Resource;
using http::Response;

Result<void> RegisterOpsRoutes(http::RouteTable& table, store::TrackingStore& store,
                               artifacts::ArtifactRepository& artifacts,
                               auth::Authenticator& authenticator,
                               const http::RequestMetrics& metrics,
                               std::function<std::string()> extra_metrics,
                               std::shared_ptr<const OpsUpstream> upstream) {
  const Access kPublic{Operation::kPublic, Resource::kNone};
  HK_CHECK(table.Add({Method::kGet, "/health", kPublic, Execution::kInline,
                      [](const Request&) -> Result<Response> { return Response::Text("OK"); }}));
  HK_CHECK(table.Add({Method::kGet, "/live", kPublic, Execution::kInline,
                      [](const Request&) -> Result<Response> { return Response::Text("OK"); }}));
  HK_CHECK(table.Add({Method::kGet, "/ready", kPublic, Execution::kBlocking,
                      [&store, &artifacts, &authenticator,
                       upstream](const Request&) -> Result<Response> {
                        // Each dependency with its state; 503 names the failing ones.
                        json::Writer w;
                        bool ready = true;
                        auto report = [&](std::string_view name, const Result<void>& check) {
                          ready = ready && check.has_value();
                          w.Key(name).BeginObject().Field("ok", check.has_value());
                          if (!check) w.Field("message", check.error().message);
                          w.EndObject();
                        };
                        w.BeginObject();
                        report("store", store.Ping());
                        report("artifacts", artifacts.Check());
                        report(authenticator.IsLocal() ? "keys" : "auth_service",
                               authenticator.Ping());
                        if (upstream) {
                          report("upstream", upstream->ping());
                          w.Field("upstream_url", upstream->display);
                        }
                        w.EndObject();
                        return Response::Json(w.Take(), ready ? 200 : 503);
                      }}));
  if (upstream) {
    // Gateway mode: the upstream's reachability and its experiments and artifacts APIs, each
    // with status and latency (public, like /ready: it says nothing about any resource).
    HK_CHECK(table.Add({Method::kGet, "/health/mlflow", kPublic, Execution::kBlocking,
                        [upstream](const Request&) -> Result<Response> {
                          return upstream->health();
                        }}));
  }
  HK_CHECK(table.Add({Method::kGet, "/version", kPublic, Execution::kInline,
                      [](const Request&) -> Result<Response> {
                        return Response::Text(kVersion);
                      }}));
  HK_CHECK(table.Add({Method::kGet, "/api/v1/version", kPublic, Execution::kInline,
                      [](const Request&) -> Result<Response> {
                        json::Writer w;
                        w.BeginObject()
                            .Field("name", "hokusai-registry")
                            .Field("version", kVersion)
                            .Field("mlflow_api", "2.0")
                            .Field("build_type", HOKUSAI_BUILD_TYPE)
                            .EndObject();
                        return Response::Json(w.Take());
                      }}));
  HK_CHECK(table.Add({Method::kGet, "/metrics", kPublic, Execution::kInline,
                      [&metrics, &table, extra_metrics](const Request&) -> Result<Response> {
                        Response r = Response::Text(metrics.Render(table) + extra_metrics());
                        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                        return r;
                      }}));
  HK_CHECK(table.Add({Method::kGet, "/api/v1/routes", {Operation::kAdmin, Resource::kNone},
                      Execution::kInline, [&table](const Request&) -> Result<Response> {
                        json::Writer w;
                        w.BeginObject().Key("routes").BeginArray();
                        for (const http::Route& route : table.routes()) {
                          w.BeginObject()
                              .Field("method", http::MethodName(route.method))
                              .Field("path", route.path)
                              .Field("operation", http::OperationName(route.access.operation))
                              .Field("resource", http::ResourceName(route.access.resource))
                              .EndObject();
                        }
                        w.EndArray().EndObject();
                        return Response::Json(w.Take());
                      }}));
  return {};
}

}  // namespace hokusai::cli
