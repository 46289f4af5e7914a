#include "gateway/upstream_catalog.hpp"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "artifacts/artifact_repository.hpp"
#include "gateway/forward_hooks.hpp"
#include "http/proxy.hpp"
#include "json/writer.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::gateway {
namespace {

using http::Method;
using store::ModelVersion;

constexpr std::string_view kRegistry = "/api/2.0/mlflow/";
// Upstream search pages: big enough that a listing needs few requests.
constexpr int64_t kSearchPage = 1000;
// A listing reads at most this many upstream pages (a million versions); an upstream that pages
// on beyond that, or repeats its token, is treated as broken rather than followed forever.
constexpr int kMaxSearchPages = 1000;
// Logged models of one run are few; this bounds the scan for a name among them.
constexpr int kMaxLoggedModelPages = 20;

std::string Path(std::string_view endpoint) { return std::string(kRegistry) + std::string(endpoint); }

std::optional<std::string> StringAt(simdjson::dom::element root, std::string_view pointer) {
  std::string_view value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) return std::nullopt;
  return std::string(value);
}

// MLflow writes int64 fields as numbers or, through some serializers, as strings.
int64_t IntAt(simdjson::dom::element root, std::string_view pointer) {
  simdjson::dom::element value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) return 0;
  int64_t number = 0;
  if (value.get(number) == simdjson::SUCCESS) return number;
  std::string_view text;
  if (value.get(text) == simdjson::SUCCESS) {
    try {
      return std::stoll(std::string(text));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

Error Malformed(const UpstreamConfig& config, std::string_view what) {
  return Error{ErrorCode::kTemporarilyUnavailable,
               fmt::format("Upstream MLflow server {} answered without {}", config.Display(), what),
               {{std::string(http::kUpstreamFailureHeader), "502"}}};
}

// Whether `text` can stand inside a single-quoted MLflow filter literal unchanged.
bool PlainLiteral(std::string_view text) {
  return text.find('\'') == std::string_view::npos && text.find('\\') == std::string_view::npos;
}

void WriteTags(json::Writer& w, const std::vector<store::Tag>& tags) {
  w.Key("tags").BeginArray();
  for (const store::Tag& tag : tags) {
    w.BeginObject().Field("key", tag.key).Field("value", tag.value).EndObject();
  }
  w.EndArray();
}

const store::Tag* FindTag(const std::vector<store::Tag>& tags, std::string_view key) {
  for (const store::Tag& tag : tags) {
    if (tag.key == key) return &tag;
  }
  return nullptr;
}

// A model version object of an upstream answer.
Result<ModelVersion> VersionFrom(const UpstreamConfig& config, simdjson::dom::element item) {
  ModelVersion version;
  auto name = StringAt(item, "/name");
  auto number = StringAt(item, "/version");
  if (!name || !number) return tl::unexpected(Malformed(config, "a model version's name and number"));
  version.name = std::move(*name);
  version.version = std::move(*number);
  version.creation_timestamp = IntAt(item, "/creation_timestamp");
  version.last_updated_timestamp = IntAt(item, "/last_updated_timestamp");
  version.user_id = StringAt(item, "/user_id").value_or("");
  version.current_stage = StringAt(item, "/current_stage").value_or("None");
  version.description = StringAt(item, "/description").value_or("");
  version.source = StringAt(item, "/source").value_or("");
  version.run_id = StringAt(item, "/run_id").value_or("");
  version.status = StringAt(item, "/status").value_or("READY");
  version.status_message = StringAt(item, "/status_message").value_or("");
  version.run_link = StringAt(item, "/run_link").value_or("");
  version.model_id = StringAt(item, "/model_id").value_or("");
  simdjson::dom::array tags;
  if (item["tags"].get(tags) == simdjson::SUCCESS) {
    for (simdjson::dom::element tag : tags) {
      version.tags.push_back(
          store::Tag{StringAt(tag, "/key").value_or(""), StringAt(tag, "/value").value_or("")});
    }
  }
  simdjson::dom::array aliases;
  if (item["aliases"].get(aliases) == simdjson::SUCCESS) {
    for (simdjson::dom::element alias : aliases) {
      std::string_view text;
      if (alias.get(text) == simdjson::SUCCESS) version.aliases.emplace_back(text);
    }
  }
  return version;
}

class UpstreamCatalog final : public hokusai_api::ModelCatalog {
 public:
  UpstreamCatalog(UpstreamClient& client, UpstreamLocator& locator, store::AuthStore& auth,
                  store::RegistryStore& local, store::EventStore& events)
      : client_(client), locator_(locator), auth_(auth), local_(local), events_(events) {}

  Result<Run> GetRun(const std::string& run_id) override {
    HK_TRY(owner, locator_.Run(run_id));
    return Run{owner.experiment_id, owner.artifact_uri};
  }

  Result<std::optional<std::string>> NewestLoggedModel(const std::string& experiment_id,
                                                       const std::string& run_id,
                                                       const std::string& name) override {
    if (!PlainLiteral(run_id)) return std::optional<std::string>();
    std::string token;
    for (int page = 0; page < kMaxLoggedModelPages; ++page) {
      json::Writer w;
      w.BeginObject().Key("experiment_ids").BeginArray().String(experiment_id).EndArray();
      w.Field("filter", fmt::format("source_run_id = '{}'", run_id));
      w.Key("order_by").BeginArray().BeginObject().Field("field_name", "creation_timestamp");
      w.Field("ascending", false).EndObject().EndArray();
      w.Field("max_results", int64_t{100});
      if (!token.empty()) w.Field("page_token", token);
      w.EndObject();
      HK_TRY(answer, client_.Call(Method::kPost, Path("logged-models/search"), {}, w.Take()));
      // An upstream without logged models (MLflow 2) has no such endpoint: no logged model.
      if (answer.status == 404 && answer.body.find("error_code") == std::string::npos) {
        return std::optional<std::string>();
      }
      if (answer.status != 200) {
        return tl::unexpected(UpstreamError(client_.config(), answer.status, answer.body));
      }
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      if (parser.parse(answer.body).get(root) != simdjson::SUCCESS) {
        return tl::unexpected(Malformed(client_.config(), "a logged-model search result"));
      }
      simdjson::dom::array models;
      if (root["models"].get(models) == simdjson::SUCCESS) {
        for (simdjson::dom::element model : models) {
          if (StringAt(model, "/info/name") == name) {
            auto id = StringAt(model, "/info/model_id");
            if (!id) return tl::unexpected(Malformed(client_.config(), "a logged model's id"));
            return std::optional<std::string>(*id);
          }
        }
      }
      token = StringAt(root, "/next_page_token").value_or("");
      if (token.empty()) break;
    }
    return std::optional<std::string>();
  }

  Result<bool> RunHasModel(const std::string& run_id, const Run& /*run*/,
                           const std::string& path) override {
    HK_TRY(body, Ask(Method::kGet, Path("artifacts/list"), {{"run_id", run_id}, {"path", path}}));
    return ListsModelFile(body, artifacts::JoinArtifactPath(path, "MLmodel"));
  }

  Result<LoggedModelRef> GetLoggedModel(const std::string& model_id) override {
    HK_TRY(owner, locator_.LoggedModel(model_id));  // checks the id is one path segment
    HK_TRY(body, Ask(Method::kGet, Path("logged-models/" + model_id), {}));
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) {
      return tl::unexpected(Malformed(client_.config(), "a logged model"));
    }
    return LoggedModelRef{owner.experiment_id, StringAt(root, "/model/info/source_run_id").value_or("")};
  }

  Result<std::string> ExperimentOfArtifactPath(const std::string& path) override {
    return locator_.ExperimentOfArtifactPath(path);
  }

  Result<bool> HasModelAtArtifactPath(const std::string& path) override {
    HK_TRY(body, Ask(Method::kGet, "/api/2.0/mlflow-artifacts/artifacts", {{"path", path}}));
    return ListsModelFile(body, "MLmodel");
  }

  Result<bool> ModelExists(const std::string& name) override {
    auto found = Ask(Method::kGet, Path("registered-models/get"), {{"name", name}});
    if (found) return true;
    if (found.error().code == ErrorCode::kResourceDoesNotExist) return false;
    return tl::unexpected(found.error());
  }

  Result<ModelVersion> GetModelVersion(const std::string& name,
                                       const std::string& version) override {
    HK_TRY(body, Ask(Method::kGet, Path("model-versions/get"), {{"name", name}, {"version", version}}));
    return ParseUpstreamModelVersion(client_.config(), body, "/model_version");
  }

  Result<void> RequireExperiment(const std::string& experiment_id) override {
    HK_CHECK(Ask(Method::kGet, Path("experiments/get"), {{"experiment_id", experiment_id}}));
    return {};
  }

  Result<void> RequireModel(const std::string& name) override {
    HK_CHECK(Ask(Method::kGet, Path("registered-models/get"), {{"name", name}}));
    return {};
  }

  Result<void> AnchorExperimentPermissions(const std::string& experiment_id) override {
    return auth_.EnsureUpstreamExperiment(experiment_id);
  }

  Result<void> AnchorModelPermissions(const std::string& name) override {
    return auth_.EnsureUpstreamModel(name);
  }

  Result<std::optional<store::IdempotencyRecord>> GetIdempotencyRecord(
      const std::string& user_id, const std::string& key) override {
    return local_.GetIdempotencyRecord(user_id, key);
  }

  Result<store::RegisterModelResult> RegisterModel(const store::RegisterModelArgs& args) override {
    store::RegisterModelResult result;
    const std::optional<store::IdempotencyRecord>& idempotency = args.idempotency;
    if (idempotency) {
      HK_TRY(found, local_.ReserveIdempotencyKey(*idempotency));
      if (found) return store::ReplayIdempotent(*found, idempotency->request_hash);
    }
    auto written = WriteRegistration(args, result);
    if (written) {
      // The event is what receivers act on: without it the registration is undone.
      auto event = events_.AppendVersionCreated(result.version, args.version.user_id);
      if (!event) {
        Undo(args.model.name, result.version.version, result.model_created);
        written = tl::unexpected(event.error());
      }
    }
    if (!written) {
      if (idempotency) ReleaseKey(*idempotency);
      return tl::unexpected(written.error());
    }
    if (args.render) result.response = args.render(result.model, result.version);
    if (idempotency) {
      result.status = idempotency->status;
      auto completed = local_.CompleteIdempotencyKey(idempotency->user_id, idempotency->key,
                                                     idempotency->status, result.response);
      if (!completed) {
        // Registered and announced; a retry with the key waits for the reservation to lapse.
        spdlog::error("registration of '{}' version {}: could not store its Idempotency-Key "
                      "answer: {}",
                      result.version.name, result.version.version, completed.error().message);
      }
    }
    return result;
  }

  Result<std::pair<std::vector<ModelVersion>, bool>> SearchModelVersions(
      const store::SearchRegistryArgs& args) override {
    std::vector<std::string> upstream_filter;
    for (const store::Clause& clause : args.filter) {
      if (clause.op != store::Comparator::kEq ||
          clause.value_kind != store::Clause::ValueKind::kString ||
          (clause.kind == store::EntityKind::kAttribute && clause.key != "name") ||
          (clause.kind != store::EntityKind::kAttribute && clause.kind != store::EntityKind::kTag)) {
        return Fail(ErrorCode::kInternalError, "upstream model search: unsupported filter");
      }
      // Values that would need escaping are matched here only.
      if (!PlainLiteral(clause.string_value) || clause.key.find('`') != std::string::npos) {
        continue;
      }
      upstream_filter.push_back(clause.kind == store::EntityKind::kAttribute
                                    ? fmt::format("name = '{}'", clause.string_value)
                                    : fmt::format("tags.`{}` = '{}'", clause.key,
                                                  clause.string_value));
    }
    std::string filter;
    for (const std::string& part : upstream_filter) {
      if (!filter.empty()) filter += " AND ";
      filter += part;
    }
    int64_t skip = args.offset;
    std::vector<ModelVersion> page;
    std::string token;
    int pages = 0;
    do {
      http::QueryParams query{{"max_results", std::to_string(kSearchPage)},
                              {"order_by", "name ASC"},
                              {"order_by", "version_number DESC"}};
      if (!filter.empty()) query.emplace_back("filter", filter);
      if (!token.empty()) query.emplace_back("page_token", token);
      HK_TRY(body, Ask(Method::kGet, Path("model-versions/search"), query));
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      if (parser.parse(body).get(root) != simdjson::SUCCESS) {
        return tl::unexpected(Malformed(client_.config(), "a model-version search result"));
      }
      simdjson::dom::array versions;
      if (root["model_versions"].get(versions) == simdjson::SUCCESS) {
        for (simdjson::dom::element item : versions) {
          HK_TRY(version, VersionFrom(client_.config(), item));
          HK_TRY(wanted, Matches(args, version));
          if (!wanted) continue;
          if (skip > 0) {
            --skip;
            continue;
          }
          if (static_cast<int64_t>(page.size()) == args.max_results) return std::pair(std::move(page), true);
          page.push_back(std::move(version));
        }
      }
      std::string next = StringAt(root, "/next_page_token").value_or("");
      if (!next.empty() && (next == token || ++pages >= kMaxSearchPages)) {
        return tl::unexpected(Malformed(client_.config(), "an end to its model-version pages"));
      }
      token = std::move(next);
    } while (!token.empty());
    return std::pair(std::move(page), false);
  }

  Result<void> SetStageAlias(const std::string& name, const std::string& version,
                             const std::string& alias, const store::Tag& tag) override {
    HK_CHECK(Ask(Method::kGet, Path("model-versions/get"), {{"name", name}, {"version", version}}));
    // Where the alias pointed before, to put it back if the tag cannot be set.
    std::optional<std::string> previous;
    auto before = Ask(Method::kGet, Path("registered-models/alias"), {{"name", name}, {"alias", alias}});
    if (before) {
      HK_TRY(old, ParseUpstreamModelVersion(client_.config(), *before, "/model_version"));
      previous = old.version;
    } else if (before.error().code != ErrorCode::kResourceDoesNotExist &&
               before.error().code != ErrorCode::kInvalidParameterValue) {
      return tl::unexpected(before.error());
    }
    HK_CHECK(SetAlias(name, alias, version));
    json::Writer w;
    w.BeginObject().Field("name", name).Field("version", version).Field("key", tag.key);
    w.Field("value", tag.value).EndObject();
    auto tagged = Ask(Method::kPost, Path("model-versions/set-tag"), {}, w.Take());
    if (!tagged) {
      auto restored = previous ? SetAlias(name, alias, *previous) : DeleteAlias(name, alias);
      if (!restored) {
        spdlog::error("transition of '{}' version {}: could not put alias '{}' back: {}", name,
                      version, alias, restored.error().message);
      }
      return tl::unexpected(tagged.error());
    }
    return {};
  }

 private:
  // The body of a 200 answer; the upstream's error otherwise.
  Result<std::string> Ask(Method method, std::string_view path, const http::QueryParams& query,
                          const std::string& body = {}) {
    HK_TRY(answer, client_.Call(method, path, query, body));
    if (answer.status != 200) {
      return tl::unexpected(UpstreamError(client_.config(), answer.status, answer.body));
    }
    return std::move(answer.body);
  }

  // Whether an artifact listing (`files`) holds the file `path`.
  Result<bool> ListsModelFile(const std::string& body, const std::string& path) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body).get(root) != simdjson::SUCCESS) {
      return tl::unexpected(Malformed(client_.config(), "an artifact listing"));
    }
    simdjson::dom::array files;
    if (root["files"].get(files) != simdjson::SUCCESS) return false;
    for (simdjson::dom::element file : files) {
      bool is_dir = false;
      if (file["is_dir"].get(is_dir) != simdjson::SUCCESS) is_dir = false;
      if (!is_dir && StringAt(file, "/path") == path) return true;
    }
    return false;
  }

  // Whether `version` passes the search's filter (checked here too: the upstream gets only
  // the clauses it can be given safely) and visibility.
  Result<bool> Matches(const store::SearchRegistryArgs& args, const ModelVersion& version) {
    for (const store::Clause& clause : args.filter) {
      if (clause.kind == store::EntityKind::kAttribute) {
        if (version.name != clause.string_value) return false;
      } else {
        const store::Tag* tag = FindTag(version.tags, clause.key);
        if (tag == nullptr || tag->value != clause.string_value) return false;
      }
    }
    if (!args.visibility) return true;
    return Visible(auth_, *args.visibility, Listing::kModelVersions, "", version.name);
  }

  Result<void> SetAlias(const std::string& name, const std::string& alias,
                        const std::string& version) {
    json::Writer w;
    w.BeginObject().Field("name", name).Field("alias", alias).Field("version", version).EndObject();
    HK_CHECK(Ask(Method::kPost, Path("registered-models/alias"), {}, w.Take()));
    return {};
  }

  Result<void> DeleteAlias(const std::string& name, const std::string& alias) {
    json::Writer w;
    w.BeginObject().Field("name", name).Field("alias", alias).EndObject();
    HK_CHECK(Ask(Method::kDelete, Path("registered-models/alias"), {{"name", name}, {"alias", alias}},
                 w.Take()));
    return {};
  }

  // Model (when asked to create it), version and alias on the upstream; undone on failure.
  Result<void> WriteRegistration(const store::RegisterModelArgs& args,
                                 store::RegisterModelResult& result) {
    const std::string& name = args.model.name;
    result.model.name = name;
    if (args.require_new_model) {
      json::Writer w;
      w.BeginObject().Field("name", name);
      if (!args.model.description.empty()) w.Field("description", args.model.description);
      WriteTags(w, args.model.tags);
      w.EndObject();
      HK_CHECK(Ask(Method::kPost, Path("registered-models/create"), {}, w.Take()));
      result.model_created = true;
      if (!args.model.owner.empty()) {
        auto owned = auth_.RecordUpstreamModelOwner(name, args.model.owner);
        if (!owned) {
          Undo(name, "", true);
          return tl::unexpected(owned.error());
        }
      }
    }
    json::Writer w;
    w.BeginObject().Field("name", name).Field("source", args.version.source);
    if (!args.version.run_id.empty()) w.Field("run_id", args.version.run_id);
    if (!args.version.model_id.empty()) w.Field("model_id", args.version.model_id);
    if (!args.version.description.empty()) w.Field("description", args.version.description);
    WriteTags(w, args.version.tags);
    w.EndObject();
    auto created = Ask(Method::kPost, Path("model-versions/create"), {}, w.Take());
    if (!created) {
      Undo(name, "", result.model_created);
      return tl::unexpected(created.error());
    }
    auto version = ParseUpstreamModelVersion(client_.config(), *created, "/model_version");
    if (!version) {
      // Created, but which version is unknown: nothing can be undone safely but the model.
      Undo(name, "", result.model_created);
      return tl::unexpected(version.error());
    }
    result.version = std::move(*version);
    if (args.alias) {
      auto aliased = SetAlias(name, *args.alias, result.version.version);
      if (!aliased) {
        Undo(name, result.version.version, result.model_created);
        return tl::unexpected(aliased.error());
      }
      // Read back so the answer shows the aliases as the upstream now has them.
      auto reread = GetModelVersion(name, result.version.version);
      if (reread) {
        result.version = std::move(*reread);
      } else if (std::find(result.version.aliases.begin(), result.version.aliases.end(),
                           *args.alias) == result.version.aliases.end()) {
        result.version.aliases.push_back(*args.alias);
      }
    }
    return {};
  }

  // Deletes what a failed registration wrote upstream; failures are logged (the error the
  // client gets is the one that made the registration fail).
  void Undo(const std::string& name, const std::string& version, bool model_created) {
    if (!version.empty()) {
      json::Writer w;
      w.BeginObject().Field("name", name).Field("version", version).EndObject();
      auto deleted = Ask(Method::kDelete, Path("model-versions/delete"), {}, w.Take());
      if (!deleted) {
        spdlog::error("registration of '{}': could not delete version {} again on the upstream: {}",
                      name, version, deleted.error().message);
      }
    }
    if (model_created) {
      json::Writer w;
      w.BeginObject().Field("name", name).EndObject();
      auto deleted = Ask(Method::kDelete, Path("registered-models/delete"), {}, w.Take());
      if (!deleted) {
        spdlog::error("registration of '{}': could not delete the model again on the upstream: {}",
                      name, deleted.error().message);
      }
      auto forgotten = auth_.ForgetUpstreamModel(name);
      if (!forgotten) {
        spdlog::error("registration of '{}': could not drop its permission rows: {}", name,
                      forgotten.error().message);
      }
    }
  }

  void ReleaseKey(const store::IdempotencyRecord& record) {
    auto released = local_.ReleaseIdempotencyKey(record.user_id, record.key);
    if (!released) {
      spdlog::error("registration: could not release an Idempotency-Key reservation: {}",
                    released.error().message);
    }
  }

  UpstreamClient& client_;
  UpstreamLocator& locator_;
  store::AuthStore& auth_;
  store::RegistryStore& local_;
  store::EventStore& events_;
};

}  // namespace

Result<ModelVersion> ParseUpstreamModelVersion(const UpstreamConfig& config, std::string_view body,
                                               std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return tl::unexpected(Malformed(config, "a model version"));
  }
  simdjson::dom::element item;
  if (root.at_pointer(pointer).get(item) != simdjson::SUCCESS || !item.is_object()) {
    return tl::unexpected(Malformed(config, "a model version"));
  }
  return VersionFrom(config, item);
}

std::unique_ptr<hokusai_api::ModelCatalog> MakeUpstreamCatalog(UpstreamClient& client,
                                                               UpstreamLocator& locator,
                                                               store::AuthStore& auth,
                                                               store::RegistryStore& local,
                                                               store::EventStore& events) {
  return std::make_unique<UpstreamCatalog>(client, locator, auth, local, events);
}

}  // namespace hokusai::gateway
