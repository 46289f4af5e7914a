#include "artifacts/s3/s3_object_reader.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

constexpr long kHttpOk = 200;
constexpr long kHttpPartialContent = 206;
constexpr long kHttpMultipleChoices = 300;
// How long one wait for the socket may block; curl's stall timeout bounds the total.
constexpr int kPollTimeoutMs = 1000;
// Error documents are small; anything longer is cut (it is only parsed for its code).
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

bool IsSuccess(long status) { return status >= kHttpOk && status < kHttpMultipleChoices; }

long ParseStatusLine(std::string_view line) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  std::optional<int64_t> status = ParseInt64(line.substr(space + 1, 3));
  return status ? static_cast<long>(*status) : 0;
}

// "bytes <first>-<last>/<total>" → first and total.
bool ParseContentRange(std::string_view value, int64_t& first, int64_t& total) {
  constexpr std::string_view kUnit = "bytes ";
  if (value.substr(0, kUnit.size()) != kUnit) return false;
  value.remove_prefix(kUnit.size());
  std::size_t dash = value.find('-');
  std::size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return false;
  }
  std::optional<int64_t> start = ParseInt64(value.substr(0, dash));
  std::optional<int64_t> length = ParseInt64(value.substr(slash + 1));
  if (!start || !length) return false;
  first = *start;
  total = *length;
  return true;
}

}  // namespace

S3ObjectReader::S3ObjectReader(std::shared_ptr<const S3Client> client, std::string key)
    : client_(std::move(client)),
      key_(std::move(key)),
      what_(fmt::format("GET '{}'", key_)),
      multi_(curl_multi_init()) {}

