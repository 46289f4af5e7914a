#include "mlflow_api/serialize.hpp"

namespace hokusai::mlflow_api {

void WriteTags(json::Writer& w, std::string_view key, const std::vector<store::Tag>& tags) {
  w.Key(key).BeginArray();
  for (const store::Tag& tag : tags) {
    w.BeginObject().Field("key", tag.key).Field("value", tag.value).EndObject();
  }
  w.EndArray();
}

void WriteExperiment(json::Writer& w, const store::Experiment& e) {
  w.BeginObject()
      .Field("experiment_id", e.experiment_id)
      .Field("name", e.name)
      .Field("artifact_location", e.artifact_location)
      .Field("lifecycle_stage", e.lifecycle_stage)
      .Field("last_update_time", e.last_update_time)
      .Field("creation_time", e.creation_time);
  WriteTags(w, "tags", e.tags);
  w.EndObject();
}

void WriteRunInfo(json::Writer& w, const store::RunInfo& info) {
  w.BeginObject()
      .Field("run_id", info.run_id)
      .Field("run_uuid", info.run_id)
      .Field("run_name", info.run_name)
      .Field("experiment_id", info.experiment_id)
      .Field("user_id", info.user_id)
      .Field("status", info.status)
      .Field("start_time", info.start_time);
  if (info.end_time) w.Field("end_time", *info.end_time);
  w.Field("artifact_uri", info.artifact_uri)
      .Field("lifecycle_stage", info.lifecycle_stage)
      .EndObject();
}

void WriteMetric(json::Writer& w, const store::Metric& m, bool with_run_id) {
  w.BeginObject().Field("key", m.key).Key("value").Double(m.value);
  w.Field("timestamp", m.timestamp).Field("step", m.step);
  if (with_run_id) w.Field("run_id", m.run_id);
  if (!m.model_id.empty()) w.Field("model_id", m.model_id);
  if (!m.dataset_name.empty()) w.Field("dataset_name", m.dataset_name);
  if (!m.dataset_digest.empty()) w.Field("dataset_digest", m.dataset_digest);
  w.EndObject();
}

void WriteRun(json::Writer& w, const store::Run& run) {
  w.BeginObject().Key("info");
  WriteRunInfo(w, run.info);
  w.Key("data").BeginObject();
  w.Key("metrics").BeginArray();
  for (const store::Metric& m : run.metrics) WriteMetric(w, m, false);
  w.EndArray();
  WriteTags(w, "params", run.params);
  WriteTags(w, "tags", run.tags);
  w.EndObject();
  w.Key("inputs").BeginObject();
  w.Key("dataset_inputs").BeginArray();
  for (const store::DatasetInput& input : run.dataset_inputs) {
    w.BeginObject();
    WriteTags(w, "tags", input.tags);
    w.Key("dataset").BeginObject();
    w.Field("name", input.dataset.name)
        .Field("digest", input.dataset.digest)
        .Field("source_type", input.dataset.source_type)
        .Field("source", input.dataset.source);
    if (!input.dataset.schema.empty()) w.Field("schema", input.dataset.schema);
    if (!input.dataset.profile.empty()) w.Field("profile", input.dataset.profile);
    w.EndObject().EndObject();
  }
  w.EndArray();
  w.Key("model_inputs").BeginArray();
  for (const std::string& id : run.model_inputs) w.BeginObject().Field("model_id", id).EndObject();
  w.EndArray().EndObject();
  w.Key("outputs").BeginObject().Key("model_outputs").BeginArray();
  for (const store::ModelOutput& out : run.model_outputs) {
    w.BeginObject().Field("model_id", out.model_id).Field("step", out.step).EndObject();
  }
  w.EndArray().EndObject();
  w.EndObject();
}

}  // namespace hokusai::mlflow_api
