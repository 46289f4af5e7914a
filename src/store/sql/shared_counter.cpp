#include "store/sql/shared_counter.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace hokusai::store::sql {
namespace {

constexpr std::size_t kCounterBytes = sizeof(uint64_t);

Error CounterError(const std::string& path, std::string_view what) {
  return Error{ErrorCode::kInternalError,
               fmt::format("cannot {} '{}': {}", what, path, std::strerror(errno))};
}

std::atomic_ref<uint64_t> Word(void* mapping) {
  return std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(mapping));
}

}  // namespace

Result<std::unique_ptr<SharedCounter>> SharedCounter::Open(const std::string& path) {
  static_assert(std::atomic_ref<uint64_t>::is_always_lock_free,
                "a counter shared between processes needs lock-free 64-bit atomics");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return tl::unexpected(CounterError(path, "open"));
  struct stat info {};
  // Growing a shorter file fills it with zeros; two processes doing so at once agree.
  bool sized = ::fstat(fd, &info) == 0 &&
               (info.st_size >= static_cast<off_t>(kCounterBytes) ||
                ::ftruncate(fd, static_cast<off_t>(kCounterBytes)) == 0);
  if (!sized) {
    Error error = CounterError(path, "size");
    ::close(fd);
    return tl::unexpected(error);
  }
  void* mapping = ::mmap(nullptr, kCounterBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  Error error = CounterError(path, "map");
  ::close(fd);
  if (mapping == MAP_FAILED) return tl::unexpected(error);
  return std::unique_ptr<SharedCounter>(new SharedCounter(mapping));
}

SharedCounter::~SharedCounter() { ::munmap(mapping_, kCounterBytes); }

uint64_t SharedCounter::Load() const { return Word(mapping_).load(std::memory_order_acquire); }

void SharedCounter::Increment() { Word(mapping_).fetch_add(1, std::memory_order_acq_rel); }

}  // namespace hokusai::store::sql
