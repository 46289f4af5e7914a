#include "auth/authenticator.hpp"

#include "json/writer.hpp"

namespace hokusai::auth {

Error MissingScopeError(std::string message, std::string_view required,
                        const std::vector<Scope>& held) {
  json::Writer w;
  w.BeginObject().Field("detail", message).Field("required_scope", required).Key("key_scopes");
  w.BeginArray();
  for (const Scope& s : held) w.String(s.ToString());
  w.EndArray().EndObject();
  std::string members = w.Take();
  return Error{ErrorCode::kPermissionDenied, std::move(message), {},
               members.substr(1, members.size() - 2)};
}

Error UnauthenticatedError() {
  return Error{ErrorCode::kUnauthenticated,
               "A valid API key is required: send it as 'Authorization: Bearer <key>' "
               "(or as the password of Basic auth, or in X-API-Key)",
               {{"WWW-Authenticate", "Bearer realm=\"hokusai-registry\", "
                                     "Basic realm=\"hokusai-registry\""}}};
}

Error KeyStoreUnavailable() {
  return Error{ErrorCode::kTemporarilyUnavailable,
               "The key store is unavailable; retry shortly",
               {{"Retry-After", "5"}}};
}

}  // namespace hokusai::auth
