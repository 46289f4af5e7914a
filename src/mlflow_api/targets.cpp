#include "mlflow_api/targets.hpp"

#include "mlflow_api/handlers.hpp"
#include "mlflow_api/registry_handlers.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Target;

Result<std::string> ExperimentOfRun(store::TrackingStore& tracking, const std::string& run_id) {
  HK_CHECK(ValidateRunId(run_id));
  HK_TRY(run, tracking.GetRun(run_id));
  return run.info.experiment_id;
}

Result<std::string> ExperimentOfLoggedModel(store::TrackingStore& tracking,
                                            const std::string& model_id) {
  HK_TRY(model, tracking.GetLoggedModelIncludingDeleted(model_id));
  return model.experiment_id;
}

void AddUnique(std::vector<std::string>& list, std::string value) {
  for (const std::string& existing : list) {
    if (existing == value) return;
  }
  list.push_back(std::move(value));
}

Result<Target> RunsTarget(store::TrackingStore& tracking, const std::vector<std::string>& run_ids) {
  Target target;
  for (const std::string& run_id : run_ids) {
    HK_TRY(experiment, ExperimentOfRun(tracking, run_id));
    AddUnique(target.experiment_ids, std::move(experiment));
  }
  return target;
}

// Adds `experiment` to `list`; a source that names nothing is left for the handler to refuse
// with its own error (nothing is created for it).
Result<void> AddIfExists(Result<std::string> experiment, std::vector<std::string>& list) {
  if (!experiment) {
    if (experiment.error().code == ErrorCode::kResourceDoesNotExist) return {};
    return tl::unexpected(experiment.error());
  }
  AddUnique(list, std::move(*experiment));
  return {};
}

// READ on whatever a new version's source (and optional run_id) points at.
Result<void> AddSourceReads(store::TrackingStore& tracking, const Args& args, Target& target) {
  HK_TRY(source, args.OptString("source"));
  if (source && !source->empty()) {
    // The handler applies the prompt rules; here a prompt placeholder simply names nothing.
    auto parsed = ParseModelVersionSource(*source, true);
    if (!parsed) return tl::unexpected(parsed.error());
    using Kind = store::ModelVersionSource::Kind;
    switch (parsed->kind) {
      case Kind::kRun: {
        HK_CHECK(
            AddIfExists(ExperimentOfRun(tracking, parsed->run_id), target.read_experiment_ids));
        break;
      }
      case Kind::kRunArtifacts:
      case Kind::kModelArtifacts: {
        std::string path = parsed->kind == Kind::kRunArtifacts
                               ? parsed->experiment_id + "/" + parsed->run_id + "/artifacts"
                               : parsed->experiment_id + "/models/" + parsed->model_id +
                                     "/artifacts";
        HK_TRY(experiment, ExperimentOfArtifactPath(tracking, path));
        AddUnique(target.read_experiment_ids, std::move(experiment));
        break;
      }
      case Kind::kLoggedModel: {
        HK_CHECK(AddIfExists(ExperimentOfLoggedModel(tracking, parsed->model_id),
                             target.read_experiment_ids));
        break;
      }
      case Kind::kModelVersion:
        AddUnique(target.read_model_names, parsed->name);
        break;
      case Kind::kPromptTemplate:
        break;
    }
  }
  HK_TRY(run_id, args.OptString("run_id"));
  if (run_id && !run_id->empty()) {
    HK_CHECK(AddIfExists(ExperimentOfRun(tracking, *run_id), target.read_experiment_ids));
  }
  HK_TRY(model_id, args.OptString("model_id"));
  if (model_id && !model_id->empty()) {
    HK_CHECK(AddIfExists(ExperimentOfLoggedModel(tracking, *model_id), target.read_experiment_ids));
  }
  return {};
}

