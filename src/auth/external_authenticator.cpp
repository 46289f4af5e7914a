#include "auth/external_authenticator.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "auth/scopes.hpp"
#include "common/time_format.hpp"
#include "common/limits.hpp"
#include "http/client.hpp"
#include "json/writer.hpp"

namespace hokusai::auth {
namespace {


Error Unavailable(std::string message) {
  return Error{ErrorCode::kTemporarilyUnavailable, std::move(message),
               {{"Retry-After", std::to_string(kAuthServiceRetryAfterSeconds)}}};
}

// The service's Retry-After when it is delta-seconds; its HTTP-date form and junk get the
// default (we copy the value into our own answer, so only digits pass).
std::string RetryAfterFrom(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  bool digits = !value.empty() && value.size() <= 9 &&
                std::all_of(value.begin(), value.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return std::to_string(kAuthServiceDefaultLimitRetryAfterSeconds);
  return std::string(value);
}

// Reads the 200 answer of the validate endpoint: flat fields first, the nested `user` object
// for what the flat form lacks. Errors name the field, never a value.
class AnswerReader {
 public:
  explicit AnswerReader(simdjson::dom::object root) : root_(root) {
    simdjson::dom::object user;
    if (root_["user"].get(user) == simdjson::SUCCESS) user_ = user;
  }

  // The field, or nullopt when absent or null.
  std::optional<simdjson::dom::element> Find(std::string_view key, std::string_view nested_key) {
    simdjson::dom::element element;
    if (root_[key].get(element) == simdjson::SUCCESS && !element.is_null()) return element;
    if (user_ && !nested_key.empty() && (*user_)[nested_key].get(element) == simdjson::SUCCESS &&
        !element.is_null()) {
      return element;
    }
    return std::nullopt;
  }

  // Strings, and integers written as numbers (some services number their users).
  Result<std::optional<std::string>> Id(std::string_view key, std::string_view nested_key = {}) {
    auto element = Find(key, nested_key);
    if (!element) return std::optional<std::string>();
    std::string_view text;
    if (element->get(text) == simdjson::SUCCESS) return std::optional<std::string>(text);
    int64_t number = 0;
    if (element->get(number) == simdjson::SUCCESS) {
      return std::optional<std::string>(std::to_string(number));
    }
    return Bad(key);
  }

  Result<std::optional<std::string>> String(std::string_view key,
                                            std::string_view nested_key = {}) {
    auto element = Find(key, nested_key);
    if (!element) return std::optional<std::string>();
    std::string_view text;
    if (element->get(text) != simdjson::SUCCESS) return Bad(key);
    return std::optional<std::string>(text);
  }

  Result<std::vector<std::string>> StringList(std::string_view key,
                                              std::string_view nested_key = {}) {
    std::vector<std::string> out;
    auto element = Find(key, nested_key);
    if (!element) return out;
    simdjson::dom::array array;
    if (element->get(array) != simdjson::SUCCESS) return Bad(key);
    for (simdjson::dom::element item : array) {
      std::string_view text;
      if (item.get(text) != simdjson::SUCCESS) return Bad(key);
      out.emplace_back(text);
    }
    return out;
  }

  Result<std::optional<bool>> Bool(std::string_view key, std::string_view nested_key = {}) {
    auto element = Find(key, nested_key);
    if (!element) return std::optional<bool>();
    bool value = false;
    if (element->get(value) != simdjson::SUCCESS) return Bad(key);
    return std::optional<bool>(value);
  }

  // Numbers, and numeric strings (Python's Decimal is often serialized as a string).
  Result<std::optional<double>> Number(std::string_view key) {
    auto element = Find(key, {});
    if (!element) return std::optional<double>();
    double value = 0;
    int64_t integer = 0;
    uint64_t unsigned_integer = 0;
    std::string_view text;
    if (element->get(value) == simdjson::SUCCESS) return std::optional<double>(value);
    if (element->get(integer) == simdjson::SUCCESS) {
      return std::optional<double>(static_cast<double>(integer));
    }
    if (element->get(unsigned_integer) == simdjson::SUCCESS) {
      return std::optional<double>(static_cast<double>(unsigned_integer));
    }
    if (element->get(text) == simdjson::SUCCESS && !text.empty() && text.size() < 64) {
      std::string copy(text);
      char* end = nullptr;
      double parsed = std::strtod(copy.c_str(), &end);
      if (end == copy.c_str() + copy.size() && std::isfinite(parsed)) {
        return std::optional<double>(parsed);
      }
    }
    return Bad(key);
  }

 private:
  static tl::unexpected<Error> Bad(std::string_view key) {
    return Fail(ErrorCode::kInvalidParameterValue,
                fmt::format("field '{}' has an unexpected type", key));
  }

  simdjson::dom::object root_;
  std::optional<simdjson::dom::object> user_;
};

// Known scopes of the answer; unknown names are dropped (the service may know scopes of other
// products) with a warning naming the scope.
std::vector<Scope> KnownScopes(const std::vector<std::string>& names) {
  std::vector<std::string> known;
  for (const std::string& name : names) {
    if (ParseScope(name)) {
      known.push_back(name);
    } else {
      spdlog::warn("auth service granted unknown scope '{}'; ignored",
                   name.substr(0, 100));
    }
  }
  auto scopes = ParseScopes(known);
  return scopes ? std::move(*scopes) : std::vector<Scope>();
}

// The principal of a 200 answer. INVALID_PARAMETER_VALUE naming what could not be read.
Result<Principal> PrincipalFrom(const std::string& body, std::string_view secret,
                                std::string_view client_ip, const std::string& default_service) {
  simdjson::dom::parser parser(http::kMaxClientResponseBodyBytes + simdjson::SIMDJSON_PADDING);
  if (parser.allocate(body.size() + simdjson::SIMDJSON_PADDING, limits::kMaxJsonDepth + 1) !=
      simdjson::SUCCESS) {
    return Fail(ErrorCode::kInternalError, "out of memory");
  }
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) return InvalidParameter("not JSON");
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) return InvalidParameter("not a JSON object");
  AnswerReader reader(object);

