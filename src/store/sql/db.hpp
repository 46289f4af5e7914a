// The database seam under the SQL stores: a connection, a prepared statement, a pool, a
// transaction. One set of store code runs on two engines, SQLite (embedded default) and
// PostgreSQL (scale-out); each engine implements Connection and StatementImpl (sqlite_connection,
// postgres/pg_connection). Statements use `?` placeholders on both; values always travel as binds.
// Not thread-safe: a connection is used by one thread at a time (see ConnectionPool).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "store/sql/shared_counter.hpp"

namespace hokusai::store::sql {

// Where one statement's spelling must differ between the engines (see Connection::dialect()).
enum class Dialect { kSqlite, kPostgres };

// One engine's prepared statement. Bind indexes are 1-based, columns 0-based.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void Bind(int index, std::string_view value) = 0;
  virtual void Bind(int index, int64_t value) = 0;
  virtual void Bind(int index, double value) = 0;
  virtual void BindNull(int index) = 0;
  // Bytes as they are (SQLite BLOB, PostgreSQL bytea).
  virtual void BindBlob(int index, std::string_view bytes) = 0;
  virtual Result<bool> Step() = 0;
  // Back to unexecuted with no values bound, ready for reuse.
  virtual void Reset() = 0;
  virtual std::string Text(int column) const = 0;
  virtual int64_t Int(int column) const = 0;
  virtual double Double(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
  virtual std::string Blob(int column) const = 0;
};

class Connection;

// A prepared statement on loan from its connection's cache; destroying it hands it back.
class Statement {
 public:
  Statement(std::unique_ptr<StatementImpl> impl, std::string sql, Connection* owner)
      : impl_(std::move(impl)), sql_(std::move(sql)), owner_(owner) {}
  Statement(Statement&& other) noexcept = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, std::string_view value) {
    impl_->Bind(index, value);
    return *this;
  }
  Statement& Bind(int index, int64_t value) {
    impl_->Bind(index, value);
    return *this;
  }
  Statement& Bind(int index, double value) {
    impl_->Bind(index, value);
    return *this;
  }
  Statement& BindNull(int index) {
    impl_->BindNull(index);
    return *this;
  }
  Statement& BindBlob(int index, std::string_view bytes) {
    impl_->BindBlob(index, bytes);
    return *this;
  }

  // Steps once: true when a row is available, false when done.
  Result<bool> Step() { return impl_->Step(); }
  // Steps to completion (for writes).
  Result<void> Run();
  Result<void> Reset() {
    impl_->Reset();
    return {};
  }

  std::string Text(int column) const { return impl_->Text(column); }
  int64_t Int(int column) const { return impl_->Int(column); }
  double Double(int column) const { return impl_->Double(column); }
  bool IsNull(int column) const { return impl_->IsNull(column); }
  std::string Blob(int column) const { return impl_->Blob(column); }

 private:
  std::unique_ptr<StatementImpl> impl_;
  std::string sql_;
  Connection* owner_;
};

class Connection {
 public:
  virtual ~Connection() = default;

  // A statement for `sql`, reused from earlier calls with the same text when one is idle
  // (parsing and planning cost more than most of the queries themselves). The same text may be
  // in use more than once at a time (nested loops): each use gets its own statement.
  Result<Statement> Prepare(std::string_view sql);
  // One statement without parameters or rows (BEGIN, COMMIT, ...), through the cache.
  Result<void> Run(std::string_view sql);
  // Any number of statements without parameters, parsed every time (migrations, set-up).
  virtual Result<void> Exec(std::string_view sql) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE run on this connection.
  virtual int64_t Changes() const = 0;
  virtual Dialect dialect() const = 0;
  // Whether a transaction is open (one may end without COMMIT or ROLLBACK: SQLite rolls back by
  // itself after some errors, a PostgreSQL connection can be lost).
  virtual bool InTransaction() const = 0;
  // Starts a transaction. A write transaction holds the database's one writer lock until it
  // ends (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock, so the stores'
  // read-check-write sequences behave the same on both and across replicas).
  virtual Result<void> Begin(bool write) = 0;
  // Statements kept for reuse (tests).
  std::size_t CachedStatements() const { return cached_count_; }

