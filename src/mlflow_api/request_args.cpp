#include "mlflow_api/request_args.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/limits.hpp"
#include "common/util.hpp"

namespace hokusai::mlflow_api {

struct Args::Parsed {
  simdjson::dom::parser parser{limits::kMaxBodyBytes};
  simdjson::dom::element root;
};

Error MissingParameter(std::string_view key) {
  return Error{ErrorCode::kInvalidParameterValue,
               fmt::format("Missing value for required parameter '{}'. See the API docs for more "
                           "information about request parameters.",
                           key)};
}

Error WrongType(std::string_view key, std::string_view expected) {
  return Error{ErrorCode::kInvalidParameterValue,
               fmt::format("Invalid value for parameter '{}' supplied: expected {}.", key,
                           expected)};
}

namespace {

bool BodyIsEmpty(std::string_view body) {
  for (char c : body) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
  }
  return true;
}

std::optional<double> ParseDoubleText(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity" || text == "inf") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity" || text == "-inf") return -std::numeric_limits<double>::infinity();
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Result<Args> Args::From(const http::Request& request) {
  Args args;
  bool json = request.method != http::Method::kGet && !BodyIsEmpty(request.body);
  if (!json) {
    args.query_ = &request.query;
    return args;
  }
  auto parsed = std::make_shared<Parsed>();
  if (parsed->parser.allocate(request.body.size() + simdjson::SIMDJSON_PADDING,
                              limits::kMaxJsonDepth + 1) != simdjson::SUCCESS) {
    return Fail(ErrorCode::kInternalError, "out of memory");
  }
  auto error = parsed->parser.parse(request.body).get(parsed->root);
  if (error == simdjson::DEPTH_ERROR) {
    return InvalidParameter(fmt::format("Malformed JSON: nested deeper than {} levels",
                                        limits::kMaxJsonDepth));
  }
  if (error) {
    return InvalidParameter(fmt::format("Malformed JSON request body: {}",
                                        simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (parsed->root.get(object) != simdjson::SUCCESS) {
    return InvalidParameter("Malformed JSON request body: expected a JSON object");
  }
  args.parsed_ = std::move(parsed);
  args.object_ = object;
  args.is_json_ = true;
  return args;
}

std::optional<std::string_view> Args::QueryValue(std::string_view key) const {
  if (query_ == nullptr) return std::nullopt;
  for (const auto& [k, v] : *query_) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

Result<std::optional<simdjson::dom::element>> Args::Field(std::string_view key) const {
  simdjson::dom::element element;
  if (object_.at_key(key).get(element) != simdjson::SUCCESS) {
    return std::optional<simdjson::dom::element>();
  }
  if (element.is_null()) return std::optional<simdjson::dom::element>();
  return std::optional<simdjson::dom::element>(element);
}

Result<std::optional<std::string>> Args::OptString(std::string_view key) const {
  if (!is_json_) {
    auto value = QueryValue(key);
    if (!value) return std::optional<std::string>();
    return std::optional<std::string>(std::string(*value));
  }
  HK_TRY(field, Field(key));
  if (!field) return std::optional<std::string>();
  std::string_view text;
  if (field->get(text) != simdjson::SUCCESS) return tl::unexpected(WrongType(key, "a string"));
  return std::optional<std::string>(std::string(text));
}

Result<std::string> Args::ReqString(std::string_view key) const {
  HK_TRY(value, OptString(key));
  if (!value) return tl::unexpected(MissingParameter(key));
  return std::move(*value);
}

Result<std::optional<int64_t>> Args::OptInt(std::string_view key) const {
  std::string_view text;
  if (!is_json_) {
    auto value = QueryValue(key);
    if (!value) return std::optional<int64_t>();
    text = *value;
  } else {
    HK_TRY(field, Field(key));
    if (!field) return std::optional<int64_t>();
    int64_t number = 0;
    if (field->get(number) == simdjson::SUCCESS) return std::optional<int64_t>(number);
    double real = 0;
    if (field->get(real) == simdjson::SUCCESS) {
      if (std::floor(real) == real && std::abs(real) < 9.2e18) {
        return std::optional<int64_t>(static_cast<int64_t>(real));
      }
      return tl::unexpected(WrongType(key, "an integer"));
    }
    if (field->get(text) != simdjson::SUCCESS) return tl::unexpected(WrongType(key, "an integer"));
  }
  auto parsed = ParseInt64(text);
  if (!parsed) return tl::unexpected(WrongType(key, "an integer"));
  return std::optional<int64_t>(*parsed);
}

Result<int64_t> Args::ReqInt(std::string_view key) const {
  HK_TRY(value, OptInt(key));
  if (!value) return tl::unexpected(MissingParameter(key));
  return *value;
}

Result<std::optional<double>> Args::OptDouble(std::string_view key) const {
  std::string_view text;
  if (!is_json_) {
    auto value = QueryValue(key);
    if (!value) return std::optional<double>();
    text = *value;
  } else {
    HK_TRY(field, Field(key));
    if (!field) return std::optional<double>();
    double number = 0;
    if (field->get(number) == simdjson::SUCCESS) return std::optional<double>(number);
    if (field->get(text) != simdjson::SUCCESS) return tl::unexpected(WrongType(key, "a number"));
  }
  auto parsed = ParseDoubleText(text);
  if (!parsed) return tl::unexpected(WrongType(key, "a number"));
  return std::optional<double>(*parsed);
}

Result<double> Args::ReqDouble(std::string_view key) const {
  HK_TRY(value, OptDouble(key));
  if (!value) return tl::unexpected(MissingParameter(key));
  return *value;
}

Result<std::optional<bool>> Args::OptBool(std::string_view key) const {
  if (!is_json_) {
    auto value = QueryValue(key);
    if (!value) return std::optional<bool>();
    std::string lower(*value);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true") return std::optional<bool>(true);
    if (lower == "false") return std::optional<bool>(false);
    return tl::unexpected(WrongType(key, "a boolean"));
  }
  HK_TRY(field, Field(key));
  if (!field) return std::optional<bool>();
  bool value = false;
  if (field->get(value) != simdjson::SUCCESS) return tl::unexpected(WrongType(key, "a boolean"));
  return std::optional<bool>(value);
}

Result<std::vector<std::string>> Args::StringList(std::string_view key) const {
  std::vector<std::string> out;
  if (!is_json_) {
    if (query_ == nullptr) return out;
    for (const auto& [k, v] : *query_) {
      if (k == key) out.push_back(v);
    }
    return out;
  }
  HK_TRY(field, Field(key));
  if (!field) return out;
  simdjson::dom::array array;
  if (field->get(array) != simdjson::SUCCESS) {
    return tl::unexpected(WrongType(key, "a list of strings"));
  }
  for (simdjson::dom::element item : array) {
    std::string_view text;
    if (item.get(text) != simdjson::SUCCESS) {
      return tl::unexpected(WrongType(key, "a list of strings"));
    }
    out.emplace_back(text);
  }
  return out;
}

Result<std::vector<Args>> Args::ObjectList(std::string_view key) const {
  std::vector<Args> out;
  if (!is_json_) return out;
  HK_TRY(field, Field(key));
  if (!field) return out;
  simdjson::dom::array array;
  if (field->get(array) != simdjson::SUCCESS) {
    return tl::unexpected(WrongType(key, "a list of objects"));
  }
  out.reserve(array.size());
  for (simdjson::dom::element item : array) {
    simdjson::dom::object object;
    if (item.get(object) != simdjson::SUCCESS) {
      return tl::unexpected(WrongType(key, "a list of objects"));
    }
    Args sub;
    sub.parsed_ = parsed_;
    sub.object_ = object;
    sub.is_json_ = true;
    out.push_back(std::move(sub));
  }
  return out;
}

Result<std::optional<Args>> Args::OptObject(std::string_view key) const {
  if (!is_json_) return std::optional<Args>();
  HK_TRY(field, Field(key));
  if (!field) return std::optional<Args>();
  simdjson::dom::object object;
  if (field->get(object) != simdjson::SUCCESS) return tl::unexpected(WrongType(key, "an object"));
  Args sub;
  sub.parsed_ = parsed_;
  sub.object_ = object;
  sub.is_json_ = true;
  return std::optional<Args>(std::move(sub));
}

std::vector<std::string> Args::MemberNames() const {
  std::vector<std::string> names;
  if (!is_json_) return names;
  for (auto field : object_) names.emplace_back(field.key);
  return names;
}

}  // namespace hokusai::mlflow_api
