#include "store/sql/db.hpp"

namespace hokusai::store::sql {

Statement::~Statement() {
  if (impl_ != nullptr) owner_->Recycle(std::move(impl_), std::move(sql_));
}

Result<void> Statement::Run() {
  for (;;) {
    HK_TRY(row, Step());
    if (!row) return {};
  }
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  std::string text(sql);
  auto it = idle_.find(text);
  if (it != idle_.end() && !it->second.empty()) {
    std::unique_ptr<StatementImpl> impl = std::move(it->second.back());
    it->second.pop_back();
    --cached_count_;
    return Statement(std::move(impl), std::move(text), this);
  }
  HK_TRY(impl, PrepareNew(sql));
  return Statement(std::move(impl), std::move(text), this);
}

void Connection::Recycle(std::unique_ptr<StatementImpl> impl, std::string sql) {
  impl->Reset();
  if (cached_count_ >= kMaxCachedStatements) return;
  auto& idle = idle_[std::move(sql)];
  if (idle.size() >= kMaxIdlePerText) return;
  idle.push_back(std::move(impl));
  ++cached_count_;
}

Result<void> Connection::Run(std::string_view sql) {
  HK_TRY(stmt, Prepare(sql));
  return stmt.Run();
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
  HK_CHECK(conn.Begin(write));
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

}  // namespace hokusai::store::sql
