// The logged-model and registry route table as the server builds it (every route declares its
// access; mutations are writes; registry routes act on models, logged-model routes on
// experiments), the source rules of security principle 4, and the handlers end to end over a
// real SQLite database.
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "http/canonical_path.hpp"
#include "http/router.hpp"
#include "mlflow_api/registry_api.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Method;
using http::Operation;
using http::Resource;
using SourceKind = store::ModelVersionSource::Kind;

constexpr std::string_view kApiRoot = "/api/2.0/mlflow/";

std::string Describe(const http::Route& route) {
  return std::string(http::MethodName(route.method)) + " " + route.path;
}

struct Declared {
  Method method;
  std::string path;  // below /api/2.0/mlflow
  Operation operation;
  Resource resource;
};

// The whole table, spelled out: adding, removing or re-declaring a route must change this list.
const std::vector<Declared>& ExpectedRoutes() {
  static const std::vector<Declared> routes = {
      {Method::kPost, "/logged-models", Operation::kWrite, Resource::kExperiment},
      {Method::kPost, "/logged-models/search", Operation::kRead, Resource::kExperiment},
      {Method::kGet, "/logged-models/{model_id}", Operation::kRead, Resource::kExperiment},
      {Method::kPatch, "/logged-models/{model_id}", Operation::kWrite, Resource::kExperiment},
      {Method::kDelete, "/logged-models/{model_id}", Operation::kManage, Resource::kExperiment},
      {Method::kPatch, "/logged-models/{model_id}/tags", Operation::kWrite,
       Resource::kExperiment},
      {Method::kDelete, "/logged-models/{model_id}/tags/{tag_key*}", Operation::kWrite,
       Resource::kExperiment},
      {Method::kPost, "/logged-models/{model_id}/params", Operation::kWrite,
       Resource::kExperiment},
      {Method::kPost, "/registered-models/create", Operation::kWrite, Resource::kModel},
      {Method::kGet, "/registered-models/get", Operation::kRead, Resource::kModel},
      {Method::kPost, "/registered-models/rename", Operation::kWrite, Resource::kModel},
      {Method::kPatch, "/registered-models/update", Operation::kWrite, Resource::kModel},
      {Method::kDelete, "/registered-models/delete", Operation::kManage, Resource::kModel},
      {Method::kGet, "/registered-models/search", Operation::kRead, Resource::kModel},
      {Method::kPost, "/registered-models/get-latest-versions", Operation::kRead,
       Resource::kModel},
      {Method::kGet, "/registered-models/get-latest-versions", Operation::kRead,
       Resource::kModel},
      {Method::kPost, "/registered-models/set-tag", Operation::kWrite, Resource::kModel},
      {Method::kDelete, "/registered-models/delete-tag", Operation::kWrite, Resource::kModel},
      {Method::kPost, "/registered-models/alias", Operation::kWrite, Resource::kModel},
      {Method::kDelete, "/registered-models/alias", Operation::kWrite, Resource::kModel},
      {Method::kGet, "/registered-models/alias", Operation::kRead, Resource::kModel},
      {Method::kPost, "/model-versions/create", Operation::kWrite, Resource::kModel},
      {Method::kGet, "/model-versions/get", Operation::kRead, Resource::kModel},
      {Method::kPatch, "/model-versions/update", Operation::kWrite, Resource::kModel},
      {Method::kDelete, "/model-versions/delete", Operation::kManage, Resource::kModel},
      {Method::kGet, "/model-versions/search", Operation::kRead, Resource::kModel},
      {Method::kPost, "/model-versions/transition-stage", Operation::kWrite, Resource::kModel},
      {Method::kGet, "/model-versions/get-download-uri", Operation::kRead, Resource::kModel},
      {Method::kPost, "/model-versions/set-tag", Operation::kWrite, Resource::kModel},
      {Method::kDelete, "/model-versions/delete-tag", Operation::kWrite, Resource::kModel},
  };
  return routes;
}

// POST routes that only read; every other POST, and every PATCH and DELETE, is a write.
const std::set<std::string> kReadOnlyPostRoutes = {
    "/api/2.0/mlflow/logged-models/search",
    "/api/2.0/mlflow/registered-models/get-latest-versions",
};

class RegistryRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-registry-routes-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = store::sql::OpenDatabase(
        store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<store::sql::SqlTrackingStore>(*pool);
    registry_ = std::make_unique<store::sql::SqlRegistryStore>(*pool);
    auto registered = RegisterRegistryRoutes(table_, *tracking_, *registry_);
    ASSERT_TRUE(registered.has_value()) << registered.error().message;
  }

  void TearDown() override {
    registry_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Calls the route for `method` and `path` (a concrete path below /api/2.0/mlflow) the way the
  // server does: canonical path, path parameters, JSON body or query string.
  Result<http::Response> Call(Method method, const std::string& path, std::string body = "",
                              http::QueryParams query = {}) {
    std::string full = "/api/2.0/mlflow" + path;
    http::PathParams params;
    const http::Route* route = table_.Find(method, full, nullptr, &params);
    EXPECT_NE(route, nullptr) << http::MethodName(method) << " " << full;
    if (route == nullptr) return Fail(ErrorCode::kInternalError, "no route");
    http::Request request;
    request.method = method;
    request.canonical_path = full;
    request.path_params = std::move(params);
    request.query = std::move(query);
    request.body = std::move(body);
    if (!request.body.empty()) request.content_type = "application/json";
    return route->handler(request);
  }

  // The body of a successful call.
  std::string Ok(Method method, const std::string& path, std::string body = "",
                 http::QueryParams query = {}) {
    auto response = Call(method, path, std::move(body), std::move(query));
    EXPECT_TRUE(response.has_value()) << path << ": " << (response ? "" : response.error().message);
    if (!response) return "";
    EXPECT_EQ(response->status, 200);
    return response->body;
  }

  Error Err(Method method, const std::string& path, std::string body = "",
            http::QueryParams query = {}) {
    auto response = Call(method, path, std::move(body), std::move(query));
    EXPECT_FALSE(response.has_value()) << path << " succeeded: "
                                       << (response ? response->body : "");
    return response ? Error{} : response.error();
  }

  // A run and a READY-able logged model in a new experiment.
  std::pair<std::string, std::string> RunAndLoggedModel() {
    auto experiment = tracking_->CreateExperiment("exp-" + NewHexId(), "", {});
    EXPECT_TRUE(experiment.has_value());
    store::CreateRunArgs run_args;
    run_args.experiment_id = *experiment;
    auto run = tracking_->CreateRun(run_args);
    EXPECT_TRUE(run.has_value());
    store::CreateLoggedModelArgs model_args;
    model_args.experiment_id = *experiment;
    model_args.name = "model";
    model_args.source_run_id = run->info.run_id;
    auto model = tracking_->CreateLoggedModel(model_args);
    EXPECT_TRUE(model.has_value());
    return {run->info.run_id, model->model_id};
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlTrackingStore> tracking_;
  std::unique_ptr<store::sql::SqlRegistryStore> registry_;
  http::RouteTable table_;
};

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// ---- declarations ---------------------------------------------------------------------------

TEST_F(RegistryRoutesTest, TheTableIsExactlyTheDeclaredRoutes) {
  std::set<std::tuple<Method, std::string, Operation, Resource>> expected;
  for (const Declared& d : ExpectedRoutes()) {
    expected.emplace(d.method, "/api/2.0/mlflow" + d.path, d.operation, d.resource);
  }
  std::set<std::tuple<Method, std::string, Operation, Resource>> actual;
  for (const http::Route& route : table_.routes()) {
    actual.emplace(route.method, route.path, route.access.operation, route.access.resource);
  }
  EXPECT_EQ(actual.size(), table_.routes().size()) << "duplicate declarations";
  EXPECT_EQ(actual, expected);
}

TEST_F(RegistryRoutesTest, EveryRouteDeclaresAnAuthenticatedOperation) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_TRUE(route.access.operation == Operation::kRead ||
                route.access.operation == Operation::kWrite ||
                route.access.operation == Operation::kManage)
        << Describe(route) << " declares " << http::OperationName(route.access.operation);
    EXPECT_TRUE(static_cast<bool>(route.target)) << Describe(route) << " has no target finder";
  }
}

TEST_F(RegistryRoutesTest, RegistryRoutesActOnModelsAndLoggedModelRoutesOnExperiments) {
  for (const http::Route& route : table_.routes()) {
    bool logged_model = route.path.rfind("/api/2.0/mlflow/logged-models", 0) == 0;
    EXPECT_EQ(route.access.resource, logged_model ? Resource::kExperiment : Resource::kModel)
        << Describe(route) << " declares " << http::ResourceName(route.access.resource);
  }
}

