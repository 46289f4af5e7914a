// Turns a presented secret into a Principal: the built-in key store (LocalAuthenticator) or an
// external auth service speaking the /api/v1/keys/validate contract.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/principal.hpp"
#include "common/error.hpp"

namespace hokusai::auth {

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Errors: UNAUTHENTICATED for a malformed, unknown, revoked or expired key or a client address
  // outside the key's allow-list (the caller answers all of them with one body);
  // TEMPORARILY_UNAVAILABLE (with Retry-After) when the key store or service cannot answer;
  // REQUEST_LIMIT_EXCEEDED when an external service says the key's limit is spent.
  // Blocking: call on the blocking pool.
  virtual Result<Principal> Authenticate(std::string_view secret, std::string_view client_ip) = 0;

  // For /ready: whether keys can be checked right now.
  virtual Result<void> Ping() = 0;

  // Whether keys are managed here (the key admin API and `keys` commands work) or elsewhere.
  virtual bool IsLocal() const = 0;
};

// The error every authentication failure becomes: one body and WWW-Authenticate, no hint which
// check failed.
Error UnauthenticatedError();

// 403 for a key that lacks a scope: the message, plus `detail`, `required_scope` and
// `key_scopes` in the body (what the key needed and what it has).
Error MissingScopeError(std::string message, std::string_view required,
                        const std::vector<Scope>& held);

// The key store or auth service cannot answer: 503 with Retry-After (the MLflow client retries
// 503, not 401), never a pass.
Error KeyStoreUnavailable();

}  // namespace hokusai::auth
