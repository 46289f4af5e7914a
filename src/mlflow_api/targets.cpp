#include "mlflow_api/targets.hpp"

#include <memory>

#include "artifacts/artifact_repository.hpp"

#include "mlflow_api/handlers.hpp"
#include "mlflow_api/registry_handlers.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Target;

Result<std::string> ExperimentOfRun(ResourceLocator& locator, const std::string& run_id) {
  HK_CHECK(ValidateRunId(run_id));
  return locator.ExperimentOfRun(run_id);
}

Result<std::string> ExperimentOfLoggedModel(ResourceLocator& locator,
                                            const std::string& model_id) {
  return locator.ExperimentOfLoggedModel(model_id);
}

void AddUnique(std::vector<std::string>& list, std::string value) {
  for (const std::string& existing : list) {
    if (existing == value) return;
  }
  list.push_back(std::move(value));
}

Result<Target> RunsTarget(ResourceLocator& locator, const std::vector<std::string>& run_ids) {
  Target target;
  for (const std::string& run_id : run_ids) {
    HK_TRY(experiment, ExperimentOfRun(locator, run_id));
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
Result<void> AddSourceReads(ResourceLocator& locator, const Args& args, Target& target) {
  HK_TRY(source, args.OptString("source"));
  if (source && !source->empty()) {
    // The handler applies the prompt rules; here a prompt placeholder simply names nothing.
    auto parsed = ParseModelVersionSource(*source, true);
    if (!parsed) return tl::unexpected(parsed.error());
    using Kind = store::ModelVersionSource::Kind;
    switch (parsed->kind) {
      case Kind::kRun: {
        HK_CHECK(
            AddIfExists(ExperimentOfRun(locator, parsed->run_id), target.read_experiment_ids));
        break;
      }
      case Kind::kRunArtifacts:
      case Kind::kModelArtifacts: {
        std::string path = parsed->kind == Kind::kRunArtifacts
                               ? parsed->experiment_id + "/" + parsed->run_id + "/artifacts"
                               : parsed->experiment_id + "/models/" + parsed->model_id +
                                     "/artifacts";
        HK_TRY(experiment, locator.ExperimentOfArtifactPath(path));
        AddUnique(target.read_experiment_ids, std::move(experiment));
        break;
      }
      case Kind::kLoggedModel: {
        HK_CHECK(AddIfExists(ExperimentOfLoggedModel(locator, parsed->model_id),
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
    HK_CHECK(AddIfExists(ExperimentOfRun(locator, *run_id), target.read_experiment_ids));
  }
  HK_TRY(model_id, args.OptString("model_id"));
  if (model_id && !model_id->empty()) {
    HK_CHECK(AddIfExists(ExperimentOfLoggedModel(locator, *model_id), target.read_experiment_ids));
  }
  return {};
}

// The logged models a tracking write links to its run.
Result<void> AddLinkedModels(ResourceLocator& locator, const Args& args, Target& target) {
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
    HK_TRY(experiment, ExperimentOfLoggedModel(locator, id));
    AddUnique(target.experiment_ids, std::move(experiment));
  }
  return {};
}

Result<Target> Find(Locate locate, ResourceLocator& locator, const http::Request& request) {
  Target target;
  if (locate == Locate::kListing) {
    target.listing = true;
    return target;
  }
  if (locate == Locate::kLoggedModel) {
    HK_TRY(experiment,
           ExperimentOfLoggedModel(locator, std::string(request.PathParam("model_id"))));
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
          HK_TRY(experiment, ExperimentOfRun(locator, *run_id));
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
      HK_TRY(experiment_id, locator.ExperimentIdByName(name));
      target.experiment_ids.push_back(experiment_id);
      return target;
    }
    case Locate::kRun:
    case Locate::kRunAndModels: {
      HK_TRY(run_id, RunIdArg(args));
      HK_TRY(run_target, RunsTarget(locator, {run_id}));
      if (locate == Locate::kRunAndModels) HK_CHECK(AddLinkedModels(locator, args, run_target));
      return run_target;
    }
    case Locate::kRunIds:
    case Locate::kRunIdsPlural: {
      HK_TRY(run_ids, args.StringList(locate == Locate::kRunIds ? "run_id" : "run_ids"));
      return RunsTarget(locator, run_ids);
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
      HK_CHECK(AddSourceReads(locator, args, target));
      return target;
    }
    case Locate::kListing:
    case Locate::kLoggedModel:
      break;
  }
  return Fail(ErrorCode::kInternalError, "unhandled target locator");
}

}  // namespace

http::TargetFinder MakeTargetFinder(Locate locate, ResourceLocator& locator) {
  return [locate, &locator](const http::Request& request) {
    return Find(locate, locator, request);
  };
}

http::TargetFinder MakeTargetFinder(Locate locate, store::TrackingStore& tracking) {
  auto locator = std::make_shared<StoreLocator>(tracking);
  return [locate, locator](const http::Request& request) {
    return Find(locate, *locator, request);
  };
}

http::TargetFinder MakeArtifactPathFinder(bool path_in_query, ResourceLocator& locator) {
  return [path_in_query, &locator](const http::Request& request) -> Result<Target> {
    std::string path;
    if (path_in_query) {
      HK_TRY(args, Args::From(request));
      HK_TRY(value, args.OptString("path"));
      path = value.value_or("");
    } else {
      path = std::string(request.PathParam("path"));
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    HK_CHECK(artifacts::ValidateArtifactPath(path, true));
    HK_TRY(experiment, locator.ExperimentOfArtifactPath(path));
    Target target;
    target.experiment_ids.push_back(std::move(experiment));
    return target;
  };
}

// ---- StoreLocator ----------------------------------------------------------------------------

Result<std::string> StoreLocator::ExperimentOfRun(const std::string& run_id) {
  {
    std::lock_guard lock(runs_mutex_);
    if (auto kept = run_experiments_.find(run_id); kept != run_experiments_.end()) {
      return kept->second;
    }
  }
  HK_TRY(info, tracking_.GetRunInfo(run_id));
  std::lock_guard lock(runs_mutex_);
  if (run_experiments_.size() >= kMaxKeptRuns) run_experiments_.clear();
  run_experiments_.emplace(run_id, info.experiment_id);
  return std::move(info.experiment_id);
}

Result<std::string> StoreLocator::ExperimentOfLoggedModel(const std::string& model_id) {
  HK_TRY(model, tracking_.GetLoggedModelIncludingDeleted(model_id));
  return model.experiment_id;
}

Result<std::string> StoreLocator::ExperimentIdByName(const std::string& name) {
  HK_TRY(experiment, tracking_.GetExperimentByName(name));
  return experiment.experiment_id;
}

Result<std::string> StoreLocator::ExperimentOfArtifactPath(std::string_view path) {
  return mlflow_api::ExperimentOfArtifactPath(tracking_, path);
}

Result<std::string> StoreLocator::ExperimentName(const std::string& experiment_id) {
  HK_TRY(experiment, tracking_.GetExperiment(experiment_id));
  return experiment.name;
}

}  // namespace hokusai::mlflow_api
