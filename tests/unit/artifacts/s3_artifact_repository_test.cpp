#include "artifacts/s3/s3_artifact_repository.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "artifacts/local/local_artifact_repository.hpp"
#include "artifacts/open_repository.hpp"
#include "artifacts/s3/s3_client.hpp"
#include "artifacts/s3/s3_config.hpp"
#include "artifacts/s3/s3_xml.hpp"
#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

constexpr const char* kKeyId = "AKIDTEST";
constexpr const char* kSecret = "fake-secret-value-never-sent";
constexpr const char* kBucket = "bkt";
constexpr std::size_t kTestPartSize = 64 * 1024;

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> Credentials() {
  return {{"AWS_ACCESS_KEY_ID", kKeyId}, {"AWS_SECRET_ACCESS_KEY", kSecret}};
}

S3Config ConfigFrom(std::map<std::string, std::string> vars,
                    std::string_view uri = "s3://my-bucket/runs") {
  auto location = ParseS3Uri(uri);
  EXPECT_TRUE(location.has_value());
  auto config = S3ConfigFromEnvironment(*location, MapEnv(std::move(vars)));
  EXPECT_TRUE(config.has_value()) << config.error().message;
  return *config;
}

// ---- destination, environment, keys and URLs ------------------------------------------------

TEST(S3ConfigTest, ParsesBucketAndPrefix) {
  auto location = ParseS3Uri("s3://my-bucket/mlflow/artifacts/");
  ASSERT_TRUE(location.has_value());
  EXPECT_EQ(location->bucket, "my-bucket");
  EXPECT_EQ(location->prefix, "mlflow/artifacts");
  auto bare = ParseS3Uri("s3://my.bucket-1");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->bucket, "my.bucket-1");
  EXPECT_EQ(bare->prefix, "");
}

TEST(S3ConfigTest, RefusesBadBucketsAndPrefixes) {
  for (const char* uri :
       {"s3://", "s3://ab", "s3://Upper", "s3://under_score", "s3://-dash",
        "s3://key:secret@bucket/x", "s3://bucket/a/../b", "s3://bucket//x", "gs://bucket"}) {
    auto location = ParseS3Uri(uri);
    ASSERT_FALSE(location.has_value()) << uri;
    EXPECT_EQ(location.error().code, ErrorCode::kInvalidParameterValue);
    EXPECT_EQ(location.error().message.find("secret"), std::string::npos) << uri;
  }
}

TEST(S3ConfigTest, ReadsCredentialsRegionAndDefaults) {
  auto vars = Credentials();
  vars["AWS_SESSION_TOKEN"] = "token";
  S3Config config = ConfigFrom(vars);
  EXPECT_EQ(config.credentials.access_key_id, kKeyId);
  EXPECT_EQ(config.credentials.secret_access_key, kSecret);
  EXPECT_EQ(config.credentials.session_token, "token");
  EXPECT_EQ(config.region, "us-east-1");
  EXPECT_EQ(config.endpoint, "");
  EXPECT_EQ(config.tuning.part_size_bytes, kS3PartSizeBytes);

  vars["AWS_DEFAULT_REGION"] = "eu-west-1";
  EXPECT_EQ(ConfigFrom(vars).region, "eu-west-1");
  vars["AWS_REGION"] = "eu-central-1";
  EXPECT_EQ(ConfigFrom(vars).region, "eu-central-1");
}

TEST(S3ConfigTest, MissingCredentialsNameTheVariables) {
  auto location = ParseS3Uri("s3://my-bucket");
  ASSERT_TRUE(location.has_value());
  auto config = S3ConfigFromEnvironment(*location, MapEnv({{"AWS_ACCESS_KEY_ID", kKeyId}}));
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

TEST(S3ConfigTest, EndpointOverridePrecedenceAndValidation) {
  auto vars = Credentials();
  vars["AWS_ENDPOINT_URL"] = "http://generic:1";
  EXPECT_EQ(ConfigFrom(vars).endpoint, "http://generic:1");
  vars["AWS_ENDPOINT_URL_S3"] = "http://s3-specific:2/";
  EXPECT_EQ(ConfigFrom(vars).endpoint, "http://s3-specific:2");
  vars["MLFLOW_S3_ENDPOINT_URL"] = "https://minio.local:9000//";
  EXPECT_EQ(ConfigFrom(vars).endpoint, "https://minio.local:9000");

  vars["MLFLOW_S3_ENDPOINT_URL"] = "ftp://minio.local";
  auto location = ParseS3Uri("s3://my-bucket");
  auto config = S3ConfigFromEnvironment(*location, MapEnv(vars));
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().message.find("MLFLOW_S3_ENDPOINT_URL"), std::string::npos);
  EXPECT_EQ(config.error().message.find(kSecret), std::string::npos);
}

TEST(S3ConfigTest, RefusesRegionsThatCouldBreakTheHostOrSigningScope) {
  auto vars = Credentials();
  vars["AWS_REGION"] = "us-east-1:evil";
  auto location = ParseS3Uri("s3://my-bucket");
  EXPECT_FALSE(S3ConfigFromEnvironment(*location, MapEnv(vars)).has_value());
}

TEST(S3ConfigTest, VirtualHostedUrlsOnAwsPathStyleWithAnEndpoint) {
  S3Config aws = ConfigFrom(Credentials());
  EXPECT_EQ(S3ObjectUrl(aws, "runs/a b.txt"),
            "https://my-bucket.s3.us-east-1.amazonaws.com/runs/a%20b.txt");
  EXPECT_EQ(S3BucketUrl(aws), "https://my-bucket.s3.us-east-1.amazonaws.com/");

  auto vars = Credentials();
  vars["MLFLOW_S3_ENDPOINT_URL"] = "http://127.0.0.1:9000";
  S3Config minio = ConfigFrom(vars);
  EXPECT_EQ(S3ObjectUrl(minio, "runs/x"), "http://127.0.0.1:9000/my-bucket/runs/x");
  EXPECT_EQ(S3BucketUrl(minio), "http://127.0.0.1:9000/my-bucket");

  // A dotted bucket does not match the wildcard certificate: path-style on the regional host.
  S3Config dotted = ConfigFrom(Credentials(), "s3://my.bucket/p");
  EXPECT_EQ(S3ObjectUrl(dotted, "p/x"), "https://s3.us-east-1.amazonaws.com/my.bucket/p/x");
}

