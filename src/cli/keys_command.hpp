// The store options shared by `serve` and `keys`, and the offline key commands
// (`hokusai-registry keys create|list|revoke|rotate`) that work against the store directly, for
// operators and for bootstrapping.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "auth/key_service.hpp"
#include "common/error.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::cli {

struct StoreOptions {
  std::string backend_store_uri = "sqlite:///hokusai-data/registry.db";
  // The server secret keys are hashed with: given directly, or kept in a file (created with mode
  // 0600 when missing; default: `auth-secret` beside a SQLite database; PostgreSQL has no
  // default, every replica must be given the same one).
  std::string auth_secret;
  std::string auth_secret_file;
};

void AddStoreOptions(CLI::App& app, StoreOptions& options);

struct OpenedStore {
  std::string path;  // the SQLite file or the PostgreSQL URL (may hold a password: never log it)
  std::unique_ptr<store::sql::SqlTrackingStore> tracking;
  std::unique_ptr<store::sql::SqlAuthStore> auth;
  std::string server_secret;
};

// Opens (creating and migrating) the database and loads the server secret.
Result<OpenedStore> OpenStore(const StoreOptions& options, const std::string& synchronous);

// The first-start message: the admin key and the two lines a client needs, on stdout, once.
void PrintBootstrapBanner(const auth::NewKey& key, const std::string& url);

class KeysCommand {
 public:
  explicit KeysCommand(CLI::App& app);
  // Runs the parsed subcommand; the process exit code.
  int Run();

 private:
  int Create();
  int List();
  int Revoke();
  int Rotate();

  CLI::App* keys_ = nullptr;
  CLI::App* create_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* revoke_ = nullptr;
  CLI::App* rotate_ = nullptr;
  StoreOptions store_;
  bool json_ = false;
  auth::NewKeyRequest request_;
  int64_t expires_in_days_ = 0;
  int64_t rate_limit_ = 0;
  std::string list_user_;
  std::string key_id_;
  int64_t overlap_seconds_ = 0;
};

}  // namespace hokusai::cli
