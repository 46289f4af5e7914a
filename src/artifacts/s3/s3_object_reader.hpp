// A download from S3 with flat memory: one GET, driven (curl_multi_perform) only once the caller
// has taken everything buffered, so the buffer holds at most what one perform delivers (a bounded
// number of socket reads) and TCP flow control holds the sender back in between. (Returning
// CURL_WRITEFUNC_PAUSE instead makes libcurl copy each refused chunk into an allocation of its
// own: one per chunk, which a sanitizer's quarantine turns into RSS growth.) A transfer that breaks off is resumed with a Range GET
// from the first missing byte, pinned with If-Match to the ETag first seen, so that an object
// overwritten meanwhile fails the read instead of mixing two versions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <curl/curl.h>

#include "artifacts/s3/s3_client.hpp"
#include "common/stream.hpp"

namespace hokusai::artifacts {

class S3ObjectReader final : public ByteSource {
 public:
  // Sends the GET for `key` and waits for the answer's headers (retrying transient failures).
  // RESOURCE_DOES_NOT_EXIST when there is no such object.
  static Result<std::unique_ptr<ByteSource>> Open(std::shared_ptr<const S3Client> client,
                                                  std::string key);
  ~S3ObjectReader() override;
  S3ObjectReader(const S3ObjectReader&) = delete;
  S3ObjectReader& operator=(const S3ObjectReader&) = delete;

  int64_t Size() const override { return size_; }
  Result<std::size_t> Read(char* buffer, std::size_t capacity) override;

 private:
  // Why one try to get a transfer going failed.
  struct Failure {
    long status = 0;  // 0: no answer
    std::string s3_code;
    std::string detail;
    bool retryable = false;
  };

  S3ObjectReader(std::shared_ptr<const S3Client> client, std::string key);

  // Starts (or resumes) the transfer, retrying transient failures.
  Result<void> Connect();
  // One try: a fresh transfer from received_, run until its headers are in.
  std::optional<Failure> TryConnect();
  // Picks up a transfer that ended before the last byte.
  Result<void> Resume();
  // Whether the answer whose headers just ended carries the bytes we want: the whole object the
  // first time (which sets size_ and etag_), then exactly the missing range of the same version.
  bool AcceptAnswer();
  void StartTransfer();
  void StopTransfer();
  // Lets curl move data once: unpauses if the buffer is drained, waits briefly for the socket.
  void Drive();
  std::size_t Buffered() const { return buffer_.size() - buffer_pos_; }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user);
  static std::size_t OnData(char* data, std::size_t size, std::size_t count, void* user);

  std::shared_ptr<const S3Client> client_;
  std::string key_;
  std::string what_;  // for logs

  // The object.
  int64_t size_ = -1;
  std::string etag_;
  int64_t received_ = 0;  // bytes taken from the network, buffered or handed out
  int failures_without_progress_ = 0;
  std::string buffer_;  // what the last perform delivered, not yet handed out
  std::size_t buffer_pos_ = 0;

  // The current transfer.
  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  int64_t transfer_start_ = 0;
  long status_ = 0;
  bool headers_done_ = false;
  bool accept_body_ = false;
  bool transfer_done_ = false;
  CURLcode transfer_result_ = CURLE_OK;
  int64_t content_length_ = -1;
  std::string content_range_;
  std::string response_etag_;
  std::string error_body_;  // the body of a non-2xx answer, bounded
};

}  // namespace hokusai::artifacts
