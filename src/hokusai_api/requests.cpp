#include "hokusai_api/requests.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <array>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "auth/api_key.hpp"
#include "auth/scopes.hpp"
#include "common/limits.hpp"
#include "hokusai_api/api_limits.hpp"
#include "common/time_format.hpp"
#include "artifacts/artifact_repository.hpp"
#include "hokusai_api/registration.hpp"
#include "mlflow_api/registry_handlers.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::hokusai_api {
namespace {

using mlflow_api::Args;
using mlflow_api::MissingParameter;

constexpr int64_t kMsPerDay = 86400LL * 1000;

constexpr std::array<std::string_view, 5> kAuditOutcomes = {"allowed", "denied", "unauthenticated",
                                                            "rate_limited", "failed"};

// An error names at most this many unknown fields, each cut to kMaxFieldNameShown bytes: the
// names come from the client and the body may be large.
constexpr std::size_t kMaxFieldsNamed = 10;
constexpr std::size_t kMaxFieldNameShown = 64;

std::string Shown(std::string_view name) {
  if (name.size() <= kMaxFieldNameShown) return std::string(name);
  return std::string(name.substr(0, kMaxFieldNameShown)) + "...";
}

bool BodyIsBlank(std::string_view body) {
  return std::all_of(body.begin(), body.end(),
                     [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
}

// The body's arguments and the names of the fields it carries.
struct Body {
  Args args;
  std::vector<std::string> fields;

  bool Has(std::string_view field) const {
    return std::find(fields.begin(), fields.end(), field) != fields.end();
  }
};

Result<Body> ParseBody(const http::Request& request, std::span<const std::string_view> allowed) {
  if (BodyIsBlank(request.body)) {
    http::Request empty;
    empty.method = http::Method::kPost;
    empty.body = "{}";
    HK_TRY(args, Args::From(empty));
    return Body{std::move(args), {}};
  }
  // Only POST routes read bodies, so Args takes the JSON body, not the query string.
  HK_TRY(args, Args::From(request));
  std::vector<std::string> fields = args.MemberNames();
  if (!allowed.empty()) {
    std::unordered_set<std::string_view> seen;
    std::vector<std::string> unknown;
    for (const std::string& field : fields) {
      if (!seen.insert(field).second) {
        return InvalidParameter(
            fmt::format("Field '{}' is given more than once", Shown(field)));
      }
      if (std::find(allowed.begin(), allowed.end(), field) == allowed.end() &&
          unknown.size() < kMaxFieldsNamed) {
        unknown.push_back("'" + Shown(field) + "'");
      }
    }
    if (!unknown.empty()) {
      return InvalidParameter(fmt::format("Unknown field{} in request body: {}",
                                          unknown.size() == 1 ? "" : "s",
                                          fmt::join(unknown, ", ")));
    }
  }
  return Body{std::move(args), std::move(fields)};
}

Result<void> CheckText(std::string_view value, std::string_view field, std::size_t max_length) {
  if (mlflow_api::CodePoints(value) > max_length) {
    return InvalidParameter(
        fmt::format("'{}' exceeds the maximum length of {} characters", field, max_length));
  }
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return InvalidParameter(fmt::format("'{}' must not contain control characters", field));
    }
  }
  return {};
}

// An optional text field; an empty string counts as absent.
Result<std::optional<std::string>> OptText(const Args& args, std::string_view field,
                                           std::size_t max_length) {
  HK_TRY(value, args.OptString(field));
  if (!value || value->empty()) return std::optional<std::string>();
  HK_CHECK(CheckText(*value, field, max_length));
  return std::move(value);
}

Result<std::string> ReqText(const Args& args, std::string_view field, std::size_t max_length) {
  HK_TRY(value, OptText(args, field, max_length));
  if (!value) return tl::unexpected(MissingParameter(field));
  return std::move(*value);
}

Result<void> CheckScopes(const std::vector<std::string>& scopes) {
  if (scopes.empty()) return InvalidParameter("'scopes' must list at least one scope");
  if (scopes.size() > api_limits::kMaxScopes) {
    return InvalidParameter(
        fmt::format("'scopes' lists more than {} scopes", api_limits::kMaxScopes));
  }
  for (const std::string& scope : scopes) {
    if (scope.empty()) return InvalidParameter("'scopes' contains an empty scope name");
    HK_CHECK(CheckText(scope, "scopes", api_limits::kMaxScopeNameLength));
    HK_CHECK(auth::ParseScope(scope));
  }
  return {};
}

Result<void> CheckAllowedIps(const std::vector<std::string>& cidrs) {
  if (cidrs.size() > api_limits::kMaxAllowedIps) {
    return InvalidParameter(
        fmt::format("'allowed_ips' lists more than {} entries", api_limits::kMaxAllowedIps));
  }
  for (const std::string& cidr : cidrs) {
    HK_CHECK(CheckText(cidr, "allowed_ips", api_limits::kMaxCidrLength));
    if (!auth::ValidCidr(cidr)) {
      return InvalidParameter(fmt::format(
          "'allowed_ips' entry '{}' is not an IP address or CIDR range", cidr));
    }
  }
  return {};
}

Result<std::optional<int64_t>> ExpiryArg(const Body& body, int64_t now_ms) {
  HK_TRY(days, body.args.OptInt("expires_in_days"));
  HK_TRY(at, body.args.OptString("expires_at"));
  if (days && at) {
    return InvalidParameter("Give either 'expires_in_days' or 'expires_at', not both");
  }
  if (days) {
    if (*days < 1 || *days > api_limits::kMaxKeyLifetimeDays) {
      return InvalidParameter(fmt::format("'expires_in_days' must be between 1 and {}",
                                          api_limits::kMaxKeyLifetimeDays));
    }
    return std::optional<int64_t>(now_ms + *days * kMsPerDay);
  }
  if (at) {
    std::optional<int64_t> time = at->size() <= 64 ? ParseRfc3339(*at) : std::nullopt;
    if (!time) {
      return InvalidParameter(
          "'expires_at' must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z");
    }
    if (*time <= now_ms) return InvalidParameter("'expires_at' must be in the future");
    if (*time > now_ms + api_limits::kMaxKeyLifetimeDays * kMsPerDay) {
      return InvalidParameter(fmt::format("'expires_at' must be within {} days",
                                          api_limits::kMaxKeyLifetimeDays));
    }
    return std::optional<int64_t>(*time);
  }
  return std::optional<int64_t>();
}

}  // namespace

