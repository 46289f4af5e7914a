#include "artifacts/local/local_artifact_repository.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The one place OS errors become domain errors.
Error OsError(std::string_view what, int err) {
  if (err == ENOENT) {
    return Error{ErrorCode::kResourceDoesNotExist, fmt::format("Artifact not found: {}", what)};
  }
  if (err == ELOOP || err == ENOTDIR || err == EISDIR) {
    return Error{ErrorCode::kInvalidParameterValue,
                 fmt::format("Invalid artifact path: {} crosses a file or a symbolic link", what)};
  }
  if (err == ENOSPC || err == EDQUOT) {
    return Error{ErrorCode::kTemporarilyUnavailable, "The artifact store is out of space"};
  }
  spdlog::error("artifact store: {}: {}", what, std::strerror(err));
  return Error{ErrorCode::kInternalError, "Artifact store error"};
}

std::pair<std::string_view, std::string_view> SplitParent(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

enum class Kind { kMissing, kFile, kDirectory, kSymlink, kOther };

Kind Probe(int dir_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Kind::kMissing;
  if (S_ISLNK(st.st_mode)) return Kind::kSymlink;
  if (S_ISDIR(st.st_mode)) return Kind::kDirectory;
  if (S_ISREG(st.st_mode)) return Kind::kFile;
  return Kind::kOther;
}

Error SymlinkRefused(std::string_view what) {
  return Error{ErrorCode::kInvalidParameterValue,
               fmt::format("Invalid artifact path: {} goes through a symbolic link", what)};
}

Error NotFound(std::string_view what) {
  return Error{ErrorCode::kResourceDoesNotExist, fmt::format("Artifact not found: {}", what)};
}

// Opens directory `rel` below `root_fd`, one segment at a time, never following a symlink:
// a symlink anywhere on the way is refused (400); a missing segment, or one that is a file, is
// RESOURCE_DOES_NOT_EXIST unless `create` makes the missing ones.
Result<UniqueFd> OpenDir(int root_fd, std::string_view rel, bool create) {
  UniqueFd current(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (current.get() < 0) return tl::unexpected(OsError("artifact root", errno));
  std::size_t start = 0;
  while (start < rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string segment(rel.substr(start, end - start));
    start = end + 1;
    if (segment.empty()) continue;
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::openat(current.get(), segment.c_str(), kFlags);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(current.get(), segment.c_str(), 0755) != 0 && errno != EEXIST) {
        return tl::unexpected(OsError(rel, errno));
      }
      fd = ::openat(current.get(), segment.c_str(), kFlags);
    }
    if (fd < 0) {
      int err = errno;
      switch (Probe(current.get(), segment)) {
        case Kind::kSymlink: return tl::unexpected(SymlinkRefused(rel));
        case Kind::kMissing:
        case Kind::kFile:
        case Kind::kOther:
          if (!create) return tl::unexpected(NotFound(rel));
          return tl::unexpected(OsError(rel, err == ENOENT ? ENOTDIR : err));
        case Kind::kDirectory: return tl::unexpected(OsError(rel, err));
      }
    }
    current = UniqueFd(fd);
  }
  return current;
}

Result<void> RemoveTree(int parent_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return tl::unexpected(OsError(name, errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return tl::unexpected(OsError(name, errno));
    }
    return {};
  }
  int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(OsError(name, errno));
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return tl::unexpected(OsError(name, errno));
  }
  std::vector<std::string> children;
  while (dirent* entry = ::readdir(dir)) {
    std::string child = entry->d_name;
    if (child != "." && child != "..") children.push_back(std::move(child));
  }
  Result<void> result;
  for (const std::string& child : children) {
    result = RemoveTree(::dirfd(dir), child);
    if (!result) break;
  }
  ::closedir(dir);
  if (!result) return result;
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return tl::unexpected(OsError(name, errno));
  }
  return {};
}

class LocalWriter final : public ArtifactWriter {
 public:
  LocalWriter(UniqueFd dir, UniqueFd file, std::string temp_name, std::string final_name,
              std::string label)
      : dir_(std::move(dir)),
        file_(std::move(file)),
        temp_name_(std::move(temp_name)),
        final_name_(std::move(final_name)),
        label_(std::move(label)) {}

  ~LocalWriter() override {
    if (!committed_) ::unlinkat(dir_.get(), temp_name_.c_str(), 0);
  }