TEST(S3ConfigTest, EncodesKeysTheWaySigV4Does) {
  EXPECT_EQ(S3UriEncode("a b/c+d~e.f_g-h/\xC3\xA9(1)*", true),
            "a%20b/c%2Bd~e.f_g-h/%C3%A9%281%29%2A");
  EXPECT_EQ(S3UriEncode("a/b", false), "a%2Fb");
}

TEST(S3ConfigTest, MapsArtifactPathsToKeysAndPrefixes) {
  S3Location prefixed{"b", "mlflow/runs"};
  S3Location bare{"b", ""};
  EXPECT_EQ(S3ObjectKey(prefixed, "1/abc/artifacts/model.pkl"),
            "mlflow/runs/1/abc/artifacts/model.pkl");
  EXPECT_EQ(S3ObjectKey(bare, "a/b/"), "a/b");
  EXPECT_EQ(S3DirectoryPrefix(prefixed, ""), "mlflow/runs/");
  EXPECT_EQ(S3DirectoryPrefix(prefixed, "1/abc"), "mlflow/runs/1/abc/");
  EXPECT_EQ(S3DirectoryPrefix(bare, ""), "");
  EXPECT_EQ(S3DirectoryPrefix(bare, "d/"), "d/");
}

TEST(S3ConfigTest, CanonicalQueryIsSortedAndEncoded) {
  EXPECT_EQ(S3CanonicalQuery({{"uploadId", "a+b/c"}, {"partNumber", "2"}}),
            "partNumber=2&uploadId=a%2Bb%2Fc");
  EXPECT_EQ(S3CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(S3CanonicalQuery({{"prefix", "a b/"}, {"list-type", "2"}, {"delimiter", "/"}}),
            "delimiter=%2F&list-type=2&prefix=a%20b%2F");
}

// ---- XML ------------------------------------------------------------------------------------

TEST(S3XmlTest, ParsesAListingPage) {
  constexpr std::string_view kXml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<NextContinuationToken>tok&amp;en==</NextContinuationToken>
<Contents><Key>p/a&amp;b.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
<ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/&#233;&#x263A;</Key><Size>0</Size></Contents>
<CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes></ListBucketResult>)";
  auto page = ParseListObjectsV2(kXml);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a&b.txt");
  EXPECT_EQ(page->objects[0].size, 42);
  EXPECT_EQ(page->objects[1].key, "p/\xC3\xA9\xE2\x98\xBA");
  ASSERT_EQ(page->common_prefixes.size(), 1u);
  EXPECT_EQ(page->common_prefixes[0], "p/dir/");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok&en==");
}

TEST(S3XmlTest, ListingEdgeCases) {
  auto empty = ParseListObjectsV2(
      "<ListBucketResult><Prefix/><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->objects.empty());
  EXPECT_FALSE(empty->truncated);
  // Following a truncated page without a token would loop forever.
  EXPECT_FALSE(
      ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"));
  EXPECT_FALSE(ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>"));
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>"));
}

TEST(S3XmlTest, ParsesUploadIdsAndErrors) {
  auto id = ParseInitiateMultipartUpload(
      "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>abc.def-1</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, "abc.def-1");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<Error><Code>InternalError</Code></Error>"));

  auto error = ParseS3Error(
      "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>The key &lt;x&gt;</Message>"
      "<RequestId>1</RequestId></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "NoSuchKey");
  EXPECT_EQ(error->message, "The key <x>");
  EXPECT_FALSE(ParseS3Error(
      "<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>"));
  EXPECT_FALSE(ParseS3Error(""));

  auto deletes = ParseDeleteErrors(
      "<DeleteResult><Error><Key>a</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
      "</DeleteResult>");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].key, "a");
  EXPECT_EQ(deletes[0].code, "AccessDenied");
  EXPECT_TRUE(ParseDeleteErrors("<DeleteResult></DeleteResult>").empty());
}

TEST(S3XmlTest, DecodingKeepsWhatIsMalformed) {
  EXPECT_EQ(XmlDecode("a &amp; b &lt;&gt;&quot;&apos; &#65;&#x42;"), "a & b <>\"' AB");
  EXPECT_EQ(XmlDecode("fish & chips &bogus; &#xZZ; &"), "fish & chips &bogus; &#xZZ; &");
  EXPECT_EQ(XmlEscape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(XmlDecode(XmlEscape("k<&>\"'")), "k<&>\"'");
}

TEST(S3XmlTest, ElementsMatchWholeNamesOnly) {
  auto keys = XmlElements("<KeyCount>2</KeyCount><Key>a</Key><Key attr=\"1\">b</Key><Key/>", "Key");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], "a");
  EXPECT_EQ(keys[1], "b");
  EXPECT_EQ(keys[2], "");
}

