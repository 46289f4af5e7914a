#include "store/sql/sql_registry_store.hpp"

#include <fmt/format.h>

#include "common/util.hpp"
#include "store/sql/sql_query.hpp"
#include "store/sql/sql_event_store.hpp"

namespace hokusai::store::sql {
namespace {

constexpr std::string_view kPromptTag = "mlflow.prompt.is_prompt";
constexpr std::string_view kStageArchived = "Archived";
// How long an idempotency key's answer is kept (Hokusai API §3).
constexpr int64_t kIdempotencyTtlMs = 24 * 60 * 60 * 1000;

// Columns of one version row, in the order ReadVersion expects; `r` is registered_models and
// `v` model_versions.
constexpr std::string_view kVersionColumns =
    "r.name, v.version, v.creation_time, v.last_updated_time, v.user_id, v.current_stage, "
    "v.description, v.source, v.run_id, v.status, v.status_message, v.run_link, v.model_id, "
    "v.storage_location, v.model_key";

Error ModelNotFound(std::string_view name) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Registered Model with name={} not found", name)};
}

Error VersionNotFound(std::string_view name, std::string_view version) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Model Version (name={}, version={}) not found", name, version)};
}

Error BadSource(std::string_view source, std::string_view why) {
  return Error{ErrorCode::kInvalidParameterValue,
               fmt::format("Invalid model version source '{}': {}", source, why)};
}

Result<int64_t> ParseVersion(const std::string& version) {
  auto number = ParseInt64(version);
  if (!number) {
    return InvalidParameter(
        fmt::format("Parameter 'version' must be an integer, got '{}'.", version));
  }
  return *number;
}

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<int64_t> FindModelKey(Connection& conn, const std::string& name) {
  HK_TRY(stmt, conn.Prepare("SELECT model_key FROM registered_models WHERE name = ?"));
  stmt.Bind(1, name);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(ModelNotFound(name));
  return stmt.Int(0);
}

ModelVersion ReadVersion(const Statement& stmt) {
  ModelVersion mv;
  mv.name = stmt.Text(0);
  mv.version = std::to_string(stmt.Int(1));
  mv.creation_timestamp = stmt.Int(2);
  mv.last_updated_timestamp = stmt.Int(3);
  mv.user_id = stmt.Text(4);
  mv.current_stage = stmt.Text(5);
  mv.description = stmt.Text(6);
  mv.source = stmt.Text(7);
  mv.run_id = stmt.Text(8);
  mv.status = stmt.Text(9);
  mv.status_message = stmt.Text(10);
  mv.run_link = stmt.Text(11);
  mv.model_id = stmt.Text(12);
  mv.storage_location = stmt.Text(13);
  return mv;
}

// Fills the version's tags and the aliases pointing at it.
Result<void> LoadVersionExtras(Connection& conn, int64_t model_key, ModelVersion& mv) {
  int64_t version = *ParseInt64(mv.version);
  HK_TRY(tags, conn.Prepare("SELECT key, value FROM model_version_tags WHERE model_key = ? AND "
                            "version = ? ORDER BY key"));
  tags.Bind(1, model_key).Bind(2, version);
  HK_CHECK(ForEachRow(tags, [&] {
    mv.tags.push_back(Tag{tags.Text(0), tags.Text(1)});
  }));
  HK_TRY(aliases, conn.Prepare("SELECT alias FROM registered_model_aliases WHERE model_key = ? "
                               "AND version = ? ORDER BY alias"));
  aliases.Bind(1, model_key).Bind(2, version);
  HK_CHECK(ForEachRow(aliases, [&] {
    mv.aliases.push_back(aliases.Text(0));
  }));
  return {};
}

// Runs `query` (selecting kVersionColumns) and loads every row with its tags and aliases.
Result<std::vector<ModelVersion>> LoadVersions(Connection& conn, const Query& query) {
  HK_TRY(stmt, PrepareQuery(conn, query));
  std::vector<std::pair<int64_t, ModelVersion>> rows;
  HK_CHECK(ForEachRow(stmt, [&] {
    rows.emplace_back(stmt.Int(14), ReadVersion(stmt));
  }));
  std::vector<ModelVersion> out;
  out.reserve(rows.size());
  for (auto& [model_key, mv] : rows) {
    HK_CHECK(LoadVersionExtras(conn, model_key, mv));
    out.push_back(std::move(mv));
  }
  return out;
}

// The live version `version` of the model `model_key`.
Result<ModelVersion> LoadLiveVersion(Connection& conn, int64_t model_key, const std::string& name,
                                     const std::string& version) {
  HK_TRY(number, ParseVersion(version));
  Query q;
  q.Add("SELECT ");
  q.Add(kVersionColumns);
  q.Add(" FROM model_versions v JOIN registered_models r ON r.model_key = v.model_key WHERE "
        "v.model_key = ");
  q.Value(model_key);
  q.Add(" AND v.version = ");
  q.Value(number);
  q.Add(" AND v.deleted = 0");
  HK_TRY(versions, LoadVersions(conn, q));
  if (versions.empty()) return tl::unexpected(VersionNotFound(name, version));
  return std::move(versions.front());
}

// For each stage, its highest live version (only `stages` when non-empty), by version.
Result<std::vector<ModelVersion>> LoadLatestVersions(Connection& conn, int64_t model_key,
                                                     const std::vector<std::string>& stages) {
  Query q;
  q.Add("SELECT ");
  q.Add(kVersionColumns);
  q.Add(" FROM model_versions v JOIN registered_models r ON r.model_key = v.model_key WHERE "
        "v.model_key = ");
  q.Value(model_key);
  q.Add(" AND v.deleted = 0 AND v.version = (SELECT max(w.version) FROM model_versions w WHERE "
        "w.model_key = v.model_key AND w.deleted = 0 AND w.current_stage = v.current_stage)");
  if (!stages.empty()) {
    q.Add(" AND v.current_stage IN (");
    for (std::size_t i = 0; i < stages.size(); ++i) {
      if (i > 0) q.Add(", ");
      q.Value(stages[i]);
    }
    q.Add(")");
  }
  q.Add(" ORDER BY v.version");
  return LoadVersions(conn, q);
}

