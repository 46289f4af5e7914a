#include "auth/audit_sink.hpp"

#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

namespace hokusai::auth {

namespace {
constexpr std::size_t kMaxQueued = 100000;
constexpr std::size_t kBatch = 256;
constexpr auto kInterval = std::chrono::milliseconds(100);
}  // namespace

AuditSink::AuditSink(store::AuthStore& store) : store_(store), thread_([this] { Loop(); }) {}

AuditSink::~AuditSink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  Flush();
}

void AuditSink::Add(store::AuditEntry entry) {
  bool full_batch = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kMaxQueued) {
      ++dropped_;
      if (dropped_ == 1 || dropped_ % 10000 == 0) {
        spdlog::error("audit queue full: {} entries dropped so far", dropped_);
      }
      return;
    }
    queue_.push_back(std::move(entry));
    full_batch = queue_.size() >= kBatch;
  }
  if (full_batch) wake_.notify_one();
}

int64_t AuditSink::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void AuditSink::Loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kInterval, [this] { return stopping_ || queue_.size() >= kBatch; });
    lock.unlock();
    WriteBatch();
    lock.lock();
  }
}

void AuditSink::Flush() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) break;
    }
    if (!WriteBatch()) break;
  }
  // Wait for a batch another thread may be writing.
  std::lock_guard write_lock(write_mutex_);
}

bool AuditSink::WriteBatch() {
  std::lock_guard write_lock(write_mutex_);
  std::vector<store::AuditEntry> batch;
  {
    std::lock_guard lock(mutex_);
    while (!queue_.empty() && batch.size() < 4 * kBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  if (batch.empty()) return true;
  auto written = store_.AppendAudit(batch);
  if (!written) {
    // Put the entries back (at the front, in order) and try again on the next tick.
    spdlog::error("audit log write failed, will retry: {}", written.error().message);
    std::lock_guard lock(mutex_);
    for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
    return false;
  }
  return true;
}

}  // namespace hokusai::auth
