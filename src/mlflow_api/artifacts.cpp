#include <fmt/format.h>

#include "common/limits.hpp"
#include "json/writer.hpp"
#include "mlflow_api/artifacts_api.hpp"
#include "mlflow_api/handlers.hpp"
#include "mlflow_api/request_args.hpp"
#include "mlflow_api/targets.hpp"

namespace hokusai::mlflow_api {
namespace {

using artifacts::ArtifactRepository;
using artifacts::FileInfo;
using artifacts::JoinArtifactPath;
using artifacts::ValidateArtifactPath;
using http::Access;
using http::Execution;
using http::Method;
using http::Operation;
using http::Resource;

constexpr std::string_view kSchemePrefix = "mlflow-artifacts:/";

// The repository path of an artifact URI this server issued ("mlflow-artifacts:/<path>").
Result<std::string> RepositoryPathOf(std::string_view uri) {
  if (uri.substr(0, kSchemePrefix.size()) != kSchemePrefix ||
      uri.substr(kSchemePrefix.size(), 1) == "/") {
    return Fail(ErrorCode::kInvalidParameterValue,
                fmt::format("Artifact location '{}' is not served by this server", uri));
  }
  std::string path(uri.substr(kSchemePrefix.size()));
  HK_CHECK(ValidateArtifactPath(path));
  return path;
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Error OutsideRoots() {
  return Error{ErrorCode::kPermissionDenied,
               "Artifact path is outside every run and logged-model artifact root"};
}

}  // namespace

// Security principles 4 and 5: a repository path must lie inside the artifact root of a run or
// logged model that exists, and the experiment in the path must be that resource's experiment
// (looked up server-side, never taken from the path alone). Returns that experiment.
Result<std::string> CheckArtifactPath(std::string_view path, const ArtifactOwnerLookup& run,
                                      const ArtifactOwnerLookup& logged_model) {
  std::vector<std::string_view> s = Segments(path);
  auto check = [&](const ArtifactOwnerLookup& lookup, std::string_view id,
                   std::string root) -> Result<std::string> {
    auto owner = lookup(std::string(id));
    if (!owner) {
      if (owner.error().code == ErrorCode::kResourceDoesNotExist) {
        return tl::unexpected(OutsideRoots());
      }
      return tl::unexpected(owner.error());
    }
    auto issued = RepositoryPathOf(owner->artifact_uri);
    if (owner->experiment_id != s[0] || !issued || *issued != root) {
      return tl::unexpected(OutsideRoots());
    }
    return owner->experiment_id;
  };
  if (s.size() >= 3 && s[2] == "artifacts") {
    return check(run, s[1], fmt::format("{}/{}/artifacts", s[0], s[1]));
  }
  if (s.size() >= 4 && s[1] == "models" && s[3] == "artifacts") {
    return check(logged_model, s[2], fmt::format("{}/models/{}/artifacts", s[0], s[2]));
  }
  return tl::unexpected(OutsideRoots());
}

Result<std::string> ExperimentOfArtifactPath(store::TrackingStore& tracking,
                                             std::string_view path) {
  return CheckArtifactPath(
      path,
      [&tracking](const std::string& run_id) -> Result<ArtifactOwner> {
        HK_TRY(info, tracking.GetRunInfo(run_id));
        return ArtifactOwner{info.experiment_id, info.artifact_uri};
      },
      [&tracking](const std::string& model_id) -> Result<ArtifactOwner> {
        HK_TRY(model, tracking.GetLoggedModel(model_id));
        return ArtifactOwner{model.experiment_id, model.artifact_uri};
      });
}

namespace {

// Browsers are clients too: only inert types are named; everything else is a download.
std::string_view ContentTypeFor(std::string_view name) {
  std::size_t dot = name.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "gif") return "image/gif";
  if (ext == "txt" || ext == "log" || ext == "csv" || ext == "yaml" || ext == "yml" ||
      ext == "md" || name == "MLmodel") {
    return "text/plain; charset=utf-8";
  }
  return "application/octet-stream";
}

Result<Response> FileResponse(ArtifactRepository& repository, const std::string& path) {
  HK_TRY(source, repository.OpenReader(path));
  std::string_view name = path;
  if (std::size_t slash = name.rfind('/'); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  Response response;
  response.content_type = std::string(ContentTypeFor(name));
  response.stream = std::move(source);
  std::string safe_name;
  for (char c : name) safe_name.push_back(c == '"' || static_cast<unsigned char>(c) < 0x20 ? '_' : c);
  response.headers.emplace_back("Content-Disposition",
                                fmt::format("attachment; filename=\"{}\"", safe_name));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

// {"files": [...]} with paths prefixed by `prefix` ("" for basenames). Empty listings are {}.
Response ListingResponse(const std::vector<FileInfo>& files, std::string_view prefix,
                         const std::string* root_uri) {
  json::Writer w;
  w.BeginObject();
  if (root_uri != nullptr) w.Field("root_uri", *root_uri);
  if (!files.empty()) {
    w.Key("files").BeginArray();
    for (const FileInfo& f : files) {
      w.BeginObject().Field("path", JoinArtifactPath(prefix, f.name)).Field("is_dir", f.is_dir);
      if (!f.is_dir) w.Field("file_size", f.file_size);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return Response::Json(w.Take());
}

// Upload of one mlflow-artifacts file: bytes go to a hidden file, visible only after Finish().
class ArtifactUpload final : public http::UploadHandler {
 public:
  explicit ArtifactUpload(std::unique_ptr<artifacts::ArtifactWriter> writer)
      : writer_(std::move(writer)) {}
  Result<void> Write(std::string_view data) override { return writer_->Write(data); }
  Result<Response> Finish() override {
    HK_CHECK(writer_->Commit());
    return EmptyJson();
  }

 private:
  std::unique_ptr<artifacts::ArtifactWriter> writer_;
};

struct Context {
  store::TrackingStore& tracking;
  store::RegistryStore& registry;
  ArtifactRepository& repository;
};

Result<std::string> ProxyPath(const Context& ctx, const Request& request) {
  std::string path(request.PathParam("path"));
  while (!path.empty() && path.back() == '/') path.pop_back();
  HK_CHECK(ValidateArtifactPath(path));
  HK_CHECK(ExperimentOfArtifactPath(ctx.tracking, path));
  return path;
}

Result<std::unique_ptr<http::UploadHandler>> UploadArtifact(const Context& ctx,
                                                            const Request& request) {
  HK_TRY(path, ProxyPath(ctx, request));
  HK_TRY(writer, ctx.repository.OpenWriter(path));
  return std::unique_ptr<http::UploadHandler>(new ArtifactUpload(std::move(writer)));
}

Result<Response> DownloadArtifact(const Context& ctx, const Request& request) {
  HK_TRY(path, ProxyPath(ctx, request));
  return FileResponse(ctx.repository, path);
}

Result<Response> DeleteArtifact(const Context& ctx, const Request& request) {
  HK_TRY(path, ProxyPath(ctx, request));
  HK_CHECK(ctx.repository.Delete(path));
  return EmptyJson();
}

Result<Response> ListProxyArtifacts(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(path_arg, args.OptString("path"));
  std::string path = path_arg.value_or("");
  while (!path.empty() && path.back() == '/') path.pop_back();
  HK_CHECK(ValidateArtifactPath(path, true));
  HK_CHECK(ExperimentOfArtifactPath(ctx.tracking, path));
  HK_TRY(files, ctx.repository.List(path));
  return ListingResponse(files, "", nullptr);
}

// A relative path below a run's or model's root (may be empty).
Result<std::string> RelativeArg(const Args& args, std::string_view key) {
  HK_TRY(value, args.OptString(key));
  std::string path = value.value_or("");
  while (!path.empty() && path.back() == '/') path.pop_back();
  HK_CHECK(ValidateArtifactPath(path, true));
  return path;
}

Result<Response> ListRunArtifacts(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(relative, RelativeArg(args, "path"));
  HK_TRY(info, ctx.tracking.GetRunInfo(run_id));
  HK_TRY(root, RepositoryPathOf(info.artifact_uri));
  HK_TRY(files, ctx.repository.List(JoinArtifactPath(root, relative)));
  return ListingResponse(files, relative, &info.artifact_uri);
}

Result<Response> GetRunArtifact(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(run_id, RunIdArg(args));
  HK_TRY(relative, RelativeArg(args, "path"));
  if (relative.empty()) return tl::unexpected(MissingParameter("path"));
  HK_TRY(info, ctx.tracking.GetRunInfo(run_id));
  HK_TRY(root, RepositoryPathOf(info.artifact_uri));
  return FileResponse(ctx.repository, JoinArtifactPath(root, relative));
}

Result<Response> GetModelVersionArtifact(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(name, args.ReqString("name"));
  HK_TRY(version, args.ReqString("version"));
  HK_TRY(relative, RelativeArg(args, "path"));
  if (relative.empty()) return tl::unexpected(MissingParameter("path"));
  HK_TRY(uri, ctx.registry.GetModelVersionDownloadUri(name, version));
  HK_TRY(root, RepositoryPathOf(uri));
  HK_CHECK(ExperimentOfArtifactPath(ctx.tracking, root));
  return FileResponse(ctx.repository, JoinArtifactPath(root, relative));
}

Result<std::string> LoggedModelRoot(const Context& ctx, const Request& request,
                                     std::string* artifact_uri) {
  HK_TRY(model, ctx.tracking.GetLoggedModel(std::string(request.PathParam("model_id"))));
  *artifact_uri = model.artifact_uri;
  return RepositoryPathOf(model.artifact_uri);
}

Result<Response> ListLoggedModelArtifacts(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(relative, RelativeArg(args, "artifact_directory_path"));
  std::string artifact_uri;
  HK_TRY(root, LoggedModelRoot(ctx, request, &artifact_uri));
  HK_TRY(files, ctx.repository.List(JoinArtifactPath(root, relative)));
  return ListingResponse(files, relative, &artifact_uri);
}

Result<Response> GetLoggedModelArtifact(const Context& ctx, const Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(relative, RelativeArg(args, "artifact_file_path"));
  if (relative.empty()) return tl::unexpected(MissingParameter("artifact_file_path"));
  std::string artifact_uri;
  HK_TRY(root, LoggedModelRoot(ctx, request, &artifact_uri));
  return FileResponse(ctx.repository, JoinArtifactPath(root, relative));
}

// Single PUT uploads already stream at any size, so multipart is not offered: server-info says
// so, and these answer exactly as MLflow answers for a repository without multipart, which
// makes any client that tries anyway fall back to a single PUT. Paths are still checked.
Result<Response> MultipartNotSupported(const Context& ctx, const Request& request) {
  HK_TRY(path, ProxyPath(ctx, request));
  (void)path;
  return Fail(ErrorCode::kNotImplemented,
              "Multipart upload is not supported for the current artifact repository");
}

Result<Response> ServerInfo(const Context&, const Request&) {
  json::Writer w;
  w.BeginObject()
      .Field("store_type", "SqlStore")
      .Field("workspaces_enabled", false)
      .Field("multipart_uploads_enabled", false)
      .Field("multipart_downloads_enabled", false)
      .EndObject();
  return Response::Json(w.Take());
}

using ContextHandler = Result<Response> (*)(const Context&, const Request&);

// How an artifact route finds the experiment (or model) it touches.
enum class Where {
  kNothing,     // no resource (server-info)
  kPathParam,   // the repository path in the URL → the run or logged model that owns it
  kPathQuery,   // the repository path in `?path=`
  kRun,         // `run_id` / `run_uuid`
  kModelName,   // `name` of a registered model
  kLoggedModel  // the `{model_id}` path segment
};

struct Entry {
  Method method;
  const char* path;
  Access access;
  ContextHandler handler;
  Where where;
};

constexpr Access kReadExperiment{Operation::kRead, Resource::kExperiment};
constexpr Access kWriteExperiment{Operation::kWrite, Resource::kExperiment};
constexpr Access kManageExperiment{Operation::kManage, Resource::kExperiment};

http::TargetFinder FinderFor(Where where, ResourceLocator& locator) {
  switch (where) {
    case Where::kNothing: return nullptr;
    case Where::kPathParam: return MakeArtifactPathFinder(false, locator);
    case Where::kPathQuery: return MakeArtifactPathFinder(true, locator);
    case Where::kRun: return MakeTargetFinder(Locate::kRun, locator);
    case Where::kModelName: return MakeTargetFinder(Locate::kModelName, locator);
    case Where::kLoggedModel: return MakeTargetFinder(Locate::kLoggedModel, locator);
  }
  return nullptr;
}

// The artifact route table (uploads are registered separately: they stream).
constexpr Entry kEntries[] = {
    {Method::kGet, "/api/2.0/mlflow-artifacts/artifacts/{path*}", kReadExperiment,
     DownloadArtifact, Where::kPathParam},
    {Method::kDelete, "/api/2.0/mlflow-artifacts/artifacts/{path*}", kManageExperiment,
     DeleteArtifact, Where::kPathParam},
    {Method::kGet, "/api/2.0/mlflow-artifacts/artifacts", kReadExperiment, ListProxyArtifacts,
     Where::kPathQuery},
    {Method::kGet, "/api/2.0/mlflow/artifacts/list", kReadExperiment, ListRunArtifacts,
     Where::kRun},
    {Method::kGet, "/get-artifact", kReadExperiment, GetRunArtifact, Where::kRun},
    {Method::kGet, "/model-versions/get-artifact", {Operation::kRead, Resource::kModel},
     GetModelVersionArtifact, Where::kModelName},
    {Method::kGet, "/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
     kReadExperiment, ListLoggedModelArtifacts, Where::kLoggedModel},
    {Method::kGet, "/api/2.0/mlflow/logged-models/{model_id}/artifacts/files", kReadExperiment,
     GetLoggedModelArtifact, Where::kLoggedModel},
    {Method::kGet, "/api/3.0/mlflow/server-info", {Operation::kRead, Resource::kNone},
     ServerInfo, Where::kNothing},
    {Method::kPost, "/api/2.0/mlflow-artifacts/mpu/create/{path*}", kWriteExperiment,
     MultipartNotSupported, Where::kPathParam},
    {Method::kPost, "/api/2.0/mlflow-artifacts/mpu/complete/{path*}", kWriteExperiment,
     MultipartNotSupported, Where::kPathParam},
    {Method::kPost, "/api/2.0/mlflow-artifacts/mpu/abort/{path*}", kWriteExperiment,
     MultipartNotSupported, Where::kPathParam},
};

}  // namespace

Result<void> RegisterArtifactRoutes(http::RouteTable& table, store::TrackingStore& tracking,
                                    store::RegistryStore& registry,
                                    artifacts::ArtifactRepository& repository) {
  // Owned by the table's handlers and finders for the server's lifetime.
  auto ctx = std::make_shared<Context>(Context{tracking, registry, repository});
  auto locator = std::make_shared<StoreLocator>(tracking);
  auto owned = [locator](http::TargetFinder find) -> http::TargetFinder {
    if (!find) return nullptr;
    return [locator, find](const Request& r) { return find(r); };
  };
  for (const Entry& entry : kEntries) {
    ContextHandler fn = entry.handler;
    http::Route route{entry.method, entry.path, entry.access, Execution::kBlocking,
                      [ctx, fn](const Request& r) { return fn(*ctx, r); }};
    route.target = owned(FinderFor(entry.where, *locator));
    HK_CHECK(table.Add(std::move(route)));
  }
  http::Route upload{Method::kPut, "/api/2.0/mlflow-artifacts/artifacts/{path*}",
                     kWriteExperiment, Execution::kBlocking, nullptr, http::BodyKind::kStream};
  upload.upload = [ctx](const Request& r) { return UploadArtifact(*ctx, r); };
  upload.target = owned(FinderFor(Where::kPathParam, *locator));
  HK_CHECK(table.Add(std::move(upload)));
  return {};
}

Result<void> RegisterArtifactRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for) {
  auto forwarded = [&forward_for](http::Route& route) {
    route.forward = std::make_shared<const http::Forward>(forward_for(route));
  };
  for (const Entry& entry : kEntries) {
    http::Route route{entry.method, entry.path, entry.access, Execution::kBlocking, nullptr};
    route.target = FinderFor(entry.where, locator);
    forwarded(route);
    HK_CHECK(table.Add(std::move(route)));
  }
  http::Route upload{Method::kPut, "/api/2.0/mlflow-artifacts/artifacts/{path*}",
                     kWriteExperiment, Execution::kBlocking, nullptr, http::BodyKind::kStream};
  upload.target = FinderFor(Where::kPathParam, locator);
  forwarded(upload);
  HK_CHECK(table.Add(std::move(upload)));
  return {};
}

}  // namespace hokusai::mlflow_api
