// The HTTP server: one io_context per worker thread, each single-threaded; a connection stays on
// the worker that accepted it. Blocking handlers run on a separate pool. Beast is confined to
// server.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "http/metrics.hpp"
#include "http/proxy.hpp"
#include "http/router.hpp"

namespace hokusai::http {

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 5000;
  int workers = 0;           // 0: one per core
  int blocking_threads = 0;  // 0: 2 × cores, at least 4
  std::string static_prefix;  // already normalized
  bool access_log = true;
  int shutdown_grace_seconds = 30;
  // Gateway mode: routes with a Forward are relayed to this upstream. Null: native mode.
  std::shared_ptr<const ProxyConfig> proxy;
};

class Server {
 public:
  // `routes`, `metrics` and `gate` must outlive the server. Every route that is not public goes
  // through `gate` before its handler runs.
  Server(ServerConfig config, const RouteTable& routes, RequestMetrics& metrics, Gate& gate);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Returns the bound port (useful with port 0).
  Result<uint16_t> Listen();

  // Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish (up to
  // the grace period), closes idle connections and returns.
  void Run();

  // Makes Run() shut down as on SIGTERM (tests, embedding). Thread-safe; before Run() it makes
  // Run() shut down as soon as it has started.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hokusai::http
