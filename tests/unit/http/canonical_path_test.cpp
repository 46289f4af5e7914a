#include "http/canonical_path.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/limits.hpp"

namespace hokusai::http {
namespace {

constexpr std::string_view kCanonical = "/api/2.0/mlflow/experiments/get";

std::string MustPath(std::string_view target, std::string_view static_prefix = "") {
  auto result = Canonicalize(target, static_prefix);
  EXPECT_TRUE(result.has_value()) << "target: " << target << "\nerror: "
                                  << (result ? "" : result.error().message);
  return result ? result->path : std::string();
}

QueryParams MustQuery(std::string_view target) {
  auto result = Canonicalize(target, "");
  EXPECT_TRUE(result.has_value()) << "target: " << target << "\nerror: "
                                  << (result ? "" : result.error().message);
  return result ? result->query : QueryParams{};
}

// The decoded text, or "<error: ...>" so that a failure shows the message.
std::string Decoded(std::string_view text) {
  auto result = DecodeQueryComponent(text);
  return result ? *result : "<error: " + result.error().message + ">";
}

std::string Prefix(std::string_view prefix) {
  auto result = NormalizeStaticPrefix(prefix);
  return result ? *result : "<error: " + result.error().message + ">";
}

// Fails the test unless `target` is refused with BAD_REQUEST.
void ExpectRefused(std::string_view target, std::string_view static_prefix = "") {
  auto result = Canonicalize(target, static_prefix);
  EXPECT_FALSE(result.has_value()) << "target accepted: " << target << " -> "
                                   << (result ? result->path : "");
  if (!result) {
    EXPECT_EQ(result.error().code, ErrorCode::kBadRequest) << "target: " << target;
    EXPECT_FALSE(result.error().message.empty());
  }
}

// ---- mounts ---------------------------------------------------------------------------------

TEST(CanonicalizeTest, KeepsTheCanonicalApiPath) {
  EXPECT_EQ(MustPath("/api/2.0/mlflow/experiments/get"), kCanonical);
}

TEST(CanonicalizeTest, EveryMountSpellingMapsToTheSamePath) {
  for (std::string_view target : {
           "/api/2.0/mlflow/experiments/get",
           "/ajax-api/2.0/mlflow/experiments/get",
           "/mlflow/api/2.0/mlflow/experiments/get",
           "/mlflow/ajax-api/2.0/mlflow/experiments/get",
           "/api/mlflow/api/2.0/mlflow/experiments/get",
           "/api/mlflow/ajax-api/2.0/mlflow/experiments/get",
       }) {
    EXPECT_EQ(MustPath(target), kCanonical) << "target: " << target;
  }
}

TEST(CanonicalizeTest, StaticPrefixMountsMapToTheSamePath) {
  EXPECT_EQ(MustPath("/reg/api/2.0/mlflow/experiments/get", "/reg"), kCanonical);
  EXPECT_EQ(MustPath("/reg/ajax-api/2.0/mlflow/experiments/get", "/reg"), kCanonical);
  EXPECT_EQ(MustPath("/a/b/api/2.0/mlflow/experiments/get", "/a/b"), kCanonical);
  // The built-in mounts keep working next to a static prefix.
  EXPECT_EQ(MustPath("/api/2.0/mlflow/experiments/get", "/reg"), kCanonical);
  EXPECT_EQ(MustPath("/ajax-api/2.0/mlflow/experiments/get", "/reg"), kCanonical);
}

TEST(CanonicalizeTest, PrefixAloneBecomesRoot) {
  EXPECT_EQ(MustPath("/reg", "/reg"), "/");
  EXPECT_EQ(MustPath("/reg/", "/reg"), "/");
  EXPECT_EQ(MustPath("/mlflow"), "/");
  EXPECT_EQ(MustPath("/api/mlflow"), "/");
}

TEST(CanonicalizeTest, PrefixLookalikeIsNotStripped) {
  EXPECT_EQ(MustPath("/mlflowx/api/2.0/mlflow/experiments/get"),
            "/mlflowx/api/2.0/mlflow/experiments/get");
  EXPECT_EQ(MustPath("/api/mlflowx/api/2.0/mlflow/x"), "/api/mlflowx/api/2.0/mlflow/x");
  EXPECT_EQ(MustPath("/regx/api/2.0/mlflow/experiments/get", "/reg"),
            "/regx/api/2.0/mlflow/experiments/get");
  EXPECT_EQ(MustPath("/ajax-apix/2.0/mlflow/x"), "/ajax-apix/2.0/mlflow/x");
}

TEST(CanonicalizeTest, StripsExactlyOneMountPrefix) {
  EXPECT_EQ(MustPath("/mlflow/mlflow/api/2.0/mlflow/x"), "/mlflow/api/2.0/mlflow/x");
  EXPECT_EQ(MustPath("/reg/mlflow/api/2.0/mlflow/x", "/reg"), "/mlflow/api/2.0/mlflow/x");
  EXPECT_EQ(MustPath("/mlflow/ajax-api/ajax-api/x"), "/api/ajax-api/x");
}

TEST(CanonicalizeTest, MapsAjaxApiOnlyAsTheLeadingSegment) {
  EXPECT_EQ(MustPath("/api/2.0/mlflow/ajax-api/x"), "/api/2.0/mlflow/ajax-api/x");
  EXPECT_EQ(MustPath("/ajax-api"), "/ajax-api");
}

TEST(CanonicalizeTest, DecodesUnreservedEscapesOnce) {
  EXPECT_EQ(MustPath("/api/2.0/mlflow/experiments/g%65t"), kCanonical);
  EXPECT_EQ(MustPath("/ml%66low/api/2.0/mlflow/experiments/get"), kCanonical);
  EXPECT_EQ(MustPath("/a%20b"), "/a b");
}

TEST(CanonicalizeTest, SeparatesThePathFromTheQuery) {
  auto result = Canonicalize("/api/2.0/mlflow/experiments/get?experiment_id=1", "");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->path, kCanonical);
  ASSERT_EQ(result->query.size(), 1u);
  EXPECT_EQ(result->query[0], (std::pair<std::string, std::string>("experiment_id", "1")));
}

// ---- refusals -------------------------------------------------------------------------------

TEST(CanonicalizeTest, RefusesEmptySegments) {
  ExpectRefused("//api/2.0/mlflow/x");
  ExpectRefused("/api//2.0/mlflow/x");
  ExpectRefused("/api/2.0/mlflow/x//");
  ExpectRefused("//");
}

TEST(CanonicalizeTest, RefusesEncodedSlash) {
  ExpectRefused("/api/2.0/mlflow/experiments%2Fget");
  ExpectRefused("/api/2.0/mlflow/experiments%2fget");
  ExpectRefused("/mlflow%2Fapi/2.0/mlflow/x");
}

TEST(CanonicalizeTest, RefusesEncodedDots) {
  ExpectRefused("/api/2.0/mlflow/%2e%2e/x");
  ExpectRefused("/api/2.0/mlflow/%2E%2E/x");
  ExpectRefused("/api/2.0/mlflow/%2E/x");
  ExpectRefused("/api/2.0/mlflow/a%2eb");
}

TEST(CanonicalizeTest, RefusesEncodedPercent) {
  ExpectRefused("/api/2.0/mlflow/%252e%252e/x");
  ExpectRefused("/api/%25");
}

TEST(CanonicalizeTest, RefusesEncodedNulAndControlCharacters) {
  ExpectRefused("/api/2.0/mlflow/x%00");
  ExpectRefused("/api/2.0/mlflow/x%0a");
  ExpectRefused("/api/2.0/mlflow/x%1F");
  ExpectRefused("/api/2.0/mlflow/x%7f");
}

TEST(CanonicalizeTest, RefusesEncodedBackslashAndSemicolon) {
  ExpectRefused("/api/2.0/mlflow/a%5cb");
  ExpectRefused("/api/2.0/mlflow/a%5Cb");
  ExpectRefused("/api/2.0/mlflow/a%3bb");
}

TEST(CanonicalizeTest, RefusesDotSegments) {
  ExpectRefused("/api/./2.0/mlflow/x");
  ExpectRefused("/api/../2.0/mlflow/x");
  ExpectRefused("/mlflow/../api/2.0/mlflow/x");
  ExpectRefused("/api/2.0/mlflow/x/..");
  ExpectRefused("/api/2.0/mlflow/x/.");
  ExpectRefused("/..");
  ExpectRefused("/.");
}

TEST(CanonicalizeTest, AcceptsDotsInsideSegments) {
  EXPECT_EQ(MustPath("/api/2.0/mlflow/a..b/.c/d."), "/api/2.0/mlflow/a..b/.c/d.");
  EXPECT_EQ(MustPath("/static/.../x"), "/static/.../x");
}

TEST(CanonicalizeTest, RefusesBackslash) {
  ExpectRefused("/api\\2.0/mlflow/x");
  ExpectRefused("/api/2.0/mlflow/x\\..\\y");
}

TEST(CanonicalizeTest, RefusesSemicolon) {
  ExpectRefused("/api/2.0/mlflow/x;jsessionid=1");
  ExpectRefused("/mlflow;/api/2.0/mlflow/x");
}

TEST(CanonicalizeTest, RefusesRawControlCharacters) {
  ExpectRefused(std::string_view("/api/x\0y", 8));
  ExpectRefused("/api/x\ty");
  ExpectRefused("/api/x\ry");
  ExpectRefused("/api/x\ny");
  ExpectRefused("/api/x\x01y");
  ExpectRefused("/api/x\x7fy");
}

TEST(CanonicalizeTest, RefusesBadPercentEscapes) {
  ExpectRefused("/api/2.0/mlflow/x%");
  ExpectRefused("/api/2.0/mlflow/x%4");
  ExpectRefused("/api/2.0/mlflow/x%zz");
  ExpectRefused("/api/2.0/mlflow/x%g1");
  ExpectRefused("/api/2.0/mlflow/x%1g");
  ExpectRefused("/api/%/2.0");
  ExpectRefused("/api/2.0/mlflow/x%4?a=1");
}

TEST(CanonicalizeTest, RefusesNonOriginTargets) {
  ExpectRefused("");
  ExpectRefused("*");
  ExpectRefused("http://example.com/api/2.0/mlflow/x");
  ExpectRefused("example.com:443");
  ExpectRefused("api/2.0/mlflow/x");
  ExpectRefused("?a=1");
}

TEST(CanonicalizeTest, RefusesAmbiguityInsideTheStaticPrefix) {
  ExpectRefused("/reg/../api/2.0/mlflow/x", "/reg");
  ExpectRefused("/reg%2Fapi/2.0/mlflow/x", "/reg");
  ExpectRefused("/reg//api/2.0/mlflow/x", "/reg");
}

// ---- query ----------------------------------------------------------------------------------

TEST(CanonicalizeQueryTest, KeepsRepeatedKeysInOrder) {
  QueryParams query = MustQuery("/x?a=1&b=2&a=3");
  ASSERT_EQ(query.size(), 3u);
  EXPECT_EQ(query[0], (std::pair<std::string, std::string>("a", "1")));
  EXPECT_EQ(query[1], (std::pair<std::string, std::string>("b", "2")));
  EXPECT_EQ(query[2], (std::pair<std::string, std::string>("a", "3")));
}

TEST(CanonicalizeQueryTest, DecodesPlusAsSpace) {
  QueryParams query = MustQuery("/x?filter=a+b&k+1=v");
  ASSERT_EQ(query.size(), 2u);
  EXPECT_EQ(query[0].second, "a b");
  EXPECT_EQ(query[1].first, "k 1");
}

TEST(CanonicalizeQueryTest, DecodesPercentEscapesInKeysAndValues) {
  QueryParams query = MustQuery("/x?%61%62=%2B%2f%25%3D%26&e=%C3%BC");
  ASSERT_EQ(query.size(), 2u);
  EXPECT_EQ(query[0].first, "ab");
  EXPECT_EQ(query[0].second, "+/%=&");
  EXPECT_EQ(query[1].second, "ü");
}

TEST(CanonicalizeQueryTest, SplitsOnlyOnTheFirstEquals) {
  QueryParams query = MustQuery("/x?filter=a=b");
  ASSERT_EQ(query.size(), 1u);
  EXPECT_EQ(query[0].first, "filter");
  EXPECT_EQ(query[0].second, "a=b");
}

TEST(CanonicalizeQueryTest, KeyWithoutValueHasEmptyValue) {
  QueryParams query = MustQuery("/x?flag&k=");
  ASSERT_EQ(query.size(), 2u);
  EXPECT_EQ(query[0], (std::pair<std::string, std::string>("flag", "")));
  EXPECT_EQ(query[1], (std::pair<std::string, std::string>("k", "")));
}

TEST(CanonicalizeQueryTest, SkipsEmptyPairs) {
  QueryParams query = MustQuery("/x?&&a=1&&b=2&");
  ASSERT_EQ(query.size(), 2u);
  EXPECT_EQ(query[0].first, "a");
  EXPECT_EQ(query[1].first, "b");
  EXPECT_TRUE(MustQuery("/x?").empty());
  EXPECT_TRUE(MustQuery("/x").empty());
}

TEST(CanonicalizeQueryTest, RefusesBadEscapes) {
  ExpectRefused("/x?a=%");
  ExpectRefused("/x?a=%4");
  ExpectRefused("/x?a=%zz");
  ExpectRefused("/x?%zz=1");
  ExpectRefused("/x?a=1&b=%G0");
}

TEST(CanonicalizeQueryTest, AcceptsUpToTheParameterLimit) {
  std::string target = "/x?";
  for (std::size_t i = 0; i < limits::kMaxQueryParams; ++i) target += "k=v&";
  auto result = Canonicalize(target, "");
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->query.size(), limits::kMaxQueryParams);
}

