#include "hokusai_api/failure_throttle.hpp"

#include <unordered_map>

namespace hokusai::hokusai_api {

FailureThrottle::FailureThrottle(int64_t lockout_ms, std::size_t max_clients)
    : lockout_ms_(lockout_ms), max_clients_(max_clients > 0 ? max_clients : 1) {}

bool FailureThrottle::Throttled(const std::string& client, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = refused_at_.find(client);
  if (it == refused_at_.end()) return false;
  if (now_ms - it->second < lockout_ms_) return true;
  refused_at_.erase(it);
  return false;
}

void FailureThrottle::MarkRefused(const std::string& client, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (refused_at_.size() >= max_clients_ && !refused_at_.contains(client)) {
    std::erase_if(refused_at_,
                  [&](const auto& entry) { return now_ms - entry.second >= lockout_ms_; });
    while (refused_at_.size() >= max_clients_) refused_at_.erase(refused_at_.begin());
  }
  refused_at_[client] = now_ms;
}

}  // namespace hokusai::hokusai_api
