#include <set>

#include <fmt/format.h>

#include "common/limits.hpp"
#include "common/util.hpp"
#include "mlflow_api/caller.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {
namespace {

constexpr std::string_view kRunStatuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                             "KILLED"};

Result<std::optional<std::string>> RunStatusArg(const Args& args) {
  auto text = args.OptString("status");
  std::string name;
  if (!text) {
    HK_TRY(number, args.OptInt("status"));
    if (!number) return std::optional<std::string>();
    if (*number < 1 || *number > 5) return InvalidParameter("Invalid value for parameter 'status'");
    return std::optional<std::string>(std::string(kRunStatuses[*number - 1]));
  }
  if (!*text) return std::optional<std::string>();
  for (std::string_view status : kRunStatuses) {
    if (**text == status) return std::optional<std::string>(std::string(status));
  }
  return InvalidParameter(fmt::format("Invalid value '{}' for parameter 'status'", **text));
}

Result<store::Tag> RunTagArg(const Args& item) {
  HK_TRY(key, item.ReqString("key"));
  HK_CHECK(ValidateKey(key, "key"));
  HK_TRY(value, item.OptString("value"));
  return store::Tag{std::move(key), TruncateValue(value.value_or(""), limits::kMaxRunTagValueLength)};
}

Result<store::Tag> ParamArg(const Args& item) {
  HK_TRY(key, item.ReqString("key"));
  HK_CHECK(ValidateKey(key, "key"));
  HK_TRY(value, item.ReqString("value"));
  return store::Tag{std::move(key), TruncateValue(std::move(value), limits::kMaxParamValueLength)};
}

