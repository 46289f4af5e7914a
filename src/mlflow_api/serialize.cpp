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

void WriteLoggedModel(json::Writer& w, const store::LoggedModel& m) {
  w.BeginObject().Key("info").BeginObject();
  w.Field("model_id", m.model_id)
      .Field("experiment_id", m.experiment_id)
      .Field("name", m.name)
      .Field("creation_timestamp_ms", m.creation_timestamp_ms)
      .Field("last_updated_timestamp_ms", m.last_updated_timestamp_ms)
      .Field("artifact_uri", m.artifact_uri)
      .Field("status", m.status);
  if (!m.model_type.empty()) w.Field("model_type", m.model_type);
  if (!m.source_run_id.empty()) w.Field("source_run_id", m.source_run_id);
  if (!m.status_message.empty()) w.Field("status_message", m.status_message);
  WriteTags(w, "tags", m.tags);
  w.Key("registrations").BeginArray();
  for (const store::LoggedModelRegistration& r : m.registrations) {
    w.BeginObject().Field("name", r.name).Field("version", r.version).EndObject();
  }
  w.EndArray().EndObject();
  w.Key("data").BeginObject();
  WriteTags(w, "params", m.params);
  w.Key("metrics").BeginArray();
  for (const store::Metric& metric : m.metrics) WriteMetric(w, metric, true);
  w.EndArray().EndObject();
  w.EndObject();
}

void WriteModelVersion(json::Writer& w, const store::ModelVersion& v) {
  w.BeginObject()
      .Field("name", v.name)
      .Field("version", v.version)
      .Field("creation_timestamp", v.creation_timestamp)
      .Field("last_updated_timestamp", v.last_updated_timestamp)
      .Field("user_id", v.user_id)
      .Field("current_stage", v.current_stage)
      .Field("description", v.description)
      .Field("source", v.source)
      .Field("run_id", v.run_id)
      .Field("status", v.status);
  if (!v.status_message.empty()) w.Field("status_message", v.status_message);
  WriteTags(w, "tags", v.tags);
  w.Field("run_link", v.run_link);
  w.Key("aliases").BeginArray();
  for (const std::string& alias : v.aliases) w.String(alias);
  w.EndArray();
  if (!v.model_id.empty()) w.Field("model_id", v.model_id);
  w.EndObject();
}

void WriteRegisteredModel(json::Writer& w, const store::RegisteredModel& m) {
  w.BeginObject()
      .Field("name", m.name)
      .Field("creation_timestamp", m.creation_timestamp)
      .Field("last_updated_timestamp", m.last_updated_timestamp)
      .Field("user_id", m.user_id)
      .Field("description", m.description);
  w.Key("latest_versions").BeginArray();
  for (const store::ModelVersion& v : m.latest_versions) WriteModelVersion(w, v);
  w.EndArray();
  WriteTags(w, "tags", m.tags);
  w.Key("aliases").BeginArray();
  for (const store::RegisteredModelAlias& a : m.aliases) {
    w.BeginObject().Field("alias", a.alias).Field("version", a.version).EndObject();
  }
  w.EndArray().EndObject();
}

}  // namespace hokusai::mlflow_api
