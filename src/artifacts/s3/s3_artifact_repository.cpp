#include "artifacts/s3/s3_artifact_repository.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "artifacts/s3/s3_backend.hpp"
#include "artifacts/s3/s3_object_reader.hpp"
#include "artifacts/s3/s3_object_writer.hpp"
#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

// How many DeleteObjects errors are logged one by one before the rest are only counted.
constexpr std::size_t kLoggedDeleteErrors = 5;

std::string Digest(const EVP_MD* algorithm, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, algorithm, nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(kHex[u >> 4]);
    out.push_back(kHex[u & 0xF]);
  }
  return out;
}

// The name of `key` as a direct child of directory `prefix` (a common prefix keeps its trailing
// '/'); nullopt for the directory's own marker object, deeper keys and reserved names.
std::optional<std::string> ChildName(std::string_view prefix, std::string_view key) {
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view name = key.substr(prefix.size());
  if (!name.empty() && name.back() == '/') name.remove_suffix(1);
  if (name.empty() || name.find('/') != std::string_view::npos || name.substr(0, 4) == ".hk-") {
    return std::nullopt;
  }
  return std::string(name);
}

struct ListRequest {
  std::string prefix;
  bool delimited = true;  // direct children only, deeper keys folded into common prefixes
  std::string continuation_token = {};
  std::size_t max_keys = 0;  // 0: S3's default (1000)
};

Result<S3ListPage> ListObjects(const S3Client& client, const ListRequest& list) {
  std::vector<std::pair<std::string, std::string>> params = {{"list-type", "2"},
                                                             {"prefix", list.prefix}};
  if (list.delimited) params.emplace_back("delimiter", "/");
  if (!list.continuation_token.empty()) {
    params.emplace_back("continuation-token", list.continuation_token);
  }
  if (list.max_keys > 0) params.emplace_back("max-keys", std::to_string(list.max_keys));
  S3Request request;
  request.url = S3BucketUrl(client.config()) + "?" + S3CanonicalQuery(std::move(params));
  request.what = fmt::format("list '{}'", list.prefix);
  HK_TRY(response, client.Send(request));
  auto page = ParseListObjectsV2(response.body);
  if (!page) {
    spdlog::error("s3: {}: {}", request.what, page.error().message);
    return Fail(ErrorCode::kInternalError, "Artifact store error");
  }
  return std::move(*page);
}

Result<void> DeleteObject(const S3Client& client, const std::string& key) {
  S3Request request;
  request.method = "DELETE";
  request.url = S3ObjectUrl(client.config(), key);
  request.what = fmt::format("DELETE '{}'", key);
  auto sent = client.Send(request);
  if (!sent && sent.error().code != ErrorCode::kResourceDoesNotExist) {
    return tl::unexpected(std::move(sent.error()));
  }
  return {};
}

// One DeleteObjects request (S3 insists on Content-MD5 for it; the body is small, so it is
// signed in full as well).
Result<void> DeleteBatch(const S3Client& client, const std::vector<std::string>& keys) {
  const std::string body = DeleteObjectsXml(keys);
  S3Request request;
  request.method = "POST";
  request.url = S3BucketUrl(client.config()) + "?" + S3CanonicalQuery({{"delete", ""}});
  request.headers = {"Content-Type: application/xml",
                     "Content-MD5: " + Base64Encode(Digest(EVP_md5(), body))};
  request.body = body;
  request.payload_sha256 = Hex(Digest(EVP_sha256(), body));
  request.what = fmt::format("delete {} keys from '{}'", keys.size(), keys.front());
  HK_TRY(response, client.Send(request));
  std::vector<S3ErrorDocument> errors = ParseDeleteErrors(response.body);
  if (errors.empty()) return {};
  for (std::size_t i = 0; i < std::min(errors.size(), kLoggedDeleteErrors); ++i) {
    spdlog::error("s3: could not delete '{}': {} {}", errors[i].key, errors[i].code,
                  errors[i].message);
  }
  spdlog::error("s3: {}: {} keys were not deleted", request.what, errors.size());
  return Fail(ErrorCode::kInternalError, "Artifact store error");
}

}  // namespace

