#include "store/auth_store.hpp"

#include <array>

namespace hokusai::store {
namespace {

// Indexed by the enum's value.
constexpr std::array<std::string_view, 4> kPermissionNames = {"NO_PERMISSIONS", "READ", "EDIT",
                                                              "MANAGE"};

}  // namespace

std::string_view PermissionName(Permission permission) {
  return kPermissionNames[static_cast<std::size_t>(permission)];
}

std::optional<Permission> ParsePermission(std::string_view name) {
  for (std::size_t i = 0; i < kPermissionNames.size(); ++i) {
    if (kPermissionNames[i] == name) return static_cast<Permission>(i);
  }
  return std::nullopt;
}

}  // namespace hokusai::store
