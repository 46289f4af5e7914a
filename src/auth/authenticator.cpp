#include "auth/authenticator.hpp"

namespace hokusai::auth {

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
