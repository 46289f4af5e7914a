#include "http/error_response.hpp"

#include "json/writer.hpp"

namespace hokusai::http {

Response ErrorResponse(const Error& error) {
  json::Writer w;
  w.BeginObject()
      .Field("error_code", ErrorCodeName(error.code))
      .Field("message", error.message)
      .EndObject();
  return Response::Json(w.Take(), HttpStatusFor(error.code));
}

Response NotFoundResponse() {
  Response r;
  r.status = 404;
  r.content_type.clear();
  return r;
}

}  // namespace hokusai::http