TEST(CanonicalizeQueryTest, RefusesMoreThanTheParameterLimit) {
  std::string target = "/x?";
  for (std::size_t i = 0; i < limits::kMaxQueryParams + 1; ++i) target += "k=v&";
  ExpectRefused(target);
}

// ---- DecodeQueryComponent -------------------------------------------------------------------

TEST(DecodeQueryComponentTest, DecodesPlusAndEscapes) {
  EXPECT_EQ(Decoded("a+b%20c%41"), "a b cA");
  EXPECT_EQ(Decoded("%2b"), "+");
  EXPECT_EQ(Decoded(""), "");
  EXPECT_EQ(Decoded("plain"), "plain");
}

TEST(DecodeQueryComponentTest, DecodesEscapeAtTheEnd) {
  auto result = DecodeQueryComponent("ab%43");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, "abC");
}

TEST(DecodeQueryComponentTest, DecodesOnlyOnce) {
  auto result = DecodeQueryComponent("%2541");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, "%41");
}

TEST(DecodeQueryComponentTest, RefusesMalformedEscapes) {
  for (std::string_view bad : {"%", "%4", "a%", "%zz", "%4z", "%z4", "%%41"}) {
    auto result = DecodeQueryComponent(bad);
    EXPECT_FALSE(result.has_value()) << "accepted: " << bad;
    if (!result) {
      EXPECT_EQ(result.error().code, ErrorCode::kBadRequest);
    }
  }
}

