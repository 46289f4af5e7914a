// Thin RAII wrappers over libsqlite3: a connection, a prepared statement, a transaction.
// Not thread-safe: a connection is used by one thread at a time (see ConnectionPool).
#pragma once

#include <cstdint>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>

#include "common/error.hpp"

namespace hokusai::store::sqlite {

class Connection;

// A prepared statement. Made by Connection::Prepare, which keeps it for reuse: destroying a
// Statement resets it and hands it back to its connection's cache.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt, Connection* owner = nullptr)
      : db_(db), stmt_(stmt), owner_(owner) {}
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(other.stmt_), owner_(other.owner_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind by 1-based index. Strings are copied by SQLite (SQLITE_TRANSIENT).
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& BindNull(int index);

  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion (for writes).
  Result<void> Run();
  Result<void> Reset();

  std::string Text(int column) const;
  int64_t Int(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Connection* owner_;
};

class Connection {
 public:
  // Opens (creating if needed) the database at `path` with WAL, foreign keys, busy timeout and
  // the given synchronous level ("NORMAL" or "FULL").
  static Result<std::unique_ptr<Connection>> Open(const std::string& path,
                                                   const std::string& synchronous);
  ~Connection();

  // A statement for `sql`, reused from earlier calls with the same text when one is idle
  // (parsing and planning cost more than most of the queries themselves). The same text may be
  // in use more than once at a time (nested loops): each use gets its own statement.
  Result<Statement> Prepare(std::string_view sql);
  // One statement without parameters or rows (BEGIN, COMMIT, ...), through the cache.
  Result<void> Run(std::string_view sql);
  // Any number of statements, parsed every time (migrations, pragmas).
  Result<void> Exec(std::string_view sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  // Statements kept for reuse (tests).
  std::size_t CachedStatements() const { return cached_count_; }

 private:
  friend class Statement;
  explicit Connection(sqlite3* db) : db_(db) {}
  // Takes back a statement its Statement is done with: reset, unbound, kept or finalized.
  void Recycle(sqlite3_stmt* stmt);

  // Bounds: texts built from requests (searches) vary, so the cache must not grow with them.
  static constexpr std::size_t kMaxCachedStatements = 256;
  static constexpr std::size_t kMaxIdlePerText = 4;
  sqlite3* db_;
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
  std::size_t cached_count_ = 0;
};

// A store error from SQLite, logged with its detail; the client sees a generic message.
Error SqliteError(sqlite3* db, std::string_view what);

// A fixed set of connections handed out one at a time; blocks when all are in use.
// Thread-safe.
class ConnectionPool {
 public:
  static Result<std::unique_ptr<ConnectionPool>> Open(const std::string& path, int size,
                                                      const std::string& synchronous);

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn,
          std::unique_lock<std::mutex> writer = {})
        : writer_(std::move(writer)), pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    std::unique_lock<std::mutex> writer_;  // held for the lease's lifetime by writers
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // A connection for reads.
  Lease Acquire();
  // A connection for a write transaction, holding the pool's writer lock while leased. Writers
  // queue here instead of in SQLite's busy handler, which sleeps and retries in no order and
  // starves some writers under contention.
  Lease AcquireWriter();

 private:
  void Release(std::unique_ptr<Connection> conn);
  std::mutex writer_mutex_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// Steps `stmt` through every row, calling `fn()` for each (which reads the row from `stmt`).
template <typename Fn>
Result<void> ForEachRow(Statement& stmt, Fn&& fn) {
  for (;;) {
    HK_TRY(row, stmt.Step());
    if (!row) return {};
    fn();
  }
}

// Runs BEGIN (IMMEDIATE for writes) on construction; rolls back unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Connection& conn, bool write);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_), open_(other.open_) {
    other.open_ = false;
  }
  ~Transaction();
  Result<void> Commit();

 private:
  explicit Transaction(Connection& conn) : conn_(&conn) {}
  Connection* conn_;
  bool open_ = true;
};

}  // namespace hokusai::store::sqlite
