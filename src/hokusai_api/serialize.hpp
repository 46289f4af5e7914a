// JSON shapes of the Hokusai API. No writer here ever sees a key secret: the one response that
// carries one (create and rotate) writes `api_key` itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/principal.hpp"
#include "json/writer.hpp"
#include "store/auth_store.hpp"

namespace hokusai::hokusai_api {

// `key`: an RFC 3339 time, or null.
void WriteTime(json::Writer& w, std::string_view key, std::optional<int64_t> ms);
void WriteStrings(json::Writer& w, std::string_view key, const std::vector<std::string>& values);

// Not revoked and not expired at `now_ms`.
bool IsActive(const store::ApiKeyRecord& key, int64_t now_ms);

// The members of a stored key (inside an open object): key_id, name, key_prefix, user_id,
// scopes, environment, created_at, last_used_at, expires_at, revoked_at, is_active,
// allowed_ips, rate_limit_per_hour.
void WriteKeyMembers(json::Writer& w, const store::ApiKeyRecord& key, int64_t now_ms);

// The members describing a user (inside an open object): user_id, email, roles, is_admin and
// the nested `user: {id, email, roles, is_admin}` some consumers read.
void WriteUserMembers(json::Writer& w, const store::User& user);

// The body of a successful /api/v1/keys/validate: exactly the spec §1 field set.
std::string ValidateBody(const auth::Principal& principal, std::string_view service_id);

// One audit entry as an object.
void WriteAuditEntry(json::Writer& w, const store::AuditEntry& entry);

}  // namespace hokusai::hokusai_api
