#include <string>
#include <utility>

#include "auth/gate.hpp"
#include "common/util.hpp"
#include "hokusai_api/api_limits.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/requests.hpp"
#include "hokusai_api/serialize.hpp"

namespace hokusai::hokusai_api {
namespace {

constexpr const char* kValidateRoute = "/api/v1/keys/validate";

// Validation calls are not audited when they succeed (a service calls this once per request);
// refusals are, by client address and never with the key.
void Audit(Context& ctx, const std::string& client, const auth::Principal* principal,
           std::string outcome, int status, std::string detail) {
  store::AuditEntry entry;
  entry.timestamp = NowMillis();
  if (principal != nullptr) {
    entry.user_id = principal->user().user_id;
    entry.key_id = principal->key().key_id;
  }
  entry.method = "POST";
  entry.route = kValidateRoute;
  entry.outcome = std::move(outcome);
  entry.status = status;
  entry.client_address = client;
  entry.detail = std::move(detail);
  ctx.deps.audit.Add(std::move(entry));
}

Error TooManyFailures() {
  Error error{ErrorCode::kRequestLimitExceeded,
              "Too many failed authentication attempts from this address; retry later"};
  error.headers.emplace_back("Retry-After", std::to_string(api_limits::kFailureLockoutSeconds));
  return error;
}

void AddRateHeaders(std::vector<std::pair<std::string, std::string>>& headers,
                    const auth::RateDecision& decision) {
  headers.emplace_back("RateLimit-Limit", std::to_string(decision.limit));
  headers.emplace_back("RateLimit-Remaining", std::to_string(decision.remaining));
  headers.emplace_back("RateLimit-Reset", std::to_string(decision.reset_seconds));
}

Error KeyRateLimited(const auth::RateDecision& decision) {
  Error error{ErrorCode::kRequestLimitExceeded, "Rate limit exceeded for this API key"};
  error.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_seconds));
  AddRateHeaders(error.headers, decision);
  return error;
}

}  // namespace

Result<Response> ValidateKey(Context& ctx, const Request& request) {
  std::string client = ctx.deps.gate.ClientAddress(request);
  int64_t now = NowMillis();
  // A client over its failure budget pays for every attempt before its key is looked at, so a
  // flood keeps getting 429 whatever it guesses.
  bool counted = false;
  if (ctx.throttle.Throttled(client, now)) {
    if (!ctx.deps.gate.AllowFailure(client)) {
      ctx.throttle.MarkRefused(client, now);
      Audit(ctx, client, nullptr, "rate_limited", 429, "failed-authentication budget spent");
      return tl::unexpected(TooManyFailures());
    }
    counted = true;
  }
  // Every failed validation counts against the client's budget; over it, 429 instead of 401.
  auto refuse = [&](std::string detail) -> tl::unexpected<Error> {
    if (!counted && !ctx.deps.gate.AllowFailure(client)) {
      ctx.throttle.MarkRefused(client, now);
      Audit(ctx, client, nullptr, "rate_limited", 429, "failed-authentication budget spent");
      return tl::unexpected(TooManyFailures());
    }
    Audit(ctx, client, nullptr, "unauthenticated", 401, std::move(detail));
    return tl::unexpected(auth::UnauthenticatedError());
  };

  HK_TRY(input, ParseValidate(request));
  if (!input.secret) return refuse("no usable key presented");
  Result<auth::Principal> principal = ctx.deps.authenticator.Authenticate(
      *input.secret, input.client_ip ? std::string_view(*input.client_ip) : client);
  if (!principal) {
    if (principal.error().code == ErrorCode::kUnauthenticated) return refuse("key refused");
    // TEMPORARILY_UNAVAILABLE, REQUEST_LIMIT_EXCEEDED: as they are, with their headers.
    return tl::unexpected(std::move(principal.error()));
  }

  Response response = Response::Json(
      ValidateBody(*principal, input.service_id ? *input.service_id : ctx.deps.service_id));
  const store::ApiKeyRecord& key = principal->key();
  if (key.rate_limit_per_hour > 0 && !key.key_id.empty()) {
    auth::RateDecision decision = ctx.deps.limiter.Take(
        key.key_id, key.rate_limit_per_hour, api_limits::kRateLimitPeriodSeconds, now);
    if (!decision.allowed) {
      Audit(ctx, client, &*principal, "rate_limited", 429, "key rate limit spent");
      return tl::unexpected(KeyRateLimited(decision));
    }
    AddRateHeaders(response.headers, decision);
  }
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace hokusai::hokusai_api
