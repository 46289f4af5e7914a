// Gateway mode: what happens around a forwarded request beyond the relay itself.
//
// - Ownership (recorded locally after the upstream confirmed it with a 2xx): experiments/create
//   gives the caller MANAGE on the returned experiment_id; registered-models/create MANAGE on
//   the name; registered-models/rename moves the model's permission rows to the new name;
//   registered-models/delete drops them.
// - Listings (security principle 6): experiments/search, registered-models/search and
//   model-versions/search answers are filtered to what the caller may read, with the rule the
//   native store applies in SQL (store::Visibility). A filtered page may hold fewer items than
//   max_results; next_page_token is the upstream's, so paging still reaches every item.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/router.hpp"
#include "store/auth_store.hpp"

namespace hokusai::gateway {

// The Forward each gateway route gets. `auth` must outlive the route table.
http::ForwardFor MakeForwardFor(store::AuthStore& auth);

// The kinds of list the filter knows.
enum class Listing { kExperiments, kRegisteredModels, kModelVersions };

// Whether `visibility` lets its user read the resource with `name` (and, for experiments, id
// `id`; models are keyed by name). Same rule as the native SQL: a row that is not
// NO_PERMISSIONS, or no row and a readable default; and the name matches a pattern if any.
Result<bool> Visible(store::AuthStore& auth, const store::Visibility& visibility, Listing kind,
                     const std::string& id, const std::string& name);

// `body` (an upstream search answer) with the items `visibility` hides removed; other members
// unchanged. INTERNAL_ERROR-free: malformed answers are TEMPORARILY_UNAVAILABLE.
Result<std::string> FilterListing(store::AuthStore& auth, const store::Visibility& visibility,
                                  Listing kind, std::string_view body);

}  // namespace hokusai::gateway
