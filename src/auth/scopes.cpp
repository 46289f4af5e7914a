#include "auth/scopes.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace hokusai::auth {
namespace {

Scope Make(ScopeResource resource, ScopeAction action, std::string pattern = {}) {
  return Scope{resource, action, std::move(pattern)};
}

bool ValidPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return false;
  for (char c : pattern) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
              c == '.' || c == '*' || c == '/' || c == ' ';
    if (!ok) return false;
  }
  return true;
}

auto Key(const Scope& s) { return std::tie(s.resource, s.action, s.pattern); }

// Whether scope `held` grants what scope `wanted` grants.
bool Covers(const Scope& held, const Scope& wanted) {
  if (held.resource == ScopeResource::kAdmin) return true;
  if (held.resource != wanted.resource) return false;
  if (held.action == ScopeAction::kRead && wanted.action == ScopeAction::kWrite) return false;
  if (held.pattern.empty()) return true;
  if (wanted.pattern.empty()) return false;
  // A narrower pattern is covered when the held pattern matches it read as a literal name
  // (e.g. held "acme-*" covers wanted "acme-prod-*").
  return GlobMatch(held.pattern, wanted.pattern);
}

}  // namespace

std::string Scope::ToString() const {
  if (resource == ScopeResource::kAdmin) return "admin";
  std::string out = resource == ScopeResource::kExperiment ? "experiment" : "model";
  out += action == ScopeAction::kRead ? ":read" : ":write";
  if (!pattern.empty()) out += ":" + pattern;
  return out;
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<std::vector<Scope>> ParseScope(std::string_view name) {
  using R = ScopeResource;
  using A = ScopeAction;
  if (name == "admin") return std::vector<Scope>{Make(R::kAdmin, A::kWrite)};
  // Legacy names seen in the field (decision 0006).
  if (name == "mlflow:read" || name == "read") {
    return std::vector<Scope>{Make(R::kExperiment, A::kRead), Make(R::kModel, A::kRead)};
  }
  if (name == "mlflow:write" || name == "mlflow:access" || name == "write" ||
      name == "full_access") {
    return std::vector<Scope>{Make(R::kExperiment, A::kWrite), Make(R::kModel, A::kWrite)};
  }
  std::size_t first = name.find(':');
  if (first == std::string_view::npos) {
    return InvalidParameter(fmt::format("Unknown scope '{}'", name));
  }
  std::string_view resource = name.substr(0, first);
  std::string_view rest = name.substr(first + 1);
  std::size_t second = rest.find(':');
  std::string_view action = rest.substr(0, second);
  std::string pattern(second == std::string_view::npos ? "" : rest.substr(second + 1));
  Scope scope;
  if (resource == "experiment") {
    scope.resource = R::kExperiment;
  } else if (resource == "model") {
    scope.resource = R::kModel;
  } else {
    return InvalidParameter(fmt::format("Unknown scope '{}'", name));
  }
  if (action == "read") {
    scope.action = A::kRead;
  } else if (action == "write") {
    scope.action = A::kWrite;
  } else {
    return InvalidParameter(fmt::format("Unknown scope '{}'", name));
  }
  if (second != std::string_view::npos) {
    if (!ValidPattern(pattern)) {
      return InvalidParameter(fmt::format("Invalid name pattern in scope '{}'", name));
    }
    if (pattern == "*") pattern.clear();
    scope.pattern = std::move(pattern);
  }
  return std::vector<Scope>{std::move(scope)};
}

Result<std::vector<Scope>> ParseScopes(const std::vector<std::string>& names) {
  std::vector<Scope> out;
  for (const std::string& name : names) {
    HK_TRY(scopes, ParseScope(name));
    for (Scope& s : scopes) out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Scope& a, const Scope& b) { return Key(a) < Key(b); });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Scope& a, const Scope& b) { return Key(a) == Key(b); }),
            out.end());
  return out;
}

Result<std::vector<Scope>> TemplateScopes(std::string_view template_name) {
  if (template_name == "reader") return ParseScopes({"experiment:read", "model:read"});
  if (template_name == "developer") {
    // Reads listed too: consumers of validate and whoami test for scopes by name.
    return ParseScopes({"experiment:read", "model:read", "experiment:write", "model:write"});
  }
  if (template_name == "admin") return ParseScopes({"admin"});
  return InvalidParameter(fmt::format(
      "Unknown template '{}': expected reader, developer or admin", template_name));
}

bool Allows(const std::vector<Scope>& scopes, ScopeResource resource, ScopeAction action,
            std::string_view name) {
  for (const Scope& held : scopes) {
    if (held.resource == ScopeResource::kAdmin) return true;
    if (held.resource != resource) continue;
    if (held.action == ScopeAction::kRead && action == ScopeAction::kWrite) continue;
    if (held.pattern.empty()) return true;
    if (!name.empty() && GlobMatch(held.pattern, name)) return true;
  }
  return false;
}

bool IsSubset(const std::vector<Scope>& wanted, const std::vector<Scope>& held) {
  return std::all_of(wanted.begin(), wanted.end(), [&](const Scope& w) {
    return std::any_of(held.begin(), held.end(), [&](const Scope& h) { return Covers(h, w); });
  });
}

}  // namespace hokusai::auth
