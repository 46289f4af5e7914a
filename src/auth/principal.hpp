// Who is making a request: the user, the key they used and what that key may do. Built by an
// Authenticator, attached to the request by the gate, read by handlers (owner of what they
// create, visibility of searches, whoami).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/scopes.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

struct Principal {
  store::User user;
  store::ApiKeyRecord key;  // never the secret
  std::vector<Scope> scopes;
  std::string client_ip;  // after trusted-proxy resolution
  // Fields an external auth service reports (local keys: the service id of this server,
  // no balance accounting).
  std::string service_id;
  bool has_sufficient_balance = true;
  double balance = 0;
  // What searches may return, per resource kind; nullopt: everything (an admin). Set by the
  // gate from scopes, the user's permissions and the configured default.
  std::optional<store::Visibility> experiment_visibility;
  std::optional<store::Visibility> model_visibility;
  // What this request touches ("experiment:12", "model:churn"), for the audit entry written
  // when it completes.
  std::string request_resource;
};

}  // namespace hokusai::auth
