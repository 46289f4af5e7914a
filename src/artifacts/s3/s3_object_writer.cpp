#include "artifacts/s3/s3_object_writer.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hokusai::artifacts {
namespace {

constexpr const char* kObjectContentType = "Content-Type: application/octet-stream";
constexpr const char* kXmlContentType = "Content-Type: application/xml";

// A missing bucket or upload while writing is a broken store, not a missing artifact.
Error AsStoreError(Error error) {
  if (error.code == ErrorCode::kResourceDoesNotExist) {
    return Error{ErrorCode::kInternalError, "Artifact store error"};
  }
  return error;
}

}  // namespace

S3ObjectWriter::S3ObjectWriter(std::shared_ptr<S3Backend> backend, std::string key)
    : backend_(std::move(backend)),
      key_(std::move(key)),
      url_(S3ObjectUrl(backend_->client.config(), key_)) {}

S3ObjectWriter::~S3ObjectWriter() {
  if (state_ != State::kCommitted && !upload_id_.empty()) {
    backend_->aborter.Enqueue(key_, upload_id_);
  }
}

Result<void> S3ObjectWriter::Write(std::string_view data) {
  if (state_ != State::kOpen) {
    return Fail(ErrorCode::kInternalError, "The upload can no longer be written");
  }
  const std::size_t part_size = backend_->client.config().tuning.part_size_bytes;
  while (!data.empty()) {
    // A full part goes out only once more data arrives, so that an object of exactly one part
    // still takes the single-PUT path.
    if (buffer_.size() >= part_size) HK_CHECK(Track(UploadBufferedPart()));
    std::size_t n = std::min(data.size(), part_size - buffer_.size());
    ReserveFor(n);
    buffer_.append(data.substr(0, n));
    data.remove_prefix(n);
  }
  return {};
}

Result<void> S3ObjectWriter::Commit() {
  if (state_ != State::kOpen) {
    return Fail(ErrorCode::kInternalError, "The upload can no longer be committed");
  }
  if (upload_id_.empty()) {
    HK_CHECK(Track(PutWholeObject()));
  } else {
    HK_CHECK(Track(UploadBufferedPart()));
    HK_CHECK(Track(CompleteMultipart()));
  }
  state_ = State::kCommitted;
  std::string().swap(buffer_);
  return {};
}

// Grows the buffer without overshooting one part: std::string would double past it.
void S3ObjectWriter::ReserveFor(std::size_t extra) {
  std::size_t needed = buffer_.size() + extra;
  if (needed <= buffer_.capacity()) return;
  std::size_t part_size = backend_->client.config().tuning.part_size_bytes;
  buffer_.reserve(std::min(part_size, std::max(needed, 2 * buffer_.capacity())));
}

Result<void> S3ObjectWriter::Track(Result<void> result) {
  if (!result) state_ = State::kFailed;
  return result;
}

Result<void> S3ObjectWriter::PutWholeObject() {
  S3Request request;
  request.method = "PUT";
  request.url = url_;
  request.headers = {kObjectContentType};
  request.body = buffer_;
  request.what = fmt::format("PUT '{}'", key_);
  auto sent = backend_->client.Send(request);
  if (!sent) return tl::unexpected(AsStoreError(std::move(sent.error())));
  return {};
}

Result<void> S3ObjectWriter::StartMultipart() {
  S3Request request;
  request.method = "POST";
  request.url = url_ + "?" + S3CanonicalQuery({{"uploads", ""}});
  request.headers = {kObjectContentType};
  request.what = fmt::format("start multipart upload of '{}'", key_);
  auto sent = backend_->client.Send(request);
  if (!sent) return tl::unexpected(AsStoreError(std::move(sent.error())));
  auto upload_id = ParseInitiateMultipartUpload(sent->body);
  if (!upload_id) {
    spdlog::error("s3: {}: {}", request.what, upload_id.error().message);
    return Fail(ErrorCode::kInternalError, "Artifact store error");
  }
  upload_id_ = std::move(*upload_id);
  return {};
}

Result<void> S3ObjectWriter::UploadBufferedPart() {
  if (upload_id_.empty()) HK_CHECK(StartMultipart());
  if (part_etags_.size() >= static_cast<std::size_t>(kS3MaxParts)) {
    return InvalidParameter("The artifact is larger than the S3 artifact store accepts");
  }
  const std::size_t part_number = part_etags_.size() + 1;
  S3Request request;
  request.method = "PUT";
  request.url =
      url_ + "?" +
      S3CanonicalQuery({{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id_}});
  request.body = buffer_;
  request.what = fmt::format("PUT part {} of '{}'", part_number, key_);
  auto sent = backend_->client.Send(request);
  if (!sent) return tl::unexpected(AsStoreError(std::move(sent.error())));
  if (sent->etag.empty()) {
    spdlog::error("s3: {}: the answer has no ETag", request.what);
    return Fail(ErrorCode::kInternalError, "Artifact store error");
  }
  part_etags_.push_back(std::move(sent->etag));
  buffer_.clear();  // keeps the capacity for the next part
  return {};
}

Result<void> S3ObjectWriter::CompleteMultipart() {
  const std::string body = CompleteMultipartUploadXml(part_etags_);
  S3Request request;
  request.method = "POST";
  request.url = url_ + "?" + S3CanonicalQuery({{"uploadId", upload_id_}});
  request.headers = {kXmlContentType};
  request.body = body;
  request.error_may_follow_200 = true;
  request.what =
      fmt::format("complete multipart upload of '{}' ({} parts)", key_, part_etags_.size());
  auto sent = backend_->client.Send(request);
  if (!sent) return tl::unexpected(AsStoreError(std::move(sent.error())));
  return {};
}

}  // namespace hokusai::artifacts