TEST_F(RegistryRoutesTest, MutationsAreWritesAndGetsAreReads) {
  for (const http::Route& route : table_.routes()) {
    if (route.method == Method::kGet) {
      EXPECT_EQ(route.access.operation, Operation::kRead) << Describe(route);
    } else if (route.method == Method::kPost && kReadOnlyPostRoutes.count(route.path) > 0) {
      EXPECT_EQ(route.access.operation, Operation::kRead) << Describe(route);
    } else if (route.method == Method::kDelete) {
      // Deleting a model, version or logged model needs MANAGE; deleting a tag or alias EDIT.
      EXPECT_TRUE(route.access.operation == Operation::kManage ||
                  route.access.operation == Operation::kWrite)
          << Describe(route);
    } else {
      EXPECT_EQ(route.access.operation, Operation::kWrite)
          << Describe(route) << " changes state but is declared "
          << http::OperationName(route.access.operation);
    }
  }
}

TEST_F(RegistryRoutesTest, EveryRouteRunsOnTheBlockingPoolWithAHandler) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_EQ(route.execution, http::Execution::kBlocking) << Describe(route);
    EXPECT_TRUE(static_cast<bool>(route.handler)) << Describe(route);
    EXPECT_EQ(route.body, http::BodyKind::kJson) << Describe(route);
  }
}

TEST_F(RegistryRoutesTest, EveryPathIsCanonicalAndUnderTheApiRoot) {
  for (const http::Route& route : table_.routes()) {
    EXPECT_EQ(route.path.rfind(kApiRoot, 0), 0u) << Describe(route);
    auto canonical = http::Canonicalize(route.path, "");
    ASSERT_TRUE(canonical.has_value()) << Describe(route) << ": " << canonical.error().message;
    EXPECT_EQ(canonical->path, route.path);
  }
}

TEST_F(RegistryRoutesTest, EveryMountSpellingFindsTheSameRoute) {
  const std::string id = "m-0123456789abcdef0123456789abcdef";
  for (const http::Route& route : table_.routes()) {
    std::string concrete = route.path;
    for (auto [param, value] : {std::pair<std::string, std::string>{"{model_id}", id},
                                {"{tag_key*}", "mlflow.model.isExternal"}}) {
      auto at = concrete.find(param);
      if (at != std::string::npos) concrete.replace(at, param.size(), value);
    }
    std::string below_api = concrete.substr(std::string_view("/api").size());
    for (const auto& [target, prefix] : std::vector<std::pair<std::string, std::string>>{
             {concrete, ""},
             {"/ajax-api" + below_api, ""},
             {"/mlflow/api" + below_api, ""},
             {"/api/mlflow/ajax-api" + below_api, ""},
             {"/reg/api" + below_api, "/reg"}}) {
      auto canonical = http::Canonicalize(target, prefix);
      ASSERT_TRUE(canonical.has_value()) << target << ": " << canonical.error().message;
      EXPECT_EQ(table_.Find(route.method, canonical->path), &route) << target;
    }
  }
}

TEST_F(RegistryRoutesTest, LiteralSearchIsNotCapturedByTheModelIdPattern) {
  const http::Route* search = table_.Find(Method::kPost, "/api/2.0/mlflow/logged-models/search");
  ASSERT_NE(search, nullptr);
  EXPECT_EQ(search->path, "/api/2.0/mlflow/logged-models/search");
  // Another method on the literal path is 405, not the model route: no model is named "search".
  bool path_known = false;
  EXPECT_EQ(table_.Find(Method::kGet, "/api/2.0/mlflow/logged-models/search", &path_known),
            nullptr);
  EXPECT_TRUE(path_known);
}

TEST_F(RegistryRoutesTest, TagKeysWithSlashesReachTheDeleteTagRoute) {
  http::PathParams params;
  const http::Route* route = table_.Find(
      Method::kDelete, "/api/2.0/mlflow/logged-models/m-1/tags/a/b.c", nullptr, &params);
  ASSERT_NE(route, nullptr);
  http::Request request;
  request.path_params = params;
  EXPECT_EQ(request.PathParam("model_id"), "m-1");
  EXPECT_EQ(request.PathParam("tag_key"), "a/b.c");
}

TEST_F(RegistryRoutesTest, RegisteringTwiceIsRefused) {
  auto again = RegisterRegistryRoutes(table_, *tracking_, *registry_);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::kInternalError);
}

// ---- source rules (security principle 4) -----------------------------------------------------