  Result<void> Write(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(file_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return tl::unexpected(OsError(label_, errno));
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Result<void> Commit() override {
    file_.Reset();
    if (::renameat(dir_.get(), temp_name_.c_str(), dir_.get(), final_name_.c_str()) != 0) {
      return tl::unexpected(OsError(label_, errno));
    }
    committed_ = true;
    return {};
  }

 private:
  UniqueFd dir_;
  UniqueFd file_;
  std::string temp_name_;
  std::string final_name_;
  std::string label_;
  bool committed_ = false;
};

class LocalReader final : public ByteSource {
 public:
  LocalReader(UniqueFd file, int64_t size, std::string label)
      : file_(std::move(file)), size_(size), label_(std::move(label)) {}
  int64_t Size() const override { return size_; }
  Result<std::size_t> Read(char* buffer, std::size_t capacity) override {
    for (;;) {
      ssize_t n = ::read(file_.get(), buffer, capacity);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return tl::unexpected(OsError(label_, errno));
    }
  }

 private:
  UniqueFd file_;
  int64_t size_;
  std::string label_;
};

}  // namespace

Result<std::unique_ptr<LocalArtifactRepository>> LocalArtifactRepository::Open(
    const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot create artifact directory '{}': {}", root, ec.message()));
  }
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kInternalError, fmt::format("cannot open artifact directory '{}': {}",
                                                       root, std::strerror(errno)));
  }
  return std::unique_ptr<LocalArtifactRepository>(new LocalArtifactRepository(fd));
}

LocalArtifactRepository::~LocalArtifactRepository() { ::close(root_fd_); }

Result<std::unique_ptr<ArtifactWriter>> LocalArtifactRepository::OpenWriter(
    const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  auto [parent, name] = SplitParent(path);
  HK_TRY(dir, OpenDir(root_fd_, parent, true));
  Kind existing = Probe(dir.get(), std::string(name));
  if (existing == Kind::kSymlink) return tl::unexpected(SymlinkRefused(path));
  if (existing == Kind::kDirectory || existing == Kind::kOther) {
    return InvalidParameter(fmt::format("Invalid artifact path: {} is a directory", path));
  }
  std::string temp_name = ".hk-upload-" + NewHexId();
  int fd = ::openat(dir.get(), temp_name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return tl::unexpected(OsError(path, errno));
  return std::unique_ptr<ArtifactWriter>(new LocalWriter(
      std::move(dir), UniqueFd(fd), std::move(temp_name), std::string(name), path));
}

Result<std::unique_ptr<ByteSource>> LocalArtifactRepository::OpenReader(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  auto [parent, name] = SplitParent(path);
  HK_TRY(dir, OpenDir(root_fd_, parent, false));
  std::string file_name(name);
  int fd = ::openat(dir.get(), file_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (Probe(dir.get(), file_name) == Kind::kSymlink) return tl::unexpected(SymlinkRefused(path));
    return tl::unexpected(OsError(path, errno));
  }
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return tl::unexpected(OsError(path, errno));
  if (!S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kResourceDoesNotExist, "Artifact not found: " + path);
  }
  return std::unique_ptr<ByteSource>(new LocalReader(std::move(file), st.st_size, path));
}

Result<std::vector<FileInfo>> LocalArtifactRepository::List(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path, true));
  std::vector<FileInfo> out;
  auto dir = OpenDir(root_fd_, path, false);
  if (!dir) {
    // Missing, or a file: an empty listing (the client reads that as "download it"). A symlink
    // on the way stays an error.
    if (dir.error().code == ErrorCode::kResourceDoesNotExist) return out;
    return tl::unexpected(dir.error());
  }
  int fd = ::dup(dir->get());
  DIR* handle = fd < 0 ? nullptr : ::fdopendir(fd);
  if (handle == nullptr) {
    if (fd >= 0) ::close(fd);
    return tl::unexpected(OsError(path, errno));
  }
  while (dirent* entry = ::readdir(handle)) {
    std::string name = entry->d_name;
    if (name == "." || name == ".." || name.rfind(".hk-", 0) == 0) continue;
    struct stat st {};
    if (::fstatat(::dirfd(handle), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      out.push_back(FileInfo{std::move(name), true, 0});
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(FileInfo{std::move(name), false, static_cast<int64_t>(st.st_size)});
    }  // symlinks and special files are not artifacts
  }
  ::closedir(handle);
  std::sort(out.begin(), out.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });
  return out;
}

Result<void> LocalArtifactRepository::Delete(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  auto [parent, name] = SplitParent(path);
  auto dir = OpenDir(root_fd_, parent, false);
  if (!dir) {
    if (dir.error().code == ErrorCode::kResourceDoesNotExist) return {};
    return tl::unexpected(dir.error());
  }
  return RemoveTree(dir->get(), std::string(name));
}

Result<void> LocalArtifactRepository::Check() {
  struct stat st {};
  if (::fstat(root_fd_, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kTemporarilyUnavailable, "artifact directory unavailable");
  }
  return {};
}

}  // namespace hokusai::artifacts
