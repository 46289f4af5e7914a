// The registration API's input rules and response shape (spec §3), without a server.
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "hokusai_api/registration.hpp"
#include "hokusai_api/requests.hpp"
#include "http/message.hpp"

namespace hokusai::hokusai_api {
namespace {

http::Request Post(std::string body) {
  http::Request request;
  request.method = http::Method::kPost;
  request.content_type = "application/json";
  request.body = std::move(body);
  return request;
}

constexpr const char* kRunId = "0123456789abcdef0123456789abcdef";

std::string WithRun(const std::string& members) {
  return std::string(R"({"mlflow_run_id":")") + kRunId + "\"" + (members.empty() ? "" : ",") +
         members + "}";
}

template <typename T>
void ExpectInvalid(const Result<T>& result, std::string_view needle) {
  ASSERT_FALSE(result) << "expected an error mentioning " << needle;
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_NE(result.error().message.find(needle), std::string::npos) << result.error().message;
}

TEST(ParseRegistration, ReadsEveryField) {
  auto parsed = ParseRegistration(
      Post(WithRun(R"("model_name":"churn","model_type":"xgboost","artifact_path":"clf",)"
                   R"("version":"v1.0.0","metrics":{"auc":0.91,"f1":0.5},)"
                   R"("metadata":{"team":"a"},"tags":{"owner":"b"},"alias":"champion",)"
                   R"("description":"first")")),
      RegistrationKind::kRegister);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->model_name, "churn");
  EXPECT_EQ(parsed->model_type, "xgboost");
  EXPECT_EQ(parsed->mlflow_run_id, std::optional<std::string>(kRunId));
  EXPECT_EQ(parsed->artifact_path, "clf");
  EXPECT_FALSE(parsed->model_uri);
  EXPECT_EQ(parsed->version_label, std::optional<std::string>("v1.0.0"));
  ASSERT_EQ(parsed->metrics.size(), 2u);
  EXPECT_EQ(parsed->metrics[0].first, "auc");
  EXPECT_DOUBLE_EQ(parsed->metrics[0].second, 0.91);
  ASSERT_EQ(parsed->tags.size(), 2u);
  EXPECT_EQ(parsed->tags[0].key, "owner");
  EXPECT_EQ(parsed->tags[1].key, "team");
  EXPECT_EQ(parsed->alias, std::optional<std::string>("champion"));
  EXPECT_EQ(parsed->description, std::optional<std::string>("first"));
}

TEST(ParseRegistration, DefaultsArtifactPathAndBaselineName) {
  auto parsed = ParseRegistration(Post(WithRun(R"("model_type":"lr")")),
                                  RegistrationKind::kBaseline);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->model_name, "hokusai_lr_baseline");
  EXPECT_EQ(parsed->artifact_path, "model");
  ExpectInvalid(ParseRegistration(Post(WithRun(R"("model_type":"lr")")),
                                  RegistrationKind::kRegister),
                "model_name");
}

TEST(ParseRegistration, NeedsExactlyOneSource) {
  ExpectInvalid(ParseRegistration(Post(R"({"model_name":"m","model_type":"t"})"),
                                  RegistrationKind::kRegister),
                "exactly one");
  ExpectInvalid(ParseRegistration(Post(WithRun(R"("model_name":"m","model_type":"t",)"
                                               R"("model_uri":"models:/m/1")")),
                                  RegistrationKind::kRegister),
                "exactly one");
  ExpectInvalid(ParseRegistration(Post(R"({"model_name":"m","model_type":"t",)"
                                       R"("model_uri":"models:/m/1","artifact_path":"x"})"),
                                  RegistrationKind::kRegister),
                "artifact_path");
}

TEST(ParseRegistration, RefusesLocationsThisServerDidNotIssue) {
  for (const char* uri : {"s3://bucket/model", "file:///etc/passwd", "/etc/passwd",
                          "runs:/../x", "http://example.com/m"}) {
    ExpectInvalid(ParseRegistration(Post(std::string(R"({"model_name":"m","model_type":"t",)"
                                                     R"("model_uri":")") +
                                         uri + "\"}"),
                                    RegistrationKind::kRegister),
                  "model_uri");
  }
  ExpectInvalid(ParseRegistration(Post(WithRun(R"("model_name":"m","model_type":"t",)"
                                               R"("artifact_path":"../other")")),
                                  RegistrationKind::kRegister),
                "artifact_path");
}

TEST(ParseRegistration, NamesEveryBadField) {
  auto bad = [](const std::string& members, std::string_view needle) {
    ExpectInvalid(ParseRegistration(Post(WithRun(R"("model_name":"m","model_type":"t",)" +
                                                 members)),
                                    RegistrationKind::kRegister),
                  needle);
  };
  bad(R"("metrics":{"auc":"high"})", "metrics");
  bad(R"("metrics":[1])", "metrics");
  bad(R"("metadata":{"k":1})", "metadata");
  bad(R"("tags":{"hokusai.model_type":"x"})", "reserved");
  bad(R"("tags":{"a":"1"},"metadata":{"a":"2"})", "more than once");
  bad(R"("alias":"latest")", "latest");
  bad(R"("alias":"v3")", "alias");
  bad(R"("alias":"no spaces")", "alias");
  bad(R"("colour":"blue")", "colour");
  bad(R"("model_type":"a b")", "model_type");
  ExpectInvalid(ParseRegistration(Post(WithRun(R"("model_name":"m")")),
                                  RegistrationKind::kRegister),
                "model_type");
  ExpectInvalid(ParseRegistration(Post(R"({"model_name":"m","model_type":"t","mlflow_run_id":"x/y"})"),
                                  RegistrationKind::kRegister),
                "run");
}

