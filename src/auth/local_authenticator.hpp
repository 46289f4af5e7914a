// Authenticates keys against the built-in key store: checksum first (no store round trip for
// garbage), then one primary-key lookup of the keyed hash, then revocation, expiry and the
// key's IP allow-list.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/authenticator.hpp"
#include "auth/key_service.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

class LocalAuthenticator final : public Authenticator {
 public:
  // `service_id` is reported as the principal's service.
  LocalAuthenticator(store::AuthStore& store, const KeyService& keys, std::string service_id);

  Result<Principal> Authenticate(std::string_view secret, std::string_view client_ip) override;
  Result<void> Ping() override;
  bool IsLocal() const override { return true; }

 private:
  // Records last use at most once a minute per key, so reads do not turn into writes.
  void Touch(const std::string& key_id, int64_t now);

  store::AuthStore& store_;
  const KeyService& keys_;
  std::string service_id_;
  std::mutex touch_mutex_;
  std::unordered_map<std::string, int64_t> last_touch_;
};

}  // namespace hokusai::auth
