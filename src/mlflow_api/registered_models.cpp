#include <string>
#include <vector>

#include <fmt/format.h>

#include "mlflow_api/caller.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {

Result<std::optional<std::string>> OptDescriptionArg(const Args& args) {
  HK_TRY(description, args.OptString("description"));
  if (description && CodePoints(*description) > registry_limits::kMaxDescriptionLength) {
    return InvalidParameter(fmt::format("'description' exceeds the maximum length of {} "
                                        "characters",
                                        registry_limits::kMaxDescriptionLength));
  }
  return std::move(description);
}

namespace {

bool IsAliasChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

Response RegisteredModelResponse(const store::RegisteredModel& model) {
  json::Writer w;
  w.BeginObject().Key("registered_model");
  WriteRegisteredModel(w, model);
  w.EndObject();
  return Response::Json(w.Take());
}

Result<std::string> NameArg(const Args& args) {
  HK_TRY(name, args.ReqString("name"));
  HK_CHECK(ValidateModelName(name, "name"));
  return std::move(name);
}

Result<std::string> DescriptionArg(const Args& args) {
  HK_TRY(description, OptDescriptionArg(args));
  return description.value_or("");
}

Result<std::string> AliasArg(const Args& args) {
  HK_TRY(alias, args.ReqString("alias"));
  HK_CHECK(ValidateAliasName(alias));
  return std::move(alias);
}

}  // namespace

Result<void> ValidateModelName(std::string_view name, std::string_view field) {
  if (name.empty()) return tl::unexpected(MissingParameter(field));
  if (CodePoints(name) > registry_limits::kMaxModelNameLength) {
    return InvalidParameter(fmt::format("'{}' exceeds the maximum length of {} characters",
                                        field, registry_limits::kMaxModelNameLength));
  }
  return {};
}

Result<void> ValidateRegistryTag(const store::Tag& tag) {
  HK_CHECK(ValidateKey(tag.key, "key"));
  if (CodePoints(tag.key) > registry_limits::kMaxTagKeyLength) {
    return InvalidParameter(fmt::format("Tag key exceeds the maximum length of {} characters",
                                        registry_limits::kMaxTagKeyLength));
  }
  if (CodePoints(tag.value) > registry_limits::kMaxTagValueLength) {
    return InvalidParameter(fmt::format("Tag value exceeds the maximum length of {} characters",
                                        registry_limits::kMaxTagValueLength));
  }
  return {};
}

Result<void> ValidateAliasName(std::string_view alias) {
  if (alias.empty()) return InvalidParameter("Registered model alias name cannot be empty.");
  for (char c : alias) {
    if (!IsAliasChar(c)) {
      return InvalidParameter(fmt::format(
          "Invalid alias name: '{}'. Names may only contain alphanumerics, underscores (_), and "
          "dashes (-).",
          alias));
    }
  }
  if (alias.size() > registry_limits::kMaxAliasLength) {
    return InvalidParameter(fmt::format(
        "Registered model alias name exceeds the maximum length of {} characters",
        registry_limits::kMaxAliasLength));
  }
  return {};
}

Result<void> ValidateAliasNotReserved(std::string_view alias) {
  std::string lower(alias);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lower == "latest") {
    return InvalidParameter("'latest' alias name (case insensitive) is reserved.");
  }
  bool version_like = alias.size() >= 2 && (alias[0] == 'v' || alias[0] == 'V');
  for (std::size_t i = 1; version_like && i < alias.size(); ++i) {
    version_like = alias[i] >= '0' && alias[i] <= '9';
  }
  if (version_like) {
    return InvalidParameter(fmt::format("Version alias name '{}' is reserved.", alias));
  }
  return {};
}

Result<Response> CreateRegisteredModel(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::CreateRegisteredModelArgs create;
  create.owner = CallerId(request);
  HK_TRY(name, NameArg(args));
  create.name = std::move(name);
  HK_TRY(description, DescriptionArg(args));
  create.description = std::move(description);
  HK_TRY(items, args.ObjectList("tags"));
  if (items.size() > registry_limits::kMaxTagsPerRequest) {
    return InvalidParameter("Too many tags");
  }
  for (const Args& item : items) {
    HK_TRY(key, item.ReqString("key"));
    HK_TRY(value, item.OptString("value"));
    store::Tag tag{std::move(key), value.value_or("")};
    HK_CHECK(ValidateRegistryTag(tag));
    create.tags.push_back(std::move(tag));
  }
  HK_TRY(model, store.CreateRegisteredModel(create));
  return RegisteredModelResponse(model);
}

