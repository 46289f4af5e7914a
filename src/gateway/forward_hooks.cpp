#include "gateway/forward_hooks.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "auth/scopes.hpp"
#include "gateway/upstream_catalog.hpp"
#include "json/writer.hpp"
#include "mlflow_api/caller.hpp"
#include "mlflow_api/request_args.hpp"

namespace hokusai::gateway {
namespace {

using http::Method;
using http::Request;
using http::Response;

std::string_view ListKey(Listing kind) {
  switch (kind) {
    case Listing::kExperiments: return "experiments";
    case Listing::kRegisteredModels: return "registered_models";
    case Listing::kModelVersions: return "model_versions";
  }
  return "";
}

bool Success(int status) { return status >= 200 && status < 300; }

std::optional<std::string> StringField(simdjson::dom::element element, std::string_view pointer) {
  std::string_view value;
  if (element.at_pointer(pointer).get(value) != simdjson::SUCCESS) return std::nullopt;
  return std::string(value);
}

// The string at `pointer` of a JSON text, or nullopt.
std::optional<std::string> ReadField(std::string_view body, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  return StringField(root, pointer);
}

// Runs after a 2xx only; a failure to record is logged, never turned into an error for a
// change the upstream has already made (the client would retry and get "already exists").
using Recorder = void (*)(store::AuthStore&, const Request&, const Response&);

void RecordExperimentOwner(store::AuthStore& auth, const Request& request,
                           const Response& response) {
  std::string user = mlflow_api::CallerId(request);
  auto id = ReadField(response.body, "/experiment_id");
  if (user.empty() || !id) return;
  auto recorded = auth.RecordUpstreamExperimentOwner(*id, user);
  if (!recorded) {
    spdlog::error("gateway: could not record MANAGE for '{}' on upstream experiment {}: {}", user,
                  *id, recorded.error().message);
  }
}

void RecordModelOwner(store::AuthStore& auth, const Request& request, const Response& response) {
  std::string user = mlflow_api::CallerId(request);
  auto name = ReadField(response.body, "/registered_model/name");
  if (user.empty() || !name) return;
  auto recorded = auth.RecordUpstreamModelOwner(*name, user);
  if (!recorded) {
    spdlog::error("gateway: could not record MANAGE for '{}' on upstream model '{}': {}", user,
                  *name, recorded.error().message);
  }
}

// The request's `name` and `new_name` (the gate already parsed and authorized these bytes).
std::optional<std::string> RequestField(const Request& request, std::string_view key) {
  auto args = mlflow_api::Args::From(request);
  if (!args) return std::nullopt;
  auto value = args->OptString(key);
  if (!value || !*value) return std::nullopt;
  return **value;
}

void MoveModelRows(store::AuthStore& auth, const Request& request, const Response& response) {
  auto name = RequestField(request, "name");
  auto new_name = ReadField(response.body, "/registered_model/name");
  if (!new_name) new_name = RequestField(request, "new_name");
  if (!name || !new_name) return;
  auto moved = auth.RenameUpstreamModel(*name, *new_name);
  if (!moved) {
    spdlog::error("gateway: could not move permissions of model '{}' to '{}': {}", *name,
                  *new_name, moved.error().message);
  }
}

void DropModelRows(store::AuthStore& auth, const Request& request, const Response&) {
  auto name = RequestField(request, "name");
  if (!name) return;
  auto dropped = auth.ForgetUpstreamModel(*name);
  if (!dropped) {
    spdlog::error("gateway: could not drop permissions of model '{}': {}", *name,
                  dropped.error().message);
  }
}

http::Forward Recording(store::AuthStore& auth, Recorder record) {
  http::Forward forward;
  forward.after = [&auth, record](const Request& request, Response&& response) -> Result<Response> {
    if (Success(response.status)) record(auth, request, response);
    return std::move(response);
  };
  return forward;
}

// Runs after a 2xx only, like Recording; an answer without a readable version is logged.
http::Forward Announcing(VersionCreated version_created) {
  http::Forward forward;
  forward.after = [version_created](const Request& request,
                                    Response&& response) -> Result<Response> {
    if (!Success(response.status)) return std::move(response);
    auto version = ParseUpstreamModelVersion(UpstreamConfig{}, response.body, "/model_version");
    if (!version) {
      spdlog::error("gateway: model-versions/create answered without a readable version; no "
                    "registration event written");
      return std::move(response);
    }
    version_created(*version, mlflow_api::CallerId(request));
    return std::move(response);
  };
  return forward;
}

http::Forward Filtering(store::AuthStore& auth, Listing kind) {
  http::Forward forward;
  forward.after = [&auth, kind](const Request& request, Response&& response) -> Result<Response> {
    // Errors pass unchanged; a HEAD answer has no body to filter.
    if (!Success(response.status) || response.body.empty()) return std::move(response);
    std::optional<store::Visibility> visibility =
        kind == Listing::kExperiments ? mlflow_api::ExperimentVisibility(request)
                                      : mlflow_api::ModelVisibility(request);
    if (!visibility) return std::move(response);
    HK_TRY(filtered, FilterListing(auth, *visibility, kind, response.body));
    response.body = std::move(filtered);
    return std::move(response);
  };
  return forward;
}

}  // namespace

Result<bool> Visible(store::AuthStore& auth, const store::Visibility& visibility, Listing kind,
                     const std::string& id, const std::string& name) {
  if (!visibility.name_patterns.empty()) {
    bool matched = false;
    for (const std::string& pattern : visibility.name_patterns) {
      if (auth::GlobMatch(pattern, name)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  auto permission = kind == Listing::kExperiments
                        ? auth.GetExperimentPermission(id, visibility.user_id)
                        : auth.GetModelPermission(name, visibility.user_id);
  if (!permission) return tl::unexpected(permission.error());
  if (!*permission) return visibility.default_readable;
  return **permission != store::Permission::kNoPermissions;
}

Result<std::string> FilterListing(store::AuthStore& auth, const store::Visibility& visibility,
                                  Listing kind, std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return Fail(ErrorCode::kTemporarilyUnavailable,
                "Upstream MLflow server answered a search with malformed JSON");
  }
  std::string_view list_key = ListKey(kind);
  std::string out = "{";
  bool first = true;
  for (auto field : root) {
    if (!first) out += ',';
    first = false;
    json::AppendQuoted(out, field.key);
    out += ':';
    simdjson::dom::array items;
    if (field.key != list_key || field.value.get(items) != simdjson::SUCCESS) {
      out += simdjson::minify(field.value);
      continue;
    }
    out += '[';
    bool first_item = true;
    for (simdjson::dom::element item : items) {
      std::string id = kind == Listing::kExperiments
                           ? StringField(item, "/experiment_id").value_or("")
                           : std::string();
      std::string name = StringField(item, "/name").value_or("");
      HK_TRY(visible, Visible(auth, visibility, kind, id, name));
      if (!visible) continue;
      if (!first_item) out += ',';
      first_item = false;
      out += simdjson::minify(item);
    }
    out += ']';
  }
  out += '}';
  return out;
}

http::ForwardFor MakeForwardFor(store::AuthStore& auth, VersionCreated version_created) {
  return [&auth, version_created](const http::Route& route) -> http::Forward {
    constexpr std::string_view kRoot = "/api/2.0/mlflow/";
    if (!route.path.starts_with(kRoot)) return {};
    std::string_view path = std::string_view(route.path).substr(kRoot.size());
    if (path == "experiments/create" && route.method == Method::kPost) {
      return Recording(auth, RecordExperimentOwner);
    }
    if (path == "registered-models/create" && route.method == Method::kPost) {
      return Recording(auth, RecordModelOwner);
    }
    if (path == "registered-models/rename" && route.method == Method::kPost) {
      return Recording(auth, MoveModelRows);
    }
    if (path == "registered-models/delete" && route.method == Method::kDelete) {
      return Recording(auth, DropModelRows);
    }
    if (path == "model-versions/create" && route.method == Method::kPost && version_created) {
      return Announcing(version_created);
    }
    if (path == "experiments/search") return Filtering(auth, Listing::kExperiments);
    if (path == "registered-models/search") return Filtering(auth, Listing::kRegisteredModels);
    if (path == "model-versions/search") return Filtering(auth, Listing::kModelVersions);
    return {};
  };
}

}  // namespace hokusai::gateway
