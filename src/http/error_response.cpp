#include "http/error_response.hpp"

#include "json/writer.hpp"

namespace hokusai::http {

Response ErrorResponse(const Error& error) {
  json::Writer w;
  w.BeginObject()
      .Field("error_code", ErrorCodeName(error.code))
      .Field("message", error.message);
  w.RawMembers(error.extra_json);
  w.EndObject();
  Response response = Response::Json(w.Take(), HttpStatusFor(error.code));
  response.headers = error.headers;
  return response;
}

Response NotFoundResponse() {
  Response r;
  r.status = 404;
  r.content_type.clear();
  return r;
}

}  // namespace hokusai::http