Result<Response> GetRegisteredModel(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(model, store.GetRegisteredModel(name));
  return RegisteredModelResponse(model);
}

Result<Response> RenameRegisteredModel(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(new_name, args.ReqString("new_name"));
  HK_CHECK(ValidateModelName(new_name, "new_name"));
  HK_TRY(model, store.RenameRegisteredModel(name, new_name));
  return RegisteredModelResponse(model);
}

Result<Response> UpdateRegisteredModel(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(description, DescriptionArg(args));
  HK_TRY(model, store.UpdateRegisteredModel(name, description));
  return RegisteredModelResponse(model);
}

Result<Response> DeleteRegisteredModel(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_CHECK(store.DeleteRegisteredModel(name));
  return EmptyJson();
}

Result<Response> SearchRegisteredModels(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(params, SearchParamsArg(args, store::SearchTarget::kRegisteredModels, registry_limits::kDefaultMaxResultsRegisteredModels,
                                 registry_limits::kMaxResultsRegisteredModels));
  store::SearchRegistryArgs search;
  search.visibility = ModelVisibility(request);
  search.filter = std::move(params.filter);
  search.order_by = std::move(params.order_by);
  search.max_results = params.max_results;
  search.offset = params.offset;
  HK_TRY(page, store.SearchRegisteredModels(search));
  return PageResponse("registered_models", page, params.offset, WriteRegisteredModel);
}

Result<Response> GetLatestVersions(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(requested, args.StringList("stages"));
  std::vector<std::string> stages;
  for (const std::string& stage : requested) {
    auto canonical = store::CanonicalStage(stage);
    if (!canonical) {
      return InvalidParameter(fmt::format(
          "Invalid Model Version stage: {}. Value must be one of None, Staging, Production, "
          "Archived.",
          stage));
    }
    bool seen = false;
    for (const std::string& s : stages) seen = seen || s == *canonical;
    if (!seen) stages.emplace_back(*canonical);
  }
  HK_TRY(versions, store.GetLatestVersions(name, stages));
  json::Writer w;
  w.BeginObject().Key("model_versions").BeginArray();
  for (const store::ModelVersion& version : versions) WriteModelVersion(w, version);
  w.EndArray().EndObject();
  return Response::Json(w.Take());
}

Result<Response> SetRegisteredModelTag(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(key, args.ReqString("key"));
  HK_TRY(value, args.OptString("value"));
  store::Tag tag{std::move(key), value.value_or("")};
  HK_CHECK(ValidateRegistryTag(tag));
  HK_CHECK(store.SetRegisteredModelTag(name, tag));
  return EmptyJson();
}

Result<Response> DeleteRegisteredModelTag(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(key, args.ReqString("key"));
  HK_CHECK(ValidateKey(key, "key"));
  HK_CHECK(store.DeleteRegisteredModelTag(name, key));
  return EmptyJson();
}

Result<Response> SetRegisteredModelAlias(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(alias, AliasArg(args));
  HK_CHECK(ValidateAliasNotReserved(alias));
  HK_TRY(version, VersionArg(args));
  HK_CHECK(store.SetRegisteredModelAlias(name, alias, version));
  return EmptyJson();
}

Result<Response> DeleteRegisteredModelAlias(store::RegistryStore& store,
                                            const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(alias, AliasArg(args));
  HK_CHECK(store.DeleteRegisteredModelAlias(name, alias));
  return EmptyJson();
}

Result<Response> GetModelVersionByAlias(store::RegistryStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, NameArg(args));
  HK_TRY(alias, AliasArg(args));
  HK_TRY(version, store.GetModelVersionByAlias(name, alias));
  json::Writer w;
  w.BeginObject().Key("model_version");
  WriteModelVersion(w, version);
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace hokusai::mlflow_api