S3ObjectReader::~S3ObjectReader() {
  StopTransfer();
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

Result<std::unique_ptr<ByteSource>> S3ObjectReader::Open(std::shared_ptr<const S3Client> client,
                                                         std::string key) {
  std::unique_ptr<S3ObjectReader> reader(new S3ObjectReader(std::move(client), std::move(key)));
  if (reader->multi_ == nullptr) return Fail(ErrorCode::kInternalError, "Artifact store error");
  HK_CHECK(reader->Connect());
  return std::unique_ptr<ByteSource>(std::move(reader));
}

Result<std::size_t> S3ObjectReader::Read(char* buffer, std::size_t capacity) {
  while (Buffered() == 0) {
    if (received_ >= size_) {
      StopTransfer();  // everything is here: give the connection back now
      return 0;
    }
    if (transfer_done_) {
      HK_CHECK(Resume());
      continue;
    }
    Drive();
  }
  std::size_t n = std::min(capacity, Buffered());
  std::memcpy(buffer, buffer_.data() + buffer_pos_, n);
  buffer_pos_ += n;
  return n;
}

Result<void> S3ObjectReader::Connect() {
  const int max_attempts = std::max(1, client_->config().tuning.max_attempts);
  for (int attempt = 1;; ++attempt) {
    std::optional<Failure> failure = TryConnect();
    if (!failure) return {};
    StopTransfer();
    if (!failure->retryable || attempt >= max_attempts) {
      return tl::unexpected(
          S3FailureError(what_, failure->status, failure->s3_code, failure->detail));
    }
    spdlog::warn("s3: {}: {} (try {} of {}), retrying", what_, failure->detail, attempt,
                 max_attempts);
    SleepBeforeRetry(attempt, client_->config().tuning);
  }
}

std::optional<S3ObjectReader::Failure> S3ObjectReader::TryConnect() {
  StartTransfer();
  if (easy_ == nullptr) return Failure{0, "", "cannot create a curl handle", false};
  while (!headers_done_ && !transfer_done_) Drive();
  if (!headers_done_) {
    std::string detail =
        error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(transfer_result_);
    return Failure{0, "", fmt::format("connection error: {}", detail),
                   IsRetryableCurlCode(transfer_result_)};
  }
  if (accept_body_) return std::nullopt;
  if (IsSuccess(status_)) {
    return Failure{status_, "",
                   fmt::format("unexpected answer: HTTP {}, range '{}'", status_, content_range_),
                   false};
  }
  while (!transfer_done_) Drive();  // the error document
  std::optional<S3ErrorDocument> error = ParseS3Error(error_body_);
  std::string code = error ? error->code : "";
  std::string message = error ? error->message : "";
  return Failure{status_, code, fmt::format("HTTP {} {} {}", status_, code, message),
                 IsRetryableS3Status(status_, code)};
}

Result<void> S3ObjectReader::Resume() {
  if (received_ > transfer_start_) failures_without_progress_ = 0;
  ++failures_without_progress_;
  std::string detail = transfer_result_ == CURLE_OK ? "the answer ended early"
                       : error_buffer_[0] != '\0'   ? error_buffer_
                                                    : curl_easy_strerror(transfer_result_);
  bool retryable = transfer_result_ == CURLE_OK || IsRetryableCurlCode(transfer_result_);
  const S3Tuning& tuning = client_->config().tuning;
  if (!retryable || failures_without_progress_ >= std::max(1, tuning.max_attempts)) {
    StopTransfer();
    return tl::unexpected(S3FailureError(what_, 0, "", detail));
  }
  spdlog::warn("s3: {}: {} after {} of {} bytes, resuming", what_, detail, received_, size_);
  SleepBeforeRetry(failures_without_progress_, tuning);
  return Connect();
}

bool S3ObjectReader::AcceptAnswer() {
  if (size_ < 0) {  // the first answer defines the object
    if (status_ != kHttpOk || content_length_ < 0) return false;
    size_ = content_length_;
    etag_ = response_etag_;
    return true;
  }
  int64_t first = -1;
  int64_t total = -1;
  return status_ == kHttpPartialContent && ParseContentRange(content_range_, first, total) &&
         first == transfer_start_ && total == size_ &&
         (response_etag_.empty() || response_etag_ == etag_);
}

void S3ObjectReader::StartTransfer() {
  StopTransfer();
  easy_ = curl_easy_init();
  if (easy_ == nullptr) return;
  client_->Configure(easy_, headers_, kS3UnsignedPayload);
  if (received_ > 0) {
    headers_ = curl_slist_append(headers_, fmt::format("Range: bytes={}-", received_).c_str());
    if (!etag_.empty()) {
      headers_ = curl_slist_append(headers_, fmt::format("If-Match: {}", etag_).c_str());
    }
  }
  const std::string url = S3ObjectUrl(client_->config(), key_);
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  error_buffer_[0] = '\0';
  transfer_start_ = received_;
  status_ = 0;
  headers_done_ = false;
  accept_body_ = false;
  transfer_done_ = false;
  transfer_result_ = CURLE_OK;
  content_length_ = -1;
  content_range_.clear();
  response_etag_.clear();
  error_body_.clear();
  curl_multi_add_handle(multi_, easy_);
}

void S3ObjectReader::StopTransfer() {
  if (easy_ != nullptr) {
    curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    easy_ = nullptr;
  }
  curl_slist_free_all(headers_);
  headers_ = nullptr;
}

void S3ObjectReader::Drive() {
  const bool had_headers = headers_done_;
  const int64_t had_received = received_;
  int running = 0;
  if (curl_multi_perform(multi_, &running) != CURLM_OK) {
    transfer_done_ = true;
    transfer_result_ = CURLE_FAILED_INIT;
    return;
  }
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg == CURLMSG_DONE) {
      transfer_done_ = true;
      transfer_result_ = message->data.result;
    }
  }
  // Nothing happened: wait for the socket rather than spin.
  bool progressed = headers_done_ != had_headers || received_ != had_received;
  if (!progressed && !transfer_done_) {
    curl_multi_poll(multi_, nullptr, 0, kPollTimeoutMs, nullptr);
  }
}

std::size_t S3ObjectReader::OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<S3ObjectReader*>(user);
  std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") {  // a new response (a 100 Continue may come first)
    self->status_ = ParseStatusLine(line);
    self->content_length_ = -1;
    self->content_range_.clear();
    self->response_etag_.clear();
  } else if (line == "\r\n" || line == "\n") {
    if (self->status_ >= kHttpOk) {
      self->headers_done_ = true;
      self->accept_body_ = self->AcceptAnswer();
    }
  } else if (auto length = S3HeaderValue(line, "content-length")) {
    self->content_length_ = ParseInt64(*length).value_or(-1);
  } else if (auto range = S3HeaderValue(line, "content-range")) {
    self->content_range_ = std::string(*range);
  } else if (auto etag = S3HeaderValue(line, "etag")) {
    self->response_etag_ = std::string(*etag);
  }
  return size * count;
}

std::size_t S3ObjectReader::OnData(char* data, std::size_t size, std::size_t count, void* user) {
  auto* self = static_cast<S3ObjectReader*>(user);
  std::size_t n = size * count;
  if (!IsSuccess(self->status_)) {
    std::size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, self->error_body_.size());
    self->error_body_.append(data, std::min(n, room));
    return n;
  }
  if (!self->accept_body_) return n;  // TryConnect turns this answer into a failure
  if (self->buffer_pos_ == self->buffer_.size()) {
    self->buffer_.clear();
    self->buffer_pos_ = 0;
  }
  self->buffer_.append(data, n);
  self->received_ += n;
  return n;
}

}  // namespace hokusai::artifacts