TEST(RegistrationFingerprint, IgnoresJsonSpellingButNotContent) {
  auto a = ParseRegistration(Post(WithRun(R"("model_name":"m","model_type":"t","metrics":{"a":1,"b":2.50})")),
                             RegistrationKind::kRegister);
  auto b = ParseRegistration(
      Post(std::string("{ \"metrics\" : {\"b\":2.5, \"a\":1.0}, \"model_type\":\"t\", "
                       "\"model_name\":\"m\", \"mlflow_run_id\":\"") +
           kRunId + "\" }"),
      RegistrationKind::kRegister);
  auto c = ParseRegistration(Post(WithRun(R"("model_name":"m","model_type":"t","metrics":{"a":1,"b":2.51})")),
                             RegistrationKind::kRegister);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(RegistrationFingerprint(*a, RegistrationKind::kRegister),
            RegistrationFingerprint(*b, RegistrationKind::kRegister));
  EXPECT_NE(RegistrationFingerprint(*a, RegistrationKind::kRegister),
            RegistrationFingerprint(*c, RegistrationKind::kRegister));
  EXPECT_NE(RegistrationFingerprint(*a, RegistrationKind::kRegister),
            RegistrationFingerprint(*a, RegistrationKind::kBaseline));
}

TEST(ParseIdempotencyKey, AcceptsVisibleAsciiOnly) {
  http::Request request;
  EXPECT_FALSE(*ParseIdempotencyKey(request));
  request.headers = {{"idempotency-key", "3f1c-retry-1"}};
  EXPECT_EQ(**ParseIdempotencyKey(request), "3f1c-retry-1");
  for (std::string bad : {std::string(), std::string("has space"), std::string(256, 'k')}) {
    request.headers = {{"idempotency-key", bad}};
    ExpectInvalid(ParseIdempotencyKey(request), "Idempotency-Key");
  }
}

TEST(ParseTransitionStage, KeepsTheStageAndRefusesReservedAliases) {
  EXPECT_EQ(*ParseTransitionStage(Post(R"({"stage":"Production"})")), "Production");
  ExpectInvalid(ParseTransitionStage(Post(R"({"stage":"Latest"})")), "reserved");
  ExpectInvalid(ParseTransitionStage(Post(R"({"stage":"in prod"})")), "stage");
  ExpectInvalid(ParseTransitionStage(Post(R"({})")), "stage");
}

TEST(ParseEventQuery, ReadsFiltersAndPaging) {
  http::Request request;
  request.query = {{"state", "dead"}, {"model_name", "m"}, {"page_token", "42"},
                   {"max_results", "5"}};
  auto query = ParseEventQuery(request);
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(query->state, std::optional<store::DeliveryState>(store::DeliveryState::kDead));
  EXPECT_EQ(query->model_name, std::optional<std::string>("m"));
  EXPECT_EQ(query->after_seq, 42);
  EXPECT_EQ(query->limit, 5);
  request.query = {{"state", "lost"}};
  ExpectInvalid(ParseEventQuery(request), "state");
  request.query = {{"page_token", "-1"}};
  ExpectInvalid(ParseEventQuery(request), "page_token");
}

TEST(WriteVersion, HasExactlyTheSpecFieldsAndReadsMetricsBack) {
  store::ModelVersion version;
  version.name = "churn";
  version.version = "3";
  version.creation_timestamp = 1795428000000;
  version.status = "READY";
  version.run_id = kRunId;
  version.source = "models:/m-0123";
  version.tags = registration::VersionTags("xgboost", std::string("v1"), {{"auc", 0.1}},
                                           {{"team", "a"}});
  std::string body = registration::VersionBody(version, false);
  simdjson::dom::parser parser;
  simdjson::dom::object object = parser.parse(body);
  std::vector<std::string> keys;
  for (auto field : object) keys.emplace_back(field.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"model_id", "model_name", "version", "version_label",
                                            "model_type", "metrics", "status",
                                            "registration_timestamp", "mlflow_run_id",
                                            "source"}));
  EXPECT_EQ(std::string_view(object["model_id"]), "churn/3");
  EXPECT_EQ(std::string_view(object["status"]), "registered");
  EXPECT_EQ(std::string_view(object["registration_timestamp"]), "2026-11-23T10:00:00Z");
  EXPECT_DOUBLE_EQ(double(object["metrics"]["auc"]), 0.1);
  EXPECT_EQ(std::string_view(object["version_label"]), "v1");

  std::string detailed = registration::VersionBody(version, true);
  simdjson::dom::object more = parser.parse(detailed);
  EXPECT_EQ(std::string_view(more["tags"]["team"]), "a");
  EXPECT_TRUE(more["tags"]["hokusai.model_type"].error());
  EXPECT_TRUE(more["stage"].is_null());
}

}  // namespace
}  // namespace hokusai::hokusai_api
