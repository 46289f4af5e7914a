#include <string>
#include <vector>

#include <fmt/format.h>

#include "mlflow_api/caller.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {
namespace {

using SourceKind = store::ModelVersionSource::Kind;

constexpr std::string_view kPromptTag = "mlflow.prompt.is_prompt";
// The placeholder sources MLflow's prompt registry gives prompt versions (the fluent API and
// the registry store use different ones). They name no location.
constexpr std::string_view kPromptPlaceholderSources[] = {"prompt-template", "dummy-source"};
constexpr std::string_view kAcceptedForms =
    "accepted sources are models:/<model_id>, models:/<name>/<version>, "
    "runs:/<run_id>/<path> and mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path> or "
    "mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts/<path>";

Error BadSource(std::string_view source, std::string_view why) {
  // Quote at most a bounded prefix: the source can be long and is echoed back.
  std::string shown(source.substr(0, 200));
  if (source.size() > 200) shown += "...";
  return Error{ErrorCode::kInvalidParameterValue,
               fmt::format("Invalid model version source '{}': {}", shown, why)};
}

bool IsDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "m-" + 32 lowercase hex: the ids this server gives logged models.
bool IsLoggedModelId(std::string_view text) {
  return text.size() == 34 && text.substr(0, 2) == "m-" && IsLowerHex(text.substr(2));
}

// A run id as MLflow accepts them: [A-Za-z0-9][\w-]{0,255}.
bool IsRunId(std::string_view text) { return ValidateRunId(text).has_value(); }

// Splits `text` at '/' (keeping empty pieces).
std::vector<std::string_view> Segments(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find('/', start);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

// A relative artifact path below a run's or model's root: empty (the root itself), or
// non-empty segments other than "." and "..", one optional trailing '/' dropped. Characters
// were checked by the caller.
Result<std::string> RelativePath(std::string_view source, std::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return std::string();
  for (std::string_view segment : Segments(path)) {
    if (segment.empty()) {
      return tl::unexpected(BadSource(source, "the artifact path has an empty segment ('//' or "
                                              "a leading '/')"));
    }
    if (segment == "." || segment == "..") {
      return tl::unexpected(
          BadSource(source, "the artifact path must not contain '.' or '..' segments"));
    }
  }
  return std::string(path);
}

Result<store::ModelVersionSource> ParseModelsUri(std::string_view source, std::string_view rest) {
  store::ModelVersionSource out;
  if (IsLoggedModelId(rest)) {
    out.kind = SourceKind::kLoggedModel;
    out.model_id = std::string(rest);
    return out;
  }
  std::size_t slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || !IsDigits(rest.substr(slash + 1))) {
    return tl::unexpected(BadSource(
        source, "expected models:/<logged model id> or models:/<name>/<version number>"));
  }
  out.kind = SourceKind::kModelVersion;
  out.name = std::string(rest.substr(0, slash));
  out.version = std::string(rest.substr(slash + 1));
  return out;
}

Result<store::ModelVersionSource> ParseRunsUri(std::string_view source, std::string_view rest) {
  store::ModelVersionSource out;
  out.kind = SourceKind::kRun;
  std::size_t slash = rest.find('/');
  std::string_view run_id = rest.substr(0, slash);
  if (!IsRunId(run_id)) {
    return tl::unexpected(BadSource(source, "expected runs:/<run_id>/<artifact path>"));
  }
  out.run_id = std::string(run_id);
  if (slash != std::string_view::npos) {
    HK_TRY(path, RelativePath(source, rest.substr(slash + 1)));
    out.path = std::move(path);
  }
  return out;
}

Result<store::ModelVersionSource> ParseMlflowArtifactsUri(std::string_view source,
                                                          std::string_view rest) {
  store::ModelVersionSource out;
  std::vector<std::string_view> parts = Segments(rest);
  auto expected = [&] {
    return tl::unexpected(BadSource(
        source, "expected mlflow-artifacts:/<experiment_id>/<run_id>/artifacts[/<path>] or "
                "mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts[/<path>]"));
  };
  if (parts.size() < 3 || !IsDigits(parts[0])) return expected();
  out.experiment_id = std::string(parts[0]);
  std::size_t root_segments = 0;
  if (parts[1] == "models") {
    if (parts.size() < 4 || !IsLoggedModelId(parts[2]) || parts[3] != "artifacts") {
      return expected();
    }
    out.kind = SourceKind::kModelArtifacts;
    out.model_id = std::string(parts[2]);
    root_segments = 4;
  } else {
    if (!IsRunId(parts[1]) || parts[2] != "artifacts") return expected();
    out.kind = SourceKind::kRunArtifacts;
    out.run_id = std::string(parts[1]);
    root_segments = 3;
  }
  // What follows the root, as one relative path.
  std::size_t offset = 0;
  for (std::size_t i = 0; i < root_segments; ++i) offset += parts[i].size() + 1;
  if (offset < rest.size()) {
    HK_TRY(path, RelativePath(source, rest.substr(offset)));
    out.path = std::move(path);
  }
  return out;
}

Response ModelVersionResponse(const store::ModelVersion& version) {
  json::Writer w;
  w.BeginObject().Key("model_version");
  WriteModelVersion(w, version);
  w.EndObject();
  return Response::Json(w.Take());
}

Result<std::string> NameArg(const Args& args) {
  HK_TRY(name, args.ReqString("name"));
  HK_CHECK(ValidateModelName(name, "name"));
  return std::move(name);
}

}  // namespace

