// Request parameters as MLflow handlers read them: from the JSON body for POST/PATCH/DELETE
// (falling back to the query string when a DELETE has no body), from the query string for GET.
// Type rules follow protobuf JSON: int64 may arrive as a number or a numeric string, doubles
// also as "NaN"/"Infinity"/"-Infinity", enums as names. Errors are INVALID_PARAMETER_VALUE
// with MLflow's wording for missing parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::mlflow_api {

class Args {
 public:
  // Parses the request once. Malformed JSON, a non-object body or nesting deeper than
  // limits::kMaxJsonDepth is an error.
  static Result<Args> From(const http::Request& request);

  Result<std::optional<std::string>> OptString(std::string_view key) const;
  Result<std::string> ReqString(std::string_view key) const;
  Result<std::optional<int64_t>> OptInt(std::string_view key) const;
  Result<int64_t> ReqInt(std::string_view key) const;
  Result<std::optional<double>> OptDouble(std::string_view key) const;
  Result<double> ReqDouble(std::string_view key) const;
  Result<std::optional<bool>> OptBool(std::string_view key) const;
  // A repeated string field: a JSON array of strings, or repeated query keys.
  Result<std::vector<std::string>> StringList(std::string_view key) const;
  // A repeated message field (JSON only; absent gives an empty list).
  Result<std::vector<Args>> ObjectList(std::string_view key) const;
  Result<std::optional<Args>> OptObject(std::string_view key) const;
  // The member names of a JSON object, in order, duplicates kept; empty for query parameters.
  std::vector<std::string> MemberNames() const;

 private:
  struct Parsed;  // keeps the parser and document alive for all sub-objects
  Args() = default;
  std::shared_ptr<Parsed> parsed_;
  simdjson::dom::object object_;
  const http::QueryParams* query_ = nullptr;
  bool is_json_ = false;

  Result<std::optional<simdjson::dom::element>> Field(std::string_view key) const;
  std::optional<std::string_view> QueryValue(std::string_view key) const;
};

Error MissingParameter(std::string_view key);
Error WrongType(std::string_view key, std::string_view expected);

}  // namespace hokusai::mlflow_api
