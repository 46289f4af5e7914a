// A 64-bit counter that every process opening the same file sees: eight bytes of a small file
// mapped shared. The server and `hokusai-registry keys` (offline, same database) both open the
// one beside an SQLite database, so a change made by either is visible to the other at the
// cost of a memory read, without a database round trip.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/error.hpp"

namespace hokusai::store::sql {

class SharedCounter {
 public:
  // Maps `path`, creating it (mode 0600, zero) when missing.
  static Result<std::unique_ptr<SharedCounter>> Open(const std::string& path);
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;

  uint64_t Load() const;
  void Increment();

 private:
  explicit SharedCounter(void* mapping) : mapping_(mapping) {}
  void* mapping_;
};

}  // namespace hokusai::store::sql