  Identity identity;
  HK_TRY(user_id, reader.Id("user_id", "id"));
  if (!user_id || user_id->empty()) return InvalidParameter("no user_id");
  HK_TRY(email, reader.String("email", "email"));
  HK_TRY(roles, reader.StringList("roles", "roles"));
  HK_TRY(is_admin, reader.Bool("is_admin", "is_admin"));
  HK_TRY(key_id, reader.Id("key_id"));
  HK_TRY(service_id, reader.String("service_id"));
  HK_TRY(scope_names, reader.StringList("scopes"));
  HK_TRY(rate_limit, reader.Number("rate_limit_per_hour"));
  HK_TRY(sufficient, reader.Bool("has_sufficient_balance"));
  HK_TRY(balance, reader.Number("balance"));
  HK_TRY(expires_text, reader.String("expires_at"));
  std::optional<int64_t> expires_at;
  if (expires_text) {
    expires_at = ParseRfc3339(*expires_text, true);
    if (!expires_at) return InvalidParameter("field 'expires_at' is not an RFC 3339 time");
  }

  identity.user.user_id = *user_id;
  identity.user.email = email.value_or("");
  identity.user.roles = roles;
  identity.user.is_admin = is_admin.value_or(false);
  identity.scopes = KnownScopes(scope_names);

  store::ApiKeyRecord& key = identity.key;
  // Without a key id from the service, one derived from the key's hash keeps per-key rate
  // limits and audit entries apart (the hash of a 238-bit random key reveals nothing).
  key.key_id = key_id && !key_id->empty() ? *key_id : Sha256Hex(secret).substr(0, 32);
  key.user_id = identity.user.user_id;
  key.key_prefix = DisplayPrefix(secret);
  if (auto parsed = ParseKey(secret)) {
    key.environment = std::string(EnvironmentName(parsed->environment));
  }
  for (const Scope& scope : identity.scopes) key.scopes.push_back(scope.ToString());
  key.rate_limit_per_hour = rate_limit && *rate_limit >= 1 && *rate_limit < 9.0e18
                                ? static_cast<int64_t>(*rate_limit)
                                : kExternalDefaultRateLimitPerHour;
  key.expires_at = expires_at;

  identity.service_id = service_id.value_or(default_service);
  identity.balance = balance.value_or(0);
  identity.has_sufficient_balance = sufficient.value_or(true);
  Principal principal(std::make_shared<const Identity>(std::move(identity)));
  principal.client_ip = std::string(client_ip);
  return principal;
}

}  // namespace

Result<std::unique_ptr<ExternalAuthenticator>> ExternalAuthenticator::Create(
    ExternalAuthConfig config) {
  auto url = http::ParseHttpUrl(config.url);
  if (!url) {
    return InvalidParameter(fmt::format("--auth-service-url: {}", url.error().message));
  }
  if (url->tls) {
    return InvalidParameter("https is not supported for --auth-service-url in this build");
  }
  if (config.timeout <= std::chrono::milliseconds::zero()) {
    return InvalidParameter("--auth-service-timeout must be greater than 0");
  }
  if (config.cache_seconds < 0) return InvalidParameter("--auth-cache-seconds must be >= 0");
  if (!config.now_ms) config.now_ms = NowMillis;
  std::string authority = url->Authority();
  return std::unique_ptr<ExternalAuthenticator>(
      new ExternalAuthenticator(std::move(config), std::move(authority)));
}

