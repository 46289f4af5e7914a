#include "artifacts/s3/s3_backend.hpp"

#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace hokusai::artifacts {

Result<void> AbortMultipartUpload(const S3Client& client, const std::string& key,
                                  const std::string& upload_id) {
  S3Request request;
  request.method = "DELETE";
  request.url =
      S3ObjectUrl(client.config(), key) + "?" + S3CanonicalQuery({{"uploadId", upload_id}});
  request.what = fmt::format("abort multipart upload of '{}'", key);
  auto sent = client.Send(request);
  if (!sent && sent.error().code != ErrorCode::kResourceDoesNotExist) {
    return tl::unexpected(std::move(sent.error()));
  }
  return {};
}

S3UploadAborter::~S3UploadAborter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void S3UploadAborter::Enqueue(std::string key, std::string upload_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) {
      // Called from destructors: a thread that cannot start costs the abort, never the process.
      try {
        thread_ = std::thread([this] { Run(); });
      } catch (const std::system_error& e) {
        spdlog::error("s3: cannot abort the unfinished upload of '{}': {}", key, e.what());
        return;
      }
    }
    queue_.emplace_back(std::move(key), std::move(upload_id));
  }
  wake_.notify_one();
}

void S3UploadAborter::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to abort
    auto [key, upload_id] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // Failure only leaves parts behind until the bucket's lifecycle rule removes them; the
    // client already logged why.
    if (AbortMultipartUpload(client_, key, upload_id)) {
      spdlog::debug("s3: aborted the unfinished upload of '{}'", key);
    }
    lock.lock();
  }
}

}  // namespace hokusai::artifacts