Result<mlflow_api::Args> BodyArgs(const http::Request& request,
                                  std::span<const std::string_view> allowed) {
  HK_TRY(body, ParseBody(request, allowed));
  return std::move(body.args);
}

Result<auth::NewKeyRequest> ParseCreateKey(const http::Request& request, int64_t now_ms) {
  static constexpr std::string_view kFields[] = {
      "name",        "scopes",      "template",           "environment", "expires_in_days",
      "expires_at",  "allowed_ips", "rate_limit_per_hour", "user_id"};
  HK_TRY(body, ParseBody(request, kFields));
  const Args& args = body.args;
  auth::NewKeyRequest out;

  HK_TRY(name, ReqText(args, "name", api_limits::kMaxNameLength));
  out.name = std::move(name);

  HK_TRY(scopes, args.StringList("scopes"));
  HK_TRY(template_name, OptText(args, "template", api_limits::kMaxTemplateNameLength));
  if (body.Has("scopes") && template_name) {
    return InvalidParameter("Give either 'scopes' or 'template', not both");
  }
  if (body.Has("scopes")) {
    HK_CHECK(CheckScopes(scopes));
    out.scopes = std::move(scopes);
  } else if (template_name) {
    if (!auth::TemplateScopes(*template_name)) {
      return InvalidParameter(fmt::format(
          "'template' must be one of reader, developer, admin (got '{}')", *template_name));
    }
    out.template_name = std::move(*template_name);
  }

  HK_TRY(environment, OptText(args, "environment", api_limits::kMaxNameLength));
  if (environment) {
    if (!auth::ParseEnvironment(*environment)) {
      return InvalidParameter("'environment' must be one of live, test, dev");
    }
    out.environment = std::move(*environment);
  }

  HK_TRY(expires_at, ExpiryArg(body, now_ms));
  out.expires_at = expires_at;

  HK_TRY(allowed_ips, args.StringList("allowed_ips"));
  HK_CHECK(CheckAllowedIps(allowed_ips));
  out.allowed_ips = std::move(allowed_ips);

  HK_TRY(rate, args.OptInt("rate_limit_per_hour"));
  if (rate && (*rate < 1 || *rate > api_limits::kMaxRateLimitPerHour)) {
    return InvalidParameter(fmt::format("'rate_limit_per_hour' must be between 1 and {}",
                                        api_limits::kMaxRateLimitPerHour));
  }
  out.rate_limit_per_hour = rate;

  HK_TRY(user_id, OptText(args, "user_id", api_limits::kMaxUserIdLength));
  if (user_id) out.user_id = std::move(*user_id);
  return out;
}

