// The one place an Error becomes an HTTP status and an MLflow-style JSON body.
#pragma once

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::http {

// Status from HttpStatusFor(error.code); body {"error_code": NAME, "message": text}.
Response ErrorResponse(const Error& error);

// 404 with an empty body: what an unknown route gets (the MLflow client maps it to
// ENDPOINT_NOT_FOUND and falls back).
Response NotFoundResponse();

}  // namespace hokusai::http