// The logged models a tracking write links to its run.
Result<void> AddLinkedModels(store::TrackingStore& tracking, const Args& args, Target& target) {
  std::vector<std::string> model_ids;
  HK_TRY(model_id, args.OptString("model_id"));
  if (model_id && !model_id->empty()) model_ids.push_back(std::move(*model_id));
  for (std::string_view list : {"metrics", "models"}) {
    HK_TRY(items, args.ObjectList(list));
    for (const Args& item : items) {
      HK_TRY(id, item.OptString("model_id"));
      if (id && !id->empty()) AddUnique(model_ids, std::move(*id));
    }
  }
  for (const std::string& id : model_ids) {
    HK_TRY(experiment, ExperimentOfLoggedModel(tracking, id));
    AddUnique(target.experiment_ids, std::move(experiment));
  }
  return {};
}

Result<Target> Find(Locate locate, store::TrackingStore& tracking, const http::Request& request) {
  Target target;
  if (locate == Locate::kListing) {
    target.listing = true;
    return target;
  }
  if (locate == Locate::kLoggedModel) {
    HK_TRY(experiment,
           ExperimentOfLoggedModel(tracking, std::string(request.PathParam("model_id"))));
    target.experiment_ids.push_back(std::move(experiment));
    return target;
  }
  HK_TRY(args, Args::From(request));
  switch (locate) {
    case Locate::kNewExperiment:
    case Locate::kNewModel: {
      HK_TRY(name, args.ReqString("name"));
      target.new_name = std::move(name);
      return target;
    }
    case Locate::kExperimentId:
    case Locate::kExperimentUpdate:
    case Locate::kNewLoggedModel: {
      HK_TRY(id, args.OptString("experiment_id"));
      target.experiment_ids.push_back(id.value_or("0"));
      if (locate == Locate::kExperimentUpdate) {
        HK_TRY(new_name, args.OptString("new_name"));
        if (new_name && !new_name->empty()) target.new_name = std::move(*new_name);
      }
      if (locate == Locate::kNewLoggedModel) {
        HK_TRY(run_id, args.OptString("source_run_id"));
        if (run_id && !run_id->empty()) {
          HK_TRY(experiment, ExperimentOfRun(tracking, *run_id));
          AddUnique(target.read_experiment_ids, std::move(experiment));
        }
      }
      return target;
    }
    case Locate::kExperimentIds: {
      HK_TRY(ids, args.StringList("experiment_ids"));
      for (std::string& id : ids) AddUnique(target.experiment_ids, std::move(id));
      return target;
    }
    case Locate::kExperimentName: {
      HK_TRY(name, args.ReqString("experiment_name"));
      HK_TRY(experiment, tracking.GetExperimentByName(name));
      target.experiment_ids.push_back(experiment.experiment_id);
      return target;
    }
    case Locate::kRun:
    case Locate::kRunAndModels: {
      HK_TRY(run_id, RunIdArg(args));
      HK_TRY(run_target, RunsTarget(tracking, {run_id}));
      if (locate == Locate::kRunAndModels) HK_CHECK(AddLinkedModels(tracking, args, run_target));
      return run_target;
    }
    case Locate::kRunIds:
    case Locate::kRunIdsPlural: {
      HK_TRY(run_ids, args.StringList(locate == Locate::kRunIds ? "run_id" : "run_ids"));
      return RunsTarget(tracking, run_ids);
    }
    case Locate::kModelName:
    case Locate::kModelRename: {
      HK_TRY(name, args.ReqString("name"));
      target.model_names.push_back(std::move(name));
      if (locate == Locate::kModelRename) {
        HK_TRY(new_name, args.OptString("new_name"));
        if (new_name && !new_name->empty()) target.new_name = std::move(*new_name);
      }
      return target;
    }
    case Locate::kNewModelVersion: {
      HK_TRY(name, args.ReqString("name"));
      target.model_names.push_back(std::move(name));
      HK_CHECK(AddSourceReads(tracking, args, target));
      return target;
    }
    case Locate::kListing:
    case Locate::kLoggedModel:
      break;
  }
  return Fail(ErrorCode::kInternalError, "unhandled target locator");
}

}  // namespace

http::TargetFinder MakeTargetFinder(Locate locate, store::TrackingStore& tracking) {
  return [locate, &tracking](const http::Request& request) {
    return Find(locate, tracking, request);
  };
}

}  // namespace hokusai::mlflow_api
