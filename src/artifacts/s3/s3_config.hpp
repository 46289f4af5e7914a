// How the S3 artifact store is configured: the destination URI, the settings read from the
// environment (the variables MLflow and the AWS tools use), the S3 store's named limits, and the
// object keys and URLs derived from them. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace hokusai::artifacts {

// Uploads are sent in parts of this size; a writer holds at most one part in memory. S3 wants
// parts of at least 5 MiB (except the last) and at most 10,000 of them, so 8 MiB parts allow
// objects up to about 78 GiB, above the server's streamed-body limit.
inline constexpr std::size_t kS3PartSizeBytes = 8 * 1024 * 1024;
inline constexpr int kS3MaxParts = 10000;
// XML answers (listings, errors) larger than this are refused rather than held in memory. A full
// ListObjectsV2 page of 1000 maximal keys is about 4.5 MB.
inline constexpr std::size_t kS3MaxResponseBodyBytes = 16 * 1024 * 1024;
// DeleteObjects takes at most 1000 keys per request.
inline constexpr std::size_t kS3MaxKeysPerDelete = 1000;
// Transient failures (connection errors, 5xx, 429, SlowDown, RequestTimeout) are tried this many
// times in all. Before try n+1 the wait is base * 2^(n-1), capped, of which the upper half is
// random (see S3RetryDelay).
inline constexpr int kS3MaxAttempts = 4;
inline constexpr int kS3RetryBaseDelayMs = 200;
inline constexpr int kS3RetryMaxDelayMs = 5000;
inline constexpr int kS3ConnectTimeoutSeconds = 10;
// A transfer moving less than 1 byte/s for this long is abandoned (and retried). Not a total
// timeout: large objects may take as long as they need while bytes keep moving.
inline constexpr int kS3StallTimeoutSeconds = 60;
// Idle curl handles kept for connection reuse.
inline constexpr std::size_t kS3MaxIdleHandles = 16;
inline constexpr std::string_view kS3DefaultRegion = "us-east-1";

// "s3://bucket/optional/prefix", parsed. `prefix` has no leading or trailing '/' ("" for none).
struct S3Location {
  std::string bucket;
  std::string prefix;
};

// Parses an s3:// destination. The bucket must follow S3's naming rules (3-63 characters of
// a-z, 0-9, '.', '-'); the prefix must be a valid artifact path.
Result<S3Location> ParseS3Uri(std::string_view uri);

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" when not using temporary credentials
};

// Knobs with production defaults; tests shrink them to stay fast.
struct S3Tuning {
  std::size_t part_size_bytes = kS3PartSizeBytes;
  int max_attempts = kS3MaxAttempts;
  int retry_base_delay_ms = kS3RetryBaseDelayMs;
  int retry_max_delay_ms = kS3RetryMaxDelayMs;
  int connect_timeout_seconds = kS3ConnectTimeoutSeconds;
  int stall_timeout_seconds = kS3StallTimeoutSeconds;
};

struct S3Config {
  S3Location location;
  std::string region;
  // "" for AWS itself (virtual-hosted URLs); otherwise "http(s)://host[:port][/base]" without a
  // trailing '/', addressed path-style.
  std::string endpoint;
  S3Credentials credentials;
  std::string ca_bundle;  // PEM file to verify TLS with instead of the system store, or ""
  S3Tuning tuning;
};

// Reads one environment variable; nullopt when unset. Injected so tests need no setenv.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The process environment (std::getenv); call at start-up only.
std::optional<std::string> ProcessEnvironment(const char* name);

// Completes `location` from the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// (required), AWS_SESSION_TOKEN, AWS_REGION or AWS_DEFAULT_REGION (default us-east-1), the
// endpoint from MLFLOW_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (first set wins),
// AWS_CA_BUNDLE. Error messages name variables, never their values.
Result<S3Config> S3ConfigFromEnvironment(S3Location location, const EnvLookup& env);

// Percent-encodes as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other
// byte becomes %XX in upper case; '/' stays when `keep_slash`.
std::string S3UriEncode(std::string_view text, bool keep_slash);

// The object key of artifact `path` (prefix + "/" + path; a trailing '/' on `path` is dropped).
std::string S3ObjectKey(const S3Location& location, std::string_view path);

// The key prefix whose objects are the children of directory `path` ("" for the root of an
// unprefixed bucket, otherwise ending in '/').
std::string S3DirectoryPrefix(const S3Location& location, std::string_view path);

// The URL of the bucket itself (for ListObjectsV2, DeleteObjects).
std::string S3BucketUrl(const S3Config& config);

// The URL of object `key`, each path segment encoded.
std::string S3ObjectUrl(const S3Config& config, std::string_view key);

// A query string in SigV4 canonical form: names and values encoded, sorted, "name=" for empty
// values. Sent verbatim, so the signature is right whether or not libcurl canonicalizes.
std::string S3CanonicalQuery(std::vector<std::pair<std::string, std::string>> params);

}  // namespace hokusai::artifacts
