#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/limits.hpp"
#include "common/util.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/serialize.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::mlflow_api {
namespace {

constexpr std::string_view kStatusNames[] = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY",
                                             "LOGGED_MODEL_UPLOAD_FAILED"};

Response ModelResponse(const store::LoggedModel& model) {
  json::Writer w;
  w.BeginObject().Key("model");
  WriteLoggedModel(w, model);
  w.EndObject();
  return Response::Json(w.Take());
}

// The model id from the path. A model_id in the body (the client repeats it) must agree: the
// route's resource is the one in the path.
Result<std::string> ModelIdArg(const Request& request, const Args& args) {
  std::string model_id(request.PathParam("model_id"));
  if (model_id.empty()) return tl::unexpected(MissingParameter("model_id"));
  HK_TRY(body_id, args.OptString("model_id"));
  if (body_id && !body_id->empty() && *body_id != model_id) {
    return InvalidParameter(fmt::format(
        "model_id '{}' in the request body does not match '{}' in the path", *body_id, model_id));
  }
  return model_id;
}

Result<void> ValidateLoggedModelName(std::string_view name) {
  constexpr std::string_view kBad = "/:.%\"'";
  if (name.empty() || name.find_first_of(kBad) != std::string_view::npos) {
    return InvalidParameter(fmt::format(
        "Invalid model name ('{}') provided. Model name must be a non-empty string and cannot "
        "contain the following characters: / : . % \" '",
        name));
  }
  if (name.size() > registry_limits::kMaxLoggedModelNameLength) {
    return InvalidParameter(fmt::format("Model name exceeds the maximum length of {} characters",
                                        registry_limits::kMaxLoggedModelNameLength));
  }
  return {};
}

// LoggedModelTag / LoggedModelParameter lists.
Result<std::vector<store::Tag>> KeyValueListArg(const Args& args, std::string_view field,
                                                bool params) {
  HK_TRY(items, args.ObjectList(field));
  if (items.size() > registry_limits::kMaxLoggedModelEntitiesPerRequest) {
    return InvalidParameter(fmt::format("At most {} {} may be sent in one request",
                                        registry_limits::kMaxLoggedModelEntitiesPerRequest,
                                        field));
  }
  std::vector<store::Tag> out;
  out.reserve(items.size());
  for (const Args& item : items) {
    HK_TRY(key, item.ReqString("key"));
    HK_CHECK(ValidateKey(key, "key"));
    HK_TRY(value, item.OptString("value"));
    std::string text = value.value_or("");
    std::size_t limit =
        params ? limits::kMaxParamValueLength : registry_limits::kMaxLoggedModelTagValueLength;
    if (text.size() > limit) {
      return InvalidParameter(fmt::format("Value for '{}' exceeds the maximum length of {}", key,
                                          limit));
    }
    out.push_back(store::Tag{std::move(key), std::move(text)});
  }
  return out;
}

// The status of a finalize request: an enum name, or its number as protobuf JSON allows.
Result<std::string> StatusArg(const Args& args) {
  auto text = args.OptString("status");
  if (text && *text) {
    for (std::string_view name : kStatusNames) {
      if (**text == name) return std::string(name);
    }
    return InvalidParameter(fmt::format("Invalid value '{}' for parameter 'status'", **text));
  }
  if (!text) {
    HK_TRY(number, args.OptInt("status"));
    if (number && *number >= 1 && *number <= 3) return std::string(kStatusNames[*number - 1]);
    if (number) {
      return InvalidParameter(fmt::format("Invalid value {} for parameter 'status'", *number));
    }
  }
  return tl::unexpected(MissingParameter("status"));
}

// ---- search arguments -----------------------------------------------------------------------

constexpr std::pair<std::string_view, std::string_view> kOrderAttributes[] = {
    {"name", "name"},
    {"model_id", "model_id"},
    {"model_type", "model_type"},
    {"status", "status"},
    {"source_run_id", "source_run_id"},
    {"experiment_id", "experiment_id"},
    {"creation_timestamp", "creation_timestamp"},
    {"creation_time", "creation_timestamp"},
    {"last_updated_timestamp", "last_updated_timestamp"},
    {"last_updated_time", "last_updated_timestamp"},
};