TEST(ModelVersionSourceTest, AcceptsTheLocationsThisServerIssues) {
  const std::string run = "0123456789abcdef0123456789abcdef";
  const std::string model = "m-0123456789abcdef0123456789abcdef";
  auto logged = ParseModelVersionSource("models:/" + model, false);
  ASSERT_TRUE(logged.has_value()) << logged.error().message;
  EXPECT_EQ(logged->kind, SourceKind::kLoggedModel);
  EXPECT_EQ(logged->model_id, model);

  auto version = ParseModelVersionSource("models:/my/model/12", false);
  ASSERT_TRUE(version.has_value()) << version.error().message;
  EXPECT_EQ(version->kind, SourceKind::kModelVersion);
  EXPECT_EQ(version->name, "my/model");
  EXPECT_EQ(version->version, "12");

  auto runs = ParseModelVersionSource("runs:/" + run + "/model/sub", false);
  ASSERT_TRUE(runs.has_value()) << runs.error().message;
  EXPECT_EQ(runs->kind, SourceKind::kRun);
  EXPECT_EQ(runs->run_id, run);
  EXPECT_EQ(runs->path, "model/sub");

  auto run_root = ParseModelVersionSource("runs:/" + run, false);
  ASSERT_TRUE(run_root.has_value()) << run_root.error().message;
  EXPECT_EQ(run_root->path, "");

  auto artifacts =
      ParseModelVersionSource("mlflow-artifacts:/3/" + run + "/artifacts/model/", false);
  ASSERT_TRUE(artifacts.has_value()) << artifacts.error().message;
  EXPECT_EQ(artifacts->kind, SourceKind::kRunArtifacts);
  EXPECT_EQ(artifacts->experiment_id, "3");
  EXPECT_EQ(artifacts->run_id, run);
  EXPECT_EQ(artifacts->path, "model");

  auto model_artifacts =
      ParseModelVersionSource("mlflow-artifacts:/3/models/" + model + "/artifacts", false);
  ASSERT_TRUE(model_artifacts.has_value()) << model_artifacts.error().message;
  EXPECT_EQ(model_artifacts->kind, SourceKind::kModelArtifacts);
  EXPECT_EQ(model_artifacts->model_id, model);
  EXPECT_EQ(model_artifacts->path, "");
}

TEST(ModelVersionSourceTest, RefusesEverythingElse) {
  const std::string run = "0123456789abcdef0123456789abcdef";
  const std::vector<std::string> refused = {
      "",
      "/etc/passwd",
      "model",
      "./model",
      "file:///etc/passwd",
      "file:/tmp/model",
      "s3://bucket/model",
      "gs://bucket/model",
      "hdfs://nn/model",
      "ftp://host/model",
      "http://evil.example/model",
      "https://h/api/2.0/mlflow-artifacts/artifacts/1/" + run + "/artifacts/model",
      "mlflow-artifacts://host:5000/1/" + run + "/artifacts/model",
      "mlflow-artifacts:/1/" + run + "/artifacts/../../../etc",
      "mlflow-artifacts:/1/" + run + "/artifacts/./model",
      "mlflow-artifacts:/1/" + run + "/artifacts//model",
      "mlflow-artifacts:/1/" + run + "/model",
      "mlflow-artifacts:/x/" + run + "/artifacts/model",
      "mlflow-artifacts:/1/models/not-an-id/artifacts",
      "mlflow-artifacts:/1",
      "runs:/" + run + "/../other",
      "runs:/" + run + "/a/../../b",
      "runs://" + run + "/model",
      "runs:/" + run + "//model",
      "runs:/" + run + "/model%2F..",
      "runs:/" + run + "/mo\\del",
      std::string("runs:/") + run + "/mo" + std::string(1, '\0') + "del",
      "runs:/" + run + "/model?x=1",
      "runs:/bad$id/model",
      "models:/",
      "models:/name",
      "models:/name/latest",
      "models:/name@champion",
      "models://host/name/1",
      "models:/m-0123456789ABCDEF0123456789ABCDEF",
      "prompt-template",  // only for prompt versions
      "C:\\models\\x",
      std::string(5000, 'a'),
  };
  for (const std::string& source : refused) {
    auto parsed = ParseModelVersionSource(source, false);
    EXPECT_FALSE(parsed.has_value()) << "accepted: " << source;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidParameterValue) << source;
    }
  }
}

