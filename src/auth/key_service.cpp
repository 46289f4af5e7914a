#include "auth/key_service.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "auth/api_key.hpp"
#include "auth/authenticator.hpp"
#include "common/util.hpp"

namespace hokusai::auth {
namespace {

constexpr int64_t kMaxOverlapSeconds = 7 * 24 * 3600;
constexpr int64_t kMaxRateLimitPerHour = 1'000'000'000;
constexpr std::size_t kMaxNameLength = 256;
constexpr std::size_t kMaxAllowedIps = 64;
constexpr std::size_t kMinSecretLength = 32;

bool HoldsAdmin(const Principal& actor) {
  return Allows(actor.scopes(), ScopeResource::kAdmin, ScopeAction::kWrite, "");
}

std::vector<std::string> ScopeNames(const std::vector<Scope>& scopes) {
  std::vector<std::string> names;
  names.reserve(scopes.size());
  for (const Scope& scope : scopes) names.push_back(scope.ToString());
  return names;
}

Result<std::vector<Scope>> WantedScopes(const NewKeyRequest& request) {
  if (!request.scopes.empty() && !request.template_name.empty()) {
    return InvalidParameter("Give either 'scopes' or 'template', not both");
  }
  if (!request.scopes.empty()) return ParseScopes(request.scopes);
  return TemplateScopes(request.template_name.empty() ? "developer" : request.template_name);
}

Result<void> ValidateUserId(const std::string& user_id) {
  if (user_id.empty() || user_id.size() > kMaxNameLength) {
    return InvalidParameter("'user_id' must be 1 to 256 characters");
  }
  for (char c : user_id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidParameter("'user_id' must not contain control characters");
    }
  }
  return {};
}

}  // namespace

KeyService::KeyService(store::AuthStore& store, std::string server_secret, KeyDefaults defaults)
    : store_(store), hasher_(std::make_shared<const KeyHasher>(server_secret)),
      defaults_(defaults) {}

std::string KeyService::Hash(std::string_view key) const { return hasher_->Hash(key); }

KeyDigest KeyService::Digest(std::string_view key) const { return hasher_->Digest(key); }

