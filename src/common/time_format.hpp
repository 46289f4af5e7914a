// RFC 3339 times as the Hokusai API writes and reads them ("2026-11-23T10:00:00Z"), and as
// external auth services send them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace hokusai {

// `ms` since the epoch as UTC with whole seconds (milliseconds are dropped, rounding down).
std::string FormatRfc3339(int64_t ms);

// An RFC 3339 date-time (`T`/`t`, optional fraction, `Z`/`z` or `±HH:MM`) in milliseconds since
// the epoch; digits beyond milliseconds are truncated. nullopt when malformed or out of range
// (years 0000–9999). `lenient` also reads what Python services emit for naive datetimes: a space
// for `T`, and no offset (taken as UTC).
std::optional<int64_t> ParseRfc3339(std::string_view text, bool lenient = false);

// A time parameter: RFC 3339, or non-negative integer milliseconds since the epoch.
// INVALID_PARAMETER_VALUE naming `field` otherwise.
Result<int64_t> ParseTimeArg(std::string_view text, std::string_view field);

}  // namespace hokusai