Result<RegisteredModel> LoadRegisteredModel(Connection& conn, int64_t model_key) {
  HK_TRY(stmt, conn.Prepare("SELECT name, creation_time, last_updated_time, user_id, description "
                            "FROM registered_models WHERE model_key = ?"));
  stmt.Bind(1, model_key);
  HK_TRY(found, stmt.Step());
  if (!found) return Fail(ErrorCode::kInternalError, "registered model vanished");
  RegisteredModel model;
  model.name = stmt.Text(0);
  model.creation_timestamp = stmt.Int(1);
  model.last_updated_timestamp = stmt.Int(2);
  model.user_id = stmt.Text(3);
  model.description = stmt.Text(4);
  HK_TRY(tags, conn.Prepare("SELECT key, value FROM registered_model_tags WHERE model_key = ? "
                            "ORDER BY key"));
  tags.Bind(1, model_key);
  HK_CHECK(ForEachRow(tags, [&] {
    model.tags.push_back(Tag{tags.Text(0), tags.Text(1)});
  }));
  HK_TRY(aliases, conn.Prepare("SELECT alias, version FROM registered_model_aliases WHERE "
                               "model_key = ? ORDER BY alias"));
  aliases.Bind(1, model_key);
  HK_CHECK(ForEachRow(aliases, [&] {
    model.aliases.push_back(RegisteredModelAlias{aliases.Text(0), std::to_string(aliases.Int(1))});
  }));
  HK_TRY(latest, LoadLatestVersions(conn, model_key, {}));
  model.latest_versions = std::move(latest);
  return model;
}

Result<void> TouchModel(Connection& conn, int64_t model_key, int64_t now) {
  HK_TRY(stmt, conn.Prepare("UPDATE registered_models SET last_updated_time = ? WHERE "
                            "model_key = ?"));
  stmt.Bind(1, now).Bind(2, model_key);
  return stmt.Run();
}

Result<void> UpsertModelTag(Connection& conn, int64_t model_key, const Tag& tag) {
  HK_TRY(stmt, conn.Prepare("INSERT INTO registered_model_tags (model_key, key, value) VALUES "
                            "(?, ?, ?) ON CONFLICT (model_key, key) DO UPDATE SET "
                            "value = excluded.value"));
  stmt.Bind(1, model_key).Bind(2, tag.key).Bind(3, tag.value);
  return stmt.Run();
}

Result<void> UpsertVersionTag(Connection& conn, int64_t model_key, int64_t version,
                              const Tag& tag) {
  HK_TRY(stmt, conn.Prepare("INSERT INTO model_version_tags (model_key, version, key, value) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (model_key, version, key) DO UPDATE "
                            "SET value = excluded.value"));
  stmt.Bind(1, model_key).Bind(2, version).Bind(3, tag.key).Bind(4, tag.value);
  return stmt.Run();
}

// ---- source resolution ----------------------------------------------------------------------

// Where a new version's artifacts are, and what the source implies for run_id and model_id.
struct ResolvedSource {
  std::string storage_location;
  std::string run_id;
  std::string model_id;
};

std::string UnderRoot(const std::string& root, const std::string& path) {
  return path.empty() ? root : root + "/" + path;
}

struct LoggedModelRow {
  std::string experiment_id;
  std::string artifact_uri;
  std::string source_run_id;
};

// A live logged model, or nullopt.
Result<std::optional<LoggedModelRow>> FindLoggedModel(Connection& conn,
                                                      const std::string& model_id) {
  HK_TRY(stmt, conn.Prepare("SELECT experiment_id, artifact_uri, source_run_id FROM "
                            "logged_models WHERE model_id = ? AND lifecycle_stage = 'active'"));
  stmt.Bind(1, model_id);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<LoggedModelRow>();
  return std::optional<LoggedModelRow>(
      LoggedModelRow{std::to_string(stmt.Int(0)), stmt.Text(1), stmt.Text(2)});
}

struct RunRow {
  std::string experiment_id;
  std::string artifact_uri;
};

// An active run, or nullopt.
Result<std::optional<RunRow>> FindRun(Connection& conn, const std::string& run_id) {
  HK_TRY(stmt, conn.Prepare("SELECT experiment_id, artifact_uri FROM runs WHERE run_uuid = ? "
                            "AND lifecycle_stage = 'active'"));
  stmt.Bind(1, run_id);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<RunRow>();
  return std::optional<RunRow>(RunRow{std::to_string(stmt.Int(0)), stmt.Text(1)});
}

