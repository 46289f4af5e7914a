// The few S3 XML documents the artifact store reads and writes. Not a general XML parser: S3's
// answers are small, flat documents in which an element is found by its name, and the same name
// never nests inside itself, so finding elements by name is enough and a malformed answer simply
// lacks what we look for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace hokusai::artifacts {

// The raw contents of each element called `name`, in document order (self-closing: "").
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view name);

// The decoded text of the first element called `name`; nullopt when there is none.
std::optional<std::string> XmlText(std::string_view xml, std::string_view name);

// Replaces the five predefined entities and numeric character references; anything malformed
// is kept as written.
std::string XmlDecode(std::string_view text);

// Escapes &, <, >, " and ' for use in element text.
std::string XmlEscape(std::string_view text);

struct S3ListedObject {
  std::string key;
  int64_t size = 0;
};

// One ListObjectsV2 answer.
struct S3ListPage {
  std::vector<S3ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_continuation_token;  // set when truncated
};

// INTERNAL_ERROR when the document is not a ListBucketResult, a size is not a number, or a
// truncated page carries no continuation token (following it would loop forever).
Result<S3ListPage> ParseListObjectsV2(std::string_view xml);

// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseInitiateMultipartUpload(std::string_view xml);

// An S3 <Error> document (also found inside DeleteResult and in the 200 answer of a failed
// CompleteMultipartUpload).
struct S3ErrorDocument {
  std::string code;
  std::string message;
  std::string key;  // DeleteResult errors only
};

// The top-level <Error> of `xml`; nullopt when it has none.
std::optional<S3ErrorDocument> ParseS3Error(std::string_view xml);

// The per-key <Error> entries of a DeleteResult (empty when every key was deleted).
std::vector<S3ErrorDocument> ParseDeleteErrors(std::string_view xml);

// The CompleteMultipartUpload body for parts 1..n with these ETags (as S3 returned them).
std::string CompleteMultipartUploadXml(const std::vector<std::string>& part_etags);

// A quiet DeleteObjects body (S3 then reports only the keys it failed to delete).
std::string DeleteObjectsXml(const std::vector<std::string>& keys);

}  // namespace hokusai::artifacts