Result<std::string> VersionArg(const Args& args) {
  auto text = args.OptString("version");
  if (text) {
    if (!*text || (*text)->empty()) return tl::unexpected(MissingParameter("version"));
    return std::move(**text);
  }
  HK_TRY(number, args.OptInt("version"));
  if (!number) return tl::unexpected(MissingParameter("version"));
  return std::to_string(*number);
}

Result<store::ModelVersionSource> ParseModelVersionSource(std::string_view source,
                                                          bool is_prompt) {
  if (source.empty()) return tl::unexpected(MissingParameter("source"));
  if (source.size() > registry_limits::kMaxSourceLength) {
    return tl::unexpected(BadSource(
        source, fmt::format("longer than {} characters", registry_limits::kMaxSourceLength)));
  }
  for (std::string_view placeholder : kPromptPlaceholderSources) {
    if (is_prompt && source == placeholder) {
      store::ModelVersionSource out;
      out.kind = SourceKind::kPromptTemplate;
      return out;
    }
  }
  for (char c : source) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return tl::unexpected(BadSource(source, "control character"));
    if (c == '\\') return tl::unexpected(BadSource(source, "backslash"));
    if (c == '%') {
      return tl::unexpected(BadSource(source, "percent-escapes are not accepted"));
    }
    if (c == '?' || c == '#') {
      return tl::unexpected(BadSource(source, "query strings and fragments are not accepted"));
    }
  }
  struct Scheme {
    std::string_view prefix;
    Result<store::ModelVersionSource> (*parse)(std::string_view, std::string_view);
  };
  constexpr Scheme kSchemes[] = {
      {"models:/", ParseModelsUri},
      {"runs:/", ParseRunsUri},
      {"mlflow-artifacts:/", ParseMlflowArtifactsUri},
  };
  for (const Scheme& scheme : kSchemes) {
    if (source.substr(0, scheme.prefix.size()) != scheme.prefix) continue;
    std::string_view rest = source.substr(scheme.prefix.size());
    if (!rest.empty() && rest.front() == '/') {
      return tl::unexpected(BadSource(
          source, "a host ('//') is not accepted: the source must name this server's own "
                  "artifacts, as <scheme>:/<path>"));
    }
    return scheme.parse(source, rest);
  }
  std::size_t colon = source.find(':');
  std::size_t slash = source.find('/');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon)) {
    return tl::unexpected(BadSource(
        source, fmt::format("local paths are not accepted; {}", kAcceptedForms)));
  }
  std::string_view scheme = source.substr(0, colon);
  if (scheme == "http" || scheme == "https") {
    return tl::unexpected(BadSource(
        source, fmt::format("http(s) URLs are not accepted, because the server cannot verify "
                            "what another host serves; {}",
                            kAcceptedForms)));
  }
  return tl::unexpected(BadSource(
      source, fmt::format("the '{}' scheme is not accepted; {}", scheme, kAcceptedForms)));
}

