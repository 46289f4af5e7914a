#include "cli/keys_command.hpp"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "common/util.hpp"
#include "hokusai_api/serialize.hpp"
#include "json/writer.hpp"
#include "store/postgres/pg_connection.hpp"

namespace hokusai::cli {
namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;

// sqlite:///relative/path or sqlite:////absolute/path (the SQLAlchemy form MLflow users know),
// a plain file path, or a postgresql:// (postgres://) URL, which libpq takes as it is.
Result<std::string> DatabaseFromUri(const std::string& uri) {
  constexpr std::string_view kScheme = "sqlite:///";
  if (uri.rfind(kScheme, 0) == 0) {
    std::string path = uri.substr(kScheme.size());
    if (path.empty()) return InvalidParameter("--backend-store-uri: empty SQLite path");
    return path;
  }
  if (store::postgres::IsPostgresUrl(uri)) return uri;
  if (uri.find("://") != std::string::npos) {
    return InvalidParameter("--backend-store-uri: unsupported store '" +
                            uri.substr(0, uri.find("://")) +
                            "'; use sqlite:///<path> or postgresql://...");
  }
  return uri;
}

std::string KeyJson(const auth::NewKey* created, const store::ApiKeyRecord& record) {
  json::Writer w;
  w.BeginObject();
  if (created != nullptr) w.Field("api_key", created->secret);
  hokusai_api::WriteKeyMembers(w, record, NowMillis());
  w.EndObject();
  return w.Take();
}

int Failed(const Error& error) {
  std::cerr << "error: " << error.message << "\n";
  return error.code == ErrorCode::kResourceDoesNotExist ? 3 : 1;
}

}  // namespace

void AddStoreOptions(CLI::App& app, StoreOptions& options) {
  app.add_option("--backend-store-uri", options.backend_store_uri,
                 "sqlite:///<relative path>, sqlite:////<absolute path>, a file path, or "
                 "postgresql://[user[:password]@]host[:port]/database[?options]")
      ->envname("HOKUSAI_BACKEND_STORE_URI")
      ->capture_default_str();
  app.add_option("--auth-secret-file", options.auth_secret_file,
                 "File holding the secret API keys are hashed with (default: auth-secret "
                 "beside the database; created with mode 0600)")
      ->envname("HOKUSAI_AUTH_SECRET_FILE");
  // The secret itself is only read from the environment: a flag would show in `ps`.
  app.add_option("--auth-secret", options.auth_secret)
      ->envname("HOKUSAI_AUTH_SECRET")
      ->group("");
}

Result<OpenedStore> OpenStore(const StoreOptions& options, const std::string& synchronous) {
  HK_TRY(path, DatabaseFromUri(options.backend_store_uri));
  bool postgres = store::postgres::IsPostgresUrl(path);
  std::filesystem::path parent;
  if (!postgres) {
    std::error_code ec;
    parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("cannot create directory '{}': {}", parent.string(), ec.message()));
    }
  }
  OpenedStore opened;
  opened.path = path;
  if (!options.auth_secret.empty()) {
    if (options.auth_secret.size() < 32) {
      return InvalidParameter("HOKUSAI_AUTH_SECRET must be at least 32 characters");
    }
    opened.server_secret = options.auth_secret;
  } else if (postgres && options.auth_secret_file.empty()) {
    // Every replica must hash keys with the same secret, and it must not live in the database
    // whose key hashes it protects: no default place for it.
    return InvalidParameter(
        "a PostgreSQL store needs the key-hashing secret shared by every replica: set "
        "HOKUSAI_AUTH_SECRET or --auth-secret-file");
  } else {
    std::string file = options.auth_secret_file.empty()
                           ? (parent.empty() ? std::filesystem::path("auth-secret")
                                             : parent / "auth-secret")
                                 .string()
                           : options.auth_secret_file;
    HK_TRY(secret, auth::LoadOrCreateServerSecret(file));
    opened.server_secret = secret;
  }
  store::sql::DatabaseOptions database;
  database.path = path;
  database.synchronous = synchronous;
  auto tracking = store::sql::SqlTrackingStore::Open(database);
  if (!tracking) {
    return Fail(ErrorCode::kInternalError,
                "cannot open the store: " + tracking.error().message);
  }
  opened.tracking = std::move(*tracking);
  opened.auth = std::make_unique<store::sql::SqlAuthStore>(opened.tracking->pool());
  return opened;
}

void PrintBootstrapBanner(const auth::NewKey& key, const std::string& url) {
  std::cout << "\n"
            << "  First start: an admin API key was created (key id " << key.record.key_id
            << ").\n"
            << "  It is shown only this once and cannot be recovered; store it now.\n\n"
            << "    export MLFLOW_TRACKING_URI=" << url << "\n"
            << "    export MLFLOW_TRACKING_TOKEN=" << key.secret << "\n\n"
            << "  Create keys for others with POST /api/v1/keys or "
               "`hokusai-registry keys create`.\n\n"
            << std::flush;
}