ExternalAuthenticator::ExternalAuthenticator(ExternalAuthConfig config, std::string authority)
    : config_(std::move(config)), authority_(std::move(authority)) {}

Result<Principal> ExternalAuthenticator::Authenticate(std::string_view secret,
                                                      std::string_view client_ip) {
  if (!ParseKey(secret)) return tl::unexpected(UnauthenticatedError());
  // The client address is part of the key: the service checks it against the key's allow-list,
  // so an answer for one address says nothing about another.
  std::string cache_key = Sha256Hex(secret) + "|" + std::string(client_ip);
  if (config_.cache_seconds > 0) {
    if (auto cached = CacheLookup(cache_key, config_.now_ms())) return std::move(*cached);
  }
  HK_TRY(principal, CallService(secret, client_ip));
  if (!principal.has_sufficient_balance()) {
    return Fail(ErrorCode::kPermissionDenied, "insufficient balance");
  }
  if (config_.cache_seconds > 0) CacheStore(cache_key, principal, config_.now_ms());
  return std::move(principal);
}

Result<Principal> ExternalAuthenticator::CallService(std::string_view secret,
                                                     std::string_view client_ip) {
  json::Writer body;
  body.BeginObject().Field("api_key", secret);
  if (!config_.service_id.empty()) body.Field("service_id", config_.service_id);
  if (!client_ip.empty()) body.Field("client_ip", client_ip);
  body.EndObject();
  http::HeaderList headers = {{"Authorization", "Bearer " + std::string(secret)},
                              {"Content-Type", "application/json"},
                              {"Accept", "application/json"}};
  auto answer = http::HttpPost(config_.url, headers, body.Take(), config_.timeout);
  if (!answer) {
    spdlog::warn("auth service {} unavailable: {}", authority_, answer.error().message);
    return tl::unexpected(Unavailable("The auth service is unavailable; retry shortly"));
  }
  int status = answer->status;
  if (status == 401 || status == 403) return tl::unexpected(UnauthenticatedError());
  if (status == 429) {
    return tl::unexpected(Error{ErrorCode::kRequestLimitExceeded,
                                "The auth service reports this key's request limit is spent",
                                {{"Retry-After", RetryAfterFrom(answer->Header("Retry-After"))}}});
  }
  if (status != 200) {
    spdlog::warn("auth service {} answered HTTP {}", authority_, status);
    return tl::unexpected(
        Unavailable(fmt::format("The auth service answered HTTP {}; retry shortly", status)));
  }
  auto principal = PrincipalFrom(answer->body, secret, client_ip, config_.service_id);
  if (!principal) {
    spdlog::warn("auth service {} sent an unreadable answer: {}", authority_,
                 principal.error().message);
    return tl::unexpected(Unavailable("The auth service sent an unreadable answer; retry shortly"));
  }
  return principal;
}

std::optional<Principal> ExternalAuthenticator::CacheLookup(const std::string& cache_key,
                                                            int64_t now) {
  std::lock_guard lock(mutex_);
  auto it = cache_.find(cache_key);
  if (it == cache_.end()) return std::nullopt;
  if (it->second.expires_ms <= now) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.principal;
}

void ExternalAuthenticator::CacheStore(const std::string& cache_key, const Principal& principal,
                                       int64_t now) {
  int64_t expires = now + int64_t{config_.cache_seconds} * 1000;
  if (principal.key().expires_at) expires = std::min(expires, *principal.key().expires_at);
  if (expires <= now) return;
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxExternalAuthCacheEntries && cache_.find(cache_key) == cache_.end()) {
    std::erase_if(cache_, [now](const auto& entry) { return entry.second.expires_ms <= now; });
    if (cache_.size() >= kMaxExternalAuthCacheEntries) return;
  }
  cache_.insert_or_assign(cache_key, CacheEntry{principal, expires});
}

Result<void> ExternalAuthenticator::Ping() {
  auto answer = http::HttpGet(config_.url, {{"Accept", "application/json"}}, config_.timeout);
  if (!answer) {
    return tl::unexpected(Unavailable(fmt::format("auth service {}", answer.error().message)));
  }
  return {};
}

}  // namespace hokusai::auth