TEST(S3XmlTest, WritesRequestBodies) {
  EXPECT_EQ(CompleteMultipartUploadXml({"\"e1\"", "\"e2\""}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(DeleteObjectsXml({"a&b"}),
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object></Delete>");
}

// ---- retries and error mapping --------------------------------------------------------------

TEST(S3RetryTest, RetriesOnlyTransientFailures) {
  EXPECT_TRUE(IsRetryableS3Status(500, ""));
  EXPECT_TRUE(IsRetryableS3Status(503, "SlowDown"));
  EXPECT_TRUE(IsRetryableS3Status(429, ""));
  EXPECT_TRUE(IsRetryableS3Status(400, "RequestTimeout"));
  EXPECT_TRUE(IsRetryableS3Status(200, "InternalError"));
  EXPECT_FALSE(IsRetryableS3Status(400, "InvalidArgument"));
  EXPECT_FALSE(IsRetryableS3Status(403, "AccessDenied"));
  EXPECT_FALSE(IsRetryableS3Status(403, "SignatureDoesNotMatch"));
  EXPECT_FALSE(IsRetryableS3Status(404, "NoSuchKey"));
  EXPECT_FALSE(IsRetryableS3Status(412, "PreconditionFailed"));

  EXPECT_TRUE(IsRetryableCurlCode(CURLE_COULDNT_CONNECT));
  EXPECT_TRUE(IsRetryableCurlCode(CURLE_OPERATION_TIMEDOUT));
  EXPECT_TRUE(IsRetryableCurlCode(CURLE_RECV_ERROR));
  EXPECT_TRUE(IsRetryableCurlCode(CURLE_PARTIAL_FILE));
  EXPECT_FALSE(IsRetryableCurlCode(CURLE_URL_MALFORMAT));
  EXPECT_FALSE(IsRetryableCurlCode(CURLE_PEER_FAILED_VERIFICATION));
  EXPECT_FALSE(IsRetryableCurlCode(CURLE_WRITE_ERROR));
}

TEST(S3RetryTest, BackoffDoublesIsCappedAndJittered) {
  S3Tuning tuning;  // base 200 ms, cap 5 s
  EXPECT_EQ(S3RetryDelay(1, tuning, 0.0).count(), 100);
  EXPECT_EQ(S3RetryDelay(1, tuning, 0.999).count(), 199);
  EXPECT_EQ(S3RetryDelay(3, tuning, 0.0).count(), 400);
  EXPECT_EQ(S3RetryDelay(3, tuning, 0.5).count(), 600);
  EXPECT_EQ(S3RetryDelay(30, tuning, 0.0).count(), 2500);
  EXPECT_LE(S3RetryDelay(30, tuning, 0.999).count(), 5000);
}

TEST(S3RetryTest, FailuresBecomeGenericErrors) {
  EXPECT_EQ(S3FailureError("GET k", 404, "NoSuchKey", "").code, ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(S3FailureError("HEAD k", 404, "", "").code, ErrorCode::kResourceDoesNotExist);
  EXPECT_EQ(S3FailureError("GET k", 404, "NoSuchBucket", "").code, ErrorCode::kInternalError);
  EXPECT_EQ(S3FailureError("GET k", 503, "SlowDown", "").code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_EQ(S3FailureError("GET k", 0, "", "refused").code, ErrorCode::kTemporarilyUnavailable);
  Error denied = S3FailureError("GET k", 403, "AccessDenied", "HTTP 403 AccessDenied secret-ish");
  EXPECT_EQ(denied.code, ErrorCode::kInternalError);
  EXPECT_EQ(denied.message, "Artifact store error");
}

// ---- choosing a repository ------------------------------------------------------------------

TEST(OpenArtifactRepositoryTest, PlainPathIsLocalDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("hk-open-" + NewHexId());
  auto repo = OpenArtifactRepository(dir.string(), MapEnv({}));
  ASSERT_TRUE(repo.has_value()) << repo.error().message;
  EXPECT_NE(dynamic_cast<LocalArtifactRepository*>(repo->get()), nullptr);
  repo->reset();
  std::filesystem::remove_all(dir);
}

TEST(OpenArtifactRepositoryTest, S3UriIsS3Repository) {
  auto repo = OpenArtifactRepository("s3://my-bucket/prefix", MapEnv(Credentials()));
  ASSERT_TRUE(repo.has_value()) << repo.error().message;
  EXPECT_NE(dynamic_cast<S3ArtifactRepository*>(repo->get()), nullptr);
}

TEST(OpenArtifactRepositoryTest, OtherSchemesAndBadS3SettingsAreClearErrors) {
  auto gcs = OpenArtifactRepository("gs://bucket/x", MapEnv(Credentials()));
  ASSERT_FALSE(gcs.has_value());
  EXPECT_EQ(gcs.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_NE(gcs.error().message.find("gs://"), std::string::npos);

  auto no_credentials = OpenArtifactRepository("s3://my-bucket", MapEnv({}));
  ASSERT_FALSE(no_credentials.has_value());
  EXPECT_NE(no_credentials.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos);

  EXPECT_FALSE(OpenArtifactRepository("s3://Bad_Bucket", MapEnv(Credentials())).has_value());
}

// ---- a fake S3 on loopback ------------------------------------------------------------------

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out, &length, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<char*>(out), length);
}

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

std::string UriDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// An encoder written independently of S3UriEncode, so that the signature check below does not
// merely agree with the code under test.
std::string AwsEncode(std::string_view text, bool keep_slash) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct FakeRequest {
  std::string method;
  std::string path;                            // raw, as sent
  std::string query;                           // raw, as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool signature_ok = false;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::map<std::string, std::string> Params() const {
    std::map<std::string, std::string> out;
    std::stringstream stream(query);
    std::string pair;
    while (std::getline(stream, pair, '&')) {
      std::size_t eq = pair.find('=');
      out[UriDecode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : UriDecode(pair.substr(eq + 1));
    }
    return out;
  }
  bool Has(const std::string& param) const { return Params().count(param) > 0; }
  std::string Param(const std::string& param) const {
    auto params = Params();
    return params.count(param) ? params[param] : "";
  }
};

// Recomputes the SigV4 signature from what arrived on the wire, as S3 does.
bool VerifySignature(const FakeRequest& request, std::string_view secret) {
  const std::string auth = request.Header("authorization");
  const std::string kAlgorithm = "AWS4-HMAC-SHA256 Credential=";
  if (auth.rfind(kAlgorithm, 0) != 0) return false;
  std::size_t signed_at = auth.find(", SignedHeaders=");
  std::size_t signature_at = auth.find(", Signature=");
  if (signed_at == std::string::npos || signature_at == std::string::npos) return false;
  std::string scope_full = auth.substr(kAlgorithm.size(), signed_at - kAlgorithm.size());
  std::string signed_headers = auth.substr(signed_at + 16, signature_at - signed_at - 16);
  std::string signature = auth.substr(signature_at + 12);
  std::size_t slash = scope_full.find('/');
  if (scope_full.substr(0, slash) != kKeyId) return false;
  std::string scope = scope_full.substr(slash + 1);  // date/region/s3/aws4_request
  std::vector<std::string> scope_parts;
  std::stringstream scope_stream(scope);
  for (std::string part; std::getline(scope_stream, part, '/');) scope_parts.push_back(part);
  if (scope_parts.size() != 4) return false;

  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& [name, value] : request.Params()) {
    params.emplace_back(AwsEncode(name, false), AwsEncode(value, false));
  }
  std::sort(params.begin(), params.end());
  std::string query;
  for (const auto& [name, value] : params) query += (query.empty() ? "" : "&") + name + "=" + value;
  std::string headers;
  std::stringstream names(signed_headers);
  for (std::string name; std::getline(names, name, ';');) {
    if (!request.headers.count(name)) return false;
    headers += name + ":" + request.Header(name) + "\n";
  }
  std::string payload = request.Header("x-amz-content-sha256");
  if (payload.empty()) return false;
  if (payload != "UNSIGNED-PAYLOAD" && payload != Hex(Digest(EVP_sha256(), request.body))) {
    return false;
  }
  std::string canonical = request.method + "\n" + AwsEncode(UriDecode(request.path), true) + "\n" +
                          query + "\n" + headers + "\n" + signed_headers + "\n" + payload;
  std::string to_sign = "AWS4-HMAC-SHA256\n" + request.Header("x-amz-date") + "\n" + scope + "\n" +
                        Hex(Digest(EVP_sha256(), canonical));
  std::string key = "AWS4" + std::string(secret);
  for (const std::string& part : scope_parts) key = Hmac(key, part);
  return Hex(Hmac(key, to_sign)) == signature;
}

struct FakeAnswer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t cut_body_at = std::string::npos;  // close the connection after this many bytes
};

// A fault to serve instead of (status > 0) or on top of (cut_body_at) the normal answer.
struct Fault {
  std::string method;
  std::string query_has;
  int status = 0;
  std::string s3_code;
  std::size_t cut_body_at = std::string::npos;
};

// Path-style S3 for bucket "bkt": objects, multipart uploads, ListObjectsV2 with pagination,
// DeleteObjects (Content-MD5 checked), ranged and conditional GETs. Keeps every request.
class FakeS3 {
 public:
  FakeS3() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listen_fd_, 64), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeS3() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : connections_) t.join();
  }

  std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", port_); }

  void Inject(Fault fault) {
    std::lock_guard<std::mutex> lock(mutex_);
    faults_.push_back(std::move(fault));
  }
  void SetObject(const std::string& key, std::string data) {
    std::lock_guard<std::mutex> lock(mutex_);
    objects_[key] = std::move(data);
  }
  void SetPageSize(std::size_t page_size) {
    std::lock_guard<std::mutex> lock(mutex_);
    page_size_ = page_size;
  }
  std::map<std::string, std::string> objects() {
    std::lock_guard<std::mutex> lock(mutex_);
    return objects_;
  }
  std::size_t open_uploads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return uploads_.size();
  }
  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  std::size_t Count(const std::string& method, const std::string& query_has) {
    std::size_t n = 0;
    for (const FakeRequest& r : requests()) {
      if (r.method == method && r.query.find(query_has) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  struct Upload {
    std::string key;
    std::map<int, std::string> parts;
  };

  void AcceptLoop() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mutex_);
      open_fds_.insert(fd);
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static bool SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one request; false when the connection is done.
  static bool ReadRequest(int fd, std::string& pending, FakeRequest& request) {
    char chunk[16384];
    std::size_t end;
    while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      pending.append(chunk, static_cast<std::size_t>(n));
    }
    std::stringstream head(pending.substr(0, end));
    pending.erase(0, end + 4);
    std::string target;
    std::string line;
    std::getline(head, line);
    std::stringstream request_line(line);
    request_line >> request.method >> target;
    std::size_t question = target.find('?');
    request.path = target.substr(0, question);
    request.query = question == std::string::npos ? "" : target.substr(question + 1);
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::size_t start = line.find_first_not_of(' ', colon + 1);
      request.headers[name] = start == std::string::npos ? "" : line.substr(start);
    }
    if (request.Header("expect") == "100-continue" &&
        !SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
      return false;
    }
    std::size_t length = std::stoul(
        request.headers.count("content-length") ? request.Header("content-length") : "0");
    while (pending.size() < length) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      pending.append(chunk, static_cast<std::size_t>(n));
    }
    request.body = pending.substr(0, length);
    pending.erase(0, length);
    return true;
  }

  void Serve(int fd) {
    std::string pending;
    for (;;) {
      FakeRequest request;
      if (!ReadRequest(fd, pending, request)) break;
      request.signature_ok = VerifySignature(request, kSecret);
      FakeAnswer answer = Answer(request);
      std::string head =
          fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", answer.status, answer.body.size());
      for (const auto& [name, value] : answer.headers) head += name + ": " + value + "\r\n";
      head += "\r\n";
      if (request.method == "HEAD") answer.body.clear();
      bool cut = answer.cut_body_at < answer.body.size();
      head += cut ? answer.body.substr(0, answer.cut_body_at) : answer.body;
      if (!SendAll(fd, head) || cut) break;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    open_fds_.erase(fd);
    ::close(fd);
  }

  static std::string Etag(std::string_view data) {
    return "\"" + Hex(Digest(EVP_md5(), data)) + "\"";
  }

  static FakeAnswer ErrorAnswer(int status, const std::string& code) {
    return FakeAnswer{status,
                      {{"Content-Type", "application/xml"}},
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                          "</Code><Message>injected or refused</Message></Error>"};
  }

  FakeAnswer Answer(const FakeRequest& request) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
    std::size_t cut = std::string::npos;
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (it->method == request.method && request.query.find(it->query_has) != std::string::npos) {
        Fault fault = *it;
        faults_.erase(it);
        if (fault.status > 0) return ErrorAnswer(fault.status, fault.s3_code);
        cut = fault.cut_body_at;
        break;
      }
    }
    if (!request.signature_ok) return ErrorAnswer(403, "SignatureDoesNotMatch");
    FakeAnswer answer = Route(request);
    answer.cut_body_at = cut;
    return answer;
  }

  FakeAnswer Route(const FakeRequest& request) {
    const std::string bucket_path = std::string("/") + kBucket;
    if (request.path.rfind(bucket_path, 0) != 0) return ErrorAnswer(404, "NoSuchBucket");
    std::string rest = request.path.substr(bucket_path.size());
    if (rest.empty() || rest == "/") {
      if (request.method == "GET" && request.Param("list-type") == "2") return List(request);
      if (request.method == "POST" && request.Has("delete")) return DeleteMany(request);
      return ErrorAnswer(400, "InvalidRequest");
    }
    const std::string key = UriDecode(rest.substr(1));
    if (request.method == "PUT" && request.Has("uploadId")) return PutPart(request);
    if (request.method == "PUT") {
      objects_[key] = request.body;
      return FakeAnswer{200, {{"ETag", Etag(request.body)}}};
    }
    if (request.method == "POST" && request.Has("uploads")) {
      std::string id = fmt::format("upload-{}", next_upload_++);
      uploads_[id] = Upload{key, {}};
      return FakeAnswer{200,
                        {},
                        "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>" +
                            XmlEscape(key) + "</Key><UploadId>" + id +
                            "</UploadId></InitiateMultipartUploadResult>"};
    }
    if (request.method == "POST" && request.Has("uploadId")) return Complete(request, key);
    if (request.method == "DELETE" && request.Has("uploadId")) {
      if (uploads_.erase(request.Param("uploadId")) == 0) return ErrorAnswer(404, "NoSuchUpload");
      return FakeAnswer{204};
    }
    if (request.method == "DELETE") {
      objects_.erase(key);
      return FakeAnswer{204};
    }
    if (request.method == "GET") return Get(request, key);
    return ErrorAnswer(400, "InvalidRequest");
  }

  FakeAnswer PutPart(const FakeRequest& request) {
    auto it = uploads_.find(request.Param("uploadId"));
    if (it == uploads_.end()) return ErrorAnswer(404, "NoSuchUpload");
    it->second.parts[std::stoi(request.Param("partNumber"))] = request.body;
    return FakeAnswer{200, {{"ETag", Etag(request.body)}}};
  }

  FakeAnswer Complete(const FakeRequest& request, const std::string& key) {
    auto it = uploads_.find(request.Param("uploadId"));
    if (it == uploads_.end() || it->second.key != key) return ErrorAnswer(404, "NoSuchUpload");
    std::vector<std::string_view> etags = XmlElements(request.body, "ETag");
    if (etags.size() != it->second.parts.size()) return ErrorAnswer(400, "InvalidPart");
    std::string data;
    int number = 1;
    for (const auto& [part_number, part] : it->second.parts) {
      if (part_number != number || XmlDecode(etags[number - 1]) != Etag(part)) {
        return ErrorAnswer(400, "InvalidPart");
      }
      data += part;
      ++number;
    }
    objects_[key] = std::move(data);
    uploads_.erase(it);
    return FakeAnswer{200,
                      {},
                      "<CompleteMultipartUploadResult><Key>" + XmlEscape(key) +
                          "</Key></CompleteMultipartUploadResult>"};
  }

  FakeAnswer Get(const FakeRequest& request, const std::string& key) {
    auto it = objects_.find(key);
    if (it == objects_.end()) return ErrorAnswer(404, "NoSuchKey");
    const std::string& data = it->second;
    std::string if_match = request.Header("if-match");
    if (!if_match.empty() && if_match != Etag(data)) return ErrorAnswer(412, "PreconditionFailed");
    std::string range = request.Header("range");
    if (range.empty()) return FakeAnswer{200, {{"ETag", Etag(data)}}, data};
    std::size_t first = std::stoul(range.substr(std::string("bytes=").size()));
    return FakeAnswer{
        206,
        {{"ETag", Etag(data)},
         {"Content-Range", fmt::format("bytes {}-{}/{}", first, data.size() - 1, data.size())}},
        data.substr(first)};
  }

  FakeAnswer List(const FakeRequest& request) {
    const std::string prefix = request.Param("prefix");
    const std::string delimiter = request.Param("delimiter");
    std::size_t max_keys = request.Has("max-keys") ? std::stoul(request.Param("max-keys")) : 1000;
    max_keys = std::min(max_keys, page_size_);
    std::map<std::string, int64_t> entries;  // common prefixes have size -1
    for (const auto& [key, data] : objects_) {
      if (key.rfind(prefix, 0) != 0) continue;
      std::size_t cut = delimiter.empty() ? std::string::npos : key.find(delimiter, prefix.size());
      if (cut == std::string::npos) {
        entries[key] = static_cast<int64_t>(data.size());
      } else {
        entries[key.substr(0, cut + 1)] = -1;
      }
    }
    auto it = request.Has("continuation-token")
                  ? entries.upper_bound(request.Param("continuation-token"))
                  : entries.begin();
    std::string contents;
    std::string prefixes;
    std::string last;
    std::size_t taken = 0;
    for (; it != entries.end() && taken < max_keys; ++it, ++taken) {
      last = it->first;
      if (it->second < 0) {
        prefixes +=
            "<CommonPrefixes><Prefix>" + XmlEscape(it->first) + "</Prefix></CommonPrefixes>";
      } else {
        contents += fmt::format("<Contents><Key>{}</Key><Size>{}</Size></Contents>",
                                XmlEscape(it->first), it->second);
      }
    }
    bool truncated = it != entries.end();
    std::string xml =
        "<?xml version=\"1.0\"?><ListBucketResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>bkt</Name><Prefix>" +
        XmlEscape(prefix) + "</Prefix><KeyCount>" + std::to_string(taken) +
        "</KeyCount><IsTruncated>" + (truncated ? "true" : "false") + "</IsTruncated>";
    if (truncated) xml += "<NextContinuationToken>" + XmlEscape(last) + "</NextContinuationToken>";
    xml += contents + prefixes + "</ListBucketResult>";
    return FakeAnswer{200, {}, xml};
  }

  FakeAnswer DeleteMany(const FakeRequest& request) {
    if (request.Header("content-md5") != Base64Encode(Digest(EVP_md5(), request.body))) {
      return ErrorAnswer(400, "InvalidDigest");
    }
    for (std::string_view key : XmlElements(request.body, "Key")) objects_.erase(XmlDecode(key));
    return FakeAnswer{200, {}, "<DeleteResult></DeleteResult>"};
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
  std::set<int> open_fds_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, Upload> uploads_;
  std::deque<Fault> faults_;
  std::vector<FakeRequest> requests_;
  std::size_t page_size_ = 1000;
  int next_upload_ = 1;
};

