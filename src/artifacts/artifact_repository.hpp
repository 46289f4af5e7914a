// Where artifact bytes live. Paths are relative to the repository root and must already be
// validated with ValidateArtifactPath; implementations still refuse anything that would leave the
// root (no symlinks are followed).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/stream.hpp"

namespace hokusai::artifacts {

struct FileInfo {
  std::string name;  // basename
  bool is_dir = false;
  int64_t file_size = 0;  // files only
};

// An upload in progress. Bytes become visible at the final path only when Commit() succeeds;
// destroying an uncommitted writer removes everything it wrote.
class ArtifactWriter : public ByteSink {
 public:
  virtual Result<void> Commit() = 0;
};

// Thread-safe: every method may be called concurrently.
class ArtifactRepository {
 public:
  virtual ~ArtifactRepository() = default;

  // Starts writing `path` (overwriting on commit); parent directories are created.
  virtual Result<std::unique_ptr<ArtifactWriter>> OpenWriter(const std::string& path) = 0;
  // Opens the file at `path` for reading. RESOURCE_DOES_NOT_EXIST when it is not a file.
  virtual Result<std::unique_ptr<ByteSource>> OpenReader(const std::string& path) = 0;
  // The entries directly under directory `path` ("" for the root), sorted by name. A path that
  // is missing or is a file lists as empty (the MLflow client relies on that).
  virtual Result<std::vector<FileInfo>> List(const std::string& path) = 0;
  // Removes the file or directory tree at `path`. Missing is not an error.
  virtual Result<void> Delete(const std::string& path) = 0;
  // Cheap readiness probe.
  virtual Result<void> Check() = 0;
};

// Checks a client-supplied relative artifact path: non-empty segments, no "." or "..", no
// leading '/', no backslash, NUL or control characters, no segment starting with ".hk-" (names
// the repository reserves), bounded lengths. `allow_empty` accepts "" (the root).
Result<void> ValidateArtifactPath(std::string_view path, bool allow_empty = false);

// Joins two relative paths with '/', skipping empty parts.
std::string JoinArtifactPath(std::string_view a, std::string_view b);

}  // namespace hokusai::artifacts