Result<std::unique_ptr<S3ArtifactRepository>> S3ArtifactRepository::Open(S3Config config) {
  if (config.tuning.part_size_bytes == 0) {
    return InvalidParameter("The S3 part size must be positive");
  }
  auto backend = std::make_shared<S3Backend>(std::move(config));
  return std::unique_ptr<S3ArtifactRepository>(new S3ArtifactRepository(std::move(backend)));
}

S3ArtifactRepository::S3ArtifactRepository(std::shared_ptr<S3Backend> backend)
    : backend_(std::move(backend)) {}

S3ArtifactRepository::~S3ArtifactRepository() = default;

Result<std::unique_ptr<ArtifactWriter>> S3ArtifactRepository::OpenWriter(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  std::string key = S3ObjectKey(backend_->client.config().location, path);
  return std::unique_ptr<ArtifactWriter>(new S3ObjectWriter(backend_, std::move(key)));
}

Result<std::unique_ptr<ByteSource>> S3ArtifactRepository::OpenReader(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  std::string key = S3ObjectKey(backend_->client.config().location, path);
  // Shares ownership of the backend, so the reader may outlive the repository.
  std::shared_ptr<const S3Client> client(backend_, &backend_->client);
  auto reader = S3ObjectReader::Open(std::move(client), std::move(key));
  if (!reader && reader.error().code == ErrorCode::kResourceDoesNotExist) {
    return Fail(ErrorCode::kResourceDoesNotExist, "Artifact not found: " + path);
  }
  return reader;
}

Result<std::vector<FileInfo>> S3ArtifactRepository::List(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path, true));
  const S3Client& client = backend_->client;
  ListRequest list{S3DirectoryPrefix(client.config().location, path)};
  std::vector<FileInfo> out;
  do {
    HK_TRY(page, ListObjects(client, list));
    for (const S3ListedObject& object : page.objects) {
      if (auto name = ChildName(list.prefix, object.key)) {
        out.push_back(FileInfo{std::move(*name), false, object.size});
      }
    }
    for (const std::string& common : page.common_prefixes) {
      if (auto name = ChildName(list.prefix, common))
        out.push_back(FileInfo{std::move(*name), true});
    }
    list.continuation_token = page.truncated ? page.next_continuation_token : "";
  } while (!list.continuation_token.empty());
  std::sort(out.begin(), out.end(), [](const FileInfo& a, const FileInfo& b) {
    return a.name < b.name || (a.name == b.name && a.is_dir < b.is_dir);
  });
  return out;
}

Result<void> S3ArtifactRepository::Delete(const std::string& path) {
  HK_CHECK(ValidateArtifactPath(path));
  const S3Client& client = backend_->client;
  const std::string key = S3ObjectKey(client.config().location, path);
  HK_CHECK(DeleteObject(client, key));
  ListRequest list{key + "/", false, "", kS3MaxKeysPerDelete};
  do {
    HK_TRY(page, ListObjects(client, list));
    std::vector<std::string> keys;
    keys.reserve(page.objects.size());
    for (S3ListedObject& object : page.objects) keys.push_back(std::move(object.key));
    if (!keys.empty()) HK_CHECK(DeleteBatch(client, keys));
    list.continuation_token = page.truncated ? page.next_continuation_token : "";
  } while (!list.continuation_token.empty());
  return {};
}

Result<void> S3ArtifactRepository::Check() {
  const S3Client& client = backend_->client;
  ListRequest probe{S3DirectoryPrefix(client.config().location, ""), true, "", 1};
  if (!ListObjects(client, probe)) {
    return Fail(ErrorCode::kTemporarilyUnavailable,
                fmt::format("S3 bucket '{}' is not reachable", client.config().location.bucket));
  }
  return {};
}

}  // namespace hokusai::artifacts
