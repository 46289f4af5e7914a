#include "mlflow_api/validation.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

#include <fmt/format.h>

#include "common/limits.hpp"
#include "common/util.hpp"

namespace hokusai::mlflow_api {
namespace {

bool IsKeyChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c == ':' || c >= 0x80;
}


}  // namespace

std::size_t CodePoints(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

Result<void> ValidateKey(std::string_view key, std::string_view what) {
  for (char c : key) {
    if (!IsKeyChar(static_cast<unsigned char>(c))) {
      return InvalidParameter(fmt::format(
          "Invalid value '{}' for parameter '{}' supplied: Names may only contain alphanumerics, "
          "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/).",
          key, what));
    }
  }
  // As posixpath.normpath would: a name that normalizes to something else, to ".", or to a path
  // starting with ".." (which includes "...x") is refused.
  bool not_unique = key.empty() || key.front() == '/' || key.back() == '/' ||
                    key.find("//") != std::string_view::npos || key.substr(0, 2) == "..";
  std::size_t start = 0;
  while (!not_unique && start <= key.size()) {
    std::size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment == "." || segment == "..") not_unique = true;
    start = end + 1;
  }
  if (not_unique) {
    return InvalidParameter(fmt::format(
        "Invalid value '{}' for parameter '{}' supplied: Names may be treated as files in certain "
        "cases, and must not resolve to other names when treated as such.",
        key, what));
  }
  if (CodePoints(key) > limits::kMaxEntityKeyLength) {
    return InvalidParameter(fmt::format("'{}' exceeds the maximum length of {} characters", what,
                                        limits::kMaxEntityKeyLength));
  }
  return {};
}

std::string TruncateValue(std::string value, std::size_t limit) {
  std::size_t points = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if ((static_cast<unsigned char>(value[i]) & 0xc0) == 0x80) continue;
    if (points == limit) {
      value.resize(i);
      break;
    }
    ++points;
  }
  return value;
}

Result<void> ValidateMetric(const store::Metric& metric) {
  HK_CHECK(ValidateKey(metric.key, "key"));
  if (metric.timestamp < 0) {
    return InvalidParameter(fmt::format(
        "Invalid value {} for parameter 'timestamp' supplied: must be non-negative",
        metric.timestamp));
  }
  return {};
}

Result<void> ValidateBatchLimits(std::size_t metrics, std::size_t params, std::size_t tags) {
  auto check = [](std::string_view entity, std::size_t limit, std::size_t length) -> Result<void> {
    if (length > limit) {
      return InvalidParameter(fmt::format(
          "A batch logging request can contain at most {} {}. Got {} {}. Please split up {} "
          "across multiple requests and try again.",
          limit, entity, length, entity, entity));
    }
    return {};
  };
  HK_CHECK(check("metrics", limits::kMaxBatchMetrics, metrics));
  HK_CHECK(check("params", limits::kMaxBatchParams, params));
  HK_CHECK(check("tags", limits::kMaxBatchTags, tags));
  HK_CHECK(check("metrics, params, and tags", limits::kMaxBatchEntities, metrics + params + tags));
  return {};
}

Result<void> ValidateExperimentName(std::string_view name) {
  if (name.empty()) return InvalidParameter("Invalid experiment name: ''");
  if (CodePoints(name) > limits::kMaxExperimentNameLength) {
    return InvalidParameter(fmt::format("Experiment name exceeds the maximum length of {} "
                                        "characters",
                                        limits::kMaxExperimentNameLength));
  }
  return {};
}

Result<void> ValidateExperimentTag(const store::Tag& tag) {
  HK_CHECK(ValidateKey(tag.key, "key"));
  if (CodePoints(tag.value) > limits::kMaxExperimentTagValueLength) {
    return InvalidParameter(fmt::format("Experiment tag value exceeds the maximum length of {} "
                                        "characters",
                                        limits::kMaxExperimentTagValueLength));
  }
  return {};
}

Result<void> ValidateRunId(std::string_view run_id) {
  bool ok = !run_id.empty() && run_id.size() <= 256 &&
            (std::isalnum(static_cast<unsigned char>(run_id[0])) != 0);
  for (char c : run_id) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-');
  }
  if (!ok) {
    return InvalidParameter(
        fmt::format("Invalid value '{}' for parameter 'run_id' supplied", run_id));
  }
  return {};
}

Result<int64_t> DecodePageToken(std::string_view token) {
  if (token.empty()) return 0;
  auto bad = [] { return InvalidParameter("Invalid page token, could not base64-decode"); };
  if (token.size() > limits::kMaxPageTokenLength) return bad();
  auto decoded = Base64Decode(token);
  if (!decoded) return bad();
  std::string_view text = *decoded;
  constexpr std::string_view kPrefix = "{\"offset\": ";
  if (text.substr(0, kPrefix.size()) != kPrefix || text.empty() || text.back() != '}') {
    return bad();
  }
  auto offset = ParseInt64(text.substr(kPrefix.size(), text.size() - kPrefix.size() - 1));
  if (!offset || *offset < 0) return bad();
  return *offset;
}

std::string EncodePageToken(int64_t offset) {
  return Base64Encode(fmt::format("{{\"offset\": {}}}", offset));
}

namespace {
constexpr std::string_view kHistoryTokenPrefix = "{\"after\": [";
constexpr std::string_view kHistoryTokenSuffix = "]}";
}  // namespace

std::string EncodeMetricHistoryToken(const store::Metric& last) {
  bool is_nan = std::isnan(last.value);
  double stored = is_nan ? 0.0 : last.value;
  return Base64Encode(fmt::format("{}{}, {}, {}, {}{}", kHistoryTokenPrefix, last.timestamp,
                                  last.step, std::bit_cast<int64_t>(stored), is_nan ? 1 : 0,
                                  kHistoryTokenSuffix));
}

Result<std::optional<store::MetricCursor>> DecodeMetricHistoryToken(std::string_view token) {
  if (token.empty()) return std::nullopt;
  auto bad = [] { return InvalidParameter("Invalid page token, could not base64-decode"); };
  if (token.size() > limits::kMaxPageTokenLength) return bad();
  auto decoded = Base64Decode(token);
  if (!decoded) return bad();
  std::string_view text = *decoded;
  if (!text.starts_with(kHistoryTokenPrefix) || !text.ends_with(kHistoryTokenSuffix)) return bad();
  text = text.substr(kHistoryTokenPrefix.size(),
                     text.size() - kHistoryTokenPrefix.size() - kHistoryTokenSuffix.size());
  std::array<int64_t, 4> fields{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::size_t comma = i + 1 < fields.size() ? text.find(", ") : text.size();
    if (comma == std::string_view::npos) return bad();
    auto field = ParseInt64(text.substr(0, comma));
    if (!field) return bad();
    fields[i] = *field;
    text.remove_prefix(std::min(text.size(), comma + 2));
  }
  double value = std::bit_cast<double>(fields[2]);
  if (!text.empty() || !std::isfinite(value) || (fields[3] != 0 && fields[3] != 1)) return bad();
  return store::MetricCursor{fields[0], fields[1], value, fields[3] == 1};
}

}  // namespace hokusai::mlflow_api
