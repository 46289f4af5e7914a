#include "artifacts/s3/s3_config.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "artifacts/artifact_repository.hpp"

namespace hokusai::artifacts {
namespace {

constexpr std::string_view kScheme = "s3://";
constexpr std::size_t kMinBucketLength = 3;
constexpr std::size_t kMaxBucketLength = 63;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// The bucket becomes part of a host name and of every URL, so only S3's own naming rules pass.
Result<void> ValidateBucket(std::string_view bucket) {
  auto bad = [](std::string_view why) {
    // The name is not echoed: a mistyped URI may carry credentials ("s3://key:secret@...").
    return InvalidParameter(fmt::format("Invalid S3 bucket name: {}", why));
  };
  if (bucket.size() < kMinBucketLength || bucket.size() > kMaxBucketLength) {
    return bad("must be 3 to 63 characters");
  }
  for (char c : bucket) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-') {
      return bad("only lowercase letters, digits, '.' and '-' are allowed");
    }
  }
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) {
    return bad("must start and end with a letter or digit");
  }
  if (bucket.find("..") != std::string_view::npos) return bad("must not contain '..'");
  return {};
}

// The region is part of a host name and of curl's "aws:amz:<region>:s3" parameter.
Result<void> ValidateRegion(std::string_view region) {
  bool ok = !region.empty() && std::all_of(region.begin(), region.end(),
                                           [](char c) { return IsLowerAlnum(c) || c == '-'; });
  if (!ok) return InvalidParameter("Invalid AWS region: use letters, digits and '-' only");
  return {};
}

Result<std::string> NormalizeEndpoint(std::string endpoint, const char* variable) {
  bool http = endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0;
  bool clean = endpoint.find_first_of("?# \t\r\n") == std::string::npos;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!http || !clean || endpoint.find("://") + 3 >= endpoint.size()) {
    return InvalidParameter(
        fmt::format("{} must be an http:// or https:// URL without query or fragment", variable));
  }
  return endpoint;
}

// The first of `names` that is set and non-empty.
std::optional<std::pair<const char*, std::string>> FirstSet(
    const EnvLookup& env, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    std::optional<std::string> value = env(name);
    if (value && !value->empty()) return std::make_pair(name, std::move(*value));
  }
  return std::nullopt;
}

// Dotted bucket names do not match the *.s3.<region>.amazonaws.com certificate, so they are
// addressed path-style on the regional endpoint (as the AWS SDKs do).
bool UsesPathStyle(const S3Config& config) {
  return !config.endpoint.empty() || config.location.bucket.find('.') != std::string::npos;
}

std::string Origin(const S3Config& config) {
  if (!config.endpoint.empty()) return config.endpoint;
  if (UsesPathStyle(config)) return fmt::format("https://s3.{}.amazonaws.com", config.region);
  return fmt::format("https://{}.s3.{}.amazonaws.com", config.location.bucket, config.region);
}

}  // namespace

Result<S3Location> ParseS3Uri(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return InvalidParameter("An S3 artifact destination must look like s3://bucket/prefix");
  }
  std::string_view rest = uri.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  std::string_view bucket = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  HK_CHECK(ValidateBucket(bucket));
  if (auto valid = ValidateArtifactPath(prefix, true); !valid) {
    return InvalidParameter(fmt::format("Invalid S3 prefix: {}", valid.error().message));
  }
  return S3Location{std::string(bucket), std::string(prefix)};
}

std::optional<std::string> ProcessEnvironment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Result<S3Config> S3ConfigFromEnvironment(S3Location location, const EnvLookup& env) {
  S3Config config;
  config.location = std::move(location);
  auto key_id = FirstSet(env, {"AWS_ACCESS_KEY_ID"});
  auto secret = FirstSet(env, {"AWS_SECRET_ACCESS_KEY"});
  if (!key_id || !secret) {
    return InvalidParameter(
        "The S3 artifact store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
        "environment");
  }
  config.credentials.access_key_id = std::move(key_id->second);
  config.credentials.secret_access_key = std::move(secret->second);
  if (auto token = FirstSet(env, {"AWS_SESSION_TOKEN"})) {
    config.credentials.session_token = std::move(token->second);
  }
  auto region = FirstSet(env, {"AWS_REGION", "AWS_DEFAULT_REGION"});
  config.region = region ? std::move(region->second) : std::string(kS3DefaultRegion);
  HK_CHECK(ValidateRegion(config.region));
  if (auto endpoint =
          FirstSet(env, {"MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})) {
    HK_TRY(normalized, NormalizeEndpoint(std::move(endpoint->second), endpoint->first));
    config.endpoint = std::move(normalized);
  }
  if (auto ca_bundle = FirstSet(env, {"AWS_CA_BUNDLE"})) {
    config.ca_bundle = std::move(ca_bundle->second);
  }
  return config;
}

std::string S3UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

std::string S3ObjectKey(const S3Location& location, std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return JoinArtifactPath(location.prefix, path);
}

std::string S3DirectoryPrefix(const S3Location& location, std::string_view path) {
  std::string dir = S3ObjectKey(location, path);
  if (!dir.empty()) dir.push_back('/');
  return dir;
}

std::string S3BucketUrl(const S3Config& config) {
  if (UsesPathStyle(config)) return Origin(config) + "/" + config.location.bucket;
  return Origin(config) + "/";
}

std::string S3ObjectUrl(const S3Config& config, std::string_view key) {
  std::string base = Origin(config);
  if (UsesPathStyle(config)) base += "/" + config.location.bucket;
  return base + "/" + S3UriEncode(key, true);
}

std::string S3CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = S3UriEncode(name, false);
    value = S3UriEncode(value, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

}  // namespace hokusai::artifacts
