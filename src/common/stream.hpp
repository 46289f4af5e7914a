// Byte streams between the HTTP layer and storage, so large bodies never sit in memory whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.hpp"

namespace hokusai {

// A readable stream of known size. Not thread-safe; used by one thread at a time.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual int64_t Size() const = 0;
  // Reads up to `capacity` bytes into `buffer`; returns the count, 0 at the end.
  virtual Result<std::size_t> Read(char* buffer, std::size_t capacity) = 0;
};

// A writable stream. Not thread-safe; used by one thread at a time.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Result<void> Write(std::string_view data) = 0;
};

}  // namespace hokusai
