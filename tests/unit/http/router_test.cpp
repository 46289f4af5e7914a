#include "http/router.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::http {
namespace {

// A route whose handler answers with `tag`, so tests can tell routes apart by calling them.
Route MakeRoute(Method method, std::string path, std::string tag,
                Operation operation = Operation::kRead) {
  Route route{method, std::move(path), Access{operation, Resource::kExperiment},
              Execution::kBlocking,
              [tag](const Request&) -> Result<Response> { return Response::Text(tag); }};
  route.target = [](const Request&) -> Result<Target> { return Target{}; };
  return route;
}

std::string Call(const Route* route) {
  if (route == nullptr) return "<no route>";
  auto response = route->handler(Request{});
  return response ? response->body : "<error>";
}

TEST(RouteTableTest, AddRejectsDuplicateMethodAndPath) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "first")).has_value());
  auto duplicate = table.Add(MakeRoute(Method::kGet, "/a", "second"));
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().code, ErrorCode::kInternalError);
  EXPECT_NE(duplicate.error().message.find("/a"), std::string::npos);
}

TEST(RouteTableTest, RejectedDuplicateLeavesTheTableUnchanged) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "first")).has_value());
  ASSERT_FALSE(table.Add(MakeRoute(Method::kGet, "/a", "second", Operation::kWrite)).has_value());
  EXPECT_EQ(table.routes().size(), 1u);
  const Route* route = table.Find(Method::kGet, "/a");
  EXPECT_EQ(Call(route), "first");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->access.operation, Operation::kRead);
}

TEST(RouteTableTest, AddAcceptsTheSamePathWithDifferentMethods) {
  RouteTable table;
  EXPECT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "get")).has_value());
  EXPECT_TRUE(table.Add(MakeRoute(Method::kPost, "/a", "post")).has_value());
  EXPECT_TRUE(table.Add(MakeRoute(Method::kDelete, "/a", "delete")).has_value());
  EXPECT_EQ(table.routes().size(), 3u);
}

TEST(RouteTableTest, FindMatchesMethodAndPath) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "get a")).has_value());
  ASSERT_TRUE(table.Add(MakeRoute(Method::kPost, "/a", "post a")).has_value());
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/b", "get b")).has_value());
  EXPECT_EQ(Call(table.Find(Method::kGet, "/a")), "get a");
  EXPECT_EQ(Call(table.Find(Method::kPost, "/a")), "post a");
  EXPECT_EQ(Call(table.Find(Method::kGet, "/b")), "get b");
}

TEST(RouteTableTest, FindReturnsTheRegisteredRouteObject) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "get a", Operation::kAdmin)).has_value());
  const Route* route = table.Find(Method::kGet, "/a");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route, &table.routes().front());
  EXPECT_EQ(route->path, "/a");
  EXPECT_EQ(route->method, Method::kGet);
  EXPECT_EQ(route->access.operation, Operation::kAdmin);
}

TEST(RouteTableTest, KnownPathWithOtherMethodSetsPathKnown) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kPost, "/a", "post a")).has_value());
  bool path_known = false;
  EXPECT_EQ(table.Find(Method::kGet, "/a", &path_known), nullptr);
  EXPECT_TRUE(path_known);
}

TEST(RouteTableTest, MatchSetsPathKnown) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kPost, "/a", "post a")).has_value());
  bool path_known = false;
  EXPECT_NE(table.Find(Method::kPost, "/a", &path_known), nullptr);
  EXPECT_TRUE(path_known);
}

TEST(RouteTableTest, UnknownPathReturnsNullAndClearsPathKnown) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "get a")).has_value());
  bool path_known = true;
  EXPECT_EQ(table.Find(Method::kGet, "/nope", &path_known), nullptr);
  EXPECT_FALSE(path_known);
}

TEST(RouteTableTest, FindMatchesPathsExactly) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/api/x", "x")).has_value());
  for (const char* near : {"/api/x/", "/api/X", "/api", "/api/xy", "api/x", "/api/x/y", ""}) {
    bool path_known = true;
    EXPECT_EQ(table.Find(Method::kGet, near, &path_known), nullptr) << near;
    EXPECT_FALSE(path_known) << near;
  }
}

TEST(RouteTableTest, FindOnEmptyTableReturnsNull) {
  RouteTable table;
  bool path_known = true;
  EXPECT_EQ(table.Find(Method::kGet, "/", &path_known), nullptr);
  EXPECT_FALSE(path_known);
  EXPECT_EQ(table.Find(Method::kGet, "/"), nullptr);  // path_known is optional
}

TEST(RouteTableTest, RoutesKeepRegistrationOrder) {
  RouteTable table;
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/b", "1")).has_value());
  ASSERT_TRUE(table.Add(MakeRoute(Method::kGet, "/a", "2")).has_value());
  ASSERT_TRUE(table.Add(MakeRoute(Method::kPost, "/b", "3")).has_value());
  ASSERT_EQ(table.routes().size(), 3u);
  EXPECT_EQ(table.routes()[0].path, "/b");
  EXPECT_EQ(table.routes()[1].path, "/a");
  EXPECT_EQ(table.routes()[2].method, Method::kPost);
}

TEST(RouterNamesTest, NamesOperationsAndResources) {
  EXPECT_EQ(OperationName(Operation::kPublic), "public");
  EXPECT_EQ(OperationName(Operation::kRead), "read");
  EXPECT_EQ(OperationName(Operation::kWrite), "write");
  EXPECT_EQ(OperationName(Operation::kManage), "manage");
  EXPECT_EQ(OperationName(Operation::kAuthenticated), "authenticated");
  EXPECT_EQ(OperationName(Operation::kAdmin), "admin");
  EXPECT_EQ(ResourceName(Resource::kNone), "none");
  EXPECT_EQ(ResourceName(Resource::kExperiment), "experiment");
  EXPECT_EQ(ResourceName(Resource::kModel), "model");
  EXPECT_EQ(MethodName(Method::kGet), "GET");
  EXPECT_EQ(MethodName(Method::kPost), "POST");
  EXPECT_EQ(MethodName(Method::kDelete), "DELETE");
}

TEST(RequestTest, HeaderFindsLowerCaseNames) {
  Request request;
  request.headers = {{"content-type", "application/json"}, {"x-a", "1"}};
  EXPECT_EQ(request.Header("x-a"), std::optional<std::string_view>("1"));
  EXPECT_FALSE(request.Header("x-b").has_value());
}

TEST(RouteTableTest, ARouteOnAResourceCannotBeAddedWithoutItsTargetFinder) {
  RouteTable table;
  for (Operation op : {Operation::kRead, Operation::kWrite, Operation::kManage}) {
    Route route = MakeRoute(Method::kGet, "/a", "a", op);
    route.target = nullptr;
    EXPECT_FALSE(table.Add(std::move(route)).has_value()) << OperationName(op);
  }
  EXPECT_TRUE(table.routes().empty());
}

TEST(RouteTableTest, APublicRouteCannotTouchAResource) {
  RouteTable table;
  EXPECT_FALSE(table.Add(MakeRoute(Method::kGet, "/a", "a", Operation::kPublic)).has_value());
}

}  // namespace
}  // namespace hokusai::http
