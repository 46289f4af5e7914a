// Audit entries are queued by request threads and written to the store in batches by one
// background thread (every 100 ms or 256 entries), so the audit log costs a request no store
// round trip. Flush() and the destructor write what is queued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "store/auth_store.hpp"

namespace hokusai::auth {

class AuditSink {
 public:
  explicit AuditSink(store::AuthStore& store);
  ~AuditSink();
  AuditSink(const AuditSink&) = delete;
  AuditSink& operator=(const AuditSink&) = delete;

  // Never blocks on the store. Beyond 100k queued entries new ones are dropped and counted.
  void Add(store::AuditEntry entry);
  // Writes everything queued so far (tests, /api/v1/audit reads, shutdown).
  void Flush();
  int64_t dropped() const;

 private:
  void Loop();
  bool WriteBatch();  // false when the store refused the batch

  store::AuthStore& store_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<store::AuditEntry> queue_;
  std::mutex write_mutex_;
  int64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hokusai::auth
