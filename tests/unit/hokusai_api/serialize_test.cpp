#include "hokusai_api/serialize.hpp"

#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "auth/scopes.hpp"

namespace hokusai::hokusai_api {
namespace {

constexpr int64_t kNow = 1795428000000;  // 2026-11-23T10:00:00Z

std::set<std::string> Members(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object = parser.parse(json).get_object().value();
  std::set<std::string> names;
  for (auto field : object) names.emplace(field.key);
  return names;
}

store::ApiKeyRecord SampleKey() {
  store::ApiKeyRecord key;
  key.key_id = "0123456789abcdef0123456789abcdef";
  key.user_id = "alice";
  key.name = "ci";
  key.key_prefix = "hk_live_AbCdEfGh";
  key.environment = "live";
  key.scopes = {"experiment:read", "model:read"};
  key.rate_limit_per_hour = 1000;
  key.created_at = kNow - 1000;
  return key;
}

std::string KeyJson(const store::ApiKeyRecord& key) {
  json::Writer w;
  w.BeginObject();
  WriteKeyMembers(w, key, kNow);
  w.EndObject();
  return w.Take();
}

TEST(IsActive, FalseWhenRevokedOrExpired) {
  store::ApiKeyRecord key = SampleKey();
  EXPECT_TRUE(IsActive(key, kNow));
  key.expires_at = kNow;
  EXPECT_FALSE(IsActive(key, kNow));
  key.expires_at = kNow + 1;
  EXPECT_TRUE(IsActive(key, kNow));
  key.revoked_at = kNow - 5;
  EXPECT_FALSE(IsActive(key, kNow));
}

TEST(WriteKeyMembers, WritesTheListFieldsWithRfc3339TimesAndNulls) {
  std::string json = KeyJson(SampleKey());
  EXPECT_EQ(Members(json),
            (std::set<std::string>{"key_id", "name", "key_prefix", "user_id", "scopes",
                                   "environment", "created_at", "last_used_at", "expires_at",
                                   "revoked_at", "is_active", "allowed_ips",
                                   "rate_limit_per_hour"}));
  EXPECT_NE(json.find("\"created_at\":\"2026-11-23T09:59:59Z\""), std::string::npos);
  EXPECT_NE(json.find("\"expires_at\":null"), std::string::npos);
  EXPECT_NE(json.find("\"is_active\":true"), std::string::npos);
}

TEST(ValidateBody, HasExactlyTheSpecFieldSet) {
  auth::Identity identity;
  identity.user.user_id = "alice";
  identity.user.email = "alice@example.com";
  identity.user.roles = {"ml"};
  identity.key = SampleKey();
  identity.key.expires_at = kNow + 3600 * 1000;
  identity.scopes = auth::ParseScopes({"experiment:read"}).value();
  auth::Principal principal(std::make_shared<const auth::Identity>(std::move(identity)));
  std::string json = ValidateBody(principal, "hokusai-registry");
  EXPECT_EQ(Members(json), (std::set<std::string>{"user_id", "email", "key_id", "service_id",
                                                  "scopes", "roles", "is_admin",
                                                  "rate_limit_per_hour", "has_sufficient_balance",
                                                  "balance", "expires_at", "user"}));
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(json).value();
  EXPECT_EQ(std::string_view(root["service_id"].get_string().value()), "hokusai-registry");
  EXPECT_EQ(std::string_view(root["expires_at"].get_string().value()), "2026-11-23T11:00:00Z");
  EXPECT_EQ(std::string_view(root["scopes"].at(0).get_string().value()), "experiment:read");
  EXPECT_EQ(std::string_view(root["user"]["id"].get_string().value()), "alice");
  EXPECT_FALSE(root["user"]["is_admin"].get_bool().value());
  EXPECT_EQ(root["rate_limit_per_hour"].get_int64().value(), 1000);
}

TEST(WriteAuditEntry, WritesEveryField) {
  store::AuditEntry entry;
  entry.id = 7;
  entry.timestamp = kNow;
  entry.outcome = "denied";
  entry.status = 403;
  json::Writer w;
  WriteAuditEntry(w, entry);
  std::string json = w.Take();
  EXPECT_EQ(Members(json), (std::set<std::string>{"id", "timestamp", "user_id", "key_id",
                                                  "method", "route", "resource", "outcome",
                                                  "status", "client_address", "detail"}));
  EXPECT_NE(json.find("\"timestamp\":\"2026-11-23T10:00:00Z\""), std::string::npos);
  EXPECT_NE(json.find("\"status\":403"), std::string::npos);
}

}  // namespace
}  // namespace hokusai::hokusai_api
