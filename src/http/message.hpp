// Request and Response as handlers see them. Beast stays inside http/server.cpp; everything a
// handler needs is copied into these plain types once, after the path has been canonicalized.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/stream.hpp"

namespace hokusai::auth {
struct Principal;
}

namespace hokusai::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOther };

std::string_view MethodName(Method method);

// Decoded query parameters in order of appearance; repeated keys are kept.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
// Values of a route pattern's `{name}` segments.
using PathParams = std::vector<std::pair<std::string, std::string>>;

// The credential a request carried, extracted once from its headers by the server: a key as
// `Authorization: Bearer`, as the password of `Authorization: Basic`, as `X-API-Key` or as
// `Authorization: ApiKey`. Never logged, never copied into `headers`.
struct Credential {
  enum class Source { kNone, kBearer, kBasic, kApiKeyHeader, kApiKeyScheme };
  Source source = Source::kNone;
  std::string secret;
  // An Authorization header that could not be read, or two credentials that differ: answered
  // like an unknown key.
  bool malformed = false;
};

struct Request {
  Method method = Method::kGet;
  std::string canonical_path;  // after prefix stripping and /ajax-api -> /api mapping
  QueryParams query;
  PathParams path_params;
  std::string content_type;  // empty when absent
  std::string body;
  std::string remote_address;
  // Headers a handler may read, lower-case names. Credentials are not kept here.
  std::vector<std::pair<std::string, std::string>> headers;
  Credential credential;
  // Set by the gate once the credential is accepted; null on public routes.
  std::shared_ptr<const auth::Principal> principal;

  std::optional<std::string_view> Header(std::string_view lower_name) const;
  // The value of the pattern segment `{name}`, or "" when the route has none.
  std::string_view PathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed from here (read on the blocking pool) instead of `body`.
  std::unique_ptr<ByteSource> stream;

  static Response Json(std::string body, int status = 200) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response Text(std::string body, int status = 200) {
    Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
  }
};

// Receives a streamed request body (routes with BodyKind::kStream). Write() is called for each
// chunk as it arrives, then Finish() once; when the upload fails or the client goes away the
// object is destroyed without Finish(), and must then leave nothing behind.
class UploadHandler : public ByteSink {
 public:
  virtual Result<Response> Finish() = 0;
};

}  // namespace hokusai::http
