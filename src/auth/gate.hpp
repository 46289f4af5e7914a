// The gate every non-public route passes (architecture §4 steps 4–6 and 8): authenticate the
// credential, find the target from server-side state, check the key's scopes and the user's
// permissions on it, rate-limit per key, and audit writes and denials.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/authenticator.hpp"
#include "auth/rate_limiter.hpp"
#include "http/router.hpp"
#include "store/auth_store.hpp"

namespace hokusai::auth {

class AuditSink;

struct GateConfig {
  // Permission of a user on a resource they have no row for (MLflow's auth default is READ).
  store::Permission default_permission = store::Permission::kRead;
  // Peers whose X-Forwarded-For is believed (CIDRs). Empty: the socket peer is the client.
  std::vector<std::string> trusted_proxies;
  // Failed authentications allowed per client address per minute before 429.
  int64_t auth_failures_per_minute = 30;
};

// Finds an experiment's name (for name-pattern scopes). RESOURCE_DOES_NOT_EXIST when unknown.
using ExperimentNameLookup = std::function<Result<std::string>(const std::string&)>;

class AuthGate final : public http::Gate {
 public:
  AuthGate(GateConfig config, Authenticator& authenticator, store::AuthStore& store,
           RateLimiter& limiter, AuditSink& audit, ExperimentNameLookup experiment_name);

  Result<void> Admit(const http::Route& route, http::Request& request) override;
  void Completed(const http::Route& route, const http::Request& request, int status) override;

  // The client address of a request: the socket peer, or the nearest untrusted address in
  // X-Forwarded-For when the peer is a trusted proxy.
  std::string ClientAddress(const http::Request& request) const;

  // Counts one failed authentication from `client`; false when that client is over its limit.
  bool AllowFailure(const std::string& client);

  // Whether `principal` may do `action` to the experiment (by id) or registered model (by name)
  // with at least `needed` permission: the check a route's target gets, for handlers that decide
  // on a resource the route table could not name in advance (e.g. answering "not found" for what
  // the caller cannot read, or a model created concurrently).
  Result<bool> MayAccess(const Principal& principal, http::Resource kind, const std::string& id,
                         ScopeAction action, store::Permission needed);

  // Prometheus text: decisions by outcome since start.
  std::string RenderMetrics() const;

 private:
  Result<void> Authorize(const http::Route& route, const http::Request& request,
                         const Principal& principal, const http::Target& target,
                         std::string* resource);
  Result<bool> ScopeAllowsOn(const Principal& principal, http::Resource kind,
                             const std::string& id, ScopeAction action);
  Result<store::Permission> PermissionOn(const Principal& principal, http::Resource kind,
                                         const std::string& id);
  void Deny(const http::Route& route, const http::Request& request, const Principal* principal,
            const std::string& resource, const std::string& outcome, int status,
            const std::string& detail);

  GateConfig config_;
  Authenticator& authenticator_;
  store::AuthStore& store_;
  RateLimiter& limiter_;
  AuditSink& audit_;
  ExperimentNameLookup experiment_name_;
  // Decisions by outcome, indexed by Outcome (gate.cpp).
  std::array<std::atomic<int64_t>, 6> decisions_{};
};

}  // namespace hokusai::auth
