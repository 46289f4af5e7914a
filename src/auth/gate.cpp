#include "auth/gate.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "auth/audit_sink.hpp"
#include "auth/key_service.hpp"
#include "common/util.hpp"
#include "json/writer.hpp"

namespace hokusai::auth {
namespace {

using http::Operation;
using http::Resource;
using store::Permission;

// Query parameters that carry credentials in other products; refused here (principle 10).
bool IsCredentialParam(std::string_view name) {
  return name == "api_key" || name == "apikey" || name == "api-key" || name == "access_token" ||
         name == "token" || name == "key_secret";
}

ScopeResource ScopeFor(Resource resource) {
  return resource == Resource::kModel ? ScopeResource::kModel : ScopeResource::kExperiment;
}

ScopeAction ActionFor(Operation operation) {
  return operation == Operation::kRead ? ScopeAction::kRead : ScopeAction::kWrite;
}

Permission NeededFor(Operation operation) {
  switch (operation) {
    case Operation::kRead: return Permission::kRead;
    case Operation::kManage: return Permission::kManage;
    default: return Permission::kEdit;
  }
}

bool HoldsAdminScope(const std::vector<Scope>& scopes) {
  return std::any_of(scopes.begin(), scopes.end(),
                     [](const Scope& s) { return s.resource == ScopeResource::kAdmin; });
}

// Whether any scope (patterned or not) could allow `action` on `resource`.
bool HasAnyScope(const std::vector<Scope>& scopes, ScopeResource resource, ScopeAction action) {
  return std::any_of(scopes.begin(), scopes.end(), [&](const Scope& s) {
    if (s.resource == ScopeResource::kAdmin) return true;
    return s.resource == resource && (action == ScopeAction::kRead || s.action == ScopeAction::kWrite);
  });
}

// Whether an unpatterned scope allows `action` on every `resource` (no name needed).
bool CoversAllNames(const std::vector<Scope>& scopes, ScopeResource resource, ScopeAction action) {
  return std::any_of(scopes.begin(), scopes.end(), [&](const Scope& s) {
    if (s.resource == ScopeResource::kAdmin) return true;
    return s.resource == resource && s.pattern.empty() &&
           (action == ScopeAction::kRead || s.action == ScopeAction::kWrite);
  });
}

std::string RequiredScope(ScopeResource resource, ScopeAction action) {
  return Scope{resource, action, {}}.ToString();
}

std::vector<std::string> ScopeNames(const std::vector<Scope>& scopes) {
  std::vector<std::string> out;
  for (const Scope& s : scopes) out.push_back(s.ToString());
  return out;
}

Error ScopeDenied(const http::Route& route, const Principal& principal, const std::string& required,
                  const std::string& on) {
  std::vector<std::string> held = ScopeNames(principal.scopes());
  return MissingScopeError(
      fmt::format("Permission denied: {} {} needs scope '{}'{}; this key has: {}",
                  http::MethodName(route.method), route.path, required, on,
                  held.empty() ? std::string("no scopes") : fmt::format("{}", fmt::join(held, ", "))),
      required, principal.scopes());
}

Error PermissionDenied(const http::Route& route, const Principal& principal,
                       const std::string& resource, Permission needed, Permission held) {
  std::string message = fmt::format(
      "Permission denied: {} {} needs {} permission on {}; user '{}' has {}",
      http::MethodName(route.method), route.path, store::PermissionName(needed), resource,
      principal.user().user_id, store::PermissionName(held));
  json::Writer w;
  w.BeginObject()
      .Field("detail", message)
      .Field("required_permission", store::PermissionName(needed))
      .Field("permission", store::PermissionName(held))
      .Field("resource", resource)
      .EndObject();
  std::string members = w.Take();
  return Error{ErrorCode::kPermissionDenied, message, {},
               members.substr(1, members.size() - 2)};
}

std::optional<store::Visibility> VisibilityFor(const Principal& principal, ScopeResource resource,
                                               Permission default_permission) {
  std::vector<std::string> patterns;
  if (!CoversAllNames(principal.scopes(), resource, ScopeAction::kRead)) {
    for (const Scope& s : principal.scopes()) {
      if (s.resource == resource && !s.pattern.empty()) patterns.push_back(s.pattern);
    }
  }
  if (principal.user().is_admin && patterns.empty()) return std::nullopt;
  store::Visibility visibility;
  visibility.user_id = principal.user().user_id;
  visibility.default_readable = principal.user().is_admin || default_permission >= Permission::kRead;
  visibility.name_patterns = std::move(patterns);
  return visibility;
}

std::string_view TrimSpaces(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

// Outcomes counted for /metrics, in the order of AuthGate::decisions_.
constexpr std::array<std::string_view, 6> kOutcomes = {
    "allowed", "unauthenticated", "denied", "rate_limited", "unavailable", "bad_request"};

std::size_t OutcomeIndex(std::string_view outcome) {
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    if (kOutcomes[i] == outcome) return i;
  }
  return kOutcomes.size() - 1;
}

}  // namespace

std::string AuthGate::RenderMetrics() const {
  std::string out =
      "# HELP hokusai_auth_decisions_total Gate decisions by outcome.\n"
      "# TYPE hokusai_auth_decisions_total counter\n";
  for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
    out += fmt::format("hokusai_auth_decisions_total{{outcome=\"{}\"}} {}\n", kOutcomes[i],
                       decisions_[i].load(std::memory_order_relaxed));
  }
  return out;
}

