// Gateway mode: ownership recorded after the upstream confirmed a create, rename or delete,
// and search answers filtered to what the caller may read.
#include "gateway/forward_hooks.hpp"

#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "auth/principal.hpp"
#include "common/util.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::gateway {
namespace {

using store::Permission;

class ForwardHooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-gw-hooks-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = store::sql::OpenDatabase(
        store::sql::DatabaseOptions{(dir_ / "reg.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    auth_ = std::make_unique<store::sql::SqlAuthStore>(*pool);
    forward_for_ = MakeForwardFor(*auth_, {});
  }
  void TearDown() override {
    auth_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  http::Forward ForwardOf(http::Method method, std::string path) {
    http::Route route{method, std::move(path), {http::Operation::kRead, http::Resource::kNone},
                      http::Execution::kBlocking, nullptr};
    return forward_for_(route);
  }

  http::Request Caller(std::string user, bool default_readable = true) {
    auth::Identity identity;
    identity.user.user_id = user;
    auto principal = std::make_shared<auth::Principal>(
        std::make_shared<const auth::Identity>(std::move(identity)));
    store::Visibility visibility;
    visibility.user_id = user;
    visibility.default_readable = default_readable;
    principal->experiment_visibility = visibility;
    principal->model_visibility = visibility;
    http::Request request;
    request.principal = principal;
    request.content_type = "application/json";
    return request;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlAuthStore> auth_;
  http::ForwardFor forward_for_;
};

TEST_F(ForwardHooksTest, OnlyOwnershipAndListingRoutesBufferTheAnswer) {
  EXPECT_FALSE(ForwardOf(http::Method::kGet, "/api/2.0/mlflow/runs/get").after);
  EXPECT_FALSE(ForwardOf(http::Method::kPost, "/api/2.0/mlflow/runs/log-batch").after);
  EXPECT_TRUE(ForwardOf(http::Method::kPost, "/api/2.0/mlflow/experiments/create").after);
  EXPECT_TRUE(ForwardOf(http::Method::kGet, "/api/2.0/mlflow/experiments/search").after);
  EXPECT_TRUE(ForwardOf(http::Method::kPost, "/api/2.0/mlflow/experiments/search").after);
  EXPECT_TRUE(ForwardOf(http::Method::kGet, "/api/2.0/mlflow/registered-models/search").after);
  EXPECT_TRUE(ForwardOf(http::Method::kGet, "/api/2.0/mlflow/model-versions/search").after);
}

TEST_F(ForwardHooksTest, ExperimentCreateGivesTheCallerManage) {
  auto after = ForwardOf(http::Method::kPost, "/api/2.0/mlflow/experiments/create").after;
  http::Request request = Caller("acme");
  auto answer = after(request, http::Response::Json(R"({"experiment_id": "42"})"));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->body, R"({"experiment_id": "42"})");
  EXPECT_EQ(*auth_->GetExperimentPermission("42", "acme"), Permission::kManage);
  // The permission API works on it like on a native experiment.
  ASSERT_TRUE(auth_->SetExperimentPermission("42", "bob", Permission::kRead).has_value());
}

TEST_F(ForwardHooksTest, FailedCreatesRecordNothing) {
  auto after = ForwardOf(http::Method::kPost, "/api/2.0/mlflow/experiments/create").after;
  http::Request request = Caller("acme");
  auto answer = after(request, http::Response::Json(
                                   R"({"error_code":"RESOURCE_ALREADY_EXISTS","experiment_id":"5"})",
                                   400));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 400);
  EXPECT_FALSE(auth_->GetExperimentPermission("5", "acme")->has_value());
}

TEST_F(ForwardHooksTest, ModelCreateRenameDeleteMoveThePermissionRows) {
  http::Request request = Caller("acme");
  auto create = ForwardOf(http::Method::kPost, "/api/2.0/mlflow/registered-models/create").after;
  ASSERT_TRUE(create(request, http::Response::Json(R"({"registered_model":{"name":"churn"}})")));
  EXPECT_EQ(*auth_->GetModelPermission("churn", "acme"), Permission::kManage);

  auto rename = ForwardOf(http::Method::kPost, "/api/2.0/mlflow/registered-models/rename").after;
  request.method = http::Method::kPost;
  request.body = R"({"name":"churn","new_name":"churn-v2"})";
  ASSERT_TRUE(rename(request, http::Response::Json(R"({"registered_model":{"name":"churn-v2"}})")));
  EXPECT_FALSE(auth_->GetModelPermission("churn", "acme")->has_value());
  EXPECT_EQ(*auth_->GetModelPermission("churn-v2", "acme"), Permission::kManage);

  auto drop = ForwardOf(http::Method::kDelete, "/api/2.0/mlflow/registered-models/delete").after;
  request.method = http::Method::kDelete;
  request.body = R"({"name":"churn-v2"})";
  ASSERT_TRUE(drop(request, http::Response::Json("{}")));
  EXPECT_FALSE(auth_->GetModelPermission("churn-v2", "acme")->has_value());
}

TEST_F(ForwardHooksTest, SearchesShowOnlyWhatTheCallerMayRead) {
  ASSERT_TRUE(auth_->RecordUpstreamExperimentOwner("1", "acme").has_value());
  ASSERT_TRUE(auth_->RecordUpstreamExperimentOwner("2", "bob").has_value());
  ASSERT_TRUE(auth_->SetExperimentPermission("2", "acme", Permission::kNoPermissions));
  auto search = ForwardOf(http::Method::kPost, "/api/2.0/mlflow/experiments/search").after;
  std::string body =
      R"({"experiments":[{"experiment_id":"1","name":"a"},{"experiment_id":"2","name":"b"},)"
      R"({"experiment_id":"3","name":"c"}],"next_page_token":"tok"})";

  // Default readable: everything but the explicit NO_PERMISSIONS row.
  auto open = search(Caller("acme", true), http::Response::Json(body));
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->body,
            R"({"experiments":[{"experiment_id":"1","name":"a"},{"experiment_id":"3","name":"c"}],)"
            R"("next_page_token":"tok"})");
  // Default NO_PERMISSIONS: only what a row grants.
  auto closed = search(Caller("acme", false), http::Response::Json(body));
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->body,
            R"({"experiments":[{"experiment_id":"1","name":"a"}],"next_page_token":"tok"})");
  // An admin (no visibility restriction) sees the answer unchanged.
  http::Request admin = Caller("root");
  auto principal = std::make_shared<auth::Principal>(*admin.principal);
  principal->experiment_visibility.reset();
  admin.principal = principal;
  EXPECT_EQ(search(admin, http::Response::Json(body))->body, body);
}

TEST_F(ForwardHooksTest, ModelListingsFollowNamePatternsAndPermissions) {
  ASSERT_TRUE(auth_->RecordUpstreamModelOwner("acme-a", "acme").has_value());
  store::Visibility visibility{"acme", false, {"acme-*"}};
  auto filtered = FilterListing(
      *auth_, visibility, Listing::kModelVersions,
      R"({"model_versions":[{"name":"acme-a","version":"1"},{"name":"acme-b","version":"1"},)"
      R"({"name":"other","version":"2"}]})");
  ASSERT_TRUE(filtered.has_value());
  EXPECT_EQ(*filtered, R"({"model_versions":[{"name":"acme-a","version":"1"}]})");
  EXPECT_FALSE(FilterListing(*auth_, visibility, Listing::kRegisteredModels, "not json"));
  // An empty answer ({} in MLflow) stays empty.
  EXPECT_EQ(*FilterListing(*auth_, visibility, Listing::kRegisteredModels, "{}"), "{}");
}

}  // namespace
}  // namespace hokusai::gateway
