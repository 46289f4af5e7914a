// ArtifactRepository on an S3-compatible bucket (AWS S3, MinIO, Ceph, moto...). Artifact `path`
// is object `<prefix>/<path>`; directories are virtual (the common prefixes of a listing), so an
// empty directory does not exist and deleting the last file of a directory removes it. Requests
// are signed with SigV4 by libcurl and transient failures are retried; see docs/artifacts-s3.md.
#pragma once

#include <memory>
#include <string>

#include "artifacts/artifact_repository.hpp"
#include "artifacts/s3/s3_config.hpp"

namespace hokusai::artifacts {

struct S3Backend;

class S3ArtifactRepository final : public ArtifactRepository {
 public:
  // Sends nothing: call Check() to find out whether the bucket answers.
  static Result<std::unique_ptr<S3ArtifactRepository>> Open(S3Config config);
  // Waits for the aborts of abandoned uploads still queued (unless a reader or writer opened by
  // this repository is still alive; the last of them does it).
  ~S3ArtifactRepository() override;

  // Nothing is sent until a part is full or Commit(); readers and writers may outlive the
  // repository.
  Result<std::unique_ptr<ArtifactWriter>> OpenWriter(const std::string& path) override;
  Result<std::unique_ptr<ByteSource>> OpenReader(const std::string& path) override;
  Result<std::vector<FileInfo>> List(const std::string& path) override;
  Result<void> Delete(const std::string& path) override;
  // Lists at most one key under the prefix: proves the endpoint, the credentials and the bucket.
  Result<void> Check() override;

 private:
  explicit S3ArtifactRepository(std::shared_ptr<S3Backend> backend);

  std::shared_ptr<S3Backend> backend_;
};

}  // namespace hokusai::artifacts