// Checks that the source names something this server holds and computes the storage location
// from server-side state (never from the client's text).
Result<ResolvedSource> ResolveSource(Connection& conn, const CreateModelVersionArgs& args) {
  const ModelVersionSource& src = args.parsed_source;
  ResolvedSource out;
  switch (src.kind) {
    case ModelVersionSource::Kind::kLoggedModel:
    case ModelVersionSource::Kind::kModelArtifacts: {
      HK_TRY(model, FindLoggedModel(conn, src.model_id));
      if (!model) {
        return tl::unexpected(
            BadSource(args.source, fmt::format("no logged model with ID '{}'", src.model_id)));
      }
      if (src.kind == ModelVersionSource::Kind::kModelArtifacts &&
          model->experiment_id != src.experiment_id) {
        return tl::unexpected(BadSource(
            args.source, fmt::format("logged model '{}' is not in experiment {}", src.model_id,
                                     src.experiment_id)));
      }
      out.storage_location = UnderRoot(model->artifact_uri, src.path);
      out.run_id = model->source_run_id;
      out.model_id = src.model_id;
      return out;
    }
    case ModelVersionSource::Kind::kModelVersion: {
      auto key = FindModelKey(conn, src.name);
      if (!key) {
        return tl::unexpected(
            BadSource(args.source, fmt::format("no registered model named '{}'", src.name)));
      }
      auto version = LoadLiveVersion(conn, *key, src.name, src.version);
      if (!version) {
        return tl::unexpected(BadSource(
            args.source, fmt::format("no version {} of model '{}'", src.version, src.name)));
      }
      if (version->storage_location.empty()) {
        return tl::unexpected(BadSource(args.source, "that version has no artifacts"));
      }
      out.storage_location = version->storage_location;
      return out;
    }
    case ModelVersionSource::Kind::kRun:
    case ModelVersionSource::Kind::kRunArtifacts: {
      HK_TRY(run, FindRun(conn, src.run_id));
      if (!run) {
        return tl::unexpected(
            BadSource(args.source, fmt::format("no active run with ID '{}'", src.run_id)));
      }
      if (src.kind == ModelVersionSource::Kind::kRunArtifacts &&
          run->experiment_id != src.experiment_id) {
        return tl::unexpected(BadSource(
            args.source,
            fmt::format("run '{}' is not in experiment {}", src.run_id, src.experiment_id)));
      }
      out.storage_location = UnderRoot(run->artifact_uri, src.path);
      out.run_id = src.run_id;
      return out;
    }
    case ModelVersionSource::Kind::kPromptTemplate:
      return out;
  }
  return tl::unexpected(BadSource(args.source, "unsupported source"));
}

// SQLite's JSON1 spelling of RecordRegistrationTag's upsert.
constexpr const char* kRecordRegistrationTagSqlite =
    "INSERT INTO logged_model_tags (model_id, key, value) VALUES "
    "(?1, 'mlflow.modelVersions', json_array(json_object('name', ?2, 'version', "
    "?3))) ON CONFLICT (model_id, key) DO UPDATE SET value = CASE "
    "WHEN json_valid(logged_model_tags.value) AND "
    "json_type(logged_model_tags.value) = 'array' THEN CASE WHEN EXISTS ("
    "SELECT 1 FROM json_each(logged_model_tags.value) e WHERE e.type = 'object' "
    "AND json_extract(e.value, '$.name') = ?2 AND "
    "json_extract(e.value, '$.version') = ?3) THEN logged_model_tags.value "
    "ELSE json_insert(logged_model_tags.value, '$[#]', "
    "json_object('name', ?2, 'version', ?3)) END "
    "ELSE excluded.value END";

// PostgreSQL's: hk_jsonb_array (a PostgreSQL migration) is the value as a JSON array, or NULL when
// it is not one (PostgreSQL 15 has no IS JSON).
constexpr const char* kRecordRegistrationTagPg =
    "INSERT INTO logged_model_tags (model_id, key, value) VALUES "
    "(?1, 'mlflow.modelVersions', jsonb_build_array(jsonb_build_object('name', ?2::text, "
    "'version', ?3::text))::text) ON CONFLICT (model_id, key) DO UPDATE SET value = CASE "
    "WHEN hk_jsonb_array(logged_model_tags.value) IS NOT NULL THEN CASE WHEN EXISTS ("
    "SELECT 1 FROM jsonb_array_elements(hk_jsonb_array(logged_model_tags.value)) e "
    "WHERE jsonb_typeof(e) = 'object' AND e->>'name' = ?2 AND e->>'version' = ?3) "
    "THEN logged_model_tags.value ELSE (hk_jsonb_array(logged_model_tags.value) || "
    "jsonb_build_array(jsonb_build_object('name', ?2::text, 'version', ?3::text)))::text END "
    "ELSE excluded.value END";

// Appends {"name", "version"} to the logged model's mlflow.modelVersions tag (a JSON array),
// unless it is already listed, as MLflow's server does on version create.
Result<void> RecordRegistrationTag(Connection& conn, const std::string& model_id,
                                   const std::string& name, const std::string& version) {
  HK_TRY(stmt, conn.Prepare(conn.dialect() == Dialect::kPostgres ? kRecordRegistrationTagPg
                                                                  : kRecordRegistrationTagSqlite));
  stmt.Bind(1, model_id).Bind(2, name).Bind(3, version);
  return stmt.Run();
}

// ---- search ---------------------------------------------------------------------------------

// MLflow hides prompts from model searches unless the first clause on the prompt tag asks for
// them (`= 'true'` or `!= 'false'`). When it does not, every clause on that tag is dropped and
// prompts are excluded, so the client's appended `tags.mlflow.prompt.is_prompt != 'true'` matches
// models without the tag. Returns whether prompts were asked for; `rest` gets the clauses to
// apply.
bool SplitPromptClauses(const std::vector<Clause>& filter, std::vector<Clause>& rest) {
  bool decided = false;
  bool wants_prompts = false;
  for (const Clause& clause : filter) {
    if (clause.kind != EntityKind::kTag || clause.key != kPromptTag) continue;
    if (!decided) {
      decided = true;
      std::string value = LowerAscii(clause.string_value);
      wants_prompts = (clause.op == Comparator::kEq && value == "true") ||
                      (clause.op == Comparator::kNe && value == "false");
    }
  }
  for (const Clause& clause : filter) {
    if (!wants_prompts && clause.kind == EntityKind::kTag && clause.key == kPromptTag) continue;
    rest.push_back(clause);
  }
  return wants_prompts;
}

void AppendPromptExclusion(Query& q, bool versions) {
  q.Add(" AND NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.model_key = r.model_key "
        "AND p.key = ");
  q.Value(std::string(kPromptTag));
  q.Add(" AND lower(p.value) = 'true')");
  if (versions) {
    q.Add(" AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.model_key = r.model_key "
          "AND p.key = ");
    q.Value(std::string(kPromptTag));
    q.Add(" AND lower(p.value) = 'true')");
  }
}