AuthGate::AuthGate(GateConfig config, Authenticator& authenticator, store::AuthStore& store,
                   RateLimiter& limiter, AuditSink& audit, ExperimentNameLookup experiment_name)
    : config_(std::move(config)),
      authenticator_(authenticator),
      store_(store),
      limiter_(limiter),
      audit_(audit),
      experiment_name_(std::move(experiment_name)) {}

std::string AuthGate::ClientAddress(const http::Request& request) const {
  const std::string& peer = request.remote_address;
  auto trusted = [this](std::string_view address) {
    return std::any_of(config_.trusted_proxies.begin(), config_.trusted_proxies.end(),
                       [&](const std::string& cidr) { return AddressInCidr(address, cidr); });
  };
  if (config_.trusted_proxies.empty() || !trusted(peer)) return peer;
  // Several X-Forwarded-For lines are one list, in order.
  std::string joined;
  for (const auto& [name, value] : request.headers) {
    if (name != "x-forwarded-for") continue;
    if (!joined.empty()) joined += ',';
    joined += value;
  }
  if (joined.empty()) return peer;
  // Walk from the nearest hop; the first address not belonging to a trusted proxy is the client.
  std::string_view list = joined;
  std::string last_valid = peer;
  while (!list.empty()) {
    std::size_t comma = list.rfind(',');
    std::string_view hop =
        TrimSpaces(comma == std::string_view::npos ? list : list.substr(comma + 1));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
    if (!ValidCidr(hop) || hop.find('/') != std::string_view::npos) return last_valid;
    if (!trusted(hop)) return std::string(hop);
    last_valid = std::string(hop);
  }
  return last_valid;
}

bool AuthGate::AllowFailure(const std::string& client) {
  return limiter_.Take("auth-failure:" + client, config_.auth_failures_per_minute, 60, NowMillis())
      .allowed;
}

void AuthGate::Deny(const http::Route& route, const http::Request& request,
                    const Principal* principal, const std::string& resource,
                    const std::string& outcome, int status, const std::string& detail) {
  store::AuditEntry entry;
  entry.timestamp = NowMillis();
  if (principal != nullptr) {
    entry.user_id = principal->user().user_id;
    entry.key_id = principal->key().key_id;
  }
  entry.method = std::string(http::MethodName(route.method));
  entry.route = route.path;
  entry.resource = resource;
  entry.outcome = outcome;
  entry.status = status;
  entry.client_address = principal != nullptr ? principal->client_ip : ClientAddress(request);
  entry.detail = detail;
  decisions_[OutcomeIndex(status == 400 ? "bad_request" : outcome)].fetch_add(
      1, std::memory_order_relaxed);
  audit_.Add(std::move(entry));
}

Result<store::Permission> AuthGate::PermissionOn(const Principal& principal, Resource kind,
                                                 const std::string& id) {
  auto found = kind == Resource::kModel ? store_.GetModelPermission(id, principal.user().user_id)
                                        : store_.GetExperimentPermission(id, principal.user().user_id);
  if (!found) return tl::unexpected(found.error());
  return found->value_or(config_.default_permission);
}