Result<NewKey> KeyService::Create(const NewKeyRequest& request, const Principal* actor) {
  int64_t now = NowMillis();
  std::string user_id = request.user_id;
  if (user_id.empty()) {
    if (actor == nullptr) return InvalidParameter("'user_id' is required");
    user_id = actor->user().user_id;
  }
  HK_CHECK(ValidateUserId(user_id));
  bool for_other = actor != nullptr && user_id != actor->user().user_id;
  if (for_other && !HoldsAdmin(*actor)) {
    return tl::unexpected(MissingScopeError(
        "Creating a key for another user needs the 'admin' scope", "admin", actor->scopes()));
  }
  if (request.admin_user && actor != nullptr) {
    return Fail(ErrorCode::kPermissionDenied,
                "Admin users are created offline (hokusai-registry keys create --admin-user)");
  }
  if (request.name.empty() || request.name.size() > kMaxNameLength) {
    return InvalidParameter("'name' must be 1 to 256 characters");
  }
  HK_TRY(scopes, WantedScopes(request));
  if (actor != nullptr && !IsSubset(scopes, actor->scopes())) {
    std::vector<Scope> missing;
    for (const Scope& s : scopes) {
      if (!IsSubset({s}, actor->scopes())) missing.push_back(s);
    }
    std::string required = fmt::format("{}", fmt::join(ScopeNames(missing), " "));
    return tl::unexpected(MissingScopeError(
        fmt::format("A key cannot create a key with more scopes than its own: not held: {}; "
                    "held: {}",
                    fmt::join(ScopeNames(missing), ", "), fmt::join(ScopeNames(actor->scopes()), ", ")),
        required, actor->scopes()));
  }
  auto environment = ParseEnvironment(request.environment);
  if (!environment) {
    return InvalidParameter(fmt::format("Unknown environment '{}': expected live, test or dev",
                                        request.environment));
  }
  std::optional<int64_t> expires_at = request.expires_at;
  if (expires_at && *expires_at <= now) return InvalidParameter("'expires_at' must be in the future");
  if (actor != nullptr && actor->key().expires_at) {
    if (!expires_at) {
      expires_at = actor->key().expires_at;
    } else if (*expires_at > *actor->key().expires_at) {
      return InvalidParameter("'expires_at': a key cannot create a key that expires after itself");
    }
  }
  std::vector<std::string> allowed_ips = request.allowed_ips;
  if (actor != nullptr && !actor->key().allowed_ips.empty()) {
    // A key fenced to some addresses cannot mint an unfenced or differently fenced key.
    if (allowed_ips.empty()) allowed_ips = actor->key().allowed_ips;
    for (const std::string& cidr : allowed_ips) {
      if (std::find(actor->key().allowed_ips.begin(), actor->key().allowed_ips.end(), cidr) ==
          actor->key().allowed_ips.end()) {
        return InvalidParameter(fmt::format(
            "'allowed_ips': '{}' is not in the creating key's own allow-list", cidr));
      }
    }
  }
  if (request.allowed_ips.size() > kMaxAllowedIps) {
    return InvalidParameter("'allowed_ips' holds at most 64 entries");
  }
  for (const std::string& cidr : request.allowed_ips) {
    if (!ValidCidr(cidr)) {
      return InvalidParameter(fmt::format("'allowed_ips': '{}' is not an address or CIDR", cidr));
    }
  }
  int64_t rate = request.rate_limit_per_hour.value_or(defaults_.rate_limit_per_hour);
  if (rate < 1 || rate > kMaxRateLimitPerHour) {
    return InvalidParameter("'rate_limit_per_hour' must be between 1 and 1000000000");
  }
  if (actor != nullptr && actor->key().rate_limit_per_hour > 0 &&
      rate > actor->key().rate_limit_per_hour) {
    if (request.rate_limit_per_hour) {
      return InvalidParameter(
          "'rate_limit_per_hour': a key cannot create a key with a higher rate limit than its own");
    }
    rate = actor->key().rate_limit_per_hour;
  }

  auto user = store_.GetUser(user_id);
  bool create_user = false;
  if (!user) {
    if (user.error().code != ErrorCode::kResourceDoesNotExist) return tl::unexpected(user.error());
    if (actor != nullptr && !HoldsAdmin(*actor)) {
      return tl::unexpected(
          MissingScopeError("Only an admin can create users", "admin", actor->scopes()));
    }
    create_user = true;
  }

  NewKey out;
  out.secret = GenerateKey(*environment);
  store::ApiKeyRecord& record = out.record;
  record.key_id = NewHexId();
  record.user_id = user_id;
  record.name = request.name;
  record.key_prefix = DisplayPrefix(out.secret);
  record.environment = std::string(EnvironmentName(*environment));
  record.scopes = ScopeNames(scopes);
  record.allowed_ips = std::move(allowed_ips);
  record.rate_limit_per_hour = rate;
  record.created_at = now;
  record.expires_at = expires_at;
  record.created_by_key_id = actor != nullptr ? actor->key().key_id : "";
  std::string hash = Hash(out.secret);
  if (create_user) {
    store::User new_user;
    new_user.user_id = user_id;
    new_user.email = request.email;
    new_user.is_admin = request.admin_user;
    new_user.roles = {request.admin_user ? "admin"
                                         : (request.template_name.empty() ? "developer"
                                                                          : request.template_name)};
    new_user.created_at = now;
    HK_CHECK(store_.CreateUserAndKey(new_user, record, hash));
  } else {
    HK_CHECK(store_.CreateKey(record, hash));
  }
  return out;
}

Result<store::ApiKeyRecord> KeyService::Owned(const std::string& key_id, const Principal* actor) {
  auto key = store_.GetKey(key_id);
  if (!key) return key;
  if (actor != nullptr && key->user_id != actor->user().user_id && !HoldsAdmin(*actor)) {
    // Another user's key is reported like a missing one.
    return Fail(ErrorCode::kResourceDoesNotExist, fmt::format("API key '{}' not found", key_id));
  }
  return key;
}

Result<NewKey> KeyService::Rotate(const std::string& key_id, int64_t overlap_seconds,
                                  const Principal* actor) {
  if (overlap_seconds < 0 || overlap_seconds > kMaxOverlapSeconds) {
    return InvalidParameter("'overlap_seconds' must be between 0 and 604800 (7 days)");
  }
  HK_TRY(key, Owned(key_id, actor));
  if (actor != nullptr && !HoldsAdmin(*actor)) {
    // Rotating hands out the key's new secret: a key may only do that for keys no stronger and
    // no longer-lived than itself, or it could trade itself up for a sibling's rights.
    HK_TRY(scopes, ParseScopes(key.scopes));
    if (!IsSubset(scopes, actor->scopes())) {
      return tl::unexpected(MissingScopeError(
          fmt::format("Rotating key '{}' needs a key holding all of its scopes ({})", key_id,
                      fmt::join(key.scopes, ", ")),
          fmt::format("{}", fmt::join(key.scopes, " ")), actor->scopes()));
    }
    if (actor->key().rate_limit_per_hour > 0 &&
        key.rate_limit_per_hour > actor->key().rate_limit_per_hour) {
      return Fail(ErrorCode::kPermissionDenied,
                  fmt::format("Rotating key '{}' needs a key whose rate limit is no lower", key_id));
    }
    if (actor->key().expires_at && (!key.expires_at || *key.expires_at > *actor->key().expires_at)) {
      return Fail(ErrorCode::kPermissionDenied,
                  fmt::format("Rotating key '{}' needs a key that expires no earlier than it",
                              key_id));
    }
  }
  auto environment = ParseEnvironment(key.environment);
  if (!environment) return Fail(ErrorCode::kInternalError, "stored key has an unknown environment");
  int64_t now = NowMillis();
  NewKey out;
  out.secret = GenerateKey(*environment);
  HK_TRY(record, store_.RotateKey(key_id, Hash(out.secret), DisplayPrefix(out.secret), now,
                                  now + overlap_seconds * 1000));
  out.record = record;
  return out;
}