Result<int64_t> ParseRotateOverlap(const http::Request& request) {
  static constexpr std::string_view kFields[] = {"overlap_seconds"};
  HK_TRY(body, ParseBody(request, kFields));
  HK_TRY(overlap, body.args.OptInt("overlap_seconds"));
  int64_t seconds = overlap.value_or(0);
  if (seconds < 0 || seconds > api_limits::kMaxRotationOverlapSeconds) {
    return InvalidParameter(fmt::format("'overlap_seconds' must be between 0 and {} (7 days)",
                                        api_limits::kMaxRotationOverlapSeconds));
  }
  return seconds;
}

Result<std::string> ParseKeyId(const http::Request& request) {
  std::string_view key_id = request.PathParam("key_id");
  bool valid = !key_id.empty() && key_id.size() <= api_limits::kMaxKeyIdLength &&
               std::all_of(key_id.begin(), key_id.end(), [](char c) {
                 return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
               });
  if (!valid) return InvalidParameter("'key_id' must be a key id (lowercase hex)");
  return std::string(key_id);
}

Result<std::string> ParseListUserId(const http::Request& request) {
  HK_TRY(args, Args::From(request));
  HK_TRY(user_id, OptText(args, "user_id", api_limits::kMaxUserIdLength));
  return user_id.value_or("");
}

Result<ValidateInput> ParseValidate(const http::Request& request) {
  // Refused rather than ignored, as the gate does, so a client that puts its key in a URL
  // (where proxies and logs keep it) finds out.
  for (const auto& [name, value] : request.query) {
    if (name == "api_key" || auth::ParseKey(value)) {
      return InvalidParameter(
          "API keys are not accepted in the URL; send them as 'Authorization: Bearer <key>' or "
          "as 'api_key' in the body");
    }
  }
  HK_TRY(body, ParseBody(request, {}));
  ValidateInput out;
  HK_TRY(body_key, body.args.OptString("api_key"));
  HK_TRY(service_id, OptText(body.args, "service_id", api_limits::kMaxServiceIdLength));
  out.service_id = std::move(service_id);
  HK_TRY(client_ip, body.args.OptString("client_ip"));
  if (client_ip && !client_ip->empty()) {
    if (!ValidIpAddress(*client_ip)) {
      return InvalidParameter("'client_ip' must be an IPv4 or IPv6 address");
    }
    out.client_ip = std::move(*client_ip);
  }

  const http::Credential& credential = request.credential;
  bool in_header = credential.source != http::Credential::Source::kNone || credential.malformed;
  bool in_body = body_key && !body_key->empty();
  if (credential.malformed) return out;  // unreadable header: the one 401
  if (in_header && in_body && credential.secret != *body_key) {
    return InvalidParameter(
        "The key in the request headers and 'api_key' in the body differ; send one key");
  }
  std::string secret = in_header ? credential.secret : in_body ? *body_key : std::string();
  if (!secret.empty() && secret.size() <= api_limits::kMaxApiKeyLength) {
    out.secret = std::move(secret);
  }
  return out;
}

