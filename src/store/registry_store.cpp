#include "store/registry_store.hpp"

namespace hokusai::store {

Result<RegisterModelResult> ReplayIdempotent(const IdempotencyRecord& found,
                                             std::string_view request_hash) {
  if (found.request_hash != request_hash) {
    return Fail(ErrorCode::kResourceConflict,
                "Idempotency-Key was already used with a different request");
  }
  if (found.status == 0) {
    return Fail(ErrorCode::kResourceConflict,
                "A request with this Idempotency-Key is still in progress; retry later");
  }
  RegisterModelResult result;
  result.replayed = true;
  result.status = found.status;
  result.response = found.response;
  return result;
}

}  // namespace hokusai::store
