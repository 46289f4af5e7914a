// What handlers need to know about the caller the gate admitted: who they are (owner of what
// they create, user of the runs they start) and what their searches may return.
#pragma once

#include <optional>
#include <string>

#include "http/message.hpp"
#include "store/auth_store.hpp"

namespace hokusai::mlflow_api {

// The admitted user's id; empty when the request carries no principal (unit tests).
std::string CallerId(const http::Request& request);

// Restrictions for experiment and registered-model searches; nullopt: none.
std::optional<store::Visibility> ExperimentVisibility(const http::Request& request);
std::optional<store::Visibility> ModelVisibility(const http::Request& request);

}  // namespace hokusai::mlflow_api
