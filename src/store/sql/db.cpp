#include "store/sql/db.hpp"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

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

struct ConnectionPool::PendingWrite {
  const WriteBody* body;
  const WriteDone* done;
  Result<void> result;
  bool finished = false;  // under queue_mutex_
  std::condition_variable wake;

  void Done(bool committed) const {
    if (*done) (*done)(committed);
  }
};

Result<void> ConnectionPool::Write(const WriteBody& body, const WriteDone& done) {
  PendingWrite me{&body, &done, {}};
  std::unique_lock lock(queue_mutex_);
  queue_.push_back(&me);
  me.wake.wait(lock, [&] { return me.finished || queue_.front() == &me; });
  if (me.finished) return std::move(me.result);
  // This write leads the next group. Writes queued while it waits for the writer connection
  // (another group, or an AcquireWriter() lease, still holds it) join the group.
  lock.unlock();
  auto conn = AcquireWriter();
  lock.lock();
  auto size = static_cast<std::ptrdiff_t>(std::min(queue_.size(), kMaxGroup));
  std::vector<PendingWrite*> group(queue_.begin(), queue_.begin() + size);
  lock.unlock();
  RunGroup(*conn, group);
  lock.lock();
  counts_.writes += group.size();
  for (PendingWrite* member : group) {
    queue_.pop_front();  // the group is the queue's head; only leaders pop
    if (member == &me) continue;
    member->finished = true;
    member->wake.notify_one();  // under the lock: the member cannot return (and go) before it
  }
  if (!queue_.empty()) queue_.front()->wake.notify_one();
  return std::move(me.result);
}

namespace {

constexpr std::string_view kSavepoint = "SAVEPOINT hk_write";
constexpr std::string_view kReleaseSavepoint = "RELEASE hk_write";
constexpr std::string_view kRollbackToSavepoint = "ROLLBACK TO hk_write";

Error StoreLost() { return Error{ErrorCode::kInternalError, "Store error"}; }

// A body that throws (a bug: expected failures are values) fails alone, like one that returns
// an error, instead of unwinding the leader and leaving every queued write waiting for ever.
Result<void> RunBody(const ConnectionPool::WriteBody& body, Connection& conn) {
  try {
    return body(conn);
  } catch (const std::exception& e) {
    spdlog::error("a store write failed with an exception: {}", e.what());
  } catch (...) {
    spdlog::error("a store write failed with an exception");
  }
  return tl::unexpected(StoreLost());
}

}  // namespace

void ConnectionPool::RunGroup(Connection& conn, const std::vector<PendingWrite*>& group) {
  std::size_t next = 0;
  while (next < group.size()) {
    // One transaction for the rest of the group. A member whose savepoint cannot be undone, or
    // after whose writes the transaction is gone, ends it: the members applied in it fail with
    // it, and those after it go on in a new transaction.
    bool shared = group.size() - next > 1;
    if (auto begun = conn.Begin(true); !begun) {
      for (; next < group.size(); ++next) {
        group[next]->result = tl::unexpected(begun.error());
        group[next]->Done(false);
      }
      return;
    }
    {
      std::lock_guard lock(queue_mutex_);
      ++counts_.transactions;
    }
    std::vector<PendingWrite*> applied;
    bool lost = false;  // the transaction ended early
    for (; next < group.size() && !lost; ++next) {
      PendingWrite& member = *group[next];
      if (shared) {
        if (auto ok = conn.Run(kSavepoint); !ok) {
          member.result = tl::unexpected(ok.error());
          lost = true;
          member.Done(false);
          continue;
        }
      }
      member.result = RunBody(*member.body, conn);
      if (!conn.InTransaction()) {
        if (member.result) member.result = tl::unexpected(StoreLost());
        lost = true;
      } else if (member.result) {
        auto released = shared ? conn.Run(kReleaseSavepoint) : Result<void>{};
        if (released) {
          applied.push_back(&member);
          continue;
        }
        member.result = tl::unexpected(released.error());
        lost = true;
      } else if (shared) {
        auto undone = conn.Run(kRollbackToSavepoint);
        if (undone) undone = conn.Run(kReleaseSavepoint);
        if (!undone) lost = true;
      }
      member.Done(false);
    }
    // Nothing to commit unless something was applied; the members applied in a transaction that
    // a later member lost did nothing wrong, and a retry of theirs will go through.
    Result<void> committed = tl::unexpected(StoreLost());
    if (lost) {
      committed = Fail(ErrorCode::kTemporarilyUnavailable,
                       "A write that shared this one's transaction failed; retry");
    } else if (!applied.empty()) {
      committed = conn.Run("COMMIT");
    }
    if (committed) {
      for (PendingWrite* member : applied) member->Done(true);
      continue;
    }
    if (conn.InTransaction()) (void)conn.Run("ROLLBACK");
    for (auto it = applied.rbegin(); it != applied.rend(); ++it) {
      (*it)->result = tl::unexpected(committed.error());
      (*it)->Done(false);
    }
  }
}

ConnectionPool::WriteCounts ConnectionPool::write_counts() const {
  std::lock_guard lock(queue_mutex_);
  return counts_;
}

std::size_t ConnectionPool::QueuedWrites() const {
  std::lock_guard lock(queue_mutex_);
  return queue_.size();
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
