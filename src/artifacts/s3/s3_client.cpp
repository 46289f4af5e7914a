#include "artifacts/s3/s3_client.hpp"

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/version.hpp"

// CURLOPT_AWS_SIGV4 arrived in 7.75, CURLOPT_PROTOCOLS_STR in 7.85 (bookworm ships 7.88).
static_assert(LIBCURL_VERSION_NUM >= 0x075500, "libcurl 7.85 or newer is required");

namespace hokusai::artifacts {
namespace {

constexpr long kHttpOk = 200;
constexpr long kHttpMultipleChoices = 300;
constexpr long kHttpNotFound = 404;
constexpr long kHttpTooManyRequests = 429;
constexpr long kHttpServerErrors = 500;

std::once_flag curl_global_once;

// Call once before any handle exists; libcurl's global state is not ours to tear down (other
// users may share it), so it is never cleaned up.
void InitCurlOnce() {
  std::call_once(curl_global_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsSuccess(long status) { return status >= kHttpOk && status < kHttpMultipleChoices; }

struct BodyCursor {
  std::string_view body;
  std::size_t offset = 0;
};

std::size_t ReadBody(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* cursor = static_cast<BodyCursor*>(user);
  std::size_t n = std::min(size * count, cursor->body.size() - cursor->offset);
  std::copy_n(cursor->body.data() + cursor->offset, n, buffer);
  cursor->offset += n;
  return n;
}

// A response body larger than the limit fails the transfer (curl sees a short write).
std::size_t WriteBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t n = size * count;
  if (body->size() + n > kS3MaxResponseBodyBytes) return 0;
  body->append(data, n);
  return n;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

std::size_t CaptureEtag(char* data, std::size_t size, std::size_t count, void* user) {
  auto* response = static_cast<S3Response*>(user);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") response->etag.clear();  // a new (final) response
  if (auto etag = S3HeaderValue(line, "etag")) response->etag = std::string(*etag);
  return size * count;
}

void SetMethod(CURL* handle, const S3Request& request, BodyCursor& cursor) {
  std::string_view method = request.method;
  if (method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(handle, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (method == "POST") {
    static constexpr char kEmpty[] = "";
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS,
                     request.body.empty() ? kEmpty : request.body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method);
  }
}

std::mt19937_64& JitterSource() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator;
}

}  // namespace

std::optional<std::string_view> S3HeaderValue(std::string_view line,
                                              std::string_view lowercase_name) {
  if (line.size() <= lowercase_name.size() || line[lowercase_name.size()] != ':') {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < lowercase_name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != lowercase_name[i]) return std::nullopt;
  }
  return Trim(line.substr(lowercase_name.size() + 1));
}

bool IsRetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool IsRetryableS3Status(long status, std::string_view s3_code) {
  if (s3_code == "SlowDown" || s3_code == "RequestTimeout" || s3_code == "InternalError" ||
      s3_code == "ServiceUnavailable") {
    return true;
  }
  return status == kHttpTooManyRequests || status >= kHttpServerErrors;
}

std::chrono::milliseconds S3RetryDelay(int attempt, const S3Tuning& tuning, double random_unit) {
  int64_t delay = tuning.retry_base_delay_ms;
  for (int i = 1; i < attempt && delay < tuning.retry_max_delay_ms; ++i) delay *= 2;
  delay = std::min<int64_t>(delay, tuning.retry_max_delay_ms);
  int64_t half = delay / 2;
  return std::chrono::milliseconds(delay - half + static_cast<int64_t>(random_unit * half));
}

void SleepBeforeRetry(int attempt, const S3Tuning& tuning) {
  double unit = std::uniform_real_distribution<double>(0.0, 1.0)(JitterSource());
  std::this_thread::sleep_for(S3RetryDelay(attempt, tuning, unit));
}

Error S3FailureError(std::string_view what, long status, std::string_view s3_code,
                     std::string_view detail) {
  // Only a missing key is "not found"; a missing bucket or upload is a broken store.
  if (status == kHttpNotFound && (s3_code.empty() || s3_code == "NoSuchKey")) {
    spdlog::debug("s3: {}: not found", what);
    return Error{ErrorCode::kResourceDoesNotExist, "Artifact not found"};
  }
  spdlog::error("s3: {} failed: {}", what, detail);
  if (status == 0 || IsRetryableS3Status(status, s3_code)) {
    return Error{ErrorCode::kTemporarilyUnavailable,
                 "The artifact store is temporarily unavailable"};
  }
  return Error{ErrorCode::kInternalError, "Artifact store error"};
}

S3Client::S3Client(S3Config config)
    : config_(std::move(config)), sigv4_(fmt::format("aws:amz:{}:s3", config_.region)) {
  InitCurlOnce();
}

S3Client::~S3Client() {
  for (CURL* handle : idle_handles_) curl_easy_cleanup(handle);
}

void S3Client::Configure(CURL* handle, curl_slist*& headers,
                         std::string_view payload_sha256) const {
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // signals are process-wide; we have threads
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  static const std::string user_agent = fmt::format("hokusai-registry/{}", kVersion);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, sigv4_.c_str());
  curl_easy_setopt(handle, CURLOPT_USERNAME, config_.credentials.access_key_id.c_str());
  curl_easy_setopt(handle, CURLOPT_PASSWORD, config_.credentials.secret_access_key.c_str());
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(config_.tuning.connect_timeout_seconds));
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(config_.tuning.stall_timeout_seconds));
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!config_.ca_bundle.empty()) {
    curl_easy_setopt(handle, CURLOPT_CAINFO, config_.ca_bundle.c_str());
  }
  // curl signs every header we add, and S3 insists on the payload hash header.
  headers =
      curl_slist_append(headers, fmt::format("x-amz-content-sha256: {}", payload_sha256).c_str());
  if (!config_.credentials.session_token.empty()) {
    headers = curl_slist_append(
        headers,
        fmt::format("x-amz-security-token: {}", config_.credentials.session_token).c_str());
  }
}

