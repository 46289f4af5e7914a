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

// Where a page of metric history resumes: the last point of the previous page, as stored (NaN
// as is_nan with value 0). (timestamp, step, value, is_nan) is unique per run and key.
struct MetricCursor {
  int64_t timestamp = 0;
  int64_t step = 0;
  double value = 0;
  bool is_nan = false;
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


// ---- logged models (MLflow 3) --------------------------------------------------------------

// One registered model version made from a logged model.
struct LoggedModelRegistration {
  std::string name;
  std::string version;
};

// Status names as on the wire: LOGGED_MODEL_PENDING, LOGGED_MODEL_READY,
// LOGGED_MODEL_UPLOAD_FAILED.
struct LoggedModel {
  std::string model_id;  // "m-" + 32 lowercase hex
  std::string experiment_id;
  std::string name;
  std::string artifact_uri;  // <experiment artifact_location>/models/<model_id>/artifacts
  std::string status;
  std::string source_run_id;  // empty: none
  int64_t creation_timestamp_ms = 0;
  int64_t last_updated_timestamp_ms = 0;
  std::string model_type;
  std::string status_message;
  std::string lifecycle_stage;  // "active" | "deleted"
  std::vector<Tag> tags;
  std::vector<Tag> params;
  // Every run metric point logged with this model_id (run_id and dataset fields filled).
  std::vector<Metric> metrics;
  // Live registered versions whose model_id is this model.
  std::vector<LoggedModelRegistration> registrations;
};

// ---- model registry -------------------------------------------------------------------------

struct ModelVersion {
  std::string name;
  std::string version;  // decimal, "1", "2", ...
  int64_t creation_timestamp = 0;
  int64_t last_updated_timestamp = 0;
  std::string user_id;
  std::string current_stage;  // "None" | "Staging" | "Production" | "Archived"
  std::string description;
  std::string source;  // as the client sent it
  std::string run_id;
  std::string status;  // always "READY": versions are registered synchronously
  std::string status_message;
  std::string run_link;
  std::string model_id;
  std::vector<Tag> tags;
  std::vector<std::string> aliases;
  // Where the artifacts are, resolved by the server at create time (get-download-uri). Empty for
  // prompt versions, which have no artifacts.
  std::string storage_location;
};

struct RegisteredModelAlias {
  std::string alias;
  std::string version;
};

struct RegisteredModel {
  std::string name;
  int64_t creation_timestamp = 0;
  int64_t last_updated_timestamp = 0;
  std::string user_id;
  std::string description;
  // For each stage, its highest-numbered live version.
  std::vector<ModelVersion> latest_versions;
  std::vector<Tag> tags;
  std::vector<RegisteredModelAlias> aliases;
};

}  // namespace hokusai::store
