#include "hokusai_api/requests.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "auth/api_key.hpp"
#include "common/error.hpp"
#include "http/message.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::hokusai_api {
namespace {

using http::Method;

constexpr int64_t kNow = 1795428000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kDayMs = 86400LL * 1000;

http::Request Post(std::string body) {
  http::Request request;
  request.method = Method::kPost;
  request.content_type = "application/json";
  request.body = std::move(body);
  return request;
}

http::Request Get(http::QueryParams query) {
  http::Request request;
  request.method = Method::kGet;
  request.query = std::move(query);
  return request;
}

// Expects an INVALID_PARAMETER_VALUE whose message mentions `needle`.
template <typename T>
void ExpectInvalid(const Result<T>& result, std::string_view needle) {
  ASSERT_FALSE(result) << "expected an error mentioning " << needle;
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_NE(result.error().message.find(needle), std::string::npos) << result.error().message;
}

// --- POST /api/v1/keys ---

TEST(ParseCreateKey, NameAloneTakesTheDefaults) {
  auto parsed = ParseCreateKey(Post(R"({"name":"ci"})"), kNow);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->name, "ci");
  EXPECT_TRUE(parsed->scopes.empty());
  EXPECT_TRUE(parsed->template_name.empty());
  EXPECT_EQ(parsed->environment, "live");
  EXPECT_FALSE(parsed->expires_at);
  EXPECT_FALSE(parsed->rate_limit_per_hour);
  EXPECT_TRUE(parsed->user_id.empty());
}

TEST(ParseCreateKey, ReadsEveryField) {
  auto parsed = ParseCreateKey(Post(R"({"name":"ci",
      "scopes":["experiment:read","model:write:acme-*"], "environment":"test",
      "expires_in_days":30, "allowed_ips":["10.0.0.0/8","2001:db8::1"],
      "rate_limit_per_hour":500, "user_id":"bob"})"),
                               kNow);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->scopes, (std::vector<std::string>{"experiment:read", "model:write:acme-*"}));
  EXPECT_EQ(parsed->environment, "test");
  EXPECT_EQ(parsed->expires_at, kNow + 30 * kDayMs);
  EXPECT_EQ(parsed->allowed_ips, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::1"}));
  EXPECT_EQ(parsed->rate_limit_per_hour, 500);
  EXPECT_EQ(parsed->user_id, "bob");
}

TEST(ParseCreateKey, ReadsATemplateAndAnRfc3339Expiry) {
  auto parsed = ParseCreateKey(
      Post(R"({"name":"ci","template":"reader","expires_at":"2026-12-01T00:00:00Z"})"), kNow);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->template_name, "reader");
  EXPECT_EQ(parsed->expires_at, 1796083200000);
}

TEST(ParseCreateKey, NamesEveryUnknownField) {
  auto parsed = ParseCreateKey(Post(R"({"name":"ci","scope":["admin"],"owner":"x"})"), kNow);
  ExpectInvalid(parsed, "'scope'");
  ExpectInvalid(parsed, "'owner'");
}

TEST(ParseCreateKey, NamesFewAndShortUnknownFieldsOfAHugeBody) {
  std::string body = R"({"name":"ci")";
  for (int i = 0; i < 20000; ++i) {
    body += ",\"" + std::string(100, 'x') + std::to_string(i) + "\":0";
  }
  auto parsed = ParseCreateKey(Post(body + "}"), kNow);
  ExpectInvalid(parsed, "Unknown fields");
  EXPECT_LT(parsed.error().message.size(), 1000u);
}

TEST(ParseCreateKey, RejectsAFieldGivenTwice) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","name":"b"})"), kNow), "'name'");
}

TEST(ParseCreateKey, RequiresAName) {
  ExpectInvalid(ParseCreateKey(Post(R"({"scopes":["admin"]})"), kNow), "'name'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":""})"), kNow), "'name'");
  ExpectInvalid(ParseCreateKey(Post(""), kNow), "'name'");
}

