// Remembers client addresses that exhausted their failed-authentication budget on
// /api/v1/keys/validate, so that every further attempt from them is counted against the budget
// *before* the key is checked: a flood keeps getting 429 and learns nothing about its guesses.
// The budget itself is the gate's (AuthGate::AllowFailure); this only marks who is over it.
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hokusai::hokusai_api {

class FailureThrottle {
 public:
  // `lockout_ms`: how long a refusal marks a client. `max_clients`: entries kept; beyond it,
  // expired entries are dropped, then arbitrary ones (the budget still counts every failure).
  FailureThrottle(int64_t lockout_ms, std::size_t max_clients);

  // Whether `client` was refused within the lockout before `now_ms`.
  bool Throttled(const std::string& client, int64_t now_ms);
  // Marks `client` as refused at `now_ms`.
  void MarkRefused(const std::string& client, int64_t now_ms);

 private:
  const int64_t lockout_ms_;
  const std::size_t max_clients_;
  std::mutex mutex_;
  std::unordered_map<std::string, int64_t> refused_at_;
};

}  // namespace hokusai::hokusai_api