Response RunResponse(const store::Run& run) {
  json::Writer w;
  w.BeginObject().Key("run");
  WriteRun(w, run);
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace

Result<store::Metric> MetricArg(const Args& item) {
  store::Metric m;
  HK_TRY(key, item.ReqString("key"));
  m.key = std::move(key);
  HK_TRY(value, item.ReqDouble("value"));
  m.value = value;
  HK_TRY(timestamp, item.ReqInt("timestamp"));
  m.timestamp = timestamp;
  HK_TRY(step, item.OptInt("step"));
  m.step = step.value_or(0);
  HK_TRY(model_id, item.OptString("model_id"));
  m.model_id = model_id.value_or("");
  HK_TRY(dataset_name, item.OptString("dataset_name"));
  m.dataset_name = dataset_name.value_or("");
  HK_TRY(dataset_digest, item.OptString("dataset_digest"));
  m.dataset_digest = dataset_digest.value_or("");
  HK_CHECK(ValidateMetric(m));
  return m;
}

Result<Response> CreateRun(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::CreateRunArgs create;
  HK_TRY(experiment_id, args.OptString("experiment_id"));
  create.experiment_id = experiment_id.value_or("0");
  HK_TRY(user_id, args.OptString("user_id"));
  // An authenticated caller is the run's user, whatever the client claims.
  std::string caller = CallerId(request);
  create.user_id = caller.empty() ? user_id.value_or("") : caller;
  HK_TRY(run_name, args.OptString("run_name"));
  create.run_name = run_name.value_or("");
  if (create.run_name.size() > limits::kMaxRunNameLength) {
    return InvalidParameter(fmt::format("Run name exceeds the maximum length of {} characters",
                                        limits::kMaxRunNameLength));
  }
  HK_TRY(start_time, args.OptInt("start_time"));
  create.start_time = start_time.value_or(NowMillis());
  HK_TRY(items, args.ObjectList("tags"));
  for (const Args& item : items) {
    HK_TRY(tag, RunTagArg(item));
    create.tags.push_back(std::move(tag));
  }
  HK_TRY(run, store.CreateRun(create));
  return RunResponse(run);
}

Result<Response> GetRun(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(run, store.GetRun(run_id));
  return RunResponse(run);
}

Result<Response> UpdateRun(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::UpdateRunArgs update;
  HK_TRY(run_id, RunIdArg(args));
  update.run_id = std::move(run_id);
  HK_TRY(status, RunStatusArg(args));
  update.status = std::move(status);
  HK_TRY(end_time, args.OptInt("end_time"));
  update.end_time = end_time;
  HK_TRY(run_name, args.OptString("run_name"));
  update.run_name = std::move(run_name);
  HK_TRY(info, store.UpdateRun(update));
  json::Writer w;
  w.BeginObject().Key("run_info");
  WriteRunInfo(w, info);
  w.EndObject();
  return Response::Json(w.Take());
}

Result<Response> DeleteRun(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_CHECK(store.DeleteRun(run_id));
  return EmptyJson();
}

Result<Response> RestoreRun(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_CHECK(store.RestoreRun(run_id));
  return EmptyJson();
}

Result<Response> SearchRuns(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(params, SearchParamsArg(args, store::SearchTarget::kRuns, limits::kDefaultMaxResultsRuns,
                                 limits::kMaxResultsRuns));
  store::SearchRunsArgs search;
  search.filter = std::move(params.filter);
  search.order_by = std::move(params.order_by);
  search.max_results = params.max_results;
  search.offset = params.offset;
  HK_TRY(experiment_ids, args.StringList("experiment_ids"));
  if (experiment_ids.size() > limits::kMaxExperimentIdsPerSearch) {
    return InvalidParameter("Too many experiment_ids");
  }
  search.experiment_ids = std::move(experiment_ids);
  HK_TRY(view_type, ViewTypeArg(args, "run_view_type"));
  search.view_type = view_type;
  HK_TRY(page, store.SearchRuns(search));
  return PageResponse("runs", page, params.offset, WriteRun);
}

Result<Response> SetRunTag(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(value, args.ReqString("value"));
  (void)value;
  HK_TRY(tag, RunTagArg(args));
  HK_CHECK(store.SetRunTag(run_id, tag));
  return EmptyJson();
}

Result<Response> DeleteRunTag(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(key, args.ReqString("key"));
  HK_CHECK(store.DeleteRunTag(run_id, key));
  return EmptyJson();
}

Result<Response> LogParameter(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(param, ParamArg(args));
  HK_CHECK(store.LogBatch(run_id, {}, {param}, {}));
  return EmptyJson();
}

Result<Response> LogBatch(Store& store, const Request& request) {
  if (request.body.size() > limits::kMaxBatchRequestBytes) {
    return InvalidParameter(fmt::format("Batched logging API requests must be at most {} bytes",
                                        limits::kMaxBatchRequestBytes));
  }
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(metric_items, args.ObjectList("metrics"));
  HK_TRY(param_items, args.ObjectList("params"));
  HK_TRY(tag_items, args.ObjectList("tags"));
  HK_CHECK(ValidateBatchLimits(metric_items.size(), param_items.size(), tag_items.size()));

  std::vector<store::Metric> metrics;
  metrics.reserve(metric_items.size());
  for (const Args& item : metric_items) {
    HK_TRY(metric, MetricArg(item));
    metrics.push_back(std::move(metric));
  }
  std::vector<store::Tag> params;
  std::set<std::string> param_keys;
  for (const Args& item : param_items) {
    HK_TRY(param, ParamArg(item));
    if (!param_keys.insert(param.key).second) {
      return InvalidParameter(
          fmt::format("Duplicate parameter keys have been submitted: ['{}']", param.key));
    }
    params.push_back(std::move(param));
  }
  std::vector<store::Tag> tags;
  for (const Args& item : tag_items) {
    HK_TRY(tag, RunTagArg(item));
    tags.push_back(std::move(tag));
  }
  HK_CHECK(store.LogBatch(run_id, metrics, params, tags));
  return EmptyJson();
}

Result<Response> LogModel(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(model_json, args.ReqString("model_json"));
  HK_TRY(run, store.GetRun(run_id));
  constexpr std::string_view kHistoryTag = "mlflow.log-model.history";
  std::string history = "[]";
  for (const store::Tag& tag : run.tags) {
    if (tag.key == kHistoryTag) history = tag.value;
  }
  // The tag holds a JSON array; append the new model document to it.
  while (!history.empty() && (history.back() == ' ' || history.back() == '\n')) history.pop_back();
  if (history.size() < 2 || history.front() != '[' || history.back() != ']') history = "[]";
  history.pop_back();
  if (history.size() > 1) history += ", ";
  history += model_json;
  history += "]";
  HK_CHECK(store.SetRunTag(run_id, store::Tag{std::string(kHistoryTag), history}));
  return EmptyJson();
}

Result<Response> LogInputs(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(dataset_items, args.ObjectList("datasets"));
  std::vector<store::DatasetInput> datasets;
  for (const Args& item : dataset_items) {
    store::DatasetInput input;
    HK_TRY(tag_items, item.ObjectList("tags"));
    for (const Args& tag_item : tag_items) {
      HK_TRY(key, tag_item.ReqString("key"));
      HK_TRY(value, tag_item.ReqString("value"));
      if (key.size() > limits::kMaxInputTagKeyLength ||
          value.size() > limits::kMaxInputTagValueLength) {
        return InvalidParameter("Input tag key or value exceeds the maximum length");
      }
      input.tags.push_back(store::Tag{std::move(key), std::move(value)});
    }
    HK_TRY(dataset, item.OptObject("dataset"));
    if (!dataset) return tl::unexpected(MissingParameter("dataset"));
    HK_TRY(name, dataset->ReqString("name"));
    HK_TRY(digest, dataset->ReqString("digest"));
    HK_TRY(source_type, dataset->ReqString("source_type"));
    HK_TRY(source, dataset->ReqString("source"));
    HK_TRY(schema, dataset->OptString("schema"));
    HK_TRY(profile, dataset->OptString("profile"));
    input.dataset = store::Dataset{name, digest, source_type, source, schema.value_or(""),
                                   profile.value_or("")};
    if (name.size() > limits::kMaxDatasetNameLength ||
        digest.size() > limits::kMaxDatasetDigestLength ||
        source.size() > limits::kMaxDatasetSourceLength ||
        input.dataset.schema.size() > limits::kMaxDatasetSchemaLength ||
        input.dataset.profile.size() > limits::kMaxDatasetProfileLength) {
      return InvalidParameter("Dataset field exceeds the maximum length");
    }
    datasets.push_back(std::move(input));
  }
  HK_TRY(model_items, args.ObjectList("models"));
  std::vector<std::string> model_ids;
  for (const Args& item : model_items) {
    HK_TRY(model_id, item.ReqString("model_id"));
    model_ids.push_back(std::move(model_id));
  }
  HK_CHECK(store.LogInputs(run_id, datasets, model_ids));
  return EmptyJson();
}

Result<Response> LogOutputs(Store& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(items, args.ObjectList("models"));
  std::vector<store::ModelOutput> outputs;
  for (const Args& item : items) {
    HK_TRY(model_id, item.ReqString("model_id"));
    HK_TRY(step, item.OptInt("step"));
    outputs.push_back(store::ModelOutput{std::move(model_id), step.value_or(0)});
  }
  HK_CHECK(store.LogOutputs(run_id, outputs));
  return EmptyJson();
}

}  // namespace hokusai::mlflow_api