TEST(ParseCreateKey, BoundsTheName) {
  EXPECT_TRUE(ParseCreateKey(Post(R"({"name":")" + std::string(256, 'n') + "\"}"), kNow));
  ExpectInvalid(ParseCreateKey(Post(R"({"name":")" + std::string(257, 'n') + "\"}"), kNow),
                "'name'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a\nb"})"), kNow), "control characters");
}

TEST(ParseCreateKey, DoesNotReadTheQueryString) {
  http::Request request = Post("");
  request.query = {{"name", "from-url"}};
  ExpectInvalid(ParseCreateKey(request, kNow), "'name'");
}

TEST(ParseCreateKey, RejectsScopesTogetherWithATemplate) {
  ExpectInvalid(
      ParseCreateKey(Post(R"({"name":"a","scopes":["admin"],"template":"reader"})"), kNow),
      "'template'");
}

TEST(ParseCreateKey, ChecksScopes) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","scopes":[]})"), kNow), "'scopes'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","scopes":["root"]})"), kNow), "root");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","scopes":"admin"})"), kNow), "'scopes'");
  std::string many = R"({"name":"a","scopes":[)";
  for (int i = 0; i < 33; ++i) many += std::string(i == 0 ? "" : ",") + "\"experiment:read\"";
  ExpectInvalid(ParseCreateKey(Post(many + "]}"), kNow), "32");
}

TEST(ParseCreateKey, ChecksTemplateAndEnvironment) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","template":"owner"})"), kNow), "'template'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","environment":"prod"})"), kNow),
                "'environment'");
}

TEST(ParseCreateKey, ChecksExpiry) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","expires_in_days":1,
      "expires_at":"2027-01-01T00:00:00Z"})"), kNow), "not both");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","expires_in_days":0})"), kNow),
                "'expires_in_days'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","expires_in_days":3651})"), kNow),
                "'expires_in_days'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","expires_at":"2026-11-23T09:00:00Z"})"), kNow),
                "future");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","expires_at":"next week"})"), kNow),
                "'expires_at'");
}

TEST(ParseCreateKey, ChecksAllowedIps) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","allowed_ips":["10.0.0.0/33"]})"), kNow),
                "'allowed_ips'");
  std::string many = R"({"name":"a","allowed_ips":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i == 0 ? "" : ",") + "\"10.0.0.1\"";
  ExpectInvalid(ParseCreateKey(Post(many + "]}"), kNow), "64");
}

TEST(ParseCreateKey, ChecksTheRateLimit) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","rate_limit_per_hour":0})"), kNow),
                "'rate_limit_per_hour'");
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","rate_limit_per_hour":"many"})"), kNow),
                "'rate_limit_per_hour'");
}

TEST(ParseCreateKey, BoundsTheUserId) {
  ExpectInvalid(ParseCreateKey(Post(R"({"name":"a","user_id":")" + std::string(257, 'u') + "\"}"),
                               kNow),
                "'user_id'");
}

// --- rotate, key ids, list ---

TEST(ParseRotateOverlap, DefaultsToZeroAndIsAtMostSevenDays) {
  EXPECT_EQ(ParseRotateOverlap(Post("")).value(), 0);
  EXPECT_EQ(ParseRotateOverlap(Post(R"({"overlap_seconds":604800})")).value(), 604800);
  ExpectInvalid(ParseRotateOverlap(Post(R"({"overlap_seconds":604801})")), "'overlap_seconds'");
  ExpectInvalid(ParseRotateOverlap(Post(R"({"overlap_seconds":-1})")), "'overlap_seconds'");
  ExpectInvalid(ParseRotateOverlap(Post(R"({"overlap":5})")), "'overlap'");
}

