#include "hokusai_api/registration.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/time_format.hpp"

namespace hokusai::hokusai_api::registration {
namespace {

const std::string* FindTag(const store::ModelVersion& version, std::string_view key) {
  for (const store::Tag& tag : version.tags) {
    if (tag.key == key) return &tag.value;
  }
  return nullptr;
}

void StringOrNull(json::Writer& w, std::string_view key, const std::string* value) {
  w.Key(key);
  if (value == nullptr || value->empty()) {
    w.Null();
  } else {
    w.String(*value);
  }
}

}  // namespace

std::string MetricTagValue(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

std::vector<store::Tag> VersionTags(std::string_view model_type,
                                    const std::optional<std::string>& version_label,
                                    const std::vector<std::pair<std::string, double>>& metrics,
                                    const std::vector<store::Tag>& user_tags) {
  std::vector<store::Tag> tags;
  tags.reserve(2 + metrics.size() + user_tags.size());
  tags.push_back({std::string(kModelTypeTag), std::string(model_type)});
  if (version_label) tags.push_back({std::string(kVersionLabelTag), *version_label});
  for (const auto& [name, value] : metrics) {
    tags.push_back({std::string(kMetricTagPrefix) + name, MetricTagValue(value)});
  }
  tags.insert(tags.end(), user_tags.begin(), user_tags.end());
  return tags;
}

void WriteVersion(json::Writer& w, const store::ModelVersion& version, bool detailed) {
  w.BeginObject();
  w.Field("model_id", version.name + "/" + version.version);
  w.Field("model_name", version.name);
  w.Field("version", version.version);
  StringOrNull(w, "version_label", FindTag(version, kVersionLabelTag));
  StringOrNull(w, "model_type", FindTag(version, kModelTypeTag));
  w.Key("metrics").BeginObject();
  for (const store::Tag& tag : version.tags) {
    if (!tag.key.starts_with(kMetricTagPrefix)) continue;
    // Written by MetricTagValue; a value edited through the MLflow API that no longer reads as
    // a number is left out rather than reported wrongly.
    double value = 0;
    const char* begin = tag.value.data();
    const char* end = begin + tag.value.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value)) continue;
    w.Key(std::string_view(tag.key).substr(kMetricTagPrefix.size())).Double(value);
  }
  w.EndObject();
  w.Field("status", version.status == "READY" ? std::string("registered") : version.status);
  w.Field("registration_timestamp", FormatRfc3339(version.creation_timestamp));
  StringOrNull(w, "mlflow_run_id", &version.run_id);
  w.Field("source", version.source);
  if (detailed) {
    w.Field("description", version.description);
    w.Key("aliases").BeginArray();
    for (const std::string& alias : version.aliases) w.String(alias);
    w.EndArray();
    StringOrNull(w, "stage", FindTag(version, kLifecycleStageTag));
    w.Field("current_stage", version.current_stage);
    w.Key("tags").BeginObject();
    for (const store::Tag& tag : version.tags) {
      if (tag.key.starts_with(kReservedTagPrefix)) continue;
      w.Field(tag.key, tag.value);
    }
    w.EndObject();
  }
  w.EndObject();
}

std::string VersionBody(const store::ModelVersion& version, bool detailed) {
  json::Writer w;
  WriteVersion(w, version, detailed);
  return w.Take();
}

}  // namespace hokusai::hokusai_api::registration