Result<store::ApiKeyRecord> KeyService::Revoke(const std::string& key_id, const Principal* actor) {
  HK_CHECK(Owned(key_id, actor));
  return store_.RevokeKey(key_id, NowMillis());
}

Result<store::ApiKeyRecord> KeyService::Get(const std::string& key_id, const Principal* actor) {
  return Owned(key_id, actor);
}

Result<std::vector<store::ApiKeyRecord>> KeyService::List(const std::string& user_id,
                                                          const Principal* actor) {
  if (actor == nullptr) return store_.ListKeys(user_id);
  if (HoldsAdmin(*actor)) return store_.ListKeys(user_id);
  if (!user_id.empty() && user_id != actor->user().user_id) {
    return tl::unexpected(MissingScopeError("Listing another user's keys needs the 'admin' scope",
                                            "admin", actor->scopes()));
  }
  return store_.ListKeys(actor->user().user_id);
}

Result<std::optional<NewKey>> KeyService::Bootstrap() {
  HK_TRY(count, store_.CountKeys());
  if (count > 0) return std::optional<NewKey>();
  NewKeyRequest request;
  request.user_id = "admin";
  request.admin_user = true;
  request.name = "bootstrap admin key";
  request.template_name = "admin";
  HK_TRY(key, Create(request, nullptr));
  return std::optional<NewKey>(std::move(key));
}

Result<std::string> LoadOrCreateServerSecret(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string secret = GenerateSecret();
    std::string line = secret + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      return Fail(ErrorCode::kInternalError, fmt::format("cannot write the server secret '{}'", path));
    }
    return secret;
  }
  if (errno != EEXIST) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot create the server secret '{}': {}", path, std::strerror(errno)));
  }
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot read the server secret '{}': {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kInternalError,
                fmt::format("the server secret '{}' must be readable by its owner only "
                            "(chmod 600)", path));
  }
  std::string secret;
  std::array<char, 512> buffer{};
  ssize_t n = 0;
  while ((n = ::read(fd, buffer.data(), buffer.size())) > 0 && secret.size() < 4096) {
    secret.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) {
    secret.pop_back();
  }
  if (secret.size() < kMinSecretLength) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("the server secret '{}' is shorter than 32 characters", path));
  }
  return secret;
}

namespace {

// Parses an address into 16 bytes (IPv4 as IPv4-mapped IPv6) and its bit offset.
bool ParseAddress(std::string_view text, std::array<unsigned char, 16>& out, int& base_bits) {
  std::string s(text);
  out.fill(0);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    base_bits = 96;
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    base_bits = 0;
    return true;
  }
  return false;
}

bool ParseCidr(std::string_view cidr, std::array<unsigned char, 16>& network, int& bits) {
  std::size_t slash = cidr.find('/');
  int base = 0;
  if (!ParseAddress(cidr.substr(0, slash), network, base)) return false;
  if (slash == std::string_view::npos) {
    bits = 128;
    return true;
  }
  auto prefix = ParseInt64(cidr.substr(slash + 1));
  int max = base == 96 ? 32 : 128;
  if (!prefix || *prefix < 0 || *prefix > max) return false;
  bits = base + static_cast<int>(*prefix);
  return true;
}

}  // namespace

bool ValidCidr(std::string_view cidr) {
  std::array<unsigned char, 16> network{};
  int bits = 0;
  return cidr.size() <= 64 && ParseCidr(cidr, network, bits);
}

bool AddressInCidr(std::string_view ip, std::string_view cidr) {
  std::array<unsigned char, 16> network{};
  std::array<unsigned char, 16> address{};
  int bits = 0;
  int base = 0;
  if (!ParseCidr(cidr, network, bits) || !ParseAddress(ip, address, base)) return false;
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8;
    int mask = 0x80 >> (i % 8);
    if ((network[byte] & mask) != (address[byte] & mask)) return false;
  }
  return true;
}

}  // namespace hokusai::auth
