#include <algorithm>
#include <string>

#include "auth/gate.hpp"
#include "common/util.hpp"
#include "hokusai_api/api_limits.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/requests.hpp"
#include "hokusai_api/serialize.hpp"
#include "json/writer.hpp"

namespace hokusai::hokusai_api {
namespace {

// The authenticated caller. The gate sets it on every non-public route; a request without one
// must never reach KeyService, which reads a null actor as an operator acting offline.
Result<const auth::Principal*> Actor(const Request& request) {
  if (!request.principal) return tl::unexpected(auth::UnauthenticatedError());
  return request.principal.get();
}

Result<auth::KeyService*> Keys(Context& ctx) {
  if (ctx.deps.keys == nullptr) {
    return Fail(ErrorCode::kNotImplemented, "keys are managed by the external auth service");
  }
  return ctx.deps.keys;
}

Response KeyResponse(const store::ApiKeyRecord& key) {
  json::Writer w;
  w.BeginObject();
  WriteKeyMembers(w, key, NowMillis());
  w.EndObject();
  return Response::Json(w.Take());
}

// The one kind of response that carries a secret: a key just created or rotated.
Response NewKeyResponse(const auth::NewKey& key, int status,
                        std::optional<int64_t> previous_secret_valid_until) {
  json::Writer w;
  w.BeginObject().Field("api_key", key.secret);
  WriteKeyMembers(w, key.record, NowMillis());
  if (previous_secret_valid_until) {
    WriteTime(w, "previous_secret_valid_until", previous_secret_valid_until);
  }
  w.EndObject();
  Response response = Response::Json(w.Take(), status);
  // A secret must not linger in caches.
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
}

// Where clients should point MLflow: the configured public URL, else this request's Host.
// Empty when neither is usable.
std::string TrackingUri(const Context& ctx, const Request& request) {
  std::string uri = ctx.deps.public_url;
  if (uri.empty()) {
    auto host = request.Header("host");
    if (!host || host->empty() || host->size() > 255 ||
        !std::all_of(host->begin(), host->end(), IsHostChar)) {
      return "";
    }
    uri = "http://" + std::string(*host);
  }
  while (!uri.empty() && uri.back() == '/') uri.pop_back();
  return uri;
}

}  // namespace

Result<Response> CreateKey(Context& ctx, const Request& request) {
  HK_TRY(keys, Keys(ctx));
  HK_TRY(actor, Actor(request));
  HK_TRY(input, ParseCreateKey(request, NowMillis()));
  HK_TRY(created, keys->Create(input, actor));
  return NewKeyResponse(created, 201, std::nullopt);
}

Result<Response> ListKeys(Context& ctx, const Request& request) {
  HK_TRY(keys, Keys(ctx));
  HK_TRY(actor, Actor(request));
  HK_TRY(user_id, ParseListUserId(request));
  HK_TRY(records, keys->List(user_id, actor));
  int64_t now = NowMillis();
  json::Writer w;
  w.BeginObject().Key("keys").BeginArray();
  for (const store::ApiKeyRecord& record : records) {
    w.BeginObject();
    WriteKeyMembers(w, record, now);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return Response::Json(w.Take());
}

Result<Response> GetKey(Context& ctx, const Request& request) {
  HK_TRY(keys, Keys(ctx));
  HK_TRY(actor, Actor(request));
  HK_TRY(key_id, ParseKeyId(request));
  HK_TRY(record, keys->Get(key_id, actor));
  return KeyResponse(record);
}

Result<Response> RevokeKey(Context& ctx, const Request& request) {
  HK_TRY(keys, Keys(ctx));
  HK_TRY(actor, Actor(request));
  HK_TRY(key_id, ParseKeyId(request));
  HK_TRY(record, keys->Revoke(key_id, actor));
  return KeyResponse(record);
}

Result<Response> RotateKey(Context& ctx, const Request& request) {
  HK_TRY(keys, Keys(ctx));
  HK_TRY(actor, Actor(request));
  HK_TRY(key_id, ParseKeyId(request));
  HK_TRY(overlap_seconds, ParseRotateOverlap(request));
  // Taken before the rotation, so the time reported is never later than the service's.
  int64_t now = NowMillis();
  HK_TRY(rotated, keys->Rotate(key_id, overlap_seconds, actor));
  return NewKeyResponse(rotated, 200, now + overlap_seconds * 1000);
}

Result<Response> WhoAmI(Context& ctx, const Request& request) {
  HK_TRY(actor, Actor(request));
  const auth::Principal& principal = *actor;
  const store::ApiKeyRecord& key = principal.key();
  json::Writer w;
  w.BeginObject();
  WriteUserMembers(w, principal.user());
  w.Field("key_id", key.key_id)
      .Field("key_prefix", key.key_prefix)
      .Field("key_name", key.name)
      .Field("environment", key.environment);
  w.Key("scopes").BeginArray();
  for (const auth::Scope& scope : principal.scopes()) w.String(scope.ToString());
  w.EndArray();
  WriteTime(w, "expires_at", key.expires_at);
  w.Field("rate_limit_per_hour", key.rate_limit_per_hour).Key("rate_limit_remaining");
  if (key.rate_limit_per_hour > 0 && !key.key_id.empty()) {
    auth::RateDecision state = ctx.deps.limiter.Peek(
        key.key_id, key.rate_limit_per_hour, api_limits::kRateLimitPeriodSeconds, NowMillis());
    w.Int(state.remaining);
  } else {
    w.Null();
  }
  std::string uri = TrackingUri(ctx, request);
  w.Key("tracking_uri");
  if (uri.empty()) {
    w.Null();
  } else {
    w.String(uri);
  }
  w.Key("environment_lines").BeginArray();
  if (!uri.empty()) w.String("export MLFLOW_TRACKING_URI=" + uri);
  w.String("export MLFLOW_TRACKING_TOKEN=<your key>");
  w.EndArray().EndObject();
  return Response::Json(w.Take());
}

}  // namespace hokusai::hokusai_api
