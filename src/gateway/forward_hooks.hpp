// Gateway mode: what happens around a forwarded request beyond the relay itself.
//
// - Ownership (recorded locally after the upstream confirmed it with a 2xx): experiments/create
//   gives the caller MANAGE on the returned experiment_id; registered-models/create MANAGE on
//   the name; registered-models/rename moves the model's permission rows to the new name;
//   registered-models/delete drops them.
// - Events: model-versions/create calls `version_created` with the new version, so versions
//   registered with the stock client get their registration event as in native mode.
// - Listings (security principle 6): experiments/search, registered-models/search and
//   model-versions/search answers are filtered to what the caller may read, with the rule the
//   native store applies in SQL (store::Visibility). A filtered page may hold fewer items than
//   max_results; next_page_token is the upstream's, so paging still reaches every item.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/router.hpp"
#include "store/auth_store.hpp"
#include "store/types.hpp"

namespace hokusai::gateway {

// Called after the upstream created a model version through model-versions/create (the
// registration event); the version as the upstream answered it and the caller's user id.
using VersionCreated = std::function<void(const store::ModelVersion&, const std::string&)>;

// The Forward each gateway route gets. `auth` must outlive the route table; `version_created`
// may be empty.
http::ForwardFor MakeForwardFor(store::AuthStore& auth, VersionCreated version_created);

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
