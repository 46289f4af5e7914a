// The tracking route table as the server builds it: every route declares its access, state
// changes are declared as writes, and every mount spelling reaches the same route.
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "http/canonical_path.hpp"
#include "http/router.hpp"
#include "mlflow_api/targets.hpp"
#include "mlflow_api/tracking_api.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Method;
using http::Operation;
using http::Resource;

constexpr std::string_view kApiRoot = "/api/2.0/mlflow/";

// POST routes that only read. Any other POST route must be declared kWrite; a new read-only POST
// route has to be added here on purpose.
const std::set<std::string> kReadOnlyPostRoutes = {
    "/api/2.0/mlflow/experiments/search",
    "/api/2.0/mlflow/runs/search",
};

std::string Describe(const http::Route& route) {
  return std::string(http::MethodName(route.method)) + " " + route.path;
}

class TrackingRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-routes-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto store = store::sql::SqlTrackingStore::Open(
        store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(store.has_value()) << store.error().message;
    store_ = std::move(*store);
    auto registered = RegisterTrackingRoutes(table_, *store_);
    ASSERT_TRUE(registered.has_value()) << registered.error().message;
    ASSERT_FALSE(table_.routes().empty());
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlTrackingStore> store_;
  http::RouteTable table_;
};

// The native locator keeps each run's experiment once looked up: every run still answers with
// its own, a deleted run with the one it was in, and a run that does not exist is looked up
// again each time (nothing kept for it).
TEST_F(TrackingRoutesTest, TheStoreLocatorAnswersEachRunsOwnExperiment) {
  auto a = store_->CreateExperiment("a", "", {});
  auto b = store_->CreateExperiment("b", "", {});
  ASSERT_TRUE(a && b);
  std::vector<std::pair<std::string, std::string>> runs;  // run id, experiment id
  for (int i = 0; i < 6; ++i) {
    store::CreateRunArgs args;
    args.experiment_id = i % 2 == 0 ? *a : *b;
    auto run = store_->CreateRun(args);
    ASSERT_TRUE(run) << run.error().message;
    runs.emplace_back(run->info.run_id, args.experiment_id);
  }
  StoreLocator locator(*store_);
  for (int pass = 0; pass < 2; ++pass) {  // looked up, then kept
    for (const auto& [run_id, experiment_id] : runs) {
      auto found = locator.ExperimentOfRun(run_id);
      ASSERT_TRUE(found) << found.error().message;
      EXPECT_EQ(*found, experiment_id);
    }
  }
  ASSERT_TRUE(store_->DeleteRun(runs[0].first));
  EXPECT_EQ(locator.ExperimentOfRun(runs[0].first), runs[0].second);
  const std::string missing(32, 'f');
  for (int i = 0; i < 2; ++i) {
    auto found = locator.ExperimentOfRun(missing);
    ASSERT_FALSE(found);
    EXPECT_EQ(found.error().code, ErrorCode::kResourceDoesNotExist);
  }
}

TEST_F(TrackingRoutesTest, EveryRouteDeclaresAnAuthenticatedOperation) {
  for (const http::Route& route : table_.routes()) {
    SCOPED_TRACE(Describe(route));
    EXPECT_TRUE(route.access.operation == Operation::kRead ||
                route.access.operation == Operation::kWrite ||
                route.access.operation == Operation::kManage ||
                route.access.operation == Operation::kAdmin)
        << "operation " << http::OperationName(route.access.operation);
    EXPECT_NE(route.access.operation, Operation::kPublic);
  }
}

TEST_F(TrackingRoutesTest, EveryRouteFindsItsTargetFromTheRequest) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_TRUE(static_cast<bool>(route.target)) << Describe(route);
  }
}

TEST_F(TrackingRoutesTest, EveryRouteActsOnAnExperiment) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_EQ(route.access.resource, Resource::kExperiment)
        << Describe(route) << " declares " << http::ResourceName(route.access.resource);
  }
}

TEST_F(TrackingRoutesTest, StateChangingPostRoutesAreWrites) {
  for (const http::Route& route : table_.routes()) {
    if (route.method != Method::kPost) continue;
    if (kReadOnlyPostRoutes.count(route.path) > 0) continue;
    EXPECT_TRUE(route.access.operation == Operation::kWrite ||
                route.access.operation == Operation::kManage)
        << Describe(route) << " changes state but is declared "
        << http::OperationName(route.access.operation)
        << "; if it only reads, add it to kReadOnlyPostRoutes";
  }
}

TEST_F(TrackingRoutesTest, ReadOnlyPostRoutesExistAndAreReads) {
  for (const std::string& path : kReadOnlyPostRoutes) {
    const http::Route* route = table_.Find(Method::kPost, path);
    ASSERT_NE(route, nullptr) << "stale entry in kReadOnlyPostRoutes: " << path;
    EXPECT_EQ(route->access.operation, Operation::kRead) << path;
  }
}