Result<void> AppendOrderBy(Query& q, const std::vector<OrderTerm>& terms, bool versions) {
  q.Add(" ORDER BY ");
  std::vector<std::string> seen;
  for (const OrderTerm& term : terms) {
    std::string column;
    if (term.kind == EntityKind::kAttribute && term.key == "name") {
      column = "r.name";
    } else if (term.kind == EntityKind::kAttribute && term.key == "creation_timestamp") {
      column = versions ? "v.creation_time" : "r.creation_time";
    } else if (term.kind == EntityKind::kAttribute && term.key == "last_updated_timestamp") {
      column = versions ? "v.last_updated_time" : "r.last_updated_time";
    } else if (versions && term.kind == EntityKind::kAttribute && term.key == "version_number") {
      column = "v.version";
    } else {
      return InvalidParameter(fmt::format("Invalid order by key '{}' specified.", term.key));
    }
    for (const std::string& earlier : seen) {
      if (earlier == column) {
        return InvalidParameter(
            fmt::format("`order_by` contains duplicate fields: '{}'", term.key));
      }
    }
    seen.push_back(column);
    q.Add(column);
    q.Add(term.ascending ? " ASC, " : " DESC, ");
  }
  auto has = [&](std::string_view column) {
    for (const std::string& s : seen) {
      if (s == column) return true;
    }
    return false;
  };
  if (!versions) {
    q.Add(has("r.name") ? "r.model_key ASC" : "r.name ASC");
    return {};
  }
  if (!has("r.name")) q.Add("r.name ASC, ");
  q.Add(has("v.version") ? "v.model_key ASC" : "v.version DESC");
  return {};
}

// ---- writes shared by the single calls and RegisterModel -------------------------------------

// Inserts the model `args` describes (its tags, and MANAGE for a non-empty owner); returns its
// key. RESOURCE_ALREADY_EXISTS when the name is taken (by a model or a prompt).
Result<int64_t> InsertRegisteredModel(Connection& conn, const CreateRegisteredModelArgs& args) {
  auto existing = FindModelKey(conn, args.name);
  if (existing) {
    HK_TRY(prompt, conn.Prepare("SELECT 1 FROM registered_model_tags WHERE model_key = ? AND "
                                "key = ?"));
    prompt.Bind(1, *existing).Bind(2, kPromptTag);
    HK_TRY(old_is_prompt, prompt.Step());
    bool new_is_prompt = false;
    for (const Tag& tag : args.tags) new_is_prompt = new_is_prompt || tag.key == kPromptTag;
    std::string_view old_entity = old_is_prompt ? "prompt" : "registered model";
    std::string_view new_entity = new_is_prompt ? "prompt" : "registered model";
    if (old_entity != new_entity) {
      return Fail(ErrorCode::kResourceAlreadyExists,
                  fmt::format("Tried to create a {} with name '{}', but the name is already "
                              "taken by a {}. A model and a prompt cannot have the same name.",
                              new_entity, args.name, old_entity));
    }
    return Fail(ErrorCode::kResourceAlreadyExists,
                fmt::format("{} (name={}) already exists.",
                            new_is_prompt ? "Prompt" : "Registered Model", args.name));
  }
  if (existing.error().code != ErrorCode::kResourceDoesNotExist) {
    return tl::unexpected(existing.error());
  }
  int64_t now = NowMillis();
  HK_TRY(insert, conn.Prepare("INSERT INTO registered_models (name, description, creation_time, "
                              "last_updated_time) VALUES (?, ?, ?, ?) RETURNING model_key"));
  insert.Bind(1, args.name).Bind(2, args.description).Bind(3, now).Bind(4, now);
  HK_TRY(inserted, insert.Step());
  if (!inserted) return Fail(ErrorCode::kInternalError, "registered model insert returned no key");
  int64_t key = insert.Int(0);
  HK_CHECK(insert.Run());
  for (const Tag& tag : args.tags) HK_CHECK(UpsertModelTag(conn, key, tag));
  if (!args.owner.empty()) {
    HK_CHECK(UpsertPermission(conn, kModelPermissions, key, args.owner, Permission::kManage));
  }
  return key;
}

// Creates the next version of model `key` (named `name`; args.name is not used) with its
// tags, records it on its logged model, and writes its registration event: the whole write of a
// new version, for CreateModelVersion and RegisterModel alike.
Result<ModelVersion> InsertModelVersion(Connection& conn, int64_t key, const std::string& name,
                                        const CreateModelVersionArgs& args) {
  HK_TRY(resolved, ResolveSource(conn, args));

  std::string model_id = resolved.model_id;
  std::string run_id = args.run_id.empty() ? resolved.run_id : args.run_id;
  if (!args.model_id.empty()) {
    if (!model_id.empty() && model_id != args.model_id) {
      return InvalidParameter(fmt::format(
          "model_id '{}' does not match the logged model '{}' named by the source '{}'",
          args.model_id, model_id, args.source));
    }
    HK_TRY(model, FindLoggedModel(conn, args.model_id));
    if (!model) {
      return Fail(ErrorCode::kResourceDoesNotExist,
                  fmt::format("Logged model with ID '{}' not found.", args.model_id));
    }
    model_id = args.model_id;
    if (run_id.empty()) run_id = model->source_run_id;
  }

  HK_TRY(next, conn.Prepare("SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE "
                            "model_key = ?"));
  next.Bind(1, key);
  HK_TRY(has_next, next.Step());
  if (!has_next) return Fail(ErrorCode::kInternalError, "no next version");
  int64_t version = next.Int(0);
  int64_t now = NowMillis();
  HK_TRY(insert, conn.Prepare(
                    "INSERT INTO model_versions (model_key, version, current_stage, description, "
                    "source, storage_location, run_id, run_link, model_id, status, "
                    "creation_time, last_updated_time) VALUES "
                    "(?, ?, 'None', ?, ?, ?, ?, ?, ?, 'READY', ?, ?)"));
  insert.Bind(1, key).Bind(2, version).Bind(3, args.description).Bind(4, args.source);
  insert.Bind(5, resolved.storage_location).Bind(6, run_id).Bind(7, args.run_link);
  insert.Bind(8, model_id).Bind(9, now).Bind(10, now);
  HK_CHECK(insert.Run());
  for (const Tag& tag : args.tags) HK_CHECK(UpsertVersionTag(conn, key, version, tag));
  HK_CHECK(TouchModel(conn, key, now));
  if (!model_id.empty()) {
    HK_CHECK(RecordRegistrationTag(conn, model_id, name, std::to_string(version)));
  }
  HK_TRY(mv, LoadLiveVersion(conn, key, name, std::to_string(version)));
  HK_CHECK(InsertVersionCreatedEvent(conn, mv, args.user_id, now));
  return std::move(mv);
}