Result<store::LoggedModelOrder> OrderArg(const Args& item) {
  store::LoggedModelOrder order;
  HK_TRY(field_name, item.ReqString("field_name"));
  HK_TRY(ascending, item.OptBool("ascending"));
  order.ascending = ascending.value_or(true);
  HK_TRY(dataset_name, item.OptString("dataset_name"));
  order.dataset_name = dataset_name.value_or("");
  HK_TRY(dataset_digest, item.OptString("dataset_digest"));
  order.dataset_digest = dataset_digest.value_or("");
  std::size_t dot = field_name.find('.');
  if (dot == std::string::npos) {
    for (const auto& [spelling, canonical] : kOrderAttributes) {
      if (field_name == spelling) {
        order.kind = store::EntityKind::kAttribute;
        order.key = std::string(canonical);
        return order;
      }
    }
    return InvalidParameter(fmt::format("Invalid order by field name: {}", field_name));
  }
  std::string entity = field_name.substr(0, dot);
  std::string key = field_name.substr(dot + 1);
  if ((entity != "metrics" && entity != "metric") || key.empty()) {
    return InvalidParameter(fmt::format(
        "Invalid order by field name: {}. Only metrics are supported.", field_name));
  }
  if (key.size() >= 2 && key.front() == '`' && key.back() == '`') {
    key = key.substr(1, key.size() - 2);
  }
  order.kind = store::EntityKind::kMetric;
  order.key = std::move(key);
  return order;
}

// FNV-1a: a stable fingerprint of the search parameters, so that a page token is only accepted
// with the parameters it was issued for (as MLflow does). Not a security measure.
class Fingerprint {
 public:
  void Add(std::string_view text) {
    for (char c : text) Mix(static_cast<unsigned char>(c));
    Mix(0x1f);  // field separator, so ("ab","c") differs from ("a","bc")
  }
  std::string Hex() const { return fmt::format("{:016x}", hash_); }

 private:
  void Mix(unsigned char byte) {
    hash_ ^= byte;
    hash_ *= 0x100000001b3ull;
  }
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

std::string EncodeSearchToken(int64_t offset, const std::string& fingerprint) {
  return Base64Encode(fmt::format("{{\"offset\": {}, \"search\": \"{}\"}}", offset, fingerprint));
}

Result<int64_t> DecodeSearchToken(std::string_view token, const std::string& fingerprint) {
  if (token.empty()) return 0;
  auto bad = [] { return InvalidParameter("Invalid page token for logged models search"); };
  if (token.size() > limits::kMaxPageTokenLength) return bad();
  auto decoded = Base64Decode(token);
  if (!decoded) return bad();
  std::string_view text = *decoded;
  constexpr std::string_view kPrefix = "{\"offset\": ";
  constexpr std::string_view kMiddle = ", \"search\": \"";
  constexpr std::string_view kSuffix = "\"}";
  std::size_t middle = text.find(kMiddle);
  if (text.substr(0, kPrefix.size()) != kPrefix || middle == std::string_view::npos ||
      text.size() < middle + kMiddle.size() + kSuffix.size() ||
      text.substr(text.size() - kSuffix.size()) != kSuffix) {
    return bad();
  }
  auto offset = ParseInt64(text.substr(kPrefix.size(), middle - kPrefix.size()));
  if (!offset || *offset < 0) return bad();
  std::string_view issued_for = text.substr(middle + kMiddle.size(),
                                            text.size() - middle - kMiddle.size() - kSuffix.size());
  if (issued_for != fingerprint) {
    return InvalidParameter(
        "The page token was issued for a different search (experiment_ids, filter, datasets or "
        "order_by changed)");
  }
  return *offset;
}

}  // namespace

Result<Response> CreateLoggedModel(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::CreateLoggedModelArgs create;
  HK_TRY(experiment_id, args.ReqString("experiment_id"));
  create.experiment_id = std::move(experiment_id);
  HK_TRY(name, args.OptString("name"));
  if (name && !name->empty()) {
    HK_CHECK(ValidateLoggedModelName(*name));
    create.name = std::move(*name);
  }
  HK_TRY(model_type, args.OptString("model_type"));
  create.model_type = model_type.value_or("");
  if (create.model_type.size() > limits::kMaxEntityKeyLength) {
    return InvalidParameter(fmt::format("'model_type' exceeds the maximum length of {}",
                                        limits::kMaxEntityKeyLength));
  }
  HK_TRY(source_run_id, args.OptString("source_run_id"));
  if (source_run_id && !source_run_id->empty()) {
    HK_CHECK(ValidateRunId(*source_run_id));
    create.source_run_id = std::move(*source_run_id);
  }
  HK_TRY(params, KeyValueListArg(args, "params", true));
  create.params = std::move(params);
  HK_TRY(tags, KeyValueListArg(args, "tags", false));
  create.tags = std::move(tags);
  HK_TRY(model, store.CreateLoggedModel(create));
  return ModelResponse(model);
}

Result<Response> GetLoggedModel(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  HK_TRY(allow_deleted, args.OptBool("allow_deleted"));
  if (allow_deleted.value_or(false)) {
    HK_TRY(model, store.GetLoggedModelIncludingDeleted(model_id));
    return ModelResponse(model);
  }
  HK_TRY(model, store.GetLoggedModel(model_id));
  return ModelResponse(model);
}

Result<Response> FinalizeLoggedModel(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  HK_TRY(status, StatusArg(args));
  HK_TRY(model, store.FinalizeLoggedModel(model_id, status));
  return ModelResponse(model);
}