Result<store::AuditQuery> ParseAuditQuery(const http::Request& request) {
  HK_TRY(args, Args::From(request));
  store::AuditQuery query;
  HK_TRY(user_id, OptText(args, "user_id", api_limits::kMaxUserIdLength));
  query.user_id = std::move(user_id);
  HK_TRY(key_id, OptText(args, "key_id", api_limits::kMaxKeyIdLength));
  query.key_id = std::move(key_id);
  HK_TRY(outcome, OptText(args, "outcome", api_limits::kMaxNameLength));
  if (outcome) {
    if (std::find(kAuditOutcomes.begin(), kAuditOutcomes.end(), *outcome) ==
        kAuditOutcomes.end()) {
      return InvalidParameter(fmt::format("'outcome' must be one of {}",
                                          fmt::join(kAuditOutcomes, ", ")));
    }
    query.outcome = std::move(outcome);
  }
  for (auto [field, target] :
       {std::pair{"since", &query.since}, std::pair{"until", &query.until}}) {
    HK_TRY(text, OptText(args, field, 64));
    if (text) {
      HK_TRY(time, ParseTimeArg(*text, field));
      *target = time;
    }
  }
  HK_TRY(max_results, args.OptInt("max_results"));
  query.max_results = max_results.value_or(api_limits::kDefaultAuditResults);
  if (query.max_results < 1 || query.max_results > api_limits::kMaxAuditResults) {
    return InvalidParameter(fmt::format("'max_results' must be between 1 and {}",
                                        api_limits::kMaxAuditResults));
  }
  HK_TRY(page_token, args.OptString("page_token"));
  HK_TRY(offset, mlflow_api::DecodePageToken(page_token.value_or("")));
  query.offset = offset;
  return query;
}

Result<std::string> ParsePermissionResource(const http::Request& request,
                                            std::string_view id_field) {
  HK_TRY(args, Args::From(request));
  return ReqText(args, id_field, api_limits::kMaxNameLength);
}

Result<PermissionInput> ParsePermissionInput(const http::Request& request,
                                             std::string_view id_field, bool with_permission) {
  HK_TRY(args, Args::From(request));
  PermissionInput out;
  HK_TRY(resource_id, ReqText(args, id_field, api_limits::kMaxNameLength));
  out.resource_id = std::move(resource_id);
  HK_TRY(username, ReqText(args, "username", api_limits::kMaxUserIdLength));
  out.username = std::move(username);
  if (with_permission) {
    HK_TRY(name, ReqText(args, "permission", api_limits::kMaxNameLength));
    out.permission = store::ParsePermission(name);
    if (!out.permission) {
      return InvalidParameter(fmt::format(
          "Invalid permission '{}'. Valid permissions are: READ, EDIT, MANAGE, NO_PERMISSIONS",
          name));
    }
  }
  return out;
}

