// Small helpers with no better home: clock, random ids, base64, run names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hokusai {

// Milliseconds since the Unix epoch.
int64_t NowMillis();

// 32 lowercase hex characters from the OS CSPRNG (the MLflow run-id shape).
std::string NewHexId();

// "adjective-animal-NNN", as MLflow names unnamed runs.
std::string RandomRunName();

std::string Base64Encode(std::string_view data);
// Standard alphabet with padding; nullopt on malformed input.
std::optional<std::string> Base64Decode(std::string_view text);

// Strict decimal int64 parse of the whole string.
std::optional<int64_t> ParseInt64(std::string_view text);

}  // namespace hokusai
