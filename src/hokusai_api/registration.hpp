// How a one-call registration (spec §3) is kept in the registry: everything the request carries
// beyond the MLflow version itself lives in version tags under the reserved `hokusai.` prefix,
// so the MLflow API and client see the same version and nothing needs a second table. One
// writer renders every response of /api/v1/models from a stored version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json/writer.hpp"
#include "store/types.hpp"

namespace hokusai::hokusai_api::registration {

// Version (and, on the model, model type) tags.
inline constexpr std::string_view kReservedTagPrefix = "hokusai.";
inline constexpr std::string_view kModelTypeTag = "hokusai.model_type";
inline constexpr std::string_view kVersionLabelTag = "hokusai.version_label";
inline constexpr std::string_view kMetricTagPrefix = "hokusai.metric.";
// Set by transition, as the spec names it.
inline constexpr std::string_view kLifecycleStageTag = "lifecycle_stage";

// Limits (security principle 8).
inline constexpr std::size_t kMaxModelTypeLength = 64;
inline constexpr std::size_t kMaxVersionLabelLength = 128;
inline constexpr std::size_t kMaxMetrics = 200;
inline constexpr std::size_t kMaxTags = 500;
// Tag keys are at most 250 characters and carry the metric prefix.
inline constexpr std::size_t kMaxMetricNameLength = 250 - kMetricTagPrefix.size();
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;
inline constexpr std::size_t kMaxStageLength = 64;
inline constexpr int64_t kDefaultListResults = 100;
inline constexpr int64_t kMaxListResults = 1000;

// A metric's value as stored in its tag: the shortest text that reads back as the same double.
std::string MetricTagValue(double value);

// The version tags a registration adds: model type, version label, one per metric, then the
// caller's metadata and tags.
std::vector<store::Tag> VersionTags(std::string_view model_type,
                                    const std::optional<std::string>& version_label,
                                    const std::vector<std::pair<std::string, double>>& metrics,
                                    const std::vector<store::Tag>& user_tags);

// The spec §3 response object for a stored version: model_id, model_name, version,
// version_label, model_type, metrics, status, registration_timestamp, mlflow_run_id, source.
// With `detailed` (reads, transition) also description, aliases, stage (the lifecycle_stage
// tag), current_stage and the caller's tags.
void WriteVersion(json::Writer& w, const store::ModelVersion& version, bool detailed);
std::string VersionBody(const store::ModelVersion& version, bool detailed);

}  // namespace hokusai::hokusai_api::registration
