#include "store/sqlite/sqlite_db.hpp"

#include <condition_variable>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hokusai::store::sqlite {

Error SqliteError(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  spdlog::error("sqlite {} failed: {} ({})", what, db ? sqlite3_errmsg(db) : "no connection",
                code);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED || (code & 0xff) == SQLITE_BUSY) {
    return Error{ErrorCode::kTemporarilyUnavailable, "The store is busy, retry later"};
  }
  return Error{ErrorCode::kInternalError, "Store error"};
}

Statement& Statement::Bind(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Statement& Statement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return tl::unexpected(SqliteError(db_, "step"));
}

Result<void> Statement::Run() {
  for (;;) {
    auto row = Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
  }
}

Result<void> Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return {};
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}
int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }
bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                      const std::string& synchronous) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot open SQLite database '{}': {}", path, message));
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  for (const std::string& pragma :
       {std::string("PRAGMA journal_mode=WAL"), "PRAGMA synchronous=" + synchronous,
        std::string("PRAGMA foreign_keys=ON"), std::string("PRAGMA case_sensitive_like=ON"),
        std::string("PRAGMA temp_store=MEMORY"),
        // Reads through a memory map instead of pread(), and a page cache that holds the hot
        // b-tree levels: both cut the kernel copying that dominated log-batch profiles.
        std::string("PRAGMA mmap_size=1073741824"), std::string("PRAGMA cache_size=-16384")}) {
    if (auto ok = conn->Exec(pragma); !ok) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("cannot configure SQLite database '{}': {}", path,
                              sqlite3_errmsg(db)));
    }
  }
  return conn;
}

Connection::~Connection() {
  for (auto& [text, statements] : idle_) {
    for (sqlite3_stmt* stmt : statements) sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = idle_.find(std::string(sql));
  if (it != idle_.end() && !it->second.empty()) {
    sqlite3_stmt* stmt = it->second.back();
    it->second.pop_back();
    --cached_count_;
    return Statement(db_, stmt, this);
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return tl::unexpected(SqliteError(db_, "prepare"));
  }
  return Statement(db_, stmt, this);
}

void Connection::Recycle(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  const char* text = sqlite3_sql(stmt);
  if (text != nullptr && cached_count_ < kMaxCachedStatements) {
    auto& idle = idle_[text];
    if (idle.size() < kMaxIdlePerText) {
      idle.push_back(stmt);
      ++cached_count_;
      return;
    }
  }
  sqlite3_finalize(stmt);
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owner_ != nullptr) {
    owner_->Recycle(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

Result<void> Connection::Run(std::string_view sql) {
  HK_TRY(stmt, Prepare(sql));
  return stmt.Run();
}

Result<void> Connection::Exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return tl::unexpected(SqliteError(db_, "exec"));
  }
  return {};
}

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::Open(const std::string& path, int size,
                                                             const std::string& synchronous) {
  auto pool = std::make_unique<ConnectionPool>();
  for (int i = 0; i < size; ++i) {
    auto conn = Connection::Open(path, synchronous);
    if (!conn) return tl::unexpected(conn.error());
    pool->idle_.push_back(std::move(*conn));
  }
  return pool;
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [this] { return !idle_.empty(); });
  auto conn = std::move(idle_.back());
  idle_.pop_back();
  return Lease(this, std::move(conn));
}

ConnectionPool::Lease ConnectionPool::AcquireWriter() {
  std::unique_lock writer(writer_mutex_);
  std::unique_lock lock(mutex_);
  available_.wait(lock, [this] { return !idle_.empty(); });
  auto conn = std::move(idle_.back());
  idle_.pop_back();
  return Lease(this, std::move(conn), std::move(writer));
}

void ConnectionPool::Release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(conn));
  }
  available_.notify_one();
}

Result<Transaction> Transaction::Begin(Connection& conn, bool write) {
  if (auto ok = conn.Run(write ? "BEGIN IMMEDIATE" : "BEGIN"); !ok) {
    return tl::unexpected(ok.error());
  }
  return Transaction(conn);
}

Transaction::~Transaction() {
  if (open_) (void)conn_->Run("ROLLBACK");
}

Result<void> Transaction::Commit() {
  auto ok = conn_->Run("COMMIT");
  if (ok) open_ = false;
  return ok;
}

}  // namespace hokusai::store::sqlite