S3Client::Attempt S3Client::TryOnce(CURL* handle, const S3Request& request) const {
  Attempt attempt;
  curl_slist* headers = nullptr;
  Configure(handle, headers, request.payload_sha256);
  for (const std::string& line : request.headers) {
    headers = curl_slist_append(headers, line.c_str());
  }
  BodyCursor cursor{request.body};
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &attempt.response.body);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, CaptureEtag);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &attempt.response);
  SetMethod(handle, request, cursor);
  attempt.curl = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &attempt.response.status);
  // Forget the pointers into this frame; live connections survive a reset.
  curl_easy_reset(handle);
  curl_slist_free_all(headers);
  if (attempt.curl != CURLE_OK) {
    attempt.curl_detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(attempt.curl);
    return attempt;
  }
  if (!IsSuccess(attempt.response.status) || request.error_may_follow_200) {
    if (auto error = ParseS3Error(attempt.response.body)) {
      attempt.s3_code = std::move(error->code);
      attempt.s3_message = std::move(error->message);
    }
  }
  return attempt;
}

Result<S3Response> S3Client::Send(const S3Request& request) const {
  CURL* handle = AcquireHandle();
  if (handle == nullptr) return Fail(ErrorCode::kInternalError, "Artifact store error");
  const int max_attempts = std::max(1, config_.tuning.max_attempts);
  for (int attempt = 1;; ++attempt) {
    Attempt result = TryOnce(handle, request);
    long status = result.response.status;
    std::string detail;
    bool retryable = false;
    if (result.curl != CURLE_OK) {
      detail = fmt::format("connection error: {}", result.curl_detail);
      retryable = IsRetryableCurlCode(result.curl);
      status = 0;
    } else if (IsSuccess(status) && result.s3_code.empty()) {
      ReleaseHandle(handle);
      return std::move(result.response);
    } else {
      detail = fmt::format("HTTP {} {} {}", status, result.s3_code, result.s3_message);
      retryable = IsRetryableS3Status(status, result.s3_code);
      // A 200 that carries an <Error> failed all the same; classify it as a server error.
      if (IsSuccess(status)) status = kHttpServerErrors;
    }
    if (!retryable || attempt >= max_attempts) {
      ReleaseHandle(handle);
      return tl::unexpected(S3FailureError(request.what, status, result.s3_code, detail));
    }
    spdlog::warn("s3: {}: {} (try {} of {}), retrying", request.what, detail, attempt,
                 max_attempts);
    SleepBeforeRetry(attempt, config_.tuning);
  }
}

CURL* S3Client::AcquireHandle() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!idle_handles_.empty()) {
      CURL* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void S3Client::ReleaseHandle(CURL* handle) const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (idle_handles_.size() < kS3MaxIdleHandles) {
      idle_handles_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

}  // namespace hokusai::artifacts
