#include "store/sql/sqlite_connection.hpp"

#include <sqlite3.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hokusai::store::sql {

Error SqliteError(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  spdlog::error("sqlite {} failed: {} ({})", what, db ? sqlite3_errmsg(db) : "no connection",
                code);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || (code & 0xff) == SQLITE_BUSY) {
    return Error{ErrorCode::kTemporarilyUnavailable, "The store is busy, retry later"};
  }
  return Error{ErrorCode::kInternalError, "Store error"};
}

namespace {

class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }

  // Strings are copied by SQLite (SQLITE_TRANSIENT).
  void Bind(int index, std::string_view value) override {
    sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  void Bind(int index, int64_t value) override { sqlite3_bind_int64(stmt_, index, value); }
  void Bind(int index, double value) override { sqlite3_bind_double(stmt_, index, value); }
  void BindNull(int index) override { sqlite3_bind_null(stmt_, index); }
  void BindBlob(int index, std::string_view bytes) override {
    sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  }

  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return tl::unexpected(SqliteError(db_, "step"));
  }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::string Text(int column) const override {
    const auto* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t Int(int column) const override { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const override { return sqlite3_column_double(stmt_, column); }
  bool IsNull(int column) const override {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  std::string Blob(int column) const override {
    const void* bytes = sqlite3_column_blob(stmt_, column);
    if (bytes == nullptr) return {};
    return std::string(static_cast<const char*>(bytes),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override {
    DropCachedStatements();
    sqlite3_close_v2(db_);
  }

  Result<void> Exec(std::string_view sql) override {
    std::string text(sql);
    char* message = nullptr;
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      sqlite3_free(message);
      return tl::unexpected(SqliteError(db_, "exec"));
    }
    return {};
  }
  int64_t Changes() const override { return sqlite3_changes64(db_); }
  Dialect dialect() const override { return Dialect::kSqlite; }
  bool InTransaction() const override { return sqlite3_get_autocommit(db_) == 0; }
  Result<void> Begin(bool write) override { return Run(write ? "BEGIN IMMEDIATE" : "BEGIN"); }

 protected:
  Result<std::unique_ptr<StatementImpl>> PrepareNew(std::string_view sql) override {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return tl::unexpected(SqliteError(db_, "prepare"));
    }
    return std::make_unique<SqliteStatement>(db_, stmt);
  }

 private:
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path,
                                               const std::string& synchronous) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot open SQLite database '{}': {}", path, message));
  }
  auto conn = std::make_unique<SqliteConnection>(db);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  for (const std::string& pragma :
       {std::string("PRAGMA journal_mode=WAL"), "PRAGMA synchronous=" + synchronous,
        std::string("PRAGMA foreign_keys=ON"), std::string("PRAGMA case_sensitive_like=ON"),
        std::string("PRAGMA temp_store=MEMORY"),
        // Reads through a memory map instead of pread(), and a page cache that holds the hot
        // b-tree levels: both cut the kernel copying that dominated log-batch profiles.
        std::string("PRAGMA mmap_size=1073741824"), std::string("PRAGMA cache_size=-65536"),
        std::string("PRAGMA wal_autocheckpoint=16384")}) {
    if (auto ok = conn->Exec(pragma); !ok) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("cannot configure SQLite database '{}': {}", path,
                              sqlite3_errmsg(db)));
    }
  }
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace hokusai::store::sql