Result<bool> AuthGate::ScopeAllowsOn(const Principal& principal, Resource kind,
                                     const std::string& id, ScopeAction action) {
  ScopeResource scope_resource = ScopeFor(kind);
  if (CoversAllNames(principal.scopes(), scope_resource, action)) return true;
  std::string name = id;
  if (kind == Resource::kExperiment) {
    auto looked_up = experiment_name_(id);
    if (!looked_up) return tl::unexpected(looked_up.error());
    name = *looked_up;
  }
  return Allows(principal.scopes(), scope_resource, action, name);
}

Result<bool> AuthGate::MayAccess(const Principal& principal, Resource kind, const std::string& id,
                                 ScopeAction action, Permission needed) {
  HK_TRY(scope_allows, ScopeAllowsOn(principal, kind, id, action));
  if (!scope_allows) return false;
  if (principal.user().is_admin) return true;
  HK_TRY(permission, PermissionOn(principal, kind, id));
  return permission >= needed;
}

Result<void> AuthGate::Authorize(const http::Route& route, const http::Request& /*request*/,
                                 const Principal& principal, const http::Target& target,
                                 std::string* resource) {
  Operation operation = route.access.operation;
  ScopeAction action = ActionFor(operation);
  const std::vector<Scope>& scopes = principal.scopes();

  // One resource: the key's scope must allow the action on its name, and the user's permission
  // must reach the level the operation needs.
  auto check = [&](Resource kind, const std::string& id, ScopeAction act,
                   Permission needed) -> Result<void> {
    std::string label = fmt::format("{} '{}'", http::ResourceName(kind), id);
    *resource = fmt::format("{}:{}", http::ResourceName(kind), id);
    ScopeResource scope_resource = ScopeFor(kind);
    HK_TRY(scope_allows, ScopeAllowsOn(principal, kind, id, act));
    if (!scope_allows) {
      return tl::unexpected(
          ScopeDenied(route, principal, RequiredScope(scope_resource, act), " on " + label));
    }
    if (principal.user().is_admin) return {};
    auto permission = PermissionOn(principal, kind, id);
    if (!permission) {
      spdlog::error("permission lookup failed: {}", permission.error().message);
      return tl::unexpected(KeyStoreUnavailable());
    }
    Permission held = *permission;
    if (held < needed) {
      return tl::unexpected(PermissionDenied(route, principal, label, needed, held));
    }
    return {};
  };

  Permission needed = NeededFor(operation);
  for (const std::string& id : target.experiment_ids) {
    HK_CHECK(check(Resource::kExperiment, id, action, needed));
  }
  for (const std::string& name : target.model_names) {
    HK_CHECK(check(Resource::kModel, name, action, needed));
  }
  for (const std::string& id : target.read_experiment_ids) {
    HK_CHECK(check(Resource::kExperiment, id, ScopeAction::kRead, Permission::kRead));
  }
  for (const std::string& name : target.read_model_names) {
    HK_CHECK(check(Resource::kModel, name, ScopeAction::kRead, Permission::kRead));
  }
  if (target.new_name) {
    ScopeResource scope_resource = ScopeFor(route.access.resource);
    *resource = fmt::format("{}:{}", http::ResourceName(route.access.resource), *target.new_name);
    if (!Allows(scopes, scope_resource, ScopeAction::kWrite, *target.new_name)) {
      return tl::unexpected(ScopeDenied(route, principal,
                                        RequiredScope(scope_resource, ScopeAction::kWrite),
                                        fmt::format(" on the name '{}'", *target.new_name)));
    }
  }
  return {};
}

