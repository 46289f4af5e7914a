// The route table: every route declares the operation it performs and the resource it touches.
// There is no default declaration, so a route cannot be registered without one, and a request
// that matches no route gets 404 with an empty body.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::http {

// What a route does. kPublic routes (health, version, metrics) need no credential.
enum class Operation { kPublic, kRead, kWrite, kAdmin };

// What kind of thing the route acts on; authorization resolves the concrete instance from
// server-side state.
enum class Resource { kNone, kExperiment, kModel };

std::string_view OperationName(Operation op);
std::string_view ResourceName(Resource resource);

struct Access {
  Operation operation;
  Resource resource;
};

// Where a handler runs: inline on the I/O thread (must not block: no store, no disk) or on the
// blocking pool.
enum class Execution { kInline, kBlocking };

using Handler = std::function<Result<Response>(const Request&)>;

// How the body is read. kJson bodies must come with Content-Type application/json (principle 7);
// kStream bodies are not buffered: the route's `upload` opens an UploadHandler that receives
// the body in chunks (any size up to limits::kMaxStreamedBodyBytes).
enum class BodyKind { kJson, kRaw, kStream };

using UploadOpener = std::function<Result<std::unique_ptr<UploadHandler>>(const Request&)>;

struct Route {
  Method method;
  // Canonical path, e.g. /api/2.0/mlflow/experiments/get. A segment `{name}` matches one
  // non-empty segment; a last segment `{name*}` matches the rest of the path (one or more
  // segments). Literal routes win over patterns; among patterns the first registered wins.
  std::string path;
  Access access;
  Execution execution;
  Handler handler;
  BodyKind body = BodyKind::kJson;
  UploadOpener upload;  // kStream routes only; `handler` is then unused
};

// Built once at start-up, then read-only and shared by all workers.
class RouteTable {
 public:
  // Registers `route`. Returns an error (a start-up bug) for a duplicate method and path.
  Result<void> Add(Route route);

  // The route for `method` and canonical `path`, or nullptr. Sets `*path_known` to whether any
  // method is registered for the path (for 405 answers) and fills `params` with the values of
  // the pattern's `{name}` segments.
  const Route* Find(Method method, std::string_view path, bool* path_known = nullptr,
                    PathParams* params = nullptr) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Pattern {
    std::vector<std::string> segments;  // literal text, or "{name}" / "{name*}"
    std::size_t route_index;
  };
  std::vector<Route> routes_;
  std::unordered_map<std::string, std::vector<std::size_t>> by_path_;
  std::vector<Pattern> patterns_;
};

}  // namespace hokusai::http