std::string Pattern(std::size_t size, unsigned seed = 7) {
  std::string out(size, '\0');
  uint32_t x = seed;
  for (char& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

class S3RepositoryTest : public ::testing::Test {
 protected:
  S3Config TestConfig(std::string endpoint, std::string session_token = "") {
    S3Config config;
    config.location = S3Location{kBucket, "runs"};
    config.region = "us-east-1";
    config.endpoint = std::move(endpoint);
    config.credentials = S3Credentials{kKeyId, kSecret, std::move(session_token)};
    config.tuning.part_size_bytes = kTestPartSize;
    config.tuning.retry_base_delay_ms = 1;
    config.tuning.retry_max_delay_ms = 4;
    config.tuning.connect_timeout_seconds = 2;
    config.tuning.stall_timeout_seconds = 5;
    return config;
  }

  void SetUp() override { Reopen(TestConfig(fake_.endpoint())); }

  void Reopen(S3Config config) {
    repo_.reset();
    auto repo = S3ArtifactRepository::Open(std::move(config));
    ASSERT_TRUE(repo.has_value());
    repo_ = std::move(*repo);
  }

  Result<void> Put(const std::string& path, std::string_view data, std::size_t chunk = 7777) {
    HK_TRY(writer, repo_->OpenWriter(path));
    for (std::size_t at = 0; at < data.size(); at += chunk) {
      HK_CHECK(writer->Write(data.substr(at, chunk)));
    }
    return writer->Commit();
  }

  Result<std::string> Get(const std::string& path, std::size_t buffer_size = 4096) {
    HK_TRY(reader, repo_->OpenReader(path));
    std::string out;
    std::vector<char> buffer(buffer_size);
    for (;;) {
      HK_TRY(n, reader->Read(buffer.data(), buffer.size()));
      if (n == 0) break;
      out.append(buffer.data(), n);
    }
    EXPECT_EQ(static_cast<int64_t>(out.size()), reader->Size());
    return out;
  }

  void ExpectAllSigned() {
    for (const FakeRequest& r : fake_.requests()) {
      EXPECT_TRUE(r.signature_ok) << r.method << " " << r.path << "?" << r.query;
    }
  }

  FakeS3 fake_;
  std::unique_ptr<S3ArtifactRepository> repo_;
};

TEST_F(S3RepositoryTest, SmallFileIsOnePutVisibleOnlyAfterCommit) {
  auto writer = repo_->OpenWriter("1/run/artifacts/a.txt");
  ASSERT_TRUE(writer.has_value());
  ASSERT_TRUE((*writer)->Write("hello ").has_value());
  ASSERT_TRUE((*writer)->Write("world").has_value());
  EXPECT_TRUE(fake_.requests().empty());
  ASSERT_TRUE((*writer)->Commit().has_value());
  EXPECT_EQ(fake_.objects().at("runs/1/run/artifacts/a.txt"), "hello world");
  EXPECT_EQ(fake_.Count("POST", "uploads"), 0u);
  auto read = Get("1/run/artifacts/a.txt");
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_EQ(*read, "hello world");
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, LargeFileGoesUpInPartsAndReadsBack) {
  const std::string data = Pattern(kTestPartSize * 5 + 12345);
  auto writer = repo_->OpenWriter("model/weights.bin");
  ASSERT_TRUE(writer.has_value());
  for (std::size_t at = 0; at < data.size(); at += 10000) {
    ASSERT_TRUE((*writer)->Write(std::string_view(data).substr(at, 10000)).has_value());
  }
  EXPECT_TRUE(fake_.objects().empty());  // parts are not an object
  EXPECT_EQ(fake_.open_uploads(), 1u);
  ASSERT_TRUE((*writer)->Commit().has_value());
  EXPECT_EQ(fake_.Count("PUT", "partNumber"), 6u);
  EXPECT_EQ(fake_.open_uploads(), 0u);
  EXPECT_TRUE(fake_.objects().at("runs/model/weights.bin") == data);
  auto read = Get("model/weights.bin", 1000);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_TRUE(*read == data);
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, ExactlyOnePartIsASinglePut) {
  ASSERT_TRUE(Put("one-part.bin", Pattern(kTestPartSize)).has_value());
  EXPECT_EQ(fake_.Count("POST", "uploads"), 0u);
  EXPECT_EQ(fake_.objects().at("runs/one-part.bin").size(), kTestPartSize);
}

TEST_F(S3RepositoryTest, EmptyFileRoundTrips) {
  ASSERT_TRUE(Put("empty.txt", "").has_value());
  EXPECT_EQ(fake_.objects().at("runs/empty.txt"), "");
  auto read = Get("empty.txt");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, "");
}

TEST_F(S3RepositoryTest, AbandonedSmallWriterSendsNothing) {
  {
    auto writer = repo_->OpenWriter("partial.txt");
    ASSERT_TRUE(writer.has_value());
    ASSERT_TRUE((*writer)->Write("abc").has_value());
  }
  repo_.reset();
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(S3RepositoryTest, AbandonedMultipartWriterIsAborted) {
  {
    auto writer = repo_->OpenWriter("partial.bin");
    ASSERT_TRUE(writer.has_value());
    ASSERT_TRUE((*writer)->Write(Pattern(kTestPartSize * 2 + 10)).has_value());
    EXPECT_EQ(fake_.open_uploads(), 1u);
  }
  repo_.reset();  // waits for the background abort
  EXPECT_EQ(fake_.open_uploads(), 0u);
  EXPECT_EQ(fake_.Count("DELETE", "uploadId"), 1u);
  EXPECT_TRUE(fake_.objects().empty());
}

TEST_F(S3RepositoryTest, FailedCompleteLeavesNothingAndAborts) {
  fake_.Inject(Fault{"POST", "uploadId", 403, "AccessDenied"});
  {
    auto writer = repo_->OpenWriter("denied.bin");
    ASSERT_TRUE(writer.has_value());
    ASSERT_TRUE((*writer)->Write(Pattern(kTestPartSize * 2)).has_value());
    auto committed = (*writer)->Commit();
    ASSERT_FALSE(committed.has_value());
    EXPECT_EQ(committed.error().code, ErrorCode::kInternalError);
    EXPECT_FALSE((*writer)->Write("more").has_value());
  }
  repo_.reset();
  EXPECT_EQ(fake_.open_uploads(), 0u);
  EXPECT_TRUE(fake_.objects().empty());
}

TEST_F(S3RepositoryTest, ListShowsDirectChildrenSortedAcrossPages) {
  for (const char* key : {"runs/d/b.txt", "runs/d/sub/x", "runs/d/sub/y", "runs/d/zz/q",
                          "runs/d2/other", "runs/d/", "runs/e"}) {
    fake_.SetObject(key, "..");
  }
  fake_.SetObject("runs/d/a.txt", "abc");
  fake_.SetPageSize(2);
  auto listing = repo_->List("d");
  ASSERT_TRUE(listing.has_value()) << listing.error().message;
  ASSERT_EQ(listing->size(), 4u);
  EXPECT_EQ((*listing)[0].name, "a.txt");
  EXPECT_FALSE((*listing)[0].is_dir);
  EXPECT_EQ((*listing)[0].file_size, 3);
  EXPECT_EQ((*listing)[1].name, "b.txt");
  EXPECT_EQ((*listing)[2].name, "sub");
  EXPECT_TRUE((*listing)[2].is_dir);
  EXPECT_EQ((*listing)[3].name, "zz");
  EXPECT_GE(fake_.Count("GET", "continuation-token"), 2u);

  auto root = repo_->List("");
  ASSERT_TRUE(root.has_value());
  ASSERT_EQ(root->size(), 3u);
  EXPECT_EQ((*root)[0].name, "d");
  EXPECT_EQ((*root)[1].name, "d2");
  EXPECT_EQ((*root)[2].name, "e");
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, ListOfMissingPathOrFileIsEmpty) {
  fake_.SetObject("runs/file.txt", "x");
  auto missing = repo_->List("nothing/here");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->empty());
  auto file = repo_->List("file.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(file->empty());
}

TEST_F(S3RepositoryTest, DeleteRemovesFileOrTreeButNotSiblings) {
  for (const char* key : {"runs/d/a", "runs/d/b", "runs/d/sub/c", "runs/d/sub/deep/e",
                          "runs/d2/keep", "runs/d.txt", "runs/f"}) {
    fake_.SetObject(key, "x");
  }
  fake_.SetPageSize(2);
  ASSERT_TRUE(repo_->Delete("d").has_value());
  ASSERT_TRUE(repo_->Delete("f").has_value());
  auto left = fake_.objects();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_TRUE(left.count("runs/d2/keep"));
  EXPECT_TRUE(left.count("runs/d.txt"));
  EXPECT_GE(fake_.Count("POST", "delete"), 2u);  // batches, each with a valid Content-MD5
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, DeleteOfMissingPathIsNotAnError) {
  EXPECT_TRUE(repo_->Delete("never/was").has_value());
}

TEST_F(S3RepositoryTest, ReadOfMissingObjectIsNotFound) {
  fake_.SetObject("runs/dir/file", "x");
  for (const char* path : {"missing.txt", "dir"}) {
    auto reader = repo_->OpenReader(path);
    ASSERT_FALSE(reader.has_value());
    EXPECT_EQ(reader.error().code, ErrorCode::kResourceDoesNotExist);
    EXPECT_NE(reader.error().message.find(path), std::string::npos);
  }
}

TEST_F(S3RepositoryTest, InvalidPathsAreRefusedBeforeAnyRequest) {
  EXPECT_FALSE(repo_->OpenWriter("../escape").has_value());
  EXPECT_FALSE(repo_->OpenReader("/abs").has_value());
  EXPECT_FALSE(repo_->List("a//b").has_value());
  EXPECT_FALSE(repo_->Delete("").has_value());
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(S3RepositoryTest, RetriesServerErrorsAndThrottling) {
  fake_.Inject(Fault{"PUT", "", 503, "SlowDown"});
  fake_.Inject(Fault{"PUT", "", 500, "InternalError"});
  ASSERT_TRUE(Put("retried.txt", "data").has_value());
  EXPECT_EQ(fake_.Count("PUT", ""), 3u);
  EXPECT_EQ(fake_.objects().at("runs/retried.txt"), "data");

  fake_.Inject(Fault{"GET", "list-type", 400, "RequestTimeout"});
  fake_.Inject(Fault{"GET", "list-type", 429, "TooManyRequests"});
  EXPECT_TRUE(repo_->List("").has_value());
  EXPECT_EQ(fake_.Count("GET", "list-type"), 3u);
}

TEST_F(S3RepositoryTest, DoesNotRetryClientErrors) {
  fake_.Inject(Fault{"PUT", "", 403, "AccessDenied"});
  auto put = Put("denied.txt", "data");
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.error().code, ErrorCode::kInternalError);
  EXPECT_EQ(put.error().message, "Artifact store error");  // the detail is only logged
  EXPECT_EQ(fake_.Count("PUT", ""), 1u);
}

TEST_F(S3RepositoryTest, GivesUpAfterMaxAttempts) {
  for (int i = 0; i < kS3MaxAttempts + 1; ++i) fake_.Inject(Fault{"GET", "", 503, "SlowDown"});
  auto reader = repo_->OpenReader("any.txt");
  ASSERT_FALSE(reader.has_value());
  EXPECT_EQ(reader.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_EQ(fake_.Count("GET", ""), static_cast<std::size_t>(kS3MaxAttempts));
}

TEST_F(S3RepositoryTest, ReaderResumesWhereTheConnectionBroke) {
  const std::string data = Pattern(1024 * 1024 + 17);
  fake_.SetObject("runs/big.bin", data);
  fake_.Inject(Fault{"GET", "", 0, "", 300000});
  auto read = Get("big.bin", 65536);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_TRUE(*read == data);
  auto requests = fake_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].Header("range"), "bytes=300000-");
  EXPECT_EQ(requests[1].Header("if-match"), "\"" + Hex(Digest(EVP_md5(), data)) + "\"");
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, ReaderFailsRatherThanMixVersions) {
  fake_.SetObject("runs/big.bin", Pattern(1024 * 1024));
  fake_.Inject(Fault{"GET", "", 0, "", 100000});
  auto reader = repo_->OpenReader("big.bin");
  ASSERT_TRUE(reader.has_value());
  fake_.SetObject("runs/big.bin", Pattern(1024 * 1024, 99));  // overwritten mid-download
  std::vector<char> buffer(65536);
  Result<std::size_t> n = std::size_t{1};
  while (n && *n > 0) n = (*reader)->Read(buffer.data(), buffer.size());
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code, ErrorCode::kInternalError);
}

