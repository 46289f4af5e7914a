// The one place a request target becomes the path the router, authorization and handlers use
// (security principle 2): decoded once, mount prefix stripped, /ajax-api mapped to /api, and
// anything still ambiguous refused.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "http/message.hpp"

namespace hokusai::http {

struct CanonicalTarget {
  std::string path;
  QueryParams query;
};

// Canonicalizes an origin-form request target ("/path?query").
// Refused with BAD_REQUEST (400): targets not starting with '/', encoded '/', '\', '.', '%' or
// NUL, bad percent escapes, control characters, backslashes, ';', empty segments ("//"), and
// "." or ".." segments. Exactly one mount prefix is stripped: `static_prefix` (if non-empty),
// "/api/mlflow" or "/mlflow". Then a leading "/ajax-api/" becomes "/api/".
Result<CanonicalTarget> Canonicalize(std::string_view target, std::string_view static_prefix);

// Checks a --static-prefix value: empty, or "/" followed by safe segments, no trailing slash.
Result<std::string> NormalizeStaticPrefix(std::string_view prefix);

// Percent-decodes a query component ('+' means space). Fails on a malformed escape.
Result<std::string> DecodeQueryComponent(std::string_view text);

}  // namespace hokusai::http
