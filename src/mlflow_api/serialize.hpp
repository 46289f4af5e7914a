// Store rows to MLflow's JSON messages (field names as in the protos; enums as names; int64 as
// numbers; always emitting lifecycle_stage and status, which the client reads as proto2
// defaults when absent).
#pragma once

#include "json/writer.hpp"
#include "store/types.hpp"

namespace hokusai::mlflow_api {

void WriteTags(json::Writer& w, std::string_view key, const std::vector<store::Tag>& tags);
void WriteExperiment(json::Writer& w, const store::Experiment& experiment);
void WriteRunInfo(json::Writer& w, const store::RunInfo& info);
void WriteMetric(json::Writer& w, const store::Metric& metric, bool with_run_id);
void WriteRun(json::Writer& w, const store::Run& run);

// MLflow 3 LoggedModel {info, data}; status as its LOGGED_MODEL_* name.
void WriteLoggedModel(json::Writer& w, const store::LoggedModel& model);
// ModelVersion; always emits version (string), status and current_stage.
void WriteModelVersion(json::Writer& w, const store::ModelVersion& version);
void WriteRegisteredModel(json::Writer& w, const store::RegisteredModel& model);

}  // namespace hokusai::mlflow_api
