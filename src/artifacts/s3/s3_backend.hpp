// What an S3 repository shares with the readers and writers it opened. They may outlive the
// repository (a download still streaming at shutdown), so they hold it by shared_ptr.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "artifacts/s3/s3_client.hpp"

namespace hokusai::artifacts {

// Sends AbortMultipartUpload for `upload_id` of `key`; an upload that is already gone is fine.
Result<void> AbortMultipartUpload(const S3Client& client, const std::string& key,
                                  const std::string& upload_id);

// Aborts abandoned multipart uploads on a thread of its own: a writer is often destroyed on an I/O
// thread, which must never wait for the network. Thread-safe. The thread starts with the first
// abort; destruction finishes the queued aborts, then joins it.
class S3UploadAborter {
 public:
  explicit S3UploadAborter(const S3Client& client) : client_(client) {}
  ~S3UploadAborter();
  S3UploadAborter(const S3UploadAborter&) = delete;
  S3UploadAborter& operator=(const S3UploadAborter&) = delete;

  void Enqueue(std::string key, std::string upload_id);

 private:
  void Run();

  const S3Client& client_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::string>> queue_;  // guarded by mutex_
  bool stopping_ = false;                                  // guarded by mutex_
  std::thread thread_;                                     // started under mutex_
};

struct S3Backend {
  explicit S3Backend(S3Config config) : client(std::move(config)), aborter(client) {}

  S3Client client;
  S3UploadAborter aborter;  // after `client`: it is destroyed first and uses client until then
};

}  // namespace hokusai::artifacts