KeysCommand::KeysCommand(CLI::App& app) {
  keys_ = app.add_subcommand("keys", "Manage API keys offline, directly in the store");
  keys_->require_subcommand(1);
  keys_->fallthrough();  // store options may follow the subcommand
  AddStoreOptions(*keys_, store_);

  create_ = keys_->add_subcommand("create", "Create a key (and its user when missing)");
  create_->add_option("--user", request_.user_id, "The key's user")->required();
  create_->add_option("--email", request_.email, "Email of a user created now");
  create_->add_flag("--admin-user", request_.admin_user, "Create the user as an admin");
  create_->add_option("--name", request_.name, "A label for the key")
      ->default_val("cli key");
  create_->add_option("--template", request_.template_name, "reader, developer or admin");
  create_->add_option("--scope", request_.scopes,
                      "A scope (repeatable), e.g. model:write:acme-*; instead of --template");
  create_->add_option("--environment", request_.environment, "live, test or dev")
      ->capture_default_str();
  create_->add_option("--expires-in-days", expires_in_days_, "Expiry in days (0: never)")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  create_->add_option("--allowed-ip", request_.allowed_ips,
                      "Address or CIDR the key may be used from (repeatable)");
  create_->add_option("--rate-limit-per-hour", rate_limit_, "Requests per hour")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000000}));
  create_->add_flag("--json", json_, "Print JSON");

  list_ = keys_->add_subcommand("list", "List keys (never their secrets)");
  list_->add_option("--user", list_user_, "Only this user's keys");
  list_->add_flag("--json", json_, "Print JSON");

  revoke_ = keys_->add_subcommand("revoke", "Revoke a key at once");
  revoke_->add_option("key_id", key_id_, "The key id")->required();
  revoke_->add_flag("--json", json_, "Print JSON");

  rotate_ = keys_->add_subcommand("rotate", "Give a key a new secret");
  rotate_->add_option("key_id", key_id_, "The key id")->required();
  rotate_->add_option("--overlap-seconds", overlap_seconds_,
                      "How long the old secret keeps working (0 to 604800)")
      ->capture_default_str();
  rotate_->add_flag("--json", json_, "Print JSON");
}

int KeysCommand::Run() {
  if (!keys_->parsed()) return 0;
  if (create_->parsed()) return Create();
  if (list_->parsed()) return List();
  if (revoke_->parsed()) return Revoke();
  if (rotate_->parsed()) return Rotate();
  return 2;
}

namespace {

// Opens the store and a KeyService for one offline command.
struct Offline {
  OpenedStore opened;
  std::unique_ptr<auth::KeyService> keys;
};

Result<Offline> OpenOffline(const StoreOptions& options) {
  Offline offline;
  HK_TRY(opened, OpenStore(options, "FULL"));
  offline.opened = std::move(opened);
  offline.keys = std::make_unique<auth::KeyService>(*offline.opened.auth,
                                                    offline.opened.server_secret,
                                                    auth::KeyDefaults{});
  return offline;
}

void PrintCreated(const auth::NewKey& key, bool json, std::string_view what) {
  if (json) {
    std::cout << KeyJson(&key, key.record) << "\n";
    return;
  }
  std::cout << what << " key " << key.record.key_id << " for user '" << key.record.user_id
            << "' (scopes: " << fmt::format("{}", fmt::join(key.record.scopes, " "))
            << "). The key is shown only this once:\n\n"
            << "    export MLFLOW_TRACKING_TOKEN=" << key.secret << "\n\n";
}

}  // namespace

int KeysCommand::Create() {
  auto offline = OpenOffline(store_);
  if (!offline) return Failed(offline.error());
  if (expires_in_days_ > 0) request_.expires_at = NowMillis() + expires_in_days_ * kDayMs;
  if (rate_limit_ > 0) request_.rate_limit_per_hour = rate_limit_;
  auto created = offline->keys->Create(request_, nullptr);
  if (!created) return Failed(created.error());
  PrintCreated(*created, json_, "Created");
  return 0;
}

int KeysCommand::List() {
  auto offline = OpenOffline(store_);
  if (!offline) return Failed(offline.error());
  auto keys = offline->keys->List(list_user_, nullptr);
  if (!keys) return Failed(keys.error());
  int64_t now = NowMillis();
  if (json_) {
    json::Writer w;
    w.BeginArray();
    for (const store::ApiKeyRecord& key : *keys) {
      w.BeginObject();
      hokusai_api::WriteKeyMembers(w, key, now);
      w.EndObject();
    }
    w.EndArray();
    std::cout << w.Take() << "\n";
    return 0;
  }
  for (const store::ApiKeyRecord& key : *keys) {
    std::cout << fmt::format("{}  {:<20}  {:<12}  {:<8}  {}  {}\n", key.key_id, key.key_prefix,
                             key.user_id, hokusai_api::IsActive(key, now) ? "active" : "inactive",
                             fmt::join(key.scopes, " "), key.name);
  }
  return 0;
}

int KeysCommand::Revoke() {
  auto offline = OpenOffline(store_);
  if (!offline) return Failed(offline.error());
  auto revoked = offline->keys->Revoke(key_id_, nullptr);
  if (!revoked) return Failed(revoked.error());
  if (json_) {
    std::cout << KeyJson(nullptr, *revoked) << "\n";
  } else {
    std::cout << "Revoked key " << revoked->key_id << " (" << revoked->key_prefix << ")\n";
  }
  return 0;
}

int KeysCommand::Rotate() {
  auto offline = OpenOffline(store_);
  if (!offline) return Failed(offline.error());
  auto rotated = offline->keys->Rotate(key_id_, overlap_seconds_, nullptr);
  if (!rotated) return Failed(rotated.error());
  PrintCreated(*rotated, json_, "Rotated");
  return 0;
}

}  // namespace hokusai::cli
