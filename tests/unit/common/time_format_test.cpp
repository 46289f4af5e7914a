#include "common/time_format.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace hokusai {
namespace {

// 2026-11-23T10:00:00Z.
constexpr int64_t kSample = 1795428000000;

TEST(FormatRfc3339, WritesUtcWithWholeSeconds) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(kSample), "2026-11-23T10:00:00Z");
  EXPECT_EQ(FormatRfc3339(kSample + 999), "2026-11-23T10:00:00Z");
}

TEST(FormatRfc3339, HandlesLeapDaysAndTimesBeforeTheEpoch) {
  EXPECT_EQ(FormatRfc3339(951782400000), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59Z");
}

TEST(ParseRfc3339, ReadsUtcAndOffsets) {
  EXPECT_EQ(ParseRfc3339("2026-11-23T10:00:00Z"), kSample);
  EXPECT_EQ(ParseRfc3339("2026-11-23t10:00:00z"), kSample);
  EXPECT_EQ(ParseRfc3339("2026-11-23T12:30:00+02:30"), kSample);
  EXPECT_EQ(ParseRfc3339("2026-11-23T05:00:00-05:00"), kSample);
}

TEST(ParseRfc3339, KeepsMillisecondsAndTruncatesFinerFractions) {
  EXPECT_EQ(ParseRfc3339("2026-11-23T10:00:00.5Z"), kSample + 500);
  EXPECT_EQ(ParseRfc3339("2026-11-23T10:00:00.123456789Z"), kSample + 123);
}

TEST(ParseRfc3339, RoundTripsWhatItFormats) {
  for (int64_t ms : {int64_t{0}, kSample, int64_t{951782400000}, int64_t{253402300799000}}) {
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(ms)), ms) << ms;
  }
}

TEST(ParseRfc3339, RejectsMalformedOrImpossibleTimes) {
  for (const char* text :
       {"", "2026-11-23", "2026-11-23T10:00:00", "2026-11-23 10:00:00Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z", "2026-11-23T10:00:00.Z", "2026-11-23T10:00:00.1234567890Z",
        "2026-11-23T10:00:00+0200", "2026-11-23T10:00:00+24:00", "2026-11-23T10:00:00Zjunk",
        "+2026-11-23T10:00:00Z", "2026-1-23T10:00:00Z"}) {
    EXPECT_EQ(ParseRfc3339(text), std::nullopt) << text;
  }
}

TEST(ParseTimeArg, AcceptsMillisecondsOrRfc3339) {
  EXPECT_EQ(ParseTimeArg("1795428000000", "since").value(), kSample);
  EXPECT_EQ(ParseTimeArg("2026-11-23T10:00:00Z", "since").value(), kSample);
}

TEST(ParseTimeArg, NamesTheFieldWhenInvalid) {
  auto result = ParseTimeArg("yesterday", "until");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_NE(result.error().message.find("'until'"), std::string::npos);
  EXPECT_FALSE(ParseTimeArg("-5", "until"));
  EXPECT_FALSE(ParseTimeArg("99999999999999999999", "until"));
}

TEST(TimeFormatTest, LenientReadsNaivePythonTimes) {
  auto strict = ParseRfc3339("2030-01-02T03:04:05Z");
  ASSERT_TRUE(strict.has_value());
  EXPECT_EQ(ParseRfc3339("2030-01-02 03:04:05", true), strict);
  EXPECT_EQ(ParseRfc3339("2030-01-02T03:04:05", true), strict);
  EXPECT_FALSE(ParseRfc3339("2030-01-02 03:04:05").has_value());
  EXPECT_FALSE(ParseRfc3339("2030-01-02T03:04:05").has_value());
  EXPECT_FALSE(ParseRfc3339("2030-01-02 03:04:05x", true).has_value());
}

}  // namespace
}  // namespace hokusai
