// Scopes: what a key may do. `experiment:read|write`, `model:read|write`, `admin`, each
// resource scope optionally narrowed by a name pattern (`model:write:acme-*`, `*` matches any
// run of characters). Legacy names from the field map onto these (decision 0006). Write implies
// read on the same resource and pattern; `admin` implies everything.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace hokusai::auth {

enum class ScopeResource { kExperiment, kModel, kAdmin };
enum class ScopeAction { kRead, kWrite };

struct Scope {
  ScopeResource resource = ScopeResource::kExperiment;
  ScopeAction action = ScopeAction::kRead;
  std::string pattern;  // empty: every name

  // Canonical text: "experiment:read", "model:write:acme-*", "admin".
  std::string ToString() const;
};

// Parses one scope name, including the legacy names (which may expand to several scopes).
// Unknown names are INVALID_PARAMETER_VALUE naming them.
Result<std::vector<Scope>> ParseScope(std::string_view name);

// Parses a list and removes duplicates; order is canonical.
Result<std::vector<Scope>> ParseScopes(const std::vector<std::string>& names);

// The scopes of a named template: "reader", "developer" or "admin".
Result<std::vector<Scope>> TemplateScopes(std::string_view template_name);

// Whether `scopes` allow `action` on `resource` named `name` (name may be empty when the
// resource has no name yet, e.g. a search: then only unpatterned scopes count).
bool Allows(const std::vector<Scope>& scopes, ScopeResource resource, ScopeAction action,
            std::string_view name);

// Whether every permission in `wanted` is also granted by `held` (a key may only mint keys
// within its own scopes).
bool IsSubset(const std::vector<Scope>& wanted, const std::vector<Scope>& held);

// `*` glob match (no other metacharacters).
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace hokusai::auth