namespace {

constexpr std::string_view kRegistrationFields[] = {
    "model_name", "model_type", "mlflow_run_id", "artifact_path", "model_uri", "version",
    "metrics",    "metadata",   "tags",          "alias",         "description"};

bool IsModelTypeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// A {string: string} object field (`metadata`, `tags`): keys unique, each a valid registry tag
// outside the reserved `hokusai.` namespace.
Result<void> AddStringMap(const Args& args, std::string_view field, std::vector<store::Tag>& out) {
  HK_TRY(object, args.OptObject(field));
  if (!object) return {};
  std::vector<std::string> keys = object->MemberNames();
  if (keys.size() > registration::kMaxTags) {
    return InvalidParameter(
        fmt::format("'{}' has more than {} entries", field, registration::kMaxTags));
  }
  for (const std::string& key : keys) {
    auto value = object->OptString(key);
    if (!value || !*value) {
      return InvalidParameter(
          fmt::format("'{}' values must be strings ('{}' is not)", field, Shown(key)));
    }
    if (key.starts_with(registration::kReservedTagPrefix)) {
      return InvalidParameter(fmt::format("'{}' key '{}' uses the reserved prefix '{}'", field,
                                          Shown(key), registration::kReservedTagPrefix));
    }
    store::Tag tag{key, std::move(**value)};
    auto valid = mlflow_api::ValidateRegistryTag(tag);
    if (!valid) {
      return InvalidParameter(fmt::format("'{}': {}", field, valid.error().message));
    }
    for (const store::Tag& existing : out) {
      if (existing.key != tag.key) continue;
      if (existing.value == tag.value) break;
      return InvalidParameter(fmt::format(
          "'{}' key '{}' is given more than once with different values", field, Shown(key)));
    }
    out.push_back(std::move(tag));
  }
  return {};
}

Result<void> ParseMetrics(const Args& args, std::vector<std::pair<std::string, double>>& out) {
  HK_TRY(object, args.OptObject("metrics"));
  if (!object) return {};
  std::vector<std::string> names = object->MemberNames();
  if (names.size() > registration::kMaxMetrics) {
    return InvalidParameter(
        fmt::format("'metrics' has more than {} entries", registration::kMaxMetrics));
  }
  for (const std::string& name : names) {
    HK_CHECK(mlflow_api::ValidateKey(name, "metric name"));
    if (name.size() > registration::kMaxMetricNameLength) {
      return InvalidParameter(fmt::format("'metrics' name '{}' is longer than {} characters",
                                          Shown(name), registration::kMaxMetricNameLength));
    }
    // A JSON number only: Args also reads numeric strings (protobuf JSON), which a metric here
    // must not be.
    auto as_text = object->OptString(name);
    auto value = object->OptDouble(name);
    if ((as_text && *as_text) || !value || !*value || !std::isfinite(**value)) {
      return InvalidParameter(
          fmt::format("'metrics' value of '{}' must be a finite number", Shown(name)));
    }
    for (const auto& [existing, _] : out) {
      if (existing == name) {
        return InvalidParameter(
            fmt::format("'metrics' name '{}' is given more than once", Shown(name)));
      }
    }
    out.emplace_back(name, **value);
  }
  std::sort(out.begin(), out.end());
  return {};
}

}  // namespace

Result<RegistrationInput> ParseRegistration(const http::Request& request, RegistrationKind kind) {
  HK_TRY(body, ParseBody(request, kRegistrationFields));
  const Args& args = body.args;
  RegistrationInput out;

  HK_TRY(model_type, ReqText(args, "model_type", registration::kMaxModelTypeLength));
  if (!std::all_of(model_type.begin(), model_type.end(), IsModelTypeChar)) {
    return InvalidParameter(
        "'model_type' may contain only letters, digits, '_', '-' and '.'");
  }
  out.model_type = std::move(model_type);

  HK_TRY(name, OptText(args, "model_name", limits::registry::kMaxModelNameLength));
  if (!name) {
    if (kind == RegistrationKind::kRegister) return tl::unexpected(MissingParameter("model_name"));
    name = "hokusai_" + out.model_type + "_baseline";
  }
  HK_CHECK(mlflow_api::ValidateModelName(*name, "model_name"));
  // /api/v1/models/{name}/{version} addresses the model by one path segment.
  if (name->find('/') != std::string::npos) {
    return InvalidParameter("'model_name' must not contain '/'");
  }
  out.model_name = std::move(*name);

  HK_TRY(run_id, OptText(args, "mlflow_run_id", 64));
  HK_TRY(model_uri, OptText(args, "model_uri", limits::registry::kMaxSourceLength));
  if (run_id.has_value() == model_uri.has_value()) {
    return InvalidParameter("Give exactly one of 'mlflow_run_id' and 'model_uri'");
  }
  HK_TRY(artifact_path, OptText(args, "artifact_path", 1000));
  if (run_id) {
    if (!mlflow_api::ValidateRunId(*run_id)) {
      return InvalidParameter(fmt::format("'mlflow_run_id' is not a run id: '{}'", Shown(*run_id)));
    }
    out.mlflow_run_id = std::move(run_id);
    out.artifact_path = artifact_path.value_or("model");
    auto valid = artifacts::ValidateArtifactPath(out.artifact_path);
    if (!valid) return InvalidParameter("'artifact_path': " + valid.error().message);
  } else {
    if (artifact_path) {
      return InvalidParameter("'artifact_path' goes with 'mlflow_run_id', not 'model_uri'");
    }
    auto parsed = mlflow_api::ParseModelVersionSource(*model_uri, false);
    if (!parsed) return InvalidParameter("'model_uri': " + parsed.error().message);
    out.model_uri = std::move(model_uri);
  }

  HK_TRY(label, OptText(args, "version", registration::kMaxVersionLabelLength));
  out.version_label = std::move(label);
  HK_CHECK(ParseMetrics(args, out.metrics));
  HK_CHECK(AddStringMap(args, "metadata", out.tags));
  HK_CHECK(AddStringMap(args, "tags", out.tags));
  std::sort(out.tags.begin(), out.tags.end(),
            [](const store::Tag& a, const store::Tag& b) { return a.key < b.key; });
  out.tags.erase(std::unique(out.tags.begin(), out.tags.end(),
                             [](const store::Tag& a, const store::Tag& b) { return a.key == b.key; }),
                 out.tags.end());
  if (out.tags.size() + out.metrics.size() + 2 > limits::registry::kMaxTagsPerRequest) {
    return InvalidParameter(fmt::format("'metrics', 'metadata' and 'tags' together exceed {} entries",
                                        limits::registry::kMaxTagsPerRequest - 2));
  }

  HK_TRY(alias, OptText(args, "alias", limits::registry::kMaxAliasLength));
  if (alias) {
    HK_CHECK(mlflow_api::ValidateAliasName(*alias));
    HK_CHECK(mlflow_api::ValidateAliasNotReserved(*alias));
    out.alias = std::move(alias);
  }
  HK_TRY(description, args.OptString("description"));
  if (description) {
    if (mlflow_api::CodePoints(*description) > limits::registry::kMaxDescriptionLength) {
      return InvalidParameter(fmt::format("'description' exceeds the maximum length of {} characters",
                                          limits::registry::kMaxDescriptionLength));
    }
    out.description = std::move(description);
  }
  return out;
}