 protected:
  virtual Result<std::unique_ptr<StatementImpl>> PrepareNew(std::string_view sql) = 0;
  // Destroys the idle statements; an engine whose statements need the open connection calls it
  // in its destructor, before closing.
  void DropCachedStatements() {
    idle_.clear();
    cached_count_ = 0;
  }

 private:
  friend class Statement;
  // Takes back a statement its Statement is done with: reset and kept, or dropped.
  void Recycle(std::unique_ptr<StatementImpl> impl, std::string sql);

  // Bounds: texts built from requests (searches) vary, so the cache must not grow with them.
  static constexpr std::size_t kMaxCachedStatements = 256;
  static constexpr std::size_t kMaxIdlePerText = 4;
  std::unordered_map<std::string, std::vector<std::unique_ptr<StatementImpl>>> idle_;
  std::size_t cached_count_ = 0;
};

// A fixed set of connections handed out one at a time; blocks when all are in use.
// Thread-safe.
class ConnectionPool {
 public:
  explicit ConnectionPool(std::vector<std::unique_ptr<Connection>> connections)
      : idle_(std::move(connections)) {}

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

  // The counter AuthStore::KeyEpoch reads, when this database has one (see OpenDatabase).
  void SetKeyEpoch(std::unique_ptr<SharedCounter> counter) { key_epoch_ = std::move(counter); }
  SharedCounter* key_epoch() const { return key_epoch_.get(); }
  // A connection for a write transaction, holding the pool's writer lock while leased. Writers
  // of one process queue here, in order, instead of in the engine's lock (SQLite's busy handler
  // sleeps and retries in no order and starves some writers under contention).
  Lease AcquireWriter();

  // One request's writes, with group commit (decision 0021). `body` runs inside a write
  // transaction that the writes of other requests queued at the same time may share, each under
  // a savepoint of its own: an error from `body` undoes only its writes, and the transaction
  // commits once for all. Returns when that commit has ended: success means `body` succeeded and
  // its writes are committed. `done(committed)` runs exactly once, on the thread that ran the
  // transaction and still under the writer lease -- at once when `body` fails, otherwise after
  // the commit (true) or after a failure that rolled back the whole transaction (false) -- for
  // state in memory that must follow the database. Queued writes run in arrival order, one
  // group at a time; AcquireWriter() waits for a group to end and a group for it.
  using WriteBody = std::function<Result<void>(Connection&)>;
  using WriteDone = std::function<void(bool committed)>;
  Result<void> Write(const WriteBody& body, const WriteDone& done = {});

  // Counts since the pool opened (tests, metrics): writes through Write(), and the transactions
  // that carried them.
  struct WriteCounts {
    uint64_t writes = 0;
    uint64_t transactions = 0;
  };
  WriteCounts write_counts() const;
  // Writes waiting in Write() or running there now (tests).
  std::size_t QueuedWrites() const;

 private:
  struct PendingWrite;
  static constexpr std::size_t kMaxGroup = 64;
  // Runs `group` (the queue's head) on the writer connection; sets each member's result.
  void RunGroup(Connection& conn, std::span<PendingWrite* const> group);
  // After RunGroup threw: rolls back and fails every member whose done() has not run.
  void AbandonGroup(Connection& conn, std::span<PendingWrite* const> group) noexcept;

  void Release(std::unique_ptr<Connection> conn);
  mutable std::mutex queue_mutex_;
  std::deque<PendingWrite*> queue_;  // arrival order; the head's writer leads the next group
  WriteCounts counts_;               // under queue_mutex_
  std::mutex writer_mutex_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::unique_ptr<SharedCounter> key_epoch_;
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

// Begins on construction (Connection::Begin); rolls back unless Commit() succeeded.
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

}  // namespace hokusai::store::sql