TEST_F(TrackingRoutesTest, NonPostRoutesOnlyRead) {
  for (const http::Route& route : table_.routes()) {
    if (route.method == Method::kPost) continue;
    EXPECT_EQ(route.method, Method::kGet) << Describe(route);
    EXPECT_EQ(route.access.operation, Operation::kRead) << Describe(route);
  }
}

TEST_F(TrackingRoutesTest, EveryRouteRunsOnTheBlockingPool) {
  // Tracking handlers call the store, which blocks.
  for (const http::Route& route : table_.routes()) {
    EXPECT_EQ(route.execution, http::Execution::kBlocking) << Describe(route);
    EXPECT_TRUE(static_cast<bool>(route.handler)) << Describe(route);
  }
}

TEST_F(TrackingRoutesTest, EveryPathIsUnderTheApiRoot) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_EQ(route.path.rfind(kApiRoot, 0), 0u) << Describe(route);
    EXPECT_GT(route.path.size(), kApiRoot.size()) << Describe(route);
  }
}

TEST_F(TrackingRoutesTest, EveryPathIsAlreadyCanonical) {
  for (const http::Route& route : table_.routes()) {
    auto canonical = http::Canonicalize(route.path, "");
    ASSERT_TRUE(canonical.has_value()) << Describe(route) << ": " << canonical.error().message;
    EXPECT_EQ(canonical->path, route.path);
    EXPECT_TRUE(canonical->query.empty()) << Describe(route);
  }
}

TEST_F(TrackingRoutesTest, EveryMountSpellingFindsTheSameRoute) {
  for (const http::Route& route : table_.routes()) {
    std::string below_api = route.path.substr(std::string_view("/api").size());  // "/2.0/mlflow/.."
    const http::Route* expected = table_.Find(route.method, route.path);
    ASSERT_EQ(expected, &route) << Describe(route);
    const std::vector<std::pair<std::string, std::string>> spellings = {
        {"/ajax-api" + below_api, ""},
        {"/mlflow/api" + below_api, ""},
        {"/mlflow/ajax-api" + below_api, ""},
        {"/api/mlflow/api" + below_api, ""},
        {"/api/mlflow/ajax-api" + below_api, ""},
        {"/reg/api" + below_api, "/reg"},
        {"/reg/ajax-api" + below_api, "/reg"},
        {route.path + "?x=1", ""},
    };
    for (const auto& [target, prefix] : spellings) {
      SCOPED_TRACE(target);
      auto canonical = http::Canonicalize(target, prefix);
      ASSERT_TRUE(canonical.has_value()) << canonical.error().message;
      EXPECT_EQ(table_.Find(route.method, canonical->path), &route) << Describe(route);
    }
  }
}

TEST_F(TrackingRoutesTest, RegisteringTwiceIsRefused) {
  auto again = RegisterTrackingRoutes(table_, *store_);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kInternalError);
}

TEST_F(TrackingRoutesTest, CoreEndpointsAreRegisteredWithTheirAccess) {
  struct Expected {
    Method method;
    const char* path;
    Operation operation;
  };
  const Expected expected[] = {
      {Method::kPost, "/api/2.0/mlflow/experiments/create", Operation::kWrite},
      {Method::kGet, "/api/2.0/mlflow/experiments/get", Operation::kRead},
      {Method::kGet, "/api/2.0/mlflow/experiments/get-by-name", Operation::kRead},
      {Method::kPost, "/api/2.0/mlflow/experiments/delete", Operation::kManage},
      {Method::kPost, "/api/2.0/mlflow/runs/create", Operation::kWrite},
      {Method::kGet, "/api/2.0/mlflow/runs/get", Operation::kRead},
      {Method::kPost, "/api/2.0/mlflow/runs/log-batch", Operation::kWrite},
      {Method::kPost, "/api/2.0/mlflow/runs/log-metric", Operation::kWrite},
      {Method::kPost, "/api/2.0/mlflow/runs/delete", Operation::kManage},
      {Method::kGet, "/api/2.0/mlflow/metrics/get-history", Operation::kRead},
  };
  for (const Expected& e : expected) {
    const http::Route* route = table_.Find(e.method, e.path);
    ASSERT_NE(route, nullptr) << e.path;
    EXPECT_EQ(route->access.operation, e.operation) << e.path;
  }
}

TEST_F(TrackingRoutesTest, HandlersUseTheGivenStore) {
  auto id = store_->CreateExperiment("routes-test-exp", "", {});
  ASSERT_TRUE(id.has_value()) << id.error().message;
  const http::Route* route = table_.Find(Method::kGet, "/api/2.0/mlflow/experiments/get");
  ASSERT_NE(route, nullptr);
  http::Request request;
  request.method = Method::kGet;
  request.canonical_path = route->path;
  request.query = {{"experiment_id", *id}};
  auto response = route->handler(request);
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find("routes-test-exp"), std::string::npos) << response->body;
}

}  // namespace
}  // namespace hokusai::mlflow_api
