// Error values and Result<T>: how every expected failure travels through the code.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace hokusai {

// The MLflow error codes this server emits (names as in databricks.proto's ErrorCode).
enum class ErrorCode {
  kInternalError,
  kInvalidParameterValue,
  kBadRequest,
  kResourceAlreadyExists,
  kResourceDoesNotExist,
  kInvalidState,
  kUnauthenticated,
  kPermissionDenied,
  kRequestLimitExceeded,
  kTemporarilyUnavailable,
  kNotImplemented,
  kResourceConflict,
};

// The enum name as MLflow spells it on the wire, e.g. "RESOURCE_DOES_NOT_EXIST".
std::string_view ErrorCodeName(ErrorCode code);

// The HTTP status the MLflow reference server uses for `code`.
int HttpStatusFor(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternalError;
  std::string message;
  // Extra response headers (WWW-Authenticate, Retry-After, RateLimit-*).
  std::vector<std::pair<std::string, std::string>> headers = {};
  // Extra members of the JSON error body, already rendered ("\"detail\":\"...\""), or empty.
  std::string extra_json = {};
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for returning an error: `return Fail(ErrorCode::kBadRequest, "...")`.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

inline tl::unexpected<Error> InvalidParameter(std::string message) {
  return Fail(ErrorCode::kInvalidParameterValue, std::move(message));
}

}  // namespace hokusai

// Early return on error. HK_TRY(x, Expr()) declares `x` as a reference to the value;
// HK_CHECK(Expr()) is for Result<void>.
#define HK_CONCAT_INNER(a, b) a##b
#define HK_CONCAT(a, b) HK_CONCAT_INNER(a, b)
#define HK_TRY(name, expr)                                                         \
  auto HK_CONCAT(name, _result_) = (expr);                                        \
  if (!HK_CONCAT(name, _result_)) {                                               \
    return tl::unexpected(std::move(HK_CONCAT(name, _result_).error()));          \
  }                                                                               \
  [[maybe_unused]] auto& name = *HK_CONCAT(name, _result_)
#define HK_CHECK(expr)                                                            \
  do {                                                                            \
    auto hk_check_result_ = (expr);                                               \
    if (!hk_check_result_) return tl::unexpected(std::move(hk_check_result_.error())); \
  } while (false)
