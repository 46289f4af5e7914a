// Every named limit in one place. MLflow's own limits are kept exactly (the client pre-chunks to
// them); the HTTP limits are ours.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hokusai::limits {

// HTTP.
inline constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
inline constexpr std::size_t kMaxBodyBytes = 10 * 1024 * 1024;
inline constexpr std::size_t kMaxJsonDepth = 32;
inline constexpr int kHeaderReadTimeoutSeconds = 10;
inline constexpr int kIdleTimeoutSeconds = 60;
inline constexpr int kBodyReadTimeoutSeconds = 120;
inline constexpr std::size_t kMaxQueryParams = 256;
// Streamed bodies (artifact uploads) are not held in memory; this bounds disk use per request.
inline constexpr uint64_t kMaxStreamedBodyBytes = 64ull * 1024 * 1024 * 1024;
inline constexpr std::size_t kStreamChunkBytes = 1024 * 1024;

// Artifact paths.
inline constexpr std::size_t kMaxArtifactPathLength = 4096;
inline constexpr std::size_t kMaxArtifactSegmentLength = 255;

// Search.
inline constexpr std::size_t kMaxFilterLength = 20000;
inline constexpr std::size_t kMaxPageTokenLength = 1024;
inline constexpr int64_t kMaxResultsRuns = 50000;
inline constexpr int64_t kDefaultMaxResultsRuns = 1000;
inline constexpr int64_t kMaxResultsExperiments = 50000;
inline constexpr int64_t kDefaultMaxResultsExperiments = 1000;
inline constexpr int64_t kMaxResultsMetricHistory = 25000;
inline constexpr std::size_t kMaxOrderByClauses = 20;
inline constexpr std::size_t kMaxExperimentIdsPerSearch = 1000;

// MLflow entity limits (mlflow/utils/validation.py).
inline constexpr std::size_t kMaxEntityKeyLength = 250;
inline constexpr std::size_t kMaxParamValueLength = 6000;
inline constexpr std::size_t kMaxRunTagValueLength = 8000;
inline constexpr std::size_t kMaxExperimentNameLength = 500;
inline constexpr std::size_t kMaxExperimentTagKeyLength = 250;
inline constexpr std::size_t kMaxExperimentTagValueLength = 5000;
inline constexpr std::size_t kMaxRunNameLength = 500;
inline constexpr std::size_t kMaxBatchMetrics = 1000;
inline constexpr std::size_t kMaxBatchParams = 100;
inline constexpr std::size_t kMaxBatchTags = 100;
inline constexpr std::size_t kMaxBatchEntities = 1000;
inline constexpr std::size_t kMaxBatchRequestBytes = 1000000;
inline constexpr std::size_t kMaxDatasetNameLength = 500;
inline constexpr std::size_t kMaxDatasetDigestLength = 36;
inline constexpr std::size_t kMaxDatasetSourceLength = 65535;
inline constexpr std::size_t kMaxDatasetSchemaLength = 1048575;
inline constexpr std::size_t kMaxDatasetProfileLength = 16777215;
inline constexpr std::size_t kMaxInputTagKeyLength = 255;
inline constexpr std::size_t kMaxInputTagValueLength = 500;
inline constexpr std::size_t kMaxBulkRunIds = 100;
inline constexpr int64_t kMaxBulkIntervalResults = 2500;

// Model registry and logged models (MLflow's validation and schema).
namespace registry {
inline constexpr std::size_t kMaxModelNameLength = 256;
inline constexpr std::size_t kMaxDescriptionLength = 5000;
inline constexpr std::size_t kMaxTagKeyLength = 250;
inline constexpr std::size_t kMaxTagValueLength = 5000;
inline constexpr std::size_t kMaxAliasLength = 255;
inline constexpr std::size_t kMaxSourceLength = 4096;
inline constexpr std::size_t kMaxRunLinkLength = 500;
inline constexpr std::size_t kMaxTagsPerRequest = 1000;
inline constexpr int64_t kDefaultMaxResultsRegisteredModels = 100;
inline constexpr int64_t kMaxResultsRegisteredModels = 1000;
inline constexpr int64_t kDefaultMaxResultsModelVersions = 10000;
inline constexpr int64_t kMaxResultsModelVersions = 200000;
// Logged models.
inline constexpr std::size_t kMaxLoggedModelNameLength = 500;
// The client keeps the model's registrations in one tag (mlflow.modelVersions), which grows.
inline constexpr std::size_t kMaxLoggedModelTagValueLength = 100000;
inline constexpr std::size_t kMaxLoggedModelEntitiesPerRequest = 1000;
inline constexpr std::size_t kMaxLoggedModelSearchDatasets = 100;
inline constexpr int64_t kDefaultMaxResultsLoggedModels = 100;
// Larger requests are clamped to this and paginated (the client follows next_page_token).
inline constexpr int64_t kMaxResultsLoggedModels = 1000;
}  // namespace registry

}  // namespace hokusai::limits