// ---- NormalizeStaticPrefix ------------------------------------------------------------------

TEST(NormalizeStaticPrefixTest, EmptyAndRootMeanNoPrefix) {
  EXPECT_EQ(Prefix(""), "");
  EXPECT_EQ(Prefix("/"), "");
  EXPECT_EQ(Prefix("//"), "");
}

TEST(NormalizeStaticPrefixTest, DropsTrailingSlashes) {
  EXPECT_EQ(Prefix("/reg/"), "/reg");
  EXPECT_EQ(Prefix("/reg"), "/reg");
  EXPECT_EQ(Prefix("/a/b-c_d.e//"), "/a/b-c_d.e");
}

TEST(NormalizeStaticPrefixTest, RefusesUnsafePrefixes) {
  for (std::string_view bad :
       {"reg", "reg/", "/a//b", "/a/../b", "/a/./b", "/..", "/.", "/a/..", "/a b", "/a%2f",
        "/a;b", "/a\\b", "/a?b", "/a#b", "/ü"}) {
    auto result = NormalizeStaticPrefix(bad);
    EXPECT_FALSE(result.has_value()) << "accepted: " << bad << " -> " << (result ? *result : "");
    if (!result) {
      EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
    }
  }
}

TEST(NormalizeStaticPrefixTest, NormalizedPrefixIsStrippedByCanonicalize) {
  auto prefix = NormalizeStaticPrefix("/reg/");
  ASSERT_TRUE(prefix.has_value());
  EXPECT_EQ(MustPath("/reg/ajax-api/2.0/mlflow/experiments/get", *prefix), kCanonical);
}

}  // namespace
}  // namespace hokusai::http