Result<Response> CreateModelVersion(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::CreateModelVersionArgs create;
  HK_TRY(name, NameArg(args));
  create.name = std::move(name);
  HK_TRY(items, args.ObjectList("tags"));
  if (items.size() > registry_limits::kMaxTagsPerRequest) {
    return InvalidParameter("Too many tags");
  }
  bool is_prompt = false;
  for (const Args& item : items) {
    HK_TRY(key, item.ReqString("key"));
    HK_TRY(value, item.OptString("value"));
    store::Tag tag{std::move(key), value.value_or("")};
    HK_CHECK(ValidateRegistryTag(tag));
    is_prompt = is_prompt || tag.key == kPromptTag;
    create.tags.push_back(std::move(tag));
  }
  HK_TRY(source, args.ReqString("source"));
  HK_TRY(parsed, ParseModelVersionSource(source, is_prompt));
  create.source = std::move(source);
  create.parsed_source = std::move(parsed);
  HK_TRY(run_id, args.OptString("run_id"));
  if (run_id && !run_id->empty()) {
    HK_CHECK(ValidateRunId(*run_id));
    create.run_id = std::move(*run_id);
  }
  HK_TRY(model_id, args.OptString("model_id"));
  create.model_id = model_id.value_or("");
  HK_TRY(run_link, args.OptString("run_link"));
  create.run_link = run_link.value_or("");
  if (create.run_link.size() > registry_limits::kMaxRunLinkLength) {
    return InvalidParameter(fmt::format("'run_link' exceeds the maximum length of {} characters",
                                        registry_limits::kMaxRunLinkLength));
  }
  HK_TRY(description, OptDescriptionArg(args));
  create.description = description.value_or("");
  create.user_id = CallerId(request);
  HK_TRY(version, store.CreateModelVersion(create));
  return ModelVersionResponse(version);
}

Result<Response> GetModelVersion(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(found, store.GetModelVersion(name, version));
  return ModelVersionResponse(found);
}

Result<Response> UpdateModelVersion(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(description, OptDescriptionArg(args));
  HK_TRY(updated, store.UpdateModelVersion(name, version, description));
  return ModelVersionResponse(updated);
}

Result<Response> DeleteModelVersion(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_CHECK(store.DeleteModelVersion(name, version));
  return EmptyJson();
}

Result<Response> SearchModelVersions(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(params, SearchParamsArg(args, store::SearchTarget::kModelVersions, registry_limits::kDefaultMaxResultsModelVersions,
                                 registry_limits::kMaxResultsModelVersions));
  store::SearchRegistryArgs search;
  search.visibility = ModelVisibility(request);
  search.filter = std::move(params.filter);
  search.order_by = std::move(params.order_by);
  search.max_results = params.max_results;
  search.offset = params.offset;
  HK_TRY(page, store.SearchModelVersions(search));
  return PageResponse("model_versions", page, params.offset, WriteModelVersion);
}

Result<Response> TransitionModelVersionStage(store::RegistryStore& store,
                                             const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(stage, args.ReqString("stage"));
  auto canonical = store::CanonicalStage(stage);
  if (!canonical) {
    return InvalidParameter(fmt::format(
        "Invalid Model Version stage: {}. Value must be one of None, Staging, Production, "
        "Archived.",
        stage));
  }
  HK_TRY(archive, args.OptBool("archive_existing_versions"));
  HK_TRY(updated, store.TransitionModelVersionStage(name, version, std::string(*canonical),
                                                    archive.value_or(false)));
  return ModelVersionResponse(updated);
}

Result<Response> GetModelVersionDownloadUri(store::RegistryStore& store,
                                            const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(uri, store.GetModelVersionDownloadUri(name, version));
  json::Writer w;
  w.BeginObject().Field("artifact_uri", uri).EndObject();
  return Response::Json(w.Take());
}

Result<Response> SetModelVersionTag(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(key, args.ReqString("key"));
  HK_TRY(value, args.OptString("value"));
  store::Tag tag{std::move(key), value.value_or("")};
  HK_CHECK(ValidateRegistryTag(tag));
  HK_CHECK(store.SetModelVersionTag(name, version, tag));
  return EmptyJson();
}

Result<Response> DeleteModelVersionTag(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(version, VersionArg(args));
  HK_TRY(key, args.ReqString("key"));
  HK_CHECK(ValidateKey(key, "key"));
  HK_CHECK(store.DeleteModelVersionTag(name, version, key));
  return EmptyJson();
}

}  // namespace hokusai::mlflow_api