// Points `alias` of model `model_key` at its live version `version` (moving it if set).
Result<void> SetAlias(Connection& conn, int64_t model_key, const std::string& name,
                      const std::string& alias, const std::string& version) {
  HK_TRY(mv, LoadLiveVersion(conn, model_key, name, version));
  HK_TRY(stmt, conn.Prepare("INSERT INTO registered_model_aliases (model_key, alias, version) "
                            "VALUES (?, ?, ?) ON CONFLICT (model_key, alias) DO UPDATE SET "
                            "version = excluded.version"));
  stmt.Bind(1, model_key).Bind(2, alias).Bind(3, *ParseInt64(mv.version));
  return stmt.Run();
}

}  // namespace

// ---- registered models ----------------------------------------------------------------------

Result<RegisteredModel> SqlRegistryStore::CreateRegisteredModel(
    const CreateRegisteredModelArgs& args) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, InsertRegisteredModel(*conn, args));
  HK_TRY(model, LoadRegisteredModel(*conn, key));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<RegisteredModel> SqlRegistryStore::GetRegisteredModel(const std::string& name) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(key, FindModelKey(*conn, name));
  return LoadRegisteredModel(*conn, key);
}

Result<RegisteredModel> SqlRegistryStore::RenameRegisteredModel(const std::string& name,
                                                                   const std::string& new_name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  if (new_name != name) {
    auto taken = FindModelKey(*conn, new_name);
    if (taken) {
      return Fail(ErrorCode::kResourceAlreadyExists,
                  fmt::format("Registered Model (name={}) already exists.", new_name));
    }
    if (taken.error().code != ErrorCode::kResourceDoesNotExist) {
      return tl::unexpected(taken.error());
    }
  }
  int64_t now = NowMillis();
  HK_TRY(rename, conn->Prepare("UPDATE registered_models SET name = ?, last_updated_time = ? "
                               "WHERE model_key = ?"));
  rename.Bind(1, new_name).Bind(2, now).Bind(3, key);
  HK_CHECK(rename.Run());
  // Versions, tags and aliases hang off model_key and follow; MLflow also touches the versions.
  HK_TRY(versions, conn->Prepare("UPDATE model_versions SET last_updated_time = ? WHERE "
                                 "model_key = ? AND deleted = 0"));
  versions.Bind(1, now).Bind(2, key);
  HK_CHECK(versions.Run());
  HK_TRY(model, LoadRegisteredModel(*conn, key));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<RegisteredModel> SqlRegistryStore::UpdateRegisteredModel(
    const std::string& name, const std::string& description) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(update, conn->Prepare("UPDATE registered_models SET description = ?, "
                               "last_updated_time = ? WHERE model_key = ?"));
  update.Bind(1, description).Bind(2, NowMillis()).Bind(3, key);
  HK_CHECK(update.Run());
  HK_TRY(model, LoadRegisteredModel(*conn, key));
  HK_CHECK(tx.Commit());
  return std::move(model);
}

Result<void> SqlRegistryStore::DeleteRegisteredModel(const std::string& name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  // Children first, explicitly: the result does not depend on the foreign_keys pragma.
  for (std::string_view table :
       {"registered_model_aliases", "model_version_tags", "model_versions",
        "registered_model_tags", "registered_model_permissions", "registered_models"}) {
    HK_TRY(stmt, conn->Prepare(fmt::format("DELETE FROM {} WHERE model_key = ?", table)));
    stmt.Bind(1, key);
    HK_CHECK(stmt.Run());
  }
  return tx.Commit();
}

Result<std::pair<std::vector<RegisteredModel>, bool>> SqlRegistryStore::SearchRegisteredModels(
    const SearchRegistryArgs& args) {
  std::vector<Clause> clauses;
  bool wants_prompts = SplitPromptClauses(args.filter, clauses);
  Query q;
  q.Add("SELECT r.model_key FROM registered_models r WHERE 1 = 1");
  for (const Clause& clause : clauses) {
    q.Add(" AND ");
    if (clause.kind == EntityKind::kTag) {
      q.Add("EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.model_key = r.model_key AND "
            "t.key = ");
      q.Value(clause.key);
      q.Add(" AND ");
      AppendComparison(q, "t.value", clause);
      q.Add(")");
    } else if (clause.kind == EntityKind::kAttribute && clause.key == "name") {
      AppendComparison(q, "r.name", clause);
    } else {
      return InvalidParameter(fmt::format("Invalid attribute name: {}", clause.key));
    }
  }
  if (!wants_prompts) AppendPromptExclusion(q, false);
  if (args.visibility) {
    AppendVisibility(q, *args.visibility, kModelPermissions, "r.model_key", "r.name");
  }
  HK_CHECK(AppendOrderBy(q, args.order_by, false));
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return FetchPage<RegisteredModel>(
      *conn, std::move(q), args.max_results, args.offset,
      [](Statement& row) { return row.Int(0); },
      [&](int64_t key) { return LoadRegisteredModel(*conn, key); });
}

Result<std::vector<ModelVersion>> SqlRegistryStore::GetLatestVersions(
    const std::string& name, const std::vector<std::string>& stages) {
  for (const std::string& stage : stages) {
    if (CanonicalStage(stage) != std::optional<std::string_view>(stage)) {
      return InvalidParameter(fmt::format("Invalid Model Version stage: {}.", stage));
    }
  }
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(key, FindModelKey(*conn, name));
  return LoadLatestVersions(*conn, key, stages);
}

