// The route table: every route declares the operation it performs and the resource it touches.
// There is no default declaration, so a route cannot be registered without one, and a request
// that matches no route gets 404 with an empty body.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::http {

// What a route does. kPublic routes (health, version, metrics) need no credential. kRead needs
// a read scope and READ on the resource, kWrite a write scope and EDIT, kManage a write scope
// and MANAGE (deletes, permission changes), kAdmin the admin scope. kAuthenticated needs any
// valid key and nothing else (whoami, a user's own keys: the handler narrows further).
enum class Operation { kPublic, kAuthenticated, kRead, kWrite, kManage, kAdmin };

// What kind of thing the route acts on; authorization resolves the concrete instance from
// server-side state.
enum class Resource { kNone, kExperiment, kModel };

// The concrete things one request touches, found by the route's `target` function from the
// request and server-side state (security principle 5): experiment ids, registered-model
// names, or the name a create will give. Empty lists with `listing` set: a search whose results
// the handler filters (principle 6).
struct Target {
  // Acted on at the route's level (READ for reads, EDIT for writes, MANAGE for kManage).
  std::vector<std::string> experiment_ids;
  std::vector<std::string> model_names;
  // Only read by a write: e.g. the run a new model version points at (READ needed).
  std::vector<std::string> read_experiment_ids;
  std::vector<std::string> read_model_names;
  // A create: the new resource's name (for name-pattern scopes); no permission row exists yet.
  std::optional<std::string> new_name;
  bool listing = false;
};

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

// Finds what a request touches. Runs after the credential is accepted and before the handler;
// an error (e.g. RESOURCE_DOES_NOT_EXIST for an unknown run) is answered as it is.
using TargetFinder = std::function<Result<Target>(const Request&)>;

// Gateway mode: the route is forwarded to the upstream MLflow server instead of running its
// handler or upload opener. It keeps its access declaration and target finder: the gate admits
// it exactly as in native mode, then the server forwards the canonical path, the re-encoded
// query and exactly the body bytes the gate saw (streamed for kStream routes).
struct Forward {
  // Optional. Runs on the blocking pool with the upstream's whole answer (read up to the
  // gateway's buffered-answer limit) and returns what the client gets: listing filters,
  // ownership records. Without it the answer is streamed through unchanged.
  std::function<Result<Response>(const Request&, Response&&)> after;
};

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
  // Required for kRead/kWrite/kManage routes on a resource (the table refuses the route
  // otherwise).
  TargetFinder target = nullptr;
  // Set in gateway mode only: forward instead of calling `handler` / `upload`.
  std::shared_ptr<const Forward> forward = nullptr;
};

// Gives each route registered in gateway mode its Forward (the gateway library decides which
// routes need an `after`).
using ForwardFor = std::function<Forward(const Route&)>;

// Decides whether a request may run: authenticates its credential, finds its target, checks
// scopes, permissions and rate limits, and audits. Called for every route that is not kPublic,
// on the blocking pool, before the handler or the upload opener; on success it sets
// `request.principal`.
class Gate {
 public:
  virtual ~Gate() = default;
  virtual Result<void> Admit(const Route& route, Request& request) = 0;
  // After the handler (on the I/O thread; must not block): records the outcome of writes.
  virtual void Completed(const Route& route, const Request& request, int status) = 0;
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
