// MLflow's entity validation rules (names, lengths, batch limits), shared by all handlers.
// Every failure is INVALID_PARAMETER_VALUE.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "store/types.hpp"

namespace hokusai::mlflow_api {

// Metric, param and tag keys: `[/\w.\- :]` characters, at most 250 long, and unchanged when
// normalized as a POSIX path (no "//", "." or ".." segments, no leading or trailing '/').
Result<void> ValidateKey(std::string_view key, std::string_view what);

// Length in Unicode code points (how MLflow, in Python, measures names and values).
std::size_t CodePoints(std::string_view text);

// Truncates `value` to `limit` code points (MLflow truncates over-long param and tag values
// rather than failing).
std::string TruncateValue(std::string value, std::size_t limit);

Result<void> ValidateMetric(const store::Metric& metric);
Result<void> ValidateBatchLimits(std::size_t metrics, std::size_t params, std::size_t tags);
Result<void> ValidateExperimentName(std::string_view name);
Result<void> ValidateExperimentTag(const store::Tag& tag);
Result<void> ValidateRunId(std::string_view run_id);

// Decodes a page token issued by EncodePageToken. Empty token: offset 0.
Result<int64_t> DecodePageToken(std::string_view token);
std::string EncodePageToken(int64_t offset);

// metrics/get-history pages resume after a point rather than at an offset: the token is base64
// of {"after": [timestamp, step, value bits, is_nan]}, the value as its IEEE-754 bits so the
// seek restarts on exactly the stored double. Empty token: nullopt (the first page).
std::string EncodeMetricHistoryToken(const store::Metric& last);
Result<std::optional<store::MetricCursor>> DecodeMetricHistoryToken(std::string_view token);

}  // namespace hokusai::mlflow_api
