#include "common/error.hpp"

namespace hokusai {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternalError: return "INTERNAL_ERROR";
    case ErrorCode::kInvalidParameterValue: return "INVALID_PARAMETER_VALUE";
    case ErrorCode::kBadRequest: return "BAD_REQUEST";
    case ErrorCode::kResourceAlreadyExists: return "RESOURCE_ALREADY_EXISTS";
    case ErrorCode::kResourceDoesNotExist: return "RESOURCE_DOES_NOT_EXIST";
    case ErrorCode::kInvalidState: return "INVALID_STATE";
    case ErrorCode::kUnauthenticated: return "UNAUTHENTICATED";
    case ErrorCode::kPermissionDenied: return "PERMISSION_DENIED";
    case ErrorCode::kRequestLimitExceeded: return "REQUEST_LIMIT_EXCEEDED";
    case ErrorCode::kTemporarilyUnavailable: return "TEMPORARILY_UNAVAILABLE";
    case ErrorCode::kNotImplemented: return "NOT_IMPLEMENTED";
    case ErrorCode::kResourceConflict: return "RESOURCE_CONFLICT";
  }
  return "INTERNAL_ERROR";
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidParameterValue:
    case ErrorCode::kBadRequest:
    case ErrorCode::kResourceAlreadyExists: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kResourceDoesNotExist: return 404;
    case ErrorCode::kResourceConflict: return 409;
    case ErrorCode::kRequestLimitExceeded: return 429;
    case ErrorCode::kNotImplemented: return 501;
    case ErrorCode::kTemporarilyUnavailable: return 503;
    case ErrorCode::kInternalError:
    case ErrorCode::kInvalidState: return 500;
  }
  return 500;
}

}  // namespace hokusai
