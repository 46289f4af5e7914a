// ArtifactRepository on a local directory. Every path is resolved one segment at a time from an
// open descriptor of the root with O_NOFOLLOW, so neither a symlink planted inside the root nor
// a crafted path can reach outside it. Uploads go to a hidden temporary file in the target
// directory and are renamed into place on commit.
#pragma once

#include <memory>
#include <string>

#include "artifacts/artifact_repository.hpp"

namespace hokusai::artifacts {

class LocalArtifactRepository final : public ArtifactRepository {
 public:
  // Creates `root` if needed and keeps it open.
  static Result<std::unique_ptr<LocalArtifactRepository>> Open(const std::string& root);
  ~LocalArtifactRepository() override;

  Result<std::unique_ptr<ArtifactWriter>> OpenWriter(const std::string& path) override;
  Result<std::unique_ptr<ByteSource>> OpenReader(const std::string& path) override;
  Result<std::vector<FileInfo>> List(const std::string& path) override;
  Result<void> Delete(const std::string& path) override;
  Result<void> Check() override;

 private:
  explicit LocalArtifactRepository(int root_fd) : root_fd_(root_fd) {}
  int root_fd_;
};

}  // namespace hokusai::artifacts