Result<void> SqlRegistryStore::SetRegisteredModelTag(const std::string& name, const Tag& tag) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_CHECK(UpsertModelTag(*conn, key, tag));
  return tx.Commit();
}

Result<void> SqlRegistryStore::DeleteRegisteredModelTag(const std::string& name,
                                                           const std::string& key_name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(stmt, conn->Prepare("DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?"));
  stmt.Bind(1, key).Bind(2, key_name);
  HK_CHECK(stmt.Run());
  return tx.Commit();
}

// ---- aliases --------------------------------------------------------------------------------

Result<void> SqlRegistryStore::SetRegisteredModelAlias(const std::string& name,
                                                          const std::string& alias,
                                                          const std::string& version) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_CHECK(SetAlias(*conn, key, name, alias, version));
  return tx.Commit();
}

Result<void> SqlRegistryStore::DeleteRegisteredModelAlias(const std::string& name,
                                                             const std::string& alias) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(stmt, conn->Prepare("DELETE FROM registered_model_aliases WHERE model_key = ? AND "
                             "alias = ?"));
  stmt.Bind(1, key).Bind(2, alias);
  HK_CHECK(stmt.Run());
  return tx.Commit();
}

Result<ModelVersion> SqlRegistryStore::GetModelVersionByAlias(const std::string& name,
                                                                 const std::string& alias) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(key, FindModelKey(*conn, name));
  if (LowerAscii(alias) == "latest") {
    HK_TRY(stmt, conn->Prepare("SELECT max(version) FROM model_versions WHERE model_key = ? AND "
                               "deleted = 0"));
    stmt.Bind(1, key);
    HK_TRY(row, stmt.Step());
    if (!row || stmt.IsNull(0)) {
      return Fail(ErrorCode::kResourceDoesNotExist,
                  fmt::format("Latest version not found for model {}.", name));
    }
    return LoadLiveVersion(*conn, key, name, std::to_string(stmt.Int(0)));
  }
  HK_TRY(stmt, conn->Prepare("SELECT version FROM registered_model_aliases WHERE model_key = ? "
                             "AND alias = ?"));
  stmt.Bind(1, key).Bind(2, alias);
  HK_TRY(found, stmt.Step());
  if (!found) return InvalidParameter(fmt::format("Registered model alias {} not found.", alias));
  return LoadLiveVersion(*conn, key, name, std::to_string(stmt.Int(0)));
}

// ---- model versions -------------------------------------------------------------------------

Result<ModelVersion> SqlRegistryStore::CreateModelVersion(const CreateModelVersionArgs& args) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, args.name));
  HK_TRY(mv, InsertModelVersion(*conn, key, args.name, args));
  HK_CHECK(tx.Commit());
  return std::move(mv);
}

Result<ModelVersion> SqlRegistryStore::GetModelVersion(const std::string& name,
                                                          const std::string& version) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(key, FindModelKey(*conn, name));
  return LoadLiveVersion(*conn, key, name, version);
}

Result<ModelVersion> SqlRegistryStore::UpdateModelVersion(
    const std::string& name, const std::string& version,
    const std::optional<std::string>& description) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  if (description) {
    HK_TRY(update, conn->Prepare("UPDATE model_versions SET description = ?, "
                                 "last_updated_time = ? WHERE model_key = ? AND version = ?"));
    update.Bind(1, *description).Bind(2, NowMillis()).Bind(3, key);
    update.Bind(4, *ParseInt64(mv.version));
    HK_CHECK(update.Run());
  }
  HK_TRY(updated, LoadLiveVersion(*conn, key, name, version));
  HK_CHECK(tx.Commit());
  return std::move(updated);
}

