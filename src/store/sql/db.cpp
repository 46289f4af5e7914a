#include "store/sql/db.hpp"

#include <algorithm>
#include <array>
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
  bool applied = false;   // its writes are in the open transaction (the leader's thread)
  bool heard = false;     // done() has run (the leader's thread)
  std::condition_variable wake;

  void Done(bool committed) {
    heard = true;
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
  std::array<PendingWrite*, kMaxGroup> members;  // no allocation: nothing here may throw
  std::size_t size = std::min(queue_.size(), kMaxGroup);
  std::copy_n(queue_.begin(), size, members.begin());
  std::span<PendingWrite* const> group(members.data(), size);
  lock.unlock();
  try {
    RunGroup(*conn, group);
  } catch (...) {
    // Only a bug or exhausted memory gets here (expected failures are values). Whatever ran is
    // rolled back and every member not yet answered fails, so that the queue goes on.
    AbandonGroup(*conn, group);
  }
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

void ConnectionPool::AbandonGroup(Connection& conn, std::span<PendingWrite* const> group) noexcept {
  spdlog::error("a group of store writes failed with an exception; its writes are rolled back");
  try {
    if (conn.InTransaction()) (void)conn.Run("ROLLBACK");
  } catch (...) {
  }
  for (PendingWrite* member : group) {
    if (member->heard) continue;
    member->result = tl::unexpected(StoreLost());
    try {
      member->Done(false);
    } catch (...) {
    }
  }
}

void ConnectionPool::RunGroup(Connection& conn, std::span<PendingWrite* const> group) {
  std::size_t next = 0;
  while (next < group.size()) {
    // One transaction for the rest of the group. A member whose savepoint cannot be undone, or
    // after whose writes the transaction is gone, ends it: the members applied in it fail with
    // it, and those after it go on in a new transaction.
    bool shared = group.size() - next > 1;
    if (auto begun = conn.Begin(true); !begun) {
      if (conn.InTransaction()) (void)conn.Run("ROLLBACK");
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
    std::size_t first = next;
    bool any_applied = false;
    PendingWrite* lost_by = nullptr;  // the member after whose writes the transaction was gone
    for (; next < group.size() && lost_by == nullptr; ++next) {
      PendingWrite& member = *group[next];
      if (shared) {
        if (auto ok = conn.Run(kSavepoint); !ok) {
          member.result = tl::unexpected(ok.error());
          lost_by = &member;
          member.Done(false);
          continue;
        }
      }
      member.result = RunBody(*member.body, conn);
      if (!conn.InTransaction()) {
        if (member.result) member.result = tl::unexpected(StoreLost());
        lost_by = &member;
      } else if (member.result) {
        auto released = shared ? conn.Run(kReleaseSavepoint) : Result<void>{};
        if (released) {
          member.applied = any_applied = true;
          continue;
        }
        member.result = tl::unexpected(released.error());
        lost_by = &member;
      } else if (shared) {
        auto undone = conn.Run(kRollbackToSavepoint);
        if (undone) undone = conn.Run(kReleaseSavepoint);
        if (!undone) lost_by = &member;
      }
      member.Done(false);
    }
    std::span<PendingWrite* const> ran = group.subspan(first, next - first);
    Result<void> committed = tl::unexpected(StoreLost());  // nothing to commit: roll back
    if (lost_by == nullptr && any_applied) committed = conn.Run("COMMIT");
    if (committed) {
      for (PendingWrite* member : ran) {
        if (member->applied) member->Done(true);
      }
      continue;
    }
    if (conn.InTransaction()) (void)conn.Run("ROLLBACK");
    if (lost_by == nullptr && !any_applied) continue;  // every member failed on its own
    // The applied members lost their writes without doing anything wrong; a refused member may
    // have been refused because of them (a param another member had just logged). All of them
    // are told to retry, except the member that lost the transaction, whose own error stands.
    // A failed COMMIT gives the applied members its own error.
    Error retry{ErrorCode::kTemporarilyUnavailable,
                "A write that shared this one's transaction failed; retry"};
    for (auto it = ran.rbegin(); it != ran.rend(); ++it) {
      PendingWrite* member = *it;
      if (member == lost_by) continue;
      if (member->applied) {
        member->applied = false;
        member->result = tl::unexpected(lost_by != nullptr ? retry : committed.error());
        member->Done(false);
      } else {
        member->result = tl::unexpected(retry);
      }
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
