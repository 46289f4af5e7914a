#include "hokusai_api/serialize.hpp"

#include "common/time_format.hpp"

namespace hokusai::hokusai_api {

void WriteTime(json::Writer& w, std::string_view key, std::optional<int64_t> ms) {
  w.Key(key);
  if (ms) {
    w.String(FormatRfc3339(*ms));
  } else {
    w.Null();
  }
}

void WriteStrings(json::Writer& w, std::string_view key, const std::vector<std::string>& values) {
  w.Key(key).BeginArray();
  for (const std::string& value : values) w.String(value);
  w.EndArray();
}

bool IsActive(const store::ApiKeyRecord& key, int64_t now_ms) {
  return !key.revoked_at && (!key.expires_at || *key.expires_at > now_ms);
}

void WriteKeyMembers(json::Writer& w, const store::ApiKeyRecord& key, int64_t now_ms) {
  w.Field("key_id", key.key_id)
      .Field("name", key.name)
      .Field("key_prefix", key.key_prefix)
      .Field("user_id", key.user_id);
  WriteStrings(w, "scopes", key.scopes);
  w.Field("environment", key.environment);
  WriteTime(w, "created_at", key.created_at);
  WriteTime(w, "last_used_at", key.last_used_at);
  WriteTime(w, "expires_at", key.expires_at);
  WriteTime(w, "revoked_at", key.revoked_at);
  w.Field("is_active", IsActive(key, now_ms));
  WriteStrings(w, "allowed_ips", key.allowed_ips);
  w.Field("rate_limit_per_hour", key.rate_limit_per_hour);
}

void WriteUserMembers(json::Writer& w, const store::User& user) {
  w.Field("user_id", user.user_id).Field("email", user.email);
  WriteStrings(w, "roles", user.roles);
  w.Field("is_admin", user.is_admin);
  w.Key("user").BeginObject().Field("id", user.user_id).Field("email", user.email);
  WriteStrings(w, "roles", user.roles);
  w.Field("is_admin", user.is_admin).EndObject();
}

std::string ValidateBody(const auth::Principal& principal, std::string_view service_id) {
  json::Writer w;
  w.BeginObject()
      .Field("user_id", principal.user().user_id)
      .Field("email", principal.user().email)
      .Field("key_id", principal.key().key_id)
      .Field("service_id", service_id);
  w.Key("scopes").BeginArray();
  for (const auth::Scope& scope : principal.scopes()) w.String(scope.ToString());
  w.EndArray();
  WriteStrings(w, "roles", principal.user().roles);
  w.Field("is_admin", principal.user().is_admin)
      .Field("rate_limit_per_hour", principal.key().rate_limit_per_hour)
      .Field("has_sufficient_balance", principal.has_sufficient_balance());
  w.Key("balance").Double(principal.balance());
  WriteTime(w, "expires_at", principal.key().expires_at);
  w.Key("user").BeginObject().Field("id", principal.user().user_id).Field("email",
                                                                          principal.user().email);
  WriteStrings(w, "roles", principal.user().roles);
  w.Field("is_admin", principal.user().is_admin).EndObject();
  w.EndObject();
  return w.Take();
}

void WriteAuditEntry(json::Writer& w, const store::AuditEntry& entry) {
  w.BeginObject().Field("id", entry.id);
  WriteTime(w, "timestamp", entry.timestamp);
  w.Field("user_id", entry.user_id)
      .Field("key_id", entry.key_id)
      .Field("method", entry.method)
      .Field("route", entry.route)
      .Field("resource", entry.resource)
      .Field("outcome", entry.outcome);
  w.Key("status").Int(entry.status);
  w.Field("client_address", entry.client_address).Field("detail", entry.detail).EndObject();
}

}  // namespace hokusai::hokusai_api