std::string RegistrationFingerprint(const RegistrationInput& input, RegistrationKind kind) {
  // Length-prefixed fields, so no two different inputs serialize alike.
  std::string canonical;
  auto add = [&canonical](std::string_view value) {
    canonical += std::to_string(value.size());
    canonical += ':';
    canonical += value;
  };
  auto add_optional = [&](const std::optional<std::string>& value) {
    add(value ? "1" : "0");
    if (value) add(*value);
  };
  add(kind == RegistrationKind::kRegister ? "register" : "baseline");
  add(input.model_name);
  add(input.model_type);
  add_optional(input.mlflow_run_id);
  add(input.artifact_path);
  add_optional(input.model_uri);
  add_optional(input.version_label);
  add(std::to_string(input.metrics.size()));
  for (const auto& [name, value] : input.metrics) {
    add(name);
    add(registration::MetricTagValue(value));
  }
  add(std::to_string(input.tags.size()));
  for (const store::Tag& tag : input.tags) {
    add(tag.key);
    add(tag.value);
  }
  add_optional(input.alias);
  add_optional(input.description);
  return auth::Sha256Hex(canonical);
}

Result<std::optional<std::string>> ParseIdempotencyKey(const http::Request& request) {
  auto header = request.Header("idempotency-key");
  if (!header) return std::optional<std::string>();
  if (header->empty() || header->size() > registration::kMaxIdempotencyKeyLength ||
      !std::all_of(header->begin(), header->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return InvalidParameter(fmt::format(
        "'Idempotency-Key' must be 1 to {} visible ASCII characters",
        registration::kMaxIdempotencyKeyLength));
  }
  return std::optional<std::string>(std::string(*header));
}

Result<ModelListQuery> ParseModelListQuery(const http::Request& request) {
  HK_TRY(args, Args::From(request));
  ModelListQuery query;
  HK_TRY(name, OptText(args, "name", limits::registry::kMaxModelNameLength));
  query.name = std::move(name);
  HK_TRY(model_type, OptText(args, "model_type", registration::kMaxModelTypeLength));
  query.model_type = std::move(model_type);
  HK_TRY(max_results, args.OptInt("max_results"));
  query.max_results = max_results.value_or(registration::kDefaultListResults);
  if (query.max_results < 1 || query.max_results > registration::kMaxListResults) {
    return InvalidParameter(
        fmt::format("'max_results' must be between 1 and {}", registration::kMaxListResults));
  }
  HK_TRY(page_token, args.OptString("page_token"));
  HK_TRY(offset, mlflow_api::DecodePageToken(page_token.value_or("")));
  query.offset = offset;
  return query;
}

Result<ModelVersionRef> ParseModelVersionRef(const http::Request& request) {
  ModelVersionRef ref{std::string(request.PathParam("name")),
                      std::string(request.PathParam("version"))};
  HK_CHECK(CheckText(ref.name, "name", limits::registry::kMaxModelNameLength));
  HK_CHECK(mlflow_api::ValidateModelName(ref.name, "name"));
  if (ref.version.empty() || ref.version.size() > 18 ||
      !std::all_of(ref.version.begin(), ref.version.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidParameter("'version' must be a registry version number, e.g. 3");
  }
  return ref;
}

Result<std::string> ParseTransitionStage(const http::Request& request) {
  static constexpr std::string_view kFields[] = {"stage"};
  HK_TRY(body, ParseBody(request, kFields));
  HK_TRY(stage, ReqText(body.args, "stage", registration::kMaxStageLength));
  std::string alias = stage;
  for (char& c : alias) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto valid = mlflow_api::ValidateAliasName(alias);
  if (!valid) return InvalidParameter("'stage' must be a word of letters, digits, '_' and '-'");
  auto allowed = mlflow_api::ValidateAliasNotReserved(alias);
  if (!allowed) return InvalidParameter(fmt::format("'stage' '{}' is reserved", stage));
  return stage;
}

Result<store::ListEventsQuery> ParseEventQuery(const http::Request& request) {
  HK_TRY(args, Args::From(request));
  store::ListEventsQuery query;
  HK_TRY(name, OptText(args, "model_name", limits::registry::kMaxModelNameLength));
  query.model_name = std::move(name);
  HK_TRY(state, OptText(args, "state", api_limits::kMaxNameLength));
  if (state) {
    query.state = store::ParseDeliveryState(*state);
    if (!query.state) return InvalidParameter("'state' must be one of pending, delivered, dead");
  }
  HK_TRY(max_results, args.OptInt("max_results"));
  query.limit = max_results.value_or(registration::kDefaultListResults);
  if (query.limit < 1 || query.limit > registration::kMaxListResults) {
    return InvalidParameter(
        fmt::format("'max_results' must be between 1 and {}", registration::kMaxListResults));
  }
  HK_TRY(page_token, OptText(args, "page_token", 20));
  if (page_token) {
    int64_t after = 0;
    auto [ptr, ec] = std::from_chars(page_token->data(), page_token->data() + page_token->size(), after);
    if (ec != std::errc() || ptr != page_token->data() + page_token->size() || after < 0) {
      return InvalidParameter("'page_token' is not a token this server issued");
    }
    query.after_seq = after;
  }
  return query;
}

Result<std::string> ParseEventId(const http::Request& request) {
  std::string_view id = request.PathParam("event_id");
  bool valid = id.size() == 36;
  for (std::size_t i = 0; valid && i < id.size(); ++i) {
    char c = id[i];
    valid = (i == 8 || i == 13 || i == 18 || i == 23)
                ? c == '-'
                : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!valid) return InvalidParameter("'event_id' must be an event id (a lower-case UUID)");
  return std::string(id);
}

Result<std::optional<std::string>> ParseReplayEndpoint(const http::Request& request) {
  static constexpr std::string_view kFields[] = {"endpoint"};
  HK_TRY(body, ParseBody(request, kFields));
  return OptText(body.args, "endpoint", 2048);
}

bool ValidIpAddress(std::string_view text) {
  if (text.empty() || text.size() > api_limits::kMaxClientIpLength) return false;
  std::string copy(text);  // inet_pton wants a terminated string
  unsigned char buffer[16];
  return inet_pton(AF_INET, copy.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, copy.c_str(), buffer) == 1;
}

}  // namespace hokusai::hokusai_api
