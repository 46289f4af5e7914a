// Gateway mode: the ResourceLocator that asks the upstream MLflow server (runs/get,
// logged-models/{id}, experiments/get-by-name, experiments/get). What never changes — the
// experiment and artifact root of a run or logged model — is cached per process, bounded;
// names are always asked afresh (experiments can be renamed).
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/upstream.hpp"
#include "mlflow_api/targets.hpp"

namespace hokusai::gateway {

// Thread-safe (a mutex around the cache; calls run on the blocking pool).
class UpstreamLocator final : public mlflow_api::ResourceLocator {
 public:
  // `client` must outlive the locator. `cache_entries` bounds each cache (oldest out first).
  explicit UpstreamLocator(UpstreamClient& client, std::size_t cache_entries = 100000)
      : client_(client), capacity_(cache_entries) {}

  Result<std::string> ExperimentOfRun(const std::string& run_id) override;
  Result<std::string> ExperimentOfLoggedModel(const std::string& model_id) override;
  Result<std::string> ExperimentIdByName(const std::string& name) override;
  Result<std::string> ExperimentOfArtifactPath(std::string_view path) override;
  Result<std::string> ExperimentName(const std::string& experiment_id) override;

  // A run's or logged model's experiment and artifact root (cached).
  Result<mlflow_api::ArtifactOwner> Run(const std::string& run_id);
  Result<mlflow_api::ArtifactOwner> LoggedModel(const std::string& model_id);

  // Upstream calls made so far (tests: cache hits make none).
  std::size_t calls() const;

 private:
  struct Cache {
    std::unordered_map<std::string, mlflow_api::ArtifactOwner> entries;
    std::deque<std::string> order;
  };
  Result<mlflow_api::ArtifactOwner> Cached(Cache& cache, const std::string& id,
                                           const std::function<Result<mlflow_api::ArtifactOwner>()>& fetch);
  // GET `path` on the upstream; the parsed JSON body on 200, the upstream's error otherwise.
  Result<std::string> Get(std::string_view canonical_path, const http::QueryParams& query);

  UpstreamClient& client_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  Cache runs_;
  Cache models_;
  std::size_t calls_ = 0;
};

// The error an upstream MLflow answer carries (`{"error_code", "message"}` and its status),
// as this server's Error: known MLflow codes keep their meaning (RESOURCE_DOES_NOT_EXIST is
// still "does not exist"); anything else, and 5xx, is TEMPORARILY_UNAVAILABLE naming the
// upstream.
Error UpstreamError(const UpstreamConfig& config, int status, std::string_view body);

}  // namespace hokusai::gateway