TEST(ModelVersionSourceTest, MessagesNameTheProblem) {
  auto http = ParseModelVersionSource("https://h/x", false);
  ASSERT_FALSE(http.has_value());
  EXPECT_TRUE(Contains(http.error().message, "cannot verify")) << http.error().message;
  auto file = ParseModelVersionSource("file:///x", false);
  EXPECT_TRUE(Contains(file.error().message, "'file' scheme")) << file.error().message;
  auto local = ParseModelVersionSource("/x", false);
  EXPECT_TRUE(Contains(local.error().message, "local paths")) << local.error().message;
  auto dots = ParseModelVersionSource("runs:/abc/../x", false);
  EXPECT_TRUE(Contains(dots.error().message, "'..'")) << dots.error().message;
}

TEST(ModelVersionSourceTest, PromptVersionsMayUseThePlaceholderSources) {
  for (std::string_view placeholder : {"prompt-template", "dummy-source"}) {
    auto parsed = ParseModelVersionSource(placeholder, true);
    ASSERT_TRUE(parsed.has_value()) << placeholder << ": " << parsed.error().message;
    EXPECT_EQ(parsed->kind, SourceKind::kPromptTemplate);
  }
  EXPECT_FALSE(ParseModelVersionSource("/etc/passwd", true).has_value());
  EXPECT_FALSE(ParseModelVersionSource("file:///etc/passwd", true).has_value());
}

TEST(RegistryValidationTest, AliasNames) {
  for (std::string_view ok : {"champion", "a-b_c", "v1x", "V", "latest2", "x1"}) {
    EXPECT_TRUE(ValidateAliasName(ok).has_value()) << ok;
    EXPECT_TRUE(ValidateAliasNotReserved(ok).has_value()) << ok;
  }
  for (std::string_view bad : {"", "a b", "a.b", "a/b", "é"}) {
    EXPECT_FALSE(ValidateAliasName(bad).has_value()) << bad;
  }
  EXPECT_FALSE(ValidateAliasName(std::string(256, 'a')).has_value());
  EXPECT_TRUE(ValidateAliasName(std::string(255, 'a')).has_value());
  for (std::string_view reserved : {"latest", "LATEST", "Latest", "v1", "V22", "v0"}) {
    EXPECT_FALSE(ValidateAliasNotReserved(reserved).has_value()) << reserved;
  }
}

TEST(RegistryValidationTest, TagAndNameLimits) {
  EXPECT_TRUE(ValidateRegistryTag({std::string(250, 'k'), std::string(5000, 'v')}).has_value());
  EXPECT_FALSE(ValidateRegistryTag({std::string(251, 'k'), "v"}).has_value());
  EXPECT_FALSE(ValidateRegistryTag({"k", std::string(5001, 'v')}).has_value());
  EXPECT_FALSE(ValidateRegistryTag({"", "v"}).has_value());
  EXPECT_FALSE(ValidateRegistryTag({"../x", "v"}).has_value());
  EXPECT_FALSE(ValidateModelName("", "name").has_value());
  EXPECT_TRUE(ValidateModelName("any name / with: chars", "name").has_value());
  EXPECT_FALSE(ValidateModelName(std::string(257, 'n'), "name").has_value());
}

// ---- handlers -------------------------------------------------------------------------------

TEST_F(RegistryRoutesTest, CreatingARegisteredModelTwiceIsResourceAlreadyExists) {
  std::string body = Ok(Method::kPost, "/registered-models/create",
                        R"({"name": "m", "tags": [{"key": "k", "value": "v"}]})");
  EXPECT_TRUE(Contains(body, R"("registered_model":{"name":"m")")) << body;
  Error dup = Err(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  EXPECT_EQ(dup.code, ErrorCode::kResourceAlreadyExists);
  EXPECT_EQ(dup.message, "Registered Model (name=m) already exists.");
  EXPECT_EQ(Err(Method::kPost, "/registered-models/create", "{}").code,
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryRoutesTest, AModelVersionAlwaysCarriesStatusStageAndAStringVersion) {
  auto [run_id, model_id] = RunAndLoggedModel();
  Ok(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  std::string body = Ok(Method::kPost, "/model-versions/create",
                        R"({"name": "m", "source": "models:/)" + model_id + R"(", "model_id": ")" +
                            model_id + R"("})");
  for (std::string_view field :
       {R"("version":"1")", R"("status":"READY")", R"("current_stage":"None")",
        R"("run_id":")", R"("source":"models:/)", R"("aliases":[])", R"("tags":[])",
        R"("creation_timestamp":)", R"("last_updated_timestamp":)", R"("model_id":")",
        R"("run_link":"")", R"("description":"")", R"("user_id":"")"}) {
    EXPECT_TRUE(Contains(body, field)) << field << " missing from " << body;
  }
  EXPECT_TRUE(Contains(body, run_id)) << body;
}

