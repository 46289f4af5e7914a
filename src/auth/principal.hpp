// Who is making a request: the user, the key they used and what that key may do. Built by an
// Authenticator, attached to the request by the gate, read by handlers (owner of what they
// create, visibility of searches, whoami).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/scopes.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

// What a key (or the external auth service's answer for it) says about its holder: the same for
// every request made with that key, so one immutable copy is shared by all of them (an
// authenticator keeps it between requests; nothing is copied per request).
struct Identity {
  store::User user;
  store::ApiKeyRecord key;  // never the secret
  std::vector<Scope> scopes;
  // Fields an external auth service reports (local keys: the service id of this server,
  // no balance accounting).
  std::string service_id;
  bool has_sufficient_balance = true;
  double balance = 0;
};

struct Principal {
  Principal() : identity(NoIdentity()) {}
  explicit Principal(std::shared_ptr<const Identity> id) : identity(std::move(id)) {}

  const store::User& user() const { return identity->user; }
  const store::ApiKeyRecord& key() const { return identity->key; }
  const std::vector<Scope>& scopes() const { return identity->scopes; }
  const std::string& service_id() const { return identity->service_id; }
  bool has_sufficient_balance() const { return identity->has_sufficient_balance; }
  double balance() const { return identity->balance; }

  std::shared_ptr<const Identity> identity;  // never null
  // The rest is this request's own.
  std::string client_ip;  // after trusted-proxy resolution
  // What searches may return, per resource kind; nullopt: everything (an admin). Set by the
  // gate from scopes, the user's permissions and the configured default.
  std::optional<store::Visibility> experiment_visibility;
  std::optional<store::Visibility> model_visibility;
  // What this request touches ("experiment:12", "model:churn"), for the audit entry written
  // when it completes.
  std::string request_resource;

 private:
  static std::shared_ptr<const Identity> NoIdentity() {
    static const auto none = std::make_shared<const Identity>();
    return none;
  }
};

}  // namespace hokusai::auth
