#include "auth/scopes.hpp"

#include <gtest/gtest.h>

namespace hokusai::auth {
namespace {

std::vector<Scope> Parse(std::vector<std::string> names) {
  auto scopes = ParseScopes(names);
  EXPECT_TRUE(scopes.has_value());
  return scopes.value_or(std::vector<Scope>{});
}

TEST(ScopesTest, ParsesCanonicalNamesAndPrintsThemBack) {
  for (std::string name : {"experiment:read", "experiment:write", "model:read", "model:write",
                           "model:write:acme-*", "admin"}) {
    auto scopes = ParseScope(name);
    ASSERT_TRUE(scopes.has_value()) << name;
    ASSERT_EQ(scopes->size(), 1u);
    EXPECT_EQ((*scopes)[0].ToString(), name);
  }
}

TEST(ScopesTest, LegacyNamesMapOntoReadAndWrite) {
  auto read = Parse({"mlflow:read"});
  EXPECT_TRUE(Allows(read, ScopeResource::kModel, ScopeAction::kRead, "m"));
  EXPECT_FALSE(Allows(read, ScopeResource::kModel, ScopeAction::kWrite, "m"));
  for (std::string name : {"mlflow:write", "mlflow:access", "write", "full_access"}) {
    auto scopes = Parse({name});
    EXPECT_TRUE(Allows(scopes, ScopeResource::kModel, ScopeAction::kWrite, "m")) << name;
    EXPECT_TRUE(Allows(scopes, ScopeResource::kExperiment, ScopeAction::kWrite, "e")) << name;
    EXPECT_FALSE(Allows(scopes, ScopeResource::kAdmin, ScopeAction::kWrite, "")) << name;
  }
}

TEST(ScopesTest, UnknownNamesAndBadPatternsAreRejected) {
  for (std::string name : {"", "models:read", "model:delete", "model", "model:write:a;b",
                           "superuser"}) {
    auto scopes = ParseScope(name);
    ASSERT_FALSE(scopes.has_value()) << name;
    EXPECT_EQ(scopes.error().code, ErrorCode::kInvalidParameterValue);
  }
}

TEST(ScopesTest, WriteImpliesReadButNotTheOtherWay) {
  auto scopes = Parse({"model:write"});
  EXPECT_TRUE(Allows(scopes, ScopeResource::kModel, ScopeAction::kRead, "m"));
  EXPECT_FALSE(Allows(scopes, ScopeResource::kExperiment, ScopeAction::kRead, "e"));
}

TEST(ScopesTest, PatternsNarrowByName) {
  auto scopes = Parse({"model:write:acme-*"});
  EXPECT_TRUE(Allows(scopes, ScopeResource::kModel, ScopeAction::kWrite, "acme-churn"));
  EXPECT_FALSE(Allows(scopes, ScopeResource::kModel, ScopeAction::kWrite, "other"));
  EXPECT_FALSE(Allows(scopes, ScopeResource::kModel, ScopeAction::kWrite, ""));
}

TEST(ScopesTest, AdminAllowsEverything) {
  auto scopes = Parse({"admin"});
  EXPECT_TRUE(Allows(scopes, ScopeResource::kAdmin, ScopeAction::kWrite, ""));
  EXPECT_TRUE(Allows(scopes, ScopeResource::kModel, ScopeAction::kWrite, "x"));
}

TEST(ScopesTest, TemplatesGiveTheDocumentedScopes) {
  auto developer = TemplateScopes("developer");
  ASSERT_TRUE(developer.has_value());
  EXPECT_TRUE(Allows(*developer, ScopeResource::kModel, ScopeAction::kWrite, "m"));
  EXPECT_FALSE(Allows(*developer, ScopeResource::kAdmin, ScopeAction::kWrite, ""));
  auto reader = TemplateScopes("reader");
  ASSERT_TRUE(reader.has_value());
  EXPECT_FALSE(Allows(*reader, ScopeResource::kExperiment, ScopeAction::kWrite, "e"));
  EXPECT_FALSE(TemplateScopes("root").has_value());
}

TEST(ScopesTest, SubsetForbidsMintingWiderKeys) {
  auto held = Parse({"model:write:acme-*", "experiment:read"});
  EXPECT_TRUE(IsSubset(Parse({"model:read:acme-*"}), held));
  EXPECT_TRUE(IsSubset(Parse({"model:write:acme-prod-*"}), held));
  EXPECT_FALSE(IsSubset(Parse({"model:write"}), held));
  EXPECT_FALSE(IsSubset(Parse({"experiment:write"}), held));
  EXPECT_FALSE(IsSubset(Parse({"admin"}), held));
  EXPECT_TRUE(IsSubset(Parse({"admin"}), Parse({"admin"})));
}

TEST(GlobMatchTest, StarMatchesAnyRun) {
  EXPECT_TRUE(GlobMatch("acme-*", "acme-"));
  EXPECT_TRUE(GlobMatch("*-prod", "x-prod"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXbYc"));
  EXPECT_FALSE(GlobMatch("acme-*", "acm"));
  EXPECT_FALSE(GlobMatch("abc", "abcd"));
}

}  // namespace
}  // namespace hokusai::auth