TEST_F(RegistryRoutesTest, CreateModelVersionRefusesForeignSources) {
  Ok(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  for (std::string_view source : {"file:///etc/passwd", "/etc", "s3://b/k", "https://h/x"}) {
    Error error = Err(Method::kPost, "/model-versions/create",
                      R"({"name": "m", "source": ")" + std::string(source) + R"("})");
    EXPECT_EQ(error.code, ErrorCode::kInvalidParameterValue) << source;
  }
  Error missing_model = Err(Method::kPost, "/model-versions/create",
                            R"({"name": "nope", "source": "runs:/abc/model"})");
  EXPECT_EQ(missing_model.code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(RegistryRoutesTest, SearchWithTheClientsPromptClauseReturnsModels) {
  Ok(Method::kPost, "/registered-models/create", R"({"name": "a"})");
  Ok(Method::kPost, "/registered-models/create",
     R"({"name": "p", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})");
  std::string body = Ok(Method::kGet, "/registered-models/search", "",
                        {{"filter", "tags.`mlflow.prompt.is_prompt` != 'true'"},
                         {"max_results", "100"}});
  EXPECT_TRUE(Contains(body, R"("name":"a")")) << body;
  EXPECT_FALSE(Contains(body, R"("name":"p")")) << body;
  EXPECT_EQ(Err(Method::kGet, "/registered-models/search", "", {{"max_results", "1001"}}).code,
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryRoutesTest, SearchPagesWithTokens) {
  for (std::string name : {"a", "b", "c"}) {
    Ok(Method::kPost, "/registered-models/create", R"({"name": ")" + name + R"("})");
  }
  std::string first = Ok(Method::kGet, "/registered-models/search", "", {{"max_results", "2"}});
  auto at = first.find(R"("next_page_token":")");
  ASSERT_NE(at, std::string::npos) << first;
  std::string token = first.substr(at + 19, first.find('"', at + 19) - at - 19);
  std::string second = Ok(Method::kGet, "/registered-models/search", "",
                          {{"max_results", "2"}, {"page_token", token}});
  EXPECT_TRUE(Contains(second, R"("name":"c")")) << second;
  EXPECT_FALSE(Contains(second, "next_page_token")) << second;
}

TEST_F(RegistryRoutesTest, GetLatestVersionsMatchesStagesCaseInsensitively) {
  Ok(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  auto [run_id, model_id] = RunAndLoggedModel();
  Ok(Method::kPost, "/model-versions/create",
     R"({"name": "m", "source": "runs:/)" + run_id + R"(/model"})");
  Ok(Method::kPost, "/model-versions/transition-stage",
     R"({"name": "m", "version": "1", "stage": "production", "archive_existing_versions": true})");
  std::string post = Ok(Method::kPost, "/registered-models/get-latest-versions",
                        R"({"name": "m", "stages": ["PRODUCTION"]})");
  EXPECT_TRUE(Contains(post, R"("current_stage":"Production")")) << post;
  std::string get = Ok(Method::kGet, "/registered-models/get-latest-versions", "",
                       {{"name", "m"}, {"stages", "staging"}, {"stages", "Production"}});
  EXPECT_TRUE(Contains(get, R"("version":"1")")) << get;
  EXPECT_EQ(Err(Method::kPost, "/registered-models/get-latest-versions",
                R"({"name": "m", "stages": ["Prod"]})")
                .code,
            ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(Err(Method::kPost, "/model-versions/transition-stage",
                R"({"name": "m", "version": "1", "stage": "None",
                    "archive_existing_versions": true})")
                .code,
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryRoutesTest, AliasesThroughTheApi) {
  Ok(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  auto [run_id, model_id] = RunAndLoggedModel();
  Ok(Method::kPost, "/model-versions/create",
     R"({"name": "m", "source": "runs:/)" + run_id + R"(/model"})");
  Ok(Method::kPost, "/registered-models/alias",
     R"({"name": "m", "alias": "champion", "version": "1"})");
  std::string got = Ok(Method::kGet, "/registered-models/alias", "",
                       {{"name", "m"}, {"alias", "champion"}});
  EXPECT_TRUE(Contains(got, R"("aliases":["champion"])")) << got;
  for (std::string_view bad : {"latest", "v1", "bad alias"}) {
    EXPECT_EQ(Err(Method::kPost, "/registered-models/alias",
                  R"({"name": "m", "alias": ")" + std::string(bad) + R"(", "version": "1"})")
                  .code,
              ErrorCode::kInvalidParameterValue)
        << bad;
  }
  // DELETE reads its JSON body, and falls back to the query string.
  Ok(Method::kDelete, "/registered-models/alias", R"({"name": "m", "alias": "champion"})");
  Error gone = Err(Method::kGet, "/registered-models/alias", "",
                   {{"name", "m"}, {"alias", "champion"}});
  EXPECT_EQ(gone.code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(gone.message, "Registered model alias champion not found.");
  Ok(Method::kPost, "/registered-models/alias",
     R"({"name": "m", "alias": "again", "version": "1"})");
  Ok(Method::kDelete, "/registered-models/alias", "", {{"name", "m"}, {"alias", "again"}});
  EXPECT_EQ(Err(Method::kGet, "/registered-models/alias", "", {{"name", "m"}, {"alias", "again"}})
                .code,
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryRoutesTest, DownloadUriIsTheServerResolvedLocation) {
  auto [run_id, model_id] = RunAndLoggedModel();
  Ok(Method::kPost, "/registered-models/create", R"({"name": "m"})");
  Ok(Method::kPost, "/model-versions/create",
     R"({"name": "m", "source": "models:/)" + model_id + R"("})");
  std::string body = Ok(Method::kGet, "/model-versions/get-download-uri", "",
                        {{"name", "m"}, {"version", "1"}});
  EXPECT_TRUE(Contains(body, R"({"artifact_uri":"mlflow-artifacts:/)")) << body;
  EXPECT_TRUE(Contains(body, "/models/" + model_id + "/artifacts\"")) << body;
}

TEST_F(RegistryRoutesTest, LoggedModelLifecycleThroughTheApi) {
  auto experiment = tracking_->CreateExperiment("lm", "", {});
  ASSERT_TRUE(experiment.has_value());
  std::string created = Ok(Method::kPost, "/logged-models",
                           R"({"experiment_id": ")" + *experiment +
                               R"(", "name": "model", "params": [{"key": "a", "value": "1"}],
                                "tags": [{"key": "mlflow.model.isExternal", "value": "true"}]})");
  EXPECT_TRUE(Contains(created, R"("status":"LOGGED_MODEL_PENDING")")) << created;
  auto at = created.find(R"("model_id":")");
  ASSERT_NE(at, std::string::npos);
  std::string id = created.substr(at + 12, 34);
  EXPECT_TRUE(Contains(created, "mlflow-artifacts:/" + *experiment + "/models/" + id +
                                    "/artifacts"))
      << created;

  Ok(Method::kDelete, "/logged-models/" + id + "/tags/mlflow.model.isExternal");
  EXPECT_EQ(Err(Method::kDelete, "/logged-models/" + id + "/tags/mlflow.model.isExternal").code,
            ErrorCode::kResourceDoesNotExist);
  std::string tagged = Ok(Method::kPatch, "/logged-models/" + id + "/tags",
                          R"({"tags": [{"key": "x", "value": "y"}]})");
  EXPECT_TRUE(Contains(tagged, R"({"key":"x","value":"y"})")) << tagged;
  Ok(Method::kPost, "/logged-models/" + id + "/params",
     R"({"model_id": ")" + id + R"(", "params": [{"key": "b", "value": "2"}]})");
  std::string ready = Ok(Method::kPatch, "/logged-models/" + id,
                         R"({"model_id": ")" + id + R"(", "status": "LOGGED_MODEL_READY"})");
  EXPECT_TRUE(Contains(ready, R"("status":"LOGGED_MODEL_READY")")) << ready;
  std::string numeric = Ok(Method::kPatch, "/logged-models/" + id,
                           R"({"model_id": ")" + id + R"(", "status": 3})");
  EXPECT_TRUE(Contains(numeric, R"("status":"LOGGED_MODEL_UPLOAD_FAILED")")) << numeric;

  std::string got = Ok(Method::kGet, "/logged-models/" + id);
  EXPECT_TRUE(Contains(got, R"({"key":"b","value":"2"})")) << got;
  Ok(Method::kDelete, "/logged-models/" + id, R"({"model_id": ")" + id + R"("})");
  EXPECT_EQ(Err(Method::kGet, "/logged-models/" + id).code, ErrorCode::kResourceDoesNotExist);
  std::string deleted = Ok(Method::kGet, "/logged-models/" + id, "", {{"allow_deleted", "true"}});
  EXPECT_TRUE(Contains(deleted, id)) << deleted;
}

TEST_F(RegistryRoutesTest, TheBodyCannotNameAnotherLoggedModelThanThePath) {
  auto [run_id, model_id] = RunAndLoggedModel();
  auto [other_run, other_model] = RunAndLoggedModel();
  Error error = Err(Method::kPatch, "/logged-models/" + model_id,
                    R"({"model_id": ")" + other_model + R"(", "status": "LOGGED_MODEL_READY"})");
  EXPECT_EQ(error.code, ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(Contains(Ok(Method::kGet, "/logged-models/" + other_model),
                       "LOGGED_MODEL_PENDING"));
}

TEST_F(RegistryRoutesTest, LoggedModelNamesAreValidated) {
  auto experiment = tracking_->CreateExperiment("names", "", {});
  ASSERT_TRUE(experiment.has_value());
  for (std::string_view bad : {"a/b", "a:b", "a.b", "a%b"}) {
    EXPECT_EQ(Err(Method::kPost, "/logged-models",
                  R"({"experiment_id": ")" + *experiment + R"(", "name": ")" + std::string(bad) +
                      R"("})")
                  .code,
              ErrorCode::kInvalidParameterValue)
        << bad;
  }
}

TEST_F(RegistryRoutesTest, LoggedModelSearchTokensAreBoundToTheirSearch) {
  auto experiment = tracking_->CreateExperiment("paged", "", {});
  ASSERT_TRUE(experiment.has_value());
  for (int i = 0; i < 3; ++i) {
    Ok(Method::kPost, "/logged-models",
       R"({"experiment_id": ")" + *experiment + R"(", "name": "m)" + std::to_string(i) + R"("})");
  }
  std::string search = R"({"experiment_ids": [")" + *experiment +
                       R"("], "max_results": 2, "order_by": [{"field_name": "name"}])";
  std::string first = Ok(Method::kPost, "/logged-models/search", search + "}");
  auto at = first.find(R"("next_page_token":")");
  ASSERT_NE(at, std::string::npos) << first;
  std::string token = first.substr(at + 19, first.find('"', at + 19) - at - 19);
  std::string second =
      Ok(Method::kPost, "/logged-models/search", search + R"(, "page_token": ")" + token + "\"}");
  EXPECT_TRUE(Contains(second, R"("name":"m2")")) << second;
  EXPECT_FALSE(Contains(second, "next_page_token")) << second;
  // The same token with another filter is refused.
  Error reused = Err(Method::kPost, "/logged-models/search",
                     search + R"(, "filter": "name = 'm1'", "page_token": ")" + token + "\"}");
  EXPECT_EQ(reused.code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(Err(Method::kPost, "/logged-models/search", "{}").code,
            ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(Err(Method::kPost, "/logged-models/search",
                R"({"experiment_ids": ["1"], "order_by": [{"field_name": "params.x"}]})")
                .code,
            ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(Err(Method::kPost, "/logged-models/search",
                R"({"experiment_ids": ["1"], "datasets": [{"dataset_digest": "d"}]})")
                .code,
            ErrorCode::kInvalidParameterValue);
}

TEST_F(RegistryRoutesTest, RenameAndDeleteThroughTheApi) {
  Ok(Method::kPost, "/registered-models/create", R"({"name": "old"})");
  std::string renamed =
      Ok(Method::kPost, "/registered-models/rename", R"({"name": "old", "new_name": "new"})");
  EXPECT_TRUE(Contains(renamed, R"("name":"new")")) << renamed;
  EXPECT_EQ(Err(Method::kPost, "/registered-models/rename", R"({"name": "new", "new_name": ""})")
                .code,
            ErrorCode::kInvalidParameterValue);
  std::string updated = Ok(Method::kPatch, "/registered-models/update",
                           R"({"name": "new", "description": "words"})");
  EXPECT_TRUE(Contains(updated, R"("description":"words")")) << updated;
  Ok(Method::kDelete, "/registered-models/delete", R"({"name": "new"})");
  EXPECT_EQ(Err(Method::kGet, "/registered-models/get", "", {{"name", "new"}}).code,
            ErrorCode::kResourceDoesNotExist);
}

}  // namespace
}  // namespace hokusai::mlflow_api