TEST_F(S3RepositoryTest, KeysWithSpecialCharactersAreEncodedAndSigned) {
  const std::string path = "dir/a b+c~\xC3\xA9(1)&=.txt";
  ASSERT_TRUE(Put(path, "x").has_value());
  EXPECT_TRUE(fake_.objects().count("runs/" + path));
  auto listing = repo_->List("dir");
  ASSERT_TRUE(listing.has_value());
  ASSERT_EQ(listing->size(), 1u);
  EXPECT_EQ((*listing)[0].name, "a b+c~\xC3\xA9(1)&=.txt");
  auto read = Get(path);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, "x");
  ASSERT_TRUE(repo_->Delete("dir").has_value());
  EXPECT_TRUE(fake_.objects().empty());
  ExpectAllSigned();
}

TEST_F(S3RepositoryTest, SessionTokenIsSentAndSignedAndTheSecretNeverIs) {
  Reopen(TestConfig(fake_.endpoint(), "session-token-1"));
  ASSERT_TRUE(Put("t.txt", "x").has_value());
  ASSERT_TRUE(Put("big.bin", Pattern(kTestPartSize * 2)).has_value());
  ASSERT_TRUE(Get("t.txt").has_value());
  ASSERT_TRUE(repo_->Delete("t.txt").has_value());
  for (const FakeRequest& r : fake_.requests()) {
    EXPECT_TRUE(r.signature_ok);
    EXPECT_EQ(r.Header("x-amz-security-token"), "session-token-1");
    EXPECT_NE(r.Header("authorization").find("x-amz-security-token"), std::string::npos);
    for (const auto& [name, value] : r.headers) {
      EXPECT_EQ(value.find(kSecret), std::string::npos) << name;
    }
    EXPECT_EQ(r.body.find(kSecret), std::string::npos);
  }
}

TEST_F(S3RepositoryTest, CheckProbesTheBucket) {
  EXPECT_TRUE(repo_->Check().has_value());
  EXPECT_EQ(fake_.requests().back().Param("max-keys"), "1");

  // A port nobody listens on: connection refused, retried, then unavailable.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  Reopen(TestConfig(fmt::format("http://127.0.0.1:{}", ntohs(address.sin_port))));
  auto down = repo_->Check();
  ASSERT_FALSE(down.has_value());
  EXPECT_EQ(down.error().code, ErrorCode::kTemporarilyUnavailable);
  EXPECT_NE(down.error().message.find(kBucket), std::string::npos);
}

TEST_F(S3RepositoryTest, ConcurrentUploadsAndDownloads) {
  constexpr int kThreads = 4;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string path = fmt::format("c/{}.bin", t);
      const std::string data = Pattern(kTestPartSize * 2 + static_cast<std::size_t>(t), t);
      if (!Put(path, data)) return;
      auto read = Get(path, 8192);
      if (read && *read == data) ++good;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads);
  auto listing = repo_->List("c");
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(listing->size(), static_cast<std::size_t>(kThreads));
}

}  // namespace
}  // namespace hokusai::artifacts
