#include "gateway/upstream_locator.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "http/proxy.hpp"

namespace hokusai::gateway {
namespace {

using mlflow_api::ArtifactOwner;

// Reads a string at a JSON pointer, or nullopt.
std::optional<std::string> StringAt(const simdjson::dom::element& root, std::string_view pointer) {
  std::string_view value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) return std::nullopt;
  return std::string(value);
}

Result<simdjson::dom::element> ParseJson(simdjson::dom::parser& parser, const std::string& body,
                                         const UpstreamConfig& config) {
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) {
    return tl::unexpected(
        Error{ErrorCode::kTemporarilyUnavailable,
              fmt::format("Upstream MLflow server {} answered with malformed JSON",
                          config.Display()),
              {{std::string(http::kUpstreamFailureHeader), "502"}}});
  }
  return root;
}

Error Malformed(const UpstreamConfig& config, std::string_view what) {
  return Error{ErrorCode::kTemporarilyUnavailable,
               fmt::format("Upstream MLflow server {} answered without {}", config.Display(), what),
               {{std::string(http::kUpstreamFailureHeader), "502"}}};
}

}  // namespace

Error UpstreamError(const UpstreamConfig& config, int status, std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string code;
  std::string message;
  if (parser.parse(body.data(), body.size()).get(root) == simdjson::SUCCESS) {
    code = StringAt(root, "/error_code").value_or("");
    message = StringAt(root, "/message").value_or("");
  }
  if (status < 500) {
    for (ErrorCode known : {ErrorCode::kResourceDoesNotExist, ErrorCode::kInvalidParameterValue,
                            ErrorCode::kBadRequest, ErrorCode::kPermissionDenied,
                            ErrorCode::kResourceAlreadyExists, ErrorCode::kInvalidState}) {
      if (code == ErrorCodeName(known)) {
        if (known == ErrorCode::kPermissionDenied) break;  // our credentials, not the caller's
        return Error{known, message.empty() ? code : message};
      }
    }
    if (status == 404 && code.empty()) {
      return Error{ErrorCode::kTemporarilyUnavailable,
                   fmt::format("Upstream MLflow server {} does not serve this API (404); check "
                               "--upstream and --upstream-path-style",
                               config.Display()),
                   {{std::string(http::kUpstreamFailureHeader), "502"}}};
    }
  }
  return Error{ErrorCode::kTemporarilyUnavailable,
               fmt::format("Upstream MLflow server {} answered {}{}", config.Display(), status,
                           code.empty() ? std::string() : " " + code),
               {{std::string(http::kUpstreamFailureHeader), "502"}}};
}

std::size_t UpstreamLocator::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

Result<std::string> UpstreamLocator::Get(std::string_view canonical_path,
                                         const http::QueryParams& query) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls_;
  }
  HK_TRY(answer, client_.Call(http::Method::kGet, canonical_path, query, ""));
  if (answer.status != 200) {
    return tl::unexpected(UpstreamError(client_.config(), answer.status, answer.body));
  }
  return std::move(answer.body);
}

Result<ArtifactOwner> UpstreamLocator::Cached(Cache& cache, const std::string& id,
                                              const std::function<Result<ArtifactOwner>()>& fetch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache.entries.find(id);
    if (it != cache.entries.end()) return it->second;
  }
  HK_TRY(owner, fetch());
  std::lock_guard<std::mutex> lock(mutex_);
  if (cache.entries.emplace(id, owner).second) {
    cache.order.push_back(id);
    while (cache.order.size() > capacity_) {
      cache.entries.erase(cache.order.front());
      cache.order.pop_front();
    }
  }
  return owner;
}

Result<ArtifactOwner> UpstreamLocator::Run(const std::string& run_id) {
  return Cached(runs_, run_id, [&]() -> Result<ArtifactOwner> {
    HK_TRY(body, Get("/api/2.0/mlflow/runs/get", {{"run_id", run_id}}));
    simdjson::dom::parser parser;
    HK_TRY(root, ParseJson(parser, body, client_.config()));
    auto experiment = StringAt(root, "/run/info/experiment_id");
    if (!experiment) return tl::unexpected(Malformed(client_.config(), "the run's experiment"));
    return ArtifactOwner{*experiment, StringAt(root, "/run/info/artifact_uri").value_or("")};
  });
}

Result<ArtifactOwner> UpstreamLocator::LoggedModel(const std::string& model_id) {
  return Cached(models_, model_id, [&]() -> Result<ArtifactOwner> {
    // The id becomes a path segment: it must be one (MLflow's are "m-<hex>").
    if (model_id.empty() || model_id.find('/') != std::string::npos || model_id == "." ||
        model_id == "..") {
      return Fail(ErrorCode::kResourceDoesNotExist,
                  fmt::format("Logged model '{}' not found", model_id));
    }
    HK_TRY(body, Get("/api/2.0/mlflow/logged-models/" + model_id, {}));
    simdjson::dom::parser parser;
    HK_TRY(root, ParseJson(parser, body, client_.config()));
    auto experiment = StringAt(root, "/model/info/experiment_id");
    if (!experiment) {
      return tl::unexpected(Malformed(client_.config(), "the logged model's experiment"));
    }
    return ArtifactOwner{*experiment, StringAt(root, "/model/info/artifact_uri").value_or("")};
  });
}

Result<std::string> UpstreamLocator::ExperimentOfRun(const std::string& run_id) {
  HK_TRY(owner, Run(run_id));
  return owner.experiment_id;
}

Result<std::string> UpstreamLocator::ExperimentOfLoggedModel(const std::string& model_id) {
  HK_TRY(owner, LoggedModel(model_id));
  return owner.experiment_id;
}

Result<std::string> UpstreamLocator::ExperimentIdByName(const std::string& name) {
  HK_TRY(body, Get("/api/2.0/mlflow/experiments/get-by-name", {{"experiment_name", name}}));
  simdjson::dom::parser parser;
  HK_TRY(root, ParseJson(parser, body, client_.config()));
  auto id = StringAt(root, "/experiment/experiment_id");
  if (!id) return tl::unexpected(Malformed(client_.config(), "the experiment's id"));
  return *id;
}

Result<std::string> UpstreamLocator::ExperimentName(const std::string& experiment_id) {
  HK_TRY(body, Get("/api/2.0/mlflow/experiments/get", {{"experiment_id", experiment_id}}));
  simdjson::dom::parser parser;
  HK_TRY(root, ParseJson(parser, body, client_.config()));
  auto name = StringAt(root, "/experiment/name");
  if (!name) return tl::unexpected(Malformed(client_.config(), "the experiment's name"));
  return *name;
}

Result<std::string> UpstreamLocator::ExperimentOfArtifactPath(std::string_view path) {
  return mlflow_api::CheckArtifactPath(
      path, [this](const std::string& id) { return Run(id); },
      [this](const std::string& id) { return LoggedModel(id); });
}

}  // namespace hokusai::gateway
