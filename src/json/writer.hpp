// A small streaming JSON writer. Strings are escaped per RFC 8259; doubles are written in their
// shortest exact round-trip form; non-finite doubles as the strings "NaN", "Infinity",
// "-Infinity" (the protobuf JSON convention MLflow clients expect).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hokusai::json {

// Not thread-safe; one writer per response. Misuse (a value without a key inside an object)
// is our bug and is not checked beyond debug assertions.
class Writer {
 public:
  Writer() { out_.reserve(256); }

  Writer& BeginObject();
  Writer& EndObject();
  Writer& BeginArray();
  Writer& EndArray();
  Writer& Key(std::string_view key);
  Writer& String(std::string_view value);
  Writer& Int(int64_t value);
  Writer& Double(double value);
  Writer& Bool(bool value);
  Writer& Null();

  // Key followed by value, for the common case.
  Writer& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  Writer& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  Writer& Field(std::string_view key, const std::string& value) { return Key(key).String(value); }
  Writer& Field(std::string_view key, int64_t value) { return Key(key).Int(value); }
  Writer& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

  // Appends object members already rendered by another Writer (`"a":1,"b":[2]`), inside the
  // object being written. Empty: nothing.
  Writer& RawMembers(std::string_view members);
  // Appends one complete JSON value this program rendered earlier (e.g. a stored document) as
  // the next value. The caller vouches that it is valid JSON.
  Writer& RawValue(std::string_view value);

  // Room for `bytes` more output, for a caller that knows roughly how large the document gets
  // (a long list), so the buffer is not regrown and copied on the way.
  void Reserve(std::size_t bytes) { out_.reserve(out_.size() + bytes); }

  // The document written so far; the writer is empty afterwards.
  std::string Take() { return std::move(out_); }
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open container: true until its first element is written.
  std::vector<bool> first_;
  bool after_key_ = false;
};

// Appends `value` to `out` as a quoted, escaped JSON string. Bytes that are not valid UTF-8
// are written as U+FFFD.
void AppendQuoted(std::string& out, std::string_view value);

// Shortest text that parses back to exactly `value` (finite values only).
std::string FormatDouble(double value);

}  // namespace hokusai::json
