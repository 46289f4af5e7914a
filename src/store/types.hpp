// Row types shared by the store interfaces and the API layer. Plain values, no behaviour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hokusai::store {

struct Tag {
  std::string key;
  std::string value;
};

struct Experiment {
  std::string experiment_id;
  std::string name;
  std::string artifact_location;
  std::string lifecycle_stage;  // "active" | "deleted"
  int64_t creation_time = 0;
  int64_t last_update_time = 0;
  std::vector<Tag> tags;
};

struct Metric {
  std::string key;
  double value = 0;
  int64_t timestamp = 0;
  int64_t step = 0;
  std::string run_id;  // filled where the API needs it (bulk history)
  std::string model_id;
  std::string dataset_name;
  std::string dataset_digest;
};

struct Dataset {
  std::string name;
  std::string digest;
  std::string source_type;
  std::string source;
  std::string schema;
  std::string profile;
};

struct DatasetInput {
  std::vector<Tag> tags;
  Dataset dataset;
};

struct ModelOutput {
  std::string model_id;
  int64_t step = 0;
};

// Run status names as on the wire: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.
struct RunInfo {
  std::string run_id;
  std::string run_name;
  std::string experiment_id;
  std::string user_id;
  std::string status;
  int64_t start_time = 0;
  std::optional<int64_t> end_time;
  std::string artifact_uri;
  std::string lifecycle_stage;
};

struct Run {
  RunInfo info;
  std::vector<Metric> metrics;  // latest value per key
  std::vector<Tag> params;
  std::vector<Tag> tags;
  std::vector<DatasetInput> dataset_inputs;
  std::vector<std::string> model_inputs;
  std::vector<ModelOutput> model_outputs;
};

enum class ViewType { kActiveOnly, kDeletedOnly, kAll };

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  // empty: no more pages
};

}  // namespace hokusai::store
