#include <fmt/format.h>

#include "common/limits.hpp"
#include "mlflow_api/caller.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {

Response EmptyJson() { return Response::Json("{}"); }

Result<std::string> RunIdArg(const Args& args) {
  HK_TRY(run_id, args.OptString("run_id"));
  if (!run_id || run_id->empty()) {
    HK_TRY(run_uuid, args.OptString("run_uuid"));
    if (!run_uuid || run_uuid->empty()) return tl::unexpected(MissingParameter("run_id"));
    run_id = std::move(run_uuid);
  }
  HK_CHECK(ValidateRunId(*run_id));
  return std::move(*run_id);
}

Result<store::ViewType> ViewTypeArg(const Args& args, std::string_view key) {
  auto invalid = [&] { return InvalidParameter(fmt::format("Invalid value for parameter '{}'", key)); };
  auto text = args.OptString(key);
  std::string name;
  if (!text) {
    // The enum may also arrive as its number.
    HK_TRY(number, args.OptInt(key));
    name = number ? std::to_string(*number) : "";
  } else if (*text) {
    name = **text;
  }
  if (name.empty() || name == "ACTIVE_ONLY" || name == "1") return store::ViewType::kActiveOnly;
  if (name == "DELETED_ONLY" || name == "2") return store::ViewType::kDeletedOnly;
  if (name == "ALL" || name == "3") return store::ViewType::kAll;
  return invalid();
}

Result<int64_t> MaxResultsArg(const Args& args, int64_t default_value, int64_t maximum) {
  HK_TRY(value, args.OptInt("max_results"));
  if (!value) return default_value;
  if (*value <= 0 || *value > maximum) {
    return InvalidParameter(fmt::format(
        "Invalid value {} for parameter 'max_results' supplied. It must be a positive integer "
        "at most {}",
        *value, maximum));
  }
  return *value;
}

Result<SearchParams> SearchParamsArg(const Args& args, store::SearchTarget target,
                                     int64_t default_max_results, int64_t max_results) {
  SearchParams params;
  HK_TRY(max, MaxResultsArg(args, default_max_results, max_results));
  params.max_results = max;
  HK_TRY(filter, args.OptString("filter"));
  HK_TRY(clauses, store::ParseFilter(filter.value_or(""), target));
  params.filter = std::move(clauses);
  HK_TRY(order_by, args.StringList("order_by"));
  HK_TRY(terms, store::ParseOrderBy(order_by, target));
  params.order_by = std::move(terms);
  HK_TRY(token, args.OptString("page_token"));
  HK_TRY(offset, DecodePageToken(token.value_or("")));
  params.offset = offset;
  return params;
}

namespace {

Result<std::vector<store::Tag>> ExperimentTagsArg(const Args& args) {
  HK_TRY(items, args.ObjectList("tags"));
  std::vector<store::Tag> tags;
  for (const Args& item : items) {
    HK_TRY(key, item.ReqString("key"));
    HK_TRY(value, item.OptString("value"));
    store::Tag tag{std::move(key), value.value_or("")};
    HK_CHECK(ValidateExperimentTag(tag));
    tags.push_back(std::move(tag));
  }
  return tags;
}

Result<Response> ExperimentResponse(const store::Experiment& experiment) {
  json::Writer w;
  w.BeginObject().Key("experiment");
  WriteExperiment(w, experiment);
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace

Result<Response> CreateExperiment(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, args.ReqString("name"));
  HK_CHECK(ValidateExperimentName(name));
  HK_TRY(artifact_location, args.OptString("artifact_location"));
  if (artifact_location && !artifact_location->empty()) {
    // Security principle 4: the server chooses storage locations.
    return InvalidParameter(
        "'artifact_location' cannot be chosen by the client: this server assigns "
        "mlflow-artifacts:/<experiment_id> to every experiment");
  }
  HK_TRY(tags, ExperimentTagsArg(args));
  HK_TRY(id, store.CreateExperiment(name, "", tags, CallerId(request)));
  json::Writer w;
  w.BeginObject().Field("experiment_id", id).EndObject();
  return Response::Json(w.Take());
}

Result<Response> GetExperiment(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_TRY(experiment, store.GetExperiment(id));
  return ExperimentResponse(experiment);
}

Result<Response> GetExperimentByName(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, args.ReqString("experiment_name"));
  HK_TRY(experiment, store.GetExperimentByName(name));
  return ExperimentResponse(experiment);
}

Result<Response> SearchExperiments(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(params, SearchParamsArg(args, store::SearchTarget::kExperiments,
                                 limits::kDefaultMaxResultsExperiments,
                                 limits::kMaxResultsExperiments));
  store::SearchExperimentsArgs search;
  search.visibility = ExperimentVisibility(request);
  search.filter = std::move(params.filter);
  search.order_by = std::move(params.order_by);
  search.max_results = params.max_results;
  search.offset = params.offset;
  HK_TRY(view_type, ViewTypeArg(args, "view_type"));
  search.view_type = view_type;
  HK_TRY(page, store.SearchExperiments(search));
  return PageResponse("experiments", page, params.offset, WriteExperiment);
}

Result<Response> DeleteExperiment(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_CHECK(store.DeleteExperiment(id));
  return EmptyJson();
}

Result<Response> RestoreExperiment(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_CHECK(store.RestoreExperiment(id));
  return EmptyJson();
}

Result<Response> UpdateExperiment(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_TRY(new_name, args.OptString("new_name"));
  if (new_name && !new_name->empty()) {
    HK_CHECK(ValidateExperimentName(*new_name));
    HK_CHECK(store.RenameExperiment(id, *new_name));
  } else {
    HK_TRY(experiment, store.GetExperiment(id));
    (void)experiment;
  }
  return EmptyJson();
}

Result<Response> SetExperimentTag(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_TRY(key, args.ReqString("key"));
  HK_TRY(value, args.ReqString("value"));
  store::Tag tag{std::move(key), std::move(value)};
  HK_CHECK(ValidateExperimentTag(tag));
  HK_CHECK(store.SetExperimentTag(id, tag));
  return EmptyJson();
}

Result<Response> DeleteExperimentTag(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(id, args.ReqString("experiment_id"));
  HK_TRY(key, args.ReqString("key"));
  HK_CHECK(store.DeleteExperimentTag(id, key));
  return EmptyJson();
}

}  // namespace hokusai::mlflow_api