Result<ModelVersion> SqlRegistryStore::TransitionModelVersionStage(const std::string& name,
                                                                      const std::string& version,
                                                                      const std::string& stage,
                                                                      bool archive_existing) {
  auto canonical = CanonicalStage(stage);
  if (!canonical || *canonical != stage) {
    return InvalidParameter(fmt::format(
        "Invalid Model Version stage: {}. Value must be one of None, Staging, Production, "
        "Archived.",
        stage));
  }
  if (archive_existing && stage != "Staging" && stage != "Production") {
    return InvalidParameter(fmt::format(
        "Model version transition cannot archive existing model versions because '{}' is not "
        "an Active stage. Valid stages are Staging, Production",
        stage));
  }
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  int64_t number = *ParseInt64(mv.version);
  int64_t now = NowMillis();
  if (archive_existing) {
    HK_TRY(archive, conn->Prepare("UPDATE model_versions SET current_stage = ?, "
                                  "last_updated_time = ? WHERE model_key = ? AND version != ? "
                                  "AND deleted = 0 AND current_stage = ?"));
    archive.Bind(1, kStageArchived).Bind(2, now).Bind(3, key).Bind(4, number).Bind(5, stage);
    HK_CHECK(archive.Run());
  }
  HK_TRY(update, conn->Prepare("UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                               "WHERE model_key = ? AND version = ?"));
  update.Bind(1, stage).Bind(2, now).Bind(3, key).Bind(4, number);
  HK_CHECK(update.Run());
  HK_CHECK(TouchModel(*conn, key, now));
  HK_TRY(updated, LoadLiveVersion(*conn, key, name, version));
  HK_CHECK(tx.Commit());
  return std::move(updated);
}

Result<void> SqlRegistryStore::DeleteModelVersion(const std::string& name,
                                                     const std::string& version) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  int64_t number = *ParseInt64(mv.version);
  for (std::string_view table : {"registered_model_aliases", "model_version_tags"}) {
    HK_TRY(stmt, conn->Prepare(
                     fmt::format("DELETE FROM {} WHERE model_key = ? AND version = ?", table)));
    stmt.Bind(1, key).Bind(2, number);
    HK_CHECK(stmt.Run());
  }
  // The tombstone keeps only the number (so it is never reused), as MLflow's redaction does.
  int64_t now = NowMillis();
  HK_TRY(tombstone, conn->Prepare(
                        "UPDATE model_versions SET deleted = 1, last_updated_time = ?, "
                        "description = '', user_id = '', source = 'REDACTED-SOURCE-PATH', "
                        "storage_location = '', run_id = 'REDACTED-RUN-ID', "
                        "run_link = 'REDACTED-RUN-LINK', model_id = '', status_message = '' "
                        "WHERE model_key = ? AND version = ?"));
  tombstone.Bind(1, now).Bind(2, key).Bind(3, number);
  HK_CHECK(tombstone.Run());
  HK_CHECK(TouchModel(*conn, key, now));
  return tx.Commit();
}

Result<std::pair<std::vector<ModelVersion>, bool>> SqlRegistryStore::SearchModelVersions(
    const SearchRegistryArgs& args) {
  std::vector<Clause> clauses;
  bool wants_prompts = SplitPromptClauses(args.filter, clauses);
  Query q;
  q.Add("SELECT ");
  q.Add(kVersionColumns);
  q.Add(" FROM model_versions v JOIN registered_models r ON r.model_key = v.model_key WHERE "
        "v.deleted = 0");
  for (const Clause& clause : clauses) {
    q.Add(" AND ");
    if (clause.kind == EntityKind::kTag) {
      q.Add("EXISTS (SELECT 1 FROM model_version_tags t WHERE t.model_key = v.model_key AND "
            "t.version = v.version AND t.key = ");
      q.Value(clause.key);
      q.Add(" AND ");
      AppendComparison(q, "t.value", clause);
      q.Add(")");
      continue;
    }
    std::string_view column;
    if (clause.key == "name") {
      column = "r.name";
    } else if (clause.key == "source_path") {
      column = "v.source";
    } else if (clause.key == "run_id") {
      column = "v.run_id";
    } else if (clause.key == "version_number") {
      column = "v.version";
    } else {
      return InvalidParameter(fmt::format("Invalid attribute name: {}", clause.key));
    }
    if (clause.key == "version_number" && clause.value_kind == Clause::ValueKind::kList) {
      // The parser hands integers over as decimal strings; compare them as integers.
      q.Add("v.version");
      q.Add(SqlComparator(clause.op));
      q.Add("(");
      for (std::size_t i = 0; i < clause.list_value.size(); ++i) {
        if (i > 0) q.Add(", ");
        q.Value(ParseInt64(clause.list_value[i]).value_or(0));
      }
      q.Add(")");
      continue;
    }
    AppendComparison(q, column, clause);
  }
  if (!wants_prompts) AppendPromptExclusion(q, true);
  // A version is visible when its model is.
  if (args.visibility) {
    AppendVisibility(q, *args.visibility, kModelPermissions, "r.model_key", "r.name");
  }
  std::vector<OrderTerm> order = args.order_by;
  if (order.empty()) {
    order = {OrderTerm{EntityKind::kAttribute, "last_updated_timestamp", false},
             OrderTerm{EntityKind::kAttribute, "name", true},
             OrderTerm{EntityKind::kAttribute, "version_number", false}};
  }
  HK_CHECK(AppendOrderBy(q, order, true));
  q.Add(" LIMIT ");
  q.Value(args.max_results + 1);
  q.Add(" OFFSET ");
  q.Value(args.offset);

  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(versions, LoadVersions(*conn, q));
  bool more = static_cast<int64_t>(versions.size()) > args.max_results;
  if (more) versions.pop_back();
  return std::make_pair(std::move(versions), more);
}

Result<std::string> SqlRegistryStore::GetModelVersionDownloadUri(const std::string& name,
                                                                    const std::string& version) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  if (mv.storage_location.empty()) {
    return InvalidParameter(fmt::format(
        "Model version (name={}, version={}) is a prompt version and has no artifacts", name,
        version));
  }
  return std::move(mv.storage_location);
}

Result<void> SqlRegistryStore::SetModelVersionTag(const std::string& name,
                                                     const std::string& version, const Tag& tag) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  HK_CHECK(UpsertVersionTag(*conn, key, *ParseInt64(mv.version), tag));
  return tx.Commit();
}

Result<void> SqlRegistryStore::DeleteModelVersionTag(const std::string& name,
                                                        const std::string& version,
                                                        const std::string& key_name) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_TRY(mv, LoadLiveVersion(*conn, key, name, version));
  HK_TRY(stmt, conn->Prepare("DELETE FROM model_version_tags WHERE model_key = ? AND version = ? "
                             "AND key = ?"));
  stmt.Bind(1, key).Bind(2, *ParseInt64(mv.version)).Bind(3, key_name);
  HK_CHECK(stmt.Run());
  return tx.Commit();
}

}  // namespace hokusai::store::sql