Result<Response> DeleteLoggedModel(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  HK_CHECK(store.DeleteLoggedModel(model_id));
  return Response::Json("{}");
}

Result<Response> SetLoggedModelTags(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  HK_TRY(tags, KeyValueListArg(args, "tags", false));
  HK_TRY(model, store.SetLoggedModelTags(model_id, tags));
  return ModelResponse(model);
}

Result<Response> DeleteLoggedModelTag(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  std::string key(request.PathParam("tag_key"));
  if (key.empty()) return tl::unexpected(MissingParameter("tag_key"));
  HK_CHECK(store.DeleteLoggedModelTag(model_id, key));
  return Response::Json("{}");
}

Result<Response> LogLoggedModelParams(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(model_id, ModelIdArg(request, args));
  HK_TRY(params, KeyValueListArg(args, "params", true));
  std::set<std::string> keys;
  for (const store::Tag& param : params) {
    if (!keys.insert(param.key).second) {
      return InvalidParameter(
          fmt::format("Duplicate parameter keys have been submitted: ['{}']", param.key));
    }
  }
  HK_CHECK(store.LogLoggedModelParams(model_id, params));
  return Response::Json("{}");
}

Result<Response> SearchLoggedModels(store::TrackingStore& store, const Request& request) {
  HK_TRY(args, Args::From(request));
  store::SearchLoggedModelsArgs search;
  Fingerprint fingerprint;

  HK_TRY(experiment_ids, args.StringList("experiment_ids"));
  if (experiment_ids.empty()) return tl::unexpected(MissingParameter("experiment_ids"));
  if (experiment_ids.size() > limits::kMaxExperimentIdsPerSearch) {
    return InvalidParameter("Too many experiment_ids");
  }
  for (const std::string& id : experiment_ids) fingerprint.Add(id);
  search.experiment_ids = std::move(experiment_ids);

  HK_TRY(filter, args.OptString("filter"));
  fingerprint.Add(filter.value_or(""));
  HK_TRY(clauses, store::ParseFilter(filter.value_or(""), store::SearchTarget::kLoggedModels));
  search.filter = std::move(clauses);

  HK_TRY(dataset_items, args.ObjectList("datasets"));
  if (dataset_items.size() > registry_limits::kMaxLoggedModelSearchDatasets) {
    return InvalidParameter("Too many datasets");
  }
  for (const Args& item : dataset_items) {
    HK_TRY(dataset_name, item.OptString("dataset_name"));
    if (!dataset_name || dataset_name->empty()) {
      return InvalidParameter("`dataset_name` in the `datasets` clause must be specified.");
    }
    HK_TRY(dataset_digest, item.OptString("dataset_digest"));
    store::DatasetFilter dataset{std::move(*dataset_name), dataset_digest.value_or("")};
    fingerprint.Add(dataset.name);
    fingerprint.Add(dataset.digest);
    search.datasets.push_back(std::move(dataset));
  }

  HK_TRY(order_items, args.ObjectList("order_by"));
  if (order_items.size() > limits::kMaxOrderByClauses) {
    return InvalidParameter(fmt::format("Invalid order_by: at most {} clauses are allowed",
                                        limits::kMaxOrderByClauses));
  }
  for (const Args& item : order_items) {
    HK_TRY(order, OrderArg(item));
    fingerprint.Add(order.kind == store::EntityKind::kMetric ? "metric" : "attribute");
    fingerprint.Add(order.key);
    fingerprint.Add(order.ascending ? "asc" : "desc");
    fingerprint.Add(order.dataset_name);
    fingerprint.Add(order.dataset_digest);
    search.order_by.push_back(std::move(order));
  }

  HK_TRY(max_results, args.OptInt("max_results"));
  if (max_results && *max_results < 0) {
    return InvalidParameter(fmt::format("Invalid value {} for parameter 'max_results'",
                                        *max_results));
  }
  search.max_results = max_results && *max_results > 0
                           ? std::min(*max_results, registry_limits::kMaxResultsLoggedModels)
                           : registry_limits::kDefaultMaxResultsLoggedModels;

  HK_TRY(token, args.OptString("page_token"));
  std::string issued_for = fingerprint.Hex();
  HK_TRY(offset, DecodeSearchToken(token.value_or(""), issued_for));
  search.offset = offset;

  HK_TRY(page, store.SearchLoggedModels(search));
  json::Writer w;
  w.BeginObject().Key("models").BeginArray();
  for (const store::LoggedModel& model : page.first) WriteLoggedModel(w, model);
  w.EndArray();
  if (page.second) {
    w.Field("next_page_token",
            EncodeSearchToken(offset + static_cast<int64_t>(page.first.size()), issued_for));
  }
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace hokusai::mlflow_api
