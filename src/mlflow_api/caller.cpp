#include "mlflow_api/caller.hpp"

#include "auth/principal.hpp"

namespace hokusai::mlflow_api {

std::string CallerId(const http::Request& request) {
  return request.principal ? request.principal->user().user_id : std::string();
}

std::optional<store::Visibility> ExperimentVisibility(const http::Request& request) {
  return request.principal ? request.principal->experiment_visibility : std::nullopt;
}

std::optional<store::Visibility> ModelVisibility(const http::Request& request) {
  return request.principal ? request.principal->model_visibility : std::nullopt;
}

}  // namespace hokusai::mlflow_api