TEST(ParseKeyId, AcceptsLowercaseHexOnly) {
  http::Request request;
  request.path_params = {{"key_id", "0123456789abcdef0123456789abcdef"}};
  EXPECT_EQ(ParseKeyId(request).value(), "0123456789abcdef0123456789abcdef");
  for (std::string bad : {std::string(), std::string("ABCDEF"), std::string("12-34"),
                          std::string(65, 'a')}) {
    request.path_params = {{"key_id", bad}};
    ExpectInvalid(ParseKeyId(request), "'key_id'");
  }
}

TEST(ParseListUserId, ReadsTheOptionalFilter) {
  EXPECT_EQ(ParseListUserId(Get({})).value(), "");
  EXPECT_EQ(ParseListUserId(Get({{"user_id", "bob"}})).value(), "bob");
}

// --- POST /api/v1/keys/validate ---

constexpr const char* kKey = "hk_live_0123456789012345678901234567890123456789abcdef";

http::Request WithBearer(http::Request request, std::string secret) {
  request.credential.source = http::Credential::Source::kBearer;
  request.credential.secret = std::move(secret);
  return request;
}

TEST(ParseValidate, TakesTheKeyFromTheHeader) {
  auto input = ParseValidate(WithBearer(Post(R"({"service_id":"gw","client_ip":"10.1.2.3"})"),
                                        kKey));
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->secret, kKey);
  EXPECT_EQ(input->service_id, "gw");
  EXPECT_EQ(input->client_ip, "10.1.2.3");
}

TEST(ParseValidate, TakesTheKeyFromTheBody) {
  auto input = ParseValidate(Post(std::string(R"({"api_key":")") + kKey + "\"}"));
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->secret, kKey);
  EXPECT_FALSE(input->service_id);
  EXPECT_FALSE(input->client_ip);
}

TEST(ParseValidate, AcceptsTheSameKeyInBothPlaces) {
  auto input = ParseValidate(WithBearer(Post(std::string(R"({"api_key":")") + kKey + "\"}"),
                                        kKey));
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->secret, kKey);
}

TEST(ParseValidate, RejectsTwoDifferentKeys) {
  ExpectInvalid(ParseValidate(WithBearer(Post(R"({"api_key":"hk_live_other"})"), kKey)),
                "differ");
}

TEST(ParseValidate, NoKeyIsNotAnErrorButNoSecret) {
  auto input = ParseValidate(Post(""));
  ASSERT_TRUE(input);
  EXPECT_FALSE(input->secret);
}

TEST(ParseValidate, RefusesAKeyInTheUrl) {
  http::Request request = Post("");
  request.query = {{"api_key", "anything"}};
  ExpectInvalid(ParseValidate(request), "URL");
  request.query = {{"k", auth::GenerateKey(auth::KeyEnvironment::kTest)}};
  ExpectInvalid(ParseValidate(request), "URL");
}

TEST(ParseValidate, AnUnreadableHeaderGivesNoSecret) {
  http::Request request = Post(std::string(R"({"api_key":")") + kKey + "\"}");
  request.credential.malformed = true;
  auto input = ParseValidate(request);
  ASSERT_TRUE(input);
  EXPECT_FALSE(input->secret);
}

TEST(ParseValidate, AnAbsurdlyLongKeyGivesNoSecret) {
  auto input = ParseValidate(WithBearer(Post(""), std::string(1000, 'k')));
  ASSERT_TRUE(input);
  EXPECT_FALSE(input->secret);
}

TEST(ParseValidate, ChecksClientIpSyntax) {
  ExpectInvalid(ParseValidate(WithBearer(Post(R"({"client_ip":"10.0.0.256"})"), kKey)),
                "'client_ip'");
  ExpectInvalid(ParseValidate(WithBearer(Post(R"({"client_ip":"10.0.0.0/8"})"), kKey)),
                "'client_ip'");
  EXPECT_TRUE(ParseValidate(WithBearer(Post(R"({"client_ip":"2001:db8::7"})"), kKey)));
}

