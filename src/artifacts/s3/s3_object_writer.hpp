// An upload to S3 that holds at most one part in memory. Objects smaller than a part go up in a
// single PUT on Commit(); larger ones become a multipart upload, started when the first part is
// full and completed by Commit(). Until then S3 shows nothing at the key. A writer destroyed
// without a successful Commit() has its multipart upload aborted (in the background).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "artifacts/artifact_repository.hpp"
#include "artifacts/s3/s3_backend.hpp"

namespace hokusai::artifacts {

class S3ObjectWriter final : public ArtifactWriter {
 public:
  S3ObjectWriter(std::shared_ptr<S3Backend> backend, std::string key);
  ~S3ObjectWriter() override;

  Result<void> Write(std::string_view data) override;
  Result<void> Commit() override;

 private:
  enum class State { kOpen, kCommitted, kFailed };

  Result<void> PutWholeObject();
  Result<void> StartMultipart();
  Result<void> UploadBufferedPart();
  Result<void> CompleteMultipart();
  void ReserveFor(std::size_t extra);
  // Remembers a failure: later calls fail too, and destruction aborts the upload.
  Result<void> Track(Result<void> result);

  std::shared_ptr<S3Backend> backend_;
  std::string key_;
  std::string url_;
  std::string buffer_;  // the part being filled, at most part_size_bytes
  std::string upload_id_;
  std::vector<std::string> part_etags_;
  State state_ = State::kOpen;
};

}  // namespace hokusai::artifacts
