// HTTP to S3 over libcurl: every request signed with SigV4 by libcurl (CURLOPT_AWS_SIGV4),
// transient failures retried with backoff, and failures turned into Errors in one place. Never
// logs credentials, signatures or headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "artifacts/s3/s3_config.hpp"
#include "artifacts/s3/s3_xml.hpp"
#include "common/error.hpp"

namespace hokusai::artifacts {

// The payload hash for bodies we do not hash (object data, streamed); S3 accepts it over TLS and
// plain HTTP alike, and the rest of the request stays signed.
inline constexpr std::string_view kS3UnsignedPayload = "UNSIGNED-PAYLOAD";

struct S3Request {
  const char* method = "GET";             // GET, HEAD, PUT, POST or DELETE
  std::string url;                        // from S3ObjectUrl / S3BucketUrl, query already canonical
  std::vector<std::string> headers = {};  // extra "Name: value" lines; all of them are signed
  std::string_view body = {};             // sent for PUT and POST; must outlive Send()
  std::string payload_sha256 = std::string(kS3UnsignedPayload);
  // CompleteMultipartUpload can fail after its 200 status line: the body is then an <Error>.
  bool error_may_follow_200 = false;
  std::string what;  // for logs: "PUT part 3 of <key>"
};

struct S3Response {
  long status = 0;
  std::string body;  // at most kS3MaxResponseBodyBytes
  std::string etag;  // the ETag header, quotes included
};

// Whether a failure is worth another try: connection-level curl errors, 5xx, 429, and S3's
// SlowDown / RequestTimeout / InternalError / ServiceUnavailable whatever the status.
bool IsRetryableCurlCode(CURLcode code);
bool IsRetryableS3Status(long status, std::string_view s3_code);

// How long to wait before try `attempt` + 1 (attempt counts from 1): base * 2^(attempt-1), capped
// at the maximum; the upper half of that is scaled by `random_unit` in [0, 1) so that replicas
// retrying the same outage spread out.
std::chrono::milliseconds S3RetryDelay(int attempt, const S3Tuning& tuning, double random_unit);

// The one place S3 failures become domain errors, with a generic client message; the detail is
// logged. A 404 for a missing key (NoSuchKey, or no code as HEAD gives) is RESOURCE_DOES_NOT_EXIST;
// throttling, 5xx and unreachable (status 0) are TEMPORARILY_UNAVAILABLE; anything else (403, a
// missing bucket or upload, a bad request) is INTERNAL_ERROR.
Error S3FailureError(std::string_view what, long status, std::string_view s3_code,
                     std::string_view detail);

// The trimmed value of raw header line `line` when its name is `lowercase_name`
// (case-insensitive); nullopt for other headers.
std::optional<std::string_view> S3HeaderValue(std::string_view line,
                                              std::string_view lowercase_name);

// Thread-safe: any number of threads may call Send() at once. Idle curl handles are pooled (under
// a mutex) so that connections are reused across requests.
class S3Client {
 public:
  explicit S3Client(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Config& config() const { return config_; }

  // Sends `request`, retrying transient failures up to tuning.max_attempts times in all.
  // Returns the 2xx answer, or the Error of S3FailureError for the last failure.
  Result<S3Response> Send(const S3Request& request) const;

  // Sets on `handle` what every request shares: SigV4 signing, credentials, protocols, timeouts,
  // TLS verification. `headers` gets the signed S3 headers (payload hash, session token); the
  // caller appends its own, installs the list and frees it after the transfer.
  void Configure(CURL* handle, curl_slist*& headers, std::string_view payload_sha256) const;

 private:
  struct Attempt {
    CURLcode curl = CURLE_OK;
    std::string curl_detail;
    S3Response response;
    std::string s3_code;
    std::string s3_message;
  };
  Attempt TryOnce(CURL* handle, const S3Request& request) const;
  CURL* AcquireHandle() const;
  void ReleaseHandle(CURL* handle) const;

  const S3Config config_;
  const std::string sigv4_;  // "aws:amz:<region>:s3"
  mutable std::mutex pool_mutex_;
  mutable std::vector<CURL*> idle_handles_;  // guarded by pool_mutex_
};

// Waits the backoff before the next try (a thread-local generator supplies the jitter).
void SleepBeforeRetry(int attempt, const S3Tuning& tuning);

}  // namespace hokusai::artifacts
