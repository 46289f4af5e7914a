// Gateway mode: the locator asks the upstream (here a fake) what the native one asks the store.
#include "gateway/upstream_locator.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/router.hpp"
#include "mlflow_api/targets.hpp"

namespace hokusai::gateway {
namespace {

// Answers GETs from a table keyed by "path?query"; records every call.
class FakeUpstream final : public UpstreamClient {
 public:
  FakeUpstream() : UpstreamClient(*ParseUpstreamUrl("http://mlflow:5000")) {}
  Result<http::ClientResponse> Call(http::Method, std::string_view path,
                                    const http::QueryParams& query, const std::string&) override {
    std::string key = UpstreamTarget(config(), path, query);
    calls.push_back(key);
    if (down) return Fail(ErrorCode::kTemporarilyUnavailable, "upstream down");
    auto it = answers.find(key);
    if (it == answers.end()) {
      return http::ClientResponse{
          404, {}, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run 'x' not found"})"};
    }
    return http::ClientResponse{200, {}, it->second};
  }
  std::map<std::string, std::string> answers;
  std::vector<std::string> calls;
  bool down = false;
};

class UpstreamLocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_.answers["/api/2.0/mlflow/runs/get?run_id=r1"] =
        R"({"run":{"info":{"run_id":"r1","experiment_id":"7","artifact_uri":"mlflow-artifacts:/7/r1/artifacts"},"data":{}}})";
    upstream_.answers["/api/2.0/mlflow/logged-models/m-1"] =
        R"({"model":{"info":{"model_id":"m-1","experiment_id":"8","artifact_uri":"mlflow-artifacts:/8/models/m-1/artifacts"}}})";
    upstream_.answers["/api/2.0/mlflow/experiments/get-by-name?experiment_name=my%20exp"] =
        R"({"experiment":{"experiment_id":"9","name":"my exp"}})";
    upstream_.answers["/api/2.0/mlflow/experiments/get?experiment_id=9"] =
        R"({"experiment":{"experiment_id":"9","name":"my exp"}})";
  }
  FakeUpstream upstream_;
  UpstreamLocator locator_{upstream_, 2};
};

TEST_F(UpstreamLocatorTest, RunResolvesToItsExperimentAndIsCached) {
  EXPECT_EQ(*locator_.ExperimentOfRun("r1"), "7");
  EXPECT_EQ(*locator_.ExperimentOfRun("r1"), "7");
  EXPECT_EQ(upstream_.calls.size(), 1u);
}

TEST_F(UpstreamLocatorTest, UnknownRunIsDoesNotExist) {
  auto missing = locator_.ExperimentOfRun("nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(UpstreamLocatorTest, UpstreamDownIsUnavailableNotAllowed) {
  upstream_.down = true;
  auto answer = locator_.ExperimentOfRun("r1");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST_F(UpstreamLocatorTest, ServerErrorsAndUpstreamPermissionDenialsAreUnavailable) {
  upstream_.answers.clear();
  struct Five final : UpstreamClient {
    Five() : UpstreamClient(*ParseUpstreamUrl("http://mlflow:5000")) {}
    int status = 500;
    std::string body = R"({"error_code":"INTERNAL_ERROR","message":"boom"})";
    Result<http::ClientResponse> Call(http::Method, std::string_view, const http::QueryParams&,
                                      const std::string&) override {
      return http::ClientResponse{status, {}, body};
    }
  } five;
  UpstreamLocator locator(five);
  auto answer = locator.ExperimentOfRun("r1");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(answer.error().message.find("http://mlflow:5000"), std::string::npos);
  five.status = 403;
  five.body = R"({"error_code":"PERMISSION_DENIED","message":"no"})";
  answer = locator.ExperimentOfRun("r2");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ErrorCode::kTemporarilyUnavailable);
}

TEST_F(UpstreamLocatorTest, CacheIsBounded) {
  upstream_.answers["/api/2.0/mlflow/runs/get?run_id=r2"] =
      R"({"run":{"info":{"experiment_id":"1","artifact_uri":""}}})";
  upstream_.answers["/api/2.0/mlflow/runs/get?run_id=r3"] =
      R"({"run":{"info":{"experiment_id":"1","artifact_uri":""}}})";
  locator_.ExperimentOfRun("r1");
  locator_.ExperimentOfRun("r2");
  locator_.ExperimentOfRun("r3");  // evicts r1 (capacity 2)
  locator_.ExperimentOfRun("r1");
  EXPECT_EQ(upstream_.calls.size(), 4u);
}

TEST_F(UpstreamLocatorTest, LoggedModelNameAndNameLookups) {
  EXPECT_EQ(*locator_.ExperimentOfLoggedModel("m-1"), "8");
  EXPECT_EQ(*locator_.ExperimentIdByName("my exp"), "9");
  EXPECT_EQ(*locator_.ExperimentName("9"), "my exp");
  EXPECT_FALSE(locator_.ExperimentOfLoggedModel("../x").has_value());
}

TEST_F(UpstreamLocatorTest, ArtifactPathsMustLieInsideAnIssuedRoot) {
  EXPECT_EQ(*locator_.ExperimentOfArtifactPath("7/r1/artifacts/model/MLmodel"), "7");
  EXPECT_EQ(*locator_.ExperimentOfArtifactPath("8/models/m-1/artifacts/x"), "8");
  // The experiment in the path must be the run's own.
  auto wrong = locator_.ExperimentOfArtifactPath("6/r1/artifacts/x");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::kPermissionDenied);
  auto unknown = locator_.ExperimentOfArtifactPath("7/nope/artifacts/x");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(locator_.ExperimentOfArtifactPath("7").has_value());
}

TEST_F(UpstreamLocatorTest, TargetFindersUseTheLocator) {
  http::Request request;
  request.method = http::Method::kGet;
  request.query = {{"run_id", "r1"}};
  auto target = mlflow_api::MakeTargetFinder(mlflow_api::Locate::kRun, locator_)(request);
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->experiment_ids, std::vector<std::string>{"7"});

  http::Request by_path;
  by_path.path_params = {{"path", "8/models/m-1/artifacts/weights.bin"}};
  auto artifact = mlflow_api::MakeArtifactPathFinder(false, locator_)(by_path);
  ASSERT_TRUE(artifact.has_value());
  EXPECT_EQ(artifact->experiment_ids, std::vector<std::string>{"8"});

  // A run id that is not one never reaches the upstream.
  http::Request bad;
  bad.query = {{"run_id", "../../x"}};
  std::size_t before = upstream_.calls.size();
  EXPECT_FALSE(mlflow_api::MakeTargetFinder(mlflow_api::Locate::kRun, locator_)(bad).has_value());
  EXPECT_EQ(upstream_.calls.size(), before);
}

}  // namespace
}  // namespace hokusai::gateway