TEST(ValidIpAddress, AcceptsPlainAddressesOnly) {
  EXPECT_TRUE(ValidIpAddress("127.0.0.1"));
  EXPECT_TRUE(ValidIpAddress("::1"));
  EXPECT_TRUE(ValidIpAddress("::ffff:10.0.0.1"));
  for (const char* bad : {"", "localhost", "1.2.3", "1.2.3.4:80", "fe80::1%eth0", "::1/128",
                          " 1.2.3.4"}) {
    EXPECT_FALSE(ValidIpAddress(bad)) << bad;
  }
}

// --- GET /api/v1/audit ---

TEST(ParseAuditQuery, DefaultsToTheFirstHundred) {
  auto query = ParseAuditQuery(Get({}));
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(query->max_results, 100);
  EXPECT_EQ(query->offset, 0);
  EXPECT_FALSE(query->user_id);
  EXPECT_FALSE(query->since);
}

TEST(ParseAuditQuery, ReadsFiltersTimesAndPageToken) {
  auto query = ParseAuditQuery(Get({{"user_id", "bob"},
                                    {"key_id", "abc"},
                                    {"outcome", "denied"},
                                    {"since", "2026-11-23T10:00:00Z"},
                                    {"until", "1795428060000"},
                                    {"max_results", "1000"},
                                    {"page_token", mlflow_api::EncodePageToken(200)}}));
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(query->user_id, "bob");
  EXPECT_EQ(query->key_id, "abc");
  EXPECT_EQ(query->outcome, "denied");
  EXPECT_EQ(query->since, kNow);
  EXPECT_EQ(query->until, kNow + 60000);
  EXPECT_EQ(query->max_results, 1000);
  EXPECT_EQ(query->offset, 200);
}

TEST(ParseAuditQuery, RejectsBadValues) {
  ExpectInvalid(ParseAuditQuery(Get({{"max_results", "0"}})), "'max_results'");
  ExpectInvalid(ParseAuditQuery(Get({{"max_results", "1001"}})), "'max_results'");
  ExpectInvalid(ParseAuditQuery(Get({{"outcome", "maybe"}})), "'outcome'");
  ExpectInvalid(ParseAuditQuery(Get({{"since", "last week"}})), "'since'");
  ExpectInvalid(ParseAuditQuery(Get({{"page_token", "garbage!"}})), "page token");
}

// --- MLflow permission endpoints ---

TEST(ParsePermissionInput, ReadsResourceUserAndPermission) {
  auto input = ParsePermissionInput(
      Post(R"({"experiment_id":"12","username":"bob","permission":"EDIT"})"), "experiment_id",
      true);
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->resource_id, "12");
  EXPECT_EQ(input->username, "bob");
  EXPECT_EQ(input->permission, store::Permission::kEdit);

  auto get = ParsePermissionInput(Get({{"name", "churn"}, {"username", "bob"}}), "name", false);
  ASSERT_TRUE(get) << get.error().message;
  EXPECT_EQ(get->resource_id, "churn");
  EXPECT_FALSE(get->permission);
}

TEST(ParsePermissionInput, NamesWhatIsMissingOrWrong) {
  ExpectInvalid(ParsePermissionInput(Post(R"({"experiment_id":"1","permission":"READ"})"),
                                     "experiment_id", true),
                "'username'");
  ExpectInvalid(ParsePermissionInput(Post(R"({"username":"bob","permission":"READ"})"),
                                     "experiment_id", true),
                "'experiment_id'");
  ExpectInvalid(ParsePermissionInput(Post(R"({"name":"m","username":"bob","permission":"USE"})"),
                                     "name", true),
                "Invalid permission 'USE'");
  ExpectInvalid(ParsePermissionInput(Post(R"({"name":"m","username":"bob"})"), "name", true),
                "'permission'");
}

}  // namespace
}  // namespace hokusai::hokusai_api