Result<void> AuthGate::Admit(const http::Route& route, http::Request& request) {
  for (const auto& [name, value] : request.query) {
    if (IsCredentialParam(name) || ParseKey(value)) {
      Deny(route, request, nullptr, "", "denied", 400, "credential in the URL");
      return InvalidParameter(
          "API keys are not accepted in the URL; send them as 'Authorization: Bearer <key>'");
    }
  }
  std::string client = ClientAddress(request);
  auto unauthenticated = [&](const std::string& detail) -> Error {
    if (!AllowFailure(client)) {
      Deny(route, request, nullptr, "", "rate_limited", 429, "too many failed authentications");
      return Error{ErrorCode::kRequestLimitExceeded,
                   "Too many failed authentication attempts from this address; retry later",
                   {{"Retry-After", "60"}}};
    }
    Deny(route, request, nullptr, "", "unauthenticated", 401, detail);
    return UnauthenticatedError();
  };
  const http::Credential& credential = request.credential;
  if (credential.malformed) return tl::unexpected(unauthenticated("malformed credential"));
  if (credential.source == http::Credential::Source::kNone) {
    return tl::unexpected(unauthenticated("no credential"));
  }
  auto authenticated = authenticator_.Authenticate(credential.secret, client);
  if (!authenticated) {
    const Error& error = authenticated.error();
    if (error.code == ErrorCode::kUnauthenticated) {
      return tl::unexpected(unauthenticated("key refused"));
    }
    Deny(route, request, nullptr, "",
         error.code == ErrorCode::kRequestLimitExceeded ? "rate_limited" : "unavailable",
         HttpStatusFor(error.code), error.message);
    return tl::unexpected(error);
  }
  auto principal = std::make_shared<Principal>(std::move(*authenticated));
  principal->client_ip = client;
  principal->experiment_visibility =
      VisibilityFor(*principal, ScopeResource::kExperiment, config_.default_permission);
  principal->model_visibility =
      VisibilityFor(*principal, ScopeResource::kModel, config_.default_permission);

  Operation operation = route.access.operation;
  std::string resource;
  auto denied = [&](const Error& error) {
    Deny(route, request, principal.get(), resource, "denied", HttpStatusFor(error.code),
         error.message);
    return tl::unexpected(error);
  };
  if (operation == Operation::kAdmin) {
    if (!HoldsAdminScope(principal->scopes())) {
      return denied(ScopeDenied(route, *principal, "admin", ""));
    }
  } else if (operation != Operation::kAuthenticated && route.access.resource != Resource::kNone) {
    ScopeResource scope_resource = ScopeFor(route.access.resource);
    ScopeAction action = ActionFor(operation);
    if (!HasAnyScope(principal->scopes(), scope_resource, action)) {
      return denied(ScopeDenied(route, *principal, RequiredScope(scope_resource, action), ""));
    }
  }
  if (route.target) {
    request.principal = principal;  // finders may read it (e.g. the caller's visibility)
    auto target = route.target(request);
    request.principal = nullptr;
    if (!target) {
      if (target.error().code == ErrorCode::kPermissionDenied) return denied(target.error());
      return tl::unexpected(target.error());
    }
    auto authorized = Authorize(route, request, *principal, *target, &resource);
    if (!authorized) {
      if (authorized.error().code == ErrorCode::kPermissionDenied) {
        return denied(authorized.error());
      }
      return tl::unexpected(authorized.error());
    }
  }

  RateDecision decision = limiter_.Take(principal->key().key_id, principal->key().rate_limit_per_hour,
                                        3600, NowMillis());
  if (!decision.allowed) {
    Error error{ErrorCode::kRequestLimitExceeded,
                fmt::format("Rate limit of {} requests per hour exceeded for this key; retry in "
                            "{} s",
                            decision.limit, decision.retry_after_seconds),
                {{"Retry-After", std::to_string(decision.retry_after_seconds)},
                 {"RateLimit-Limit", std::to_string(decision.limit)},
                 {"RateLimit-Remaining", "0"},
                 {"RateLimit-Reset", std::to_string(decision.retry_after_seconds)}}};
    Deny(route, request, principal.get(), resource, "rate_limited", 429, "key rate limit");
    return tl::unexpected(std::move(error));
  }
  principal->request_resource = std::move(resource);
  request.principal = std::move(principal);
  decisions_[OutcomeIndex("allowed")].fetch_add(1, std::memory_order_relaxed);
  return {};
}

void AuthGate::Completed(const http::Route& route, const http::Request& request, int status) {
  if (request.principal == nullptr) return;  // denied in Admit, already audited
  Operation operation = route.access.operation;
  bool write = operation == Operation::kWrite || operation == Operation::kManage ||
               operation == Operation::kAdmin ||
               (operation == Operation::kAuthenticated && route.method != http::Method::kGet);
  if (!write) return;
  const Principal& principal = *request.principal;
  store::AuditEntry entry;
  entry.timestamp = NowMillis();
  entry.user_id = principal.user().user_id;
  entry.key_id = principal.key().key_id;
  entry.method = std::string(http::MethodName(route.method));
  entry.route = route.path;
  entry.resource = principal.request_resource;
  entry.outcome = status < 400 ? "allowed" : "failed";
  entry.status = status;
  entry.client_address = principal.client_ip;
  audit_.Add(std::move(entry));
}

}  // namespace hokusai::auth