namespace hokusai::store::sql {

// ---- one-call registration ------------------------------------------------------------------

namespace {

// The idempotency record in the current row of `stmt`, whose columns are request_hash, status,
// response, created_ms.
IdempotencyRecord ReadIdempotencyRow(Statement& stmt, const std::string& user_id,
                                     const std::string& key) {
  IdempotencyRecord record;
  record.user_id = user_id;
  record.key = key;
  record.request_hash = stmt.Text(0);
  record.status = static_cast<int>(stmt.Int(1));
  record.response = stmt.Text(2);
  record.created_ms = stmt.Int(3);
  return record;
}

// Drops expired answers and abandoned reservations, so their keys are free again, then reads
// the record for (user_id, key). Pruning here, under the writer lock the caller holds anyway,
// needs no background job; the index on created_ms keeps it cheap.
Result<std::optional<IdempotencyRecord>> PruneAndFindIdempotency(Connection& conn,
                                                                 const std::string& user_id,
                                                                 const std::string& key,
                                                                 int64_t now) {
  HK_TRY(prune, conn.Prepare("DELETE FROM idempotency_keys WHERE created_ms < ? OR "
                             "(status = 0 AND created_ms < ?)"));
  prune.Bind(1, now - kIdempotencyTtlMs).Bind(2, now - kIdempotencyReservationMs);
  HK_CHECK(prune.Run());
  HK_TRY(stored, conn.Prepare("SELECT request_hash, status, response, created_ms FROM "
                              "idempotency_keys WHERE user_id = ? AND key = ?"));
  stored.Bind(1, user_id).Bind(2, key);
  HK_TRY(found, stored.Step());
  if (!found) return std::optional<IdempotencyRecord>();
  return ReadIdempotencyRow(stored, user_id, key);
}

Result<void> InsertIdempotency(Connection& conn, const IdempotencyRecord& record, int64_t now) {
  HK_TRY(insert, conn.Prepare("INSERT INTO idempotency_keys (user_id, key, request_hash, "
                              "status, response, created_ms) VALUES (?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, record.user_id).Bind(2, record.key).Bind(3, record.request_hash);
  insert.Bind(4, static_cast<int64_t>(record.status)).Bind(5, record.response).Bind(6, now);
  return insert.Run();
}

}  // namespace

Result<RegisterModelResult> SqlRegistryStore::RegisterModel(const RegisterModelArgs& args) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  int64_t now = NowMillis();
  RegisterModelResult result;
  if (args.idempotency) {
    const IdempotencyRecord& request = *args.idempotency;
    HK_TRY(found, PruneAndFindIdempotency(*conn, request.user_id, request.key, now));
    if (found) {
      HK_TRY(replayed, ReplayIdempotent(*found, request.request_hash));
      HK_CHECK(tx.Commit());  // keeps the pruning
      return replayed;
    }
  }

  const std::string& name = args.model.name;
  auto existing = FindModelKey(*conn, name);
  if (!existing && existing.error().code != ErrorCode::kResourceDoesNotExist) {
    return tl::unexpected(existing.error());
  }
  int64_t key = 0;
  if (existing) {
    if (args.require_new_model) {
      return Fail(ErrorCode::kResourceAlreadyExists,
                  fmt::format("Registered Model (name={}) already exists.", name));
    }
    key = *existing;
  } else {
    HK_TRY(created, InsertRegisteredModel(*conn, args.model));
    key = created;
    result.model_created = true;
  }
  HK_TRY(mv, InsertModelVersion(*conn, key, name, args.version));
  if (args.alias) HK_CHECK(SetAlias(*conn, key, name, *args.alias, mv.version));
  HK_TRY(model, LoadRegisteredModel(*conn, key));
  // Reload: the alias (if any) now points at the version.
  HK_TRY(version, LoadLiveVersion(*conn, key, name, mv.version));
  if (args.render) result.response = args.render(model, version);
  if (args.idempotency) {
    result.status = args.idempotency->status;
    IdempotencyRecord answered = *args.idempotency;
    answered.response = result.response;
    HK_CHECK(InsertIdempotency(*conn, answered, now));
  }
  HK_CHECK(tx.Commit());
  result.model = std::move(model);
  result.version = std::move(version);
  return result;
}

Result<void> SqlRegistryStore::SetStageAlias(const std::string& name,
                                                const std::string& version,
                                                const std::string& alias, const Tag& tag) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(key, FindModelKey(*conn, name));
  HK_CHECK(SetAlias(*conn, key, name, alias, version));
  HK_CHECK(UpsertVersionTag(*conn, key, *ParseInt64(version), tag));
  return tx.Commit();
}

Result<std::optional<IdempotencyRecord>> SqlRegistryStore::GetIdempotencyRecord(
    const std::string& user_id, const std::string& key) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(stmt, conn->Prepare("SELECT request_hash, status, response, created_ms FROM "
                             "idempotency_keys WHERE user_id = ? AND key = ? AND created_ms >= ? "
                             "AND (status <> 0 OR created_ms >= ?)"));
  int64_t now = NowMillis();
  stmt.Bind(1, user_id).Bind(2, key).Bind(3, now - kIdempotencyTtlMs);
  stmt.Bind(4, now - kIdempotencyReservationMs);
  HK_TRY(found, stmt.Step());
  if (!found) return std::optional<IdempotencyRecord>();
  return ReadIdempotencyRow(stmt, user_id, key);
}

Result<std::optional<IdempotencyRecord>> SqlRegistryStore::ReserveIdempotencyKey(
    const IdempotencyRecord& request) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  int64_t now = NowMillis();
  HK_TRY(found, PruneAndFindIdempotency(*conn, request.user_id, request.key, now));
  if (!found) {
    IdempotencyRecord reservation = request;
    reservation.status = 0;
    reservation.response.clear();
    HK_CHECK(InsertIdempotency(*conn, reservation, now));
  }
  HK_CHECK(tx.Commit());
  return found;
}

Result<void> SqlRegistryStore::CompleteIdempotencyKey(const std::string& user_id,
                                                         const std::string& key, int status,
                                                         const std::string& response) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(stmt, conn->Prepare("UPDATE idempotency_keys SET status = ?, response = ? WHERE "
                             "user_id = ? AND key = ? AND status = 0"));
  stmt.Bind(1, static_cast<int64_t>(status)).Bind(2, response).Bind(3, user_id).Bind(4, key);
  HK_CHECK(stmt.Run());
  if (conn->Changes() == 0) {
    return Fail(ErrorCode::kResourceDoesNotExist, "No reservation for this Idempotency-Key");
  }
  return {};
}

Result<void> SqlRegistryStore::ReleaseIdempotencyKey(const std::string& user_id,
                                                        const std::string& key) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(stmt, conn->Prepare("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND "
                             "status = 0"));
  stmt.Bind(1, user_id).Bind(2, key);
  return stmt.Run();
}

}  // namespace hokusai::store::sql
