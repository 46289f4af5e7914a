#include "mlflow_api/validation.hpp"

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/util.hpp"
#include "store/types.hpp"

namespace hokusai::mlflow_api {
namespace {

std::string Repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

void ExpectInvalid(const Result<void>& result, std::string_view what) {
  EXPECT_FALSE(result.has_value()) << "accepted: " << what;
  if (!result) {
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue) << what;
    EXPECT_FALSE(result.error().message.empty());
  }
}

// ---- ValidateKey ----------------------------------------------------------------------------

TEST(ValidateKeyTest, AcceptsMlflowKeyCharacters) {
  for (std::string_view key : {"a", "loss", "a/b", "a b:c", "ü", "Train_Loss-1.5", "a.b",
                               "a..b", ".a", "a.", "x/y/z", "日本", "0"}) {
    auto result = ValidateKey(key, "key");
    EXPECT_TRUE(result.has_value()) << key << ": " << (result ? "" : result.error().message);
  }
}

TEST(ValidateKeyTest, RejectsCharactersOutsideTheAllowedSet) {
  for (std::string_view key : {"a$b", "a\\b", "a*b", "a\"b", "a\nb", "a\tb", "a,b", "a;b",
                               "a?b", "a=b", "a#b", "a%b", "a'b", "a(b)"}) {
    ExpectInvalid(ValidateKey(key, "key"), key);
  }
}

TEST(ValidateKeyTest, RejectsKeysThatAreNotUniqueAsPaths) {
  for (std::string_view key :
       {"", "/a", "a/", "a//b", "./a", "a/..", "..", ".", "a/./b", "a/../b", "../a", "/"}) {
    ExpectInvalid(ValidateKey(key, "key"), key);
  }
}

// MLflow's path_not_unique() also refuses any name whose normal form starts with "..".
TEST(ValidateKeyTest, RejectsKeysStartingWithTwoDotsAsMlflowDoes) {
  for (std::string_view key : {"...", "..a", "..a/b", "...x/y"}) {
    ExpectInvalid(ValidateKey(key, "key"), key);
  }
}

TEST(ValidateKeyTest, NamesTheParameterInTheMessage) {
  auto result = ValidateKey("a$b", "metric_key");
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message.find("metric_key"), std::string::npos)
      << result.error().message;
}

TEST(ValidateKeyTest, AcceptsTheMaximumLength) {
  EXPECT_TRUE(ValidateKey(std::string(limits::kMaxEntityKeyLength, 'k'), "key").has_value());
}

TEST(ValidateKeyTest, RejectsOneOverTheMaximumLength) {
  ExpectInvalid(ValidateKey(std::string(limits::kMaxEntityKeyLength + 1, 'k'), "key"),
                "251 chars");
}

TEST(ValidateKeyTest, CountsLengthInCodePoints) {
  // 250 two-byte characters: 500 bytes, but within the 250-character limit.
  EXPECT_TRUE(ValidateKey(Repeat("ü", limits::kMaxEntityKeyLength), "key").has_value());
  ExpectInvalid(ValidateKey(Repeat("ü", limits::kMaxEntityKeyLength + 1), "key"),
                "251 two-byte chars");
}

// ---- TruncateValue --------------------------------------------------------------------------

TEST(TruncateValueTest, LeavesShortValuesAlone) {
  EXPECT_EQ(TruncateValue("abc", 3), "abc");
  EXPECT_EQ(TruncateValue("abc", 10), "abc");
  EXPECT_EQ(TruncateValue("", 0), "");
  EXPECT_EQ(TruncateValue("üüü", 3), "üüü");
}

TEST(TruncateValueTest, TruncatesAsciiToTheLimit) {
  EXPECT_EQ(TruncateValue("abcdef", 4), "abcd");
  EXPECT_EQ(TruncateValue("abc", 0), "");
  EXPECT_EQ(TruncateValue(std::string(7000, 'x'), limits::kMaxParamValueLength).size(),
            limits::kMaxParamValueLength);
}

TEST(TruncateValueTest, CountsCodePointsAndNeverSplitsThem) {
  EXPECT_EQ(TruncateValue("üüü", 2), "üü");                       // 2-byte
  EXPECT_EQ(TruncateValue("日本語", 2), "日本");                   // 3-byte
  EXPECT_EQ(TruncateValue("\xF0\x9F\x8E\x89\xF0\x9F\x8E\x8A", 1),  // 4-byte
            "\xF0\x9F\x8E\x89");
  EXPECT_EQ(TruncateValue("aü日\xF0\x9F\x8E\x89z", 4), "aü日\xF0\x9F\x8E\x89");
  EXPECT_EQ(TruncateValue("ü", 0), "");
}

// ---- ValidateBatchLimits --------------------------------------------------------------------

TEST(ValidateBatchLimitsTest, AcceptsEachLimitExactly) {
  EXPECT_TRUE(ValidateBatchLimits(0, 0, 0).has_value());
  EXPECT_TRUE(ValidateBatchLimits(1000, 0, 0).has_value());
  EXPECT_TRUE(ValidateBatchLimits(0, 100, 0).has_value());
  EXPECT_TRUE(ValidateBatchLimits(0, 0, 100).has_value());
  EXPECT_TRUE(ValidateBatchLimits(800, 100, 100).has_value());  // 1000 in total
}

TEST(ValidateBatchLimitsTest, RejectsTooManyMetrics) {
  ExpectInvalid(ValidateBatchLimits(1001, 0, 0), "1001 metrics");
}

TEST(ValidateBatchLimitsTest, RejectsTooManyParams) {
  ExpectInvalid(ValidateBatchLimits(0, 101, 0), "101 params");
}

TEST(ValidateBatchLimitsTest, RejectsTooManyTags) {
  ExpectInvalid(ValidateBatchLimits(0, 0, 101), "101 tags");
}

TEST(ValidateBatchLimitsTest, RejectsTooManyEntitiesInTotal) {
  ExpectInvalid(ValidateBatchLimits(801, 100, 100), "1001 in total");
  ExpectInvalid(ValidateBatchLimits(1000, 1, 0), "1001 in total");
  ExpectInvalid(ValidateBatchLimits(1000, 0, 1), "1001 in total");
}

// ---- ValidateExperimentName -----------------------------------------------------------------

TEST(ValidateExperimentNameTest, AcceptsOrdinaryNames) {
  for (std::string_view name : {"x", "My Experiment", "/Users/me/exp", "ü", "a$b"}) {
    EXPECT_TRUE(ValidateExperimentName(name).has_value()) << name;
  }
}

TEST(ValidateExperimentNameTest, RejectsEmptyName) {
  ExpectInvalid(ValidateExperimentName(""), "empty");
}

TEST(ValidateExperimentNameTest, LimitsLengthInCodePoints) {
  EXPECT_TRUE(ValidateExperimentName(std::string(limits::kMaxExperimentNameLength, 'n')));
  EXPECT_TRUE(ValidateExperimentName(Repeat("ü", limits::kMaxExperimentNameLength)));
  ExpectInvalid(ValidateExperimentName(std::string(limits::kMaxExperimentNameLength + 1, 'n')),
                "501 chars");
  ExpectInvalid(ValidateExperimentName(Repeat("ü", limits::kMaxExperimentNameLength + 1)),
                "501 two-byte chars");
}

// ---- ValidateExperimentTag / ValidateMetric -------------------------------------------------

TEST(ValidateExperimentTagTest, ChecksKeyAndValueLength) {
  EXPECT_TRUE(ValidateExperimentTag(store::Tag{"k", "v"}).has_value());
  EXPECT_TRUE(ValidateExperimentTag(
                  store::Tag{"k", std::string(limits::kMaxExperimentTagValueLength, 'v')})
                  .has_value());
  ExpectInvalid(ValidateExperimentTag(
                    store::Tag{"k", std::string(limits::kMaxExperimentTagValueLength + 1, 'v')}),
                "5001-char value");
  ExpectInvalid(ValidateExperimentTag(store::Tag{"a//b", "v"}), "bad key");
}

TEST(ValidateMetricTest, RejectsBadKeyAndNegativeTimestamp) {
  store::Metric metric;
  metric.key = "loss";
  metric.timestamp = 0;
  EXPECT_TRUE(ValidateMetric(metric).has_value());
  metric.timestamp = -1;
  ExpectInvalid(ValidateMetric(metric), "negative timestamp");
  metric.timestamp = 1;
  metric.key = "../loss";
  ExpectInvalid(ValidateMetric(metric), "bad key");
}

// ---- ValidateRunId --------------------------------------------------------------------------

TEST(ValidateRunIdTest, AcceptsGeneratedAndMlflowShapedIds) {
  for (const std::string& id :
       {NewHexId(), std::string("abc-DEF_1"), std::string("a"), std::string(256, 'a')}) {
    EXPECT_TRUE(ValidateRunId(id).has_value()) << id;
  }
}

TEST(ValidateRunIdTest, RejectsMalformedIds) {
  for (const std::string& id :
       {std::string(""), std::string("-abc"), std::string("_abc"), std::string("a/b"),
        std::string("a b"), std::string("../x"), std::string("a.b"), std::string("ü"),
        std::string(257, 'a'), std::string("a\0b", 3)}) {
    ExpectInvalid(ValidateRunId(id), id);
  }
}

// ---- page tokens ----------------------------------------------------------------------------

TEST(PageTokenTest, RoundTripsOffsets) {
  for (int64_t offset : {int64_t{0}, int64_t{1}, int64_t{1000}, int64_t{123456789},
                         std::numeric_limits<int64_t>::max()}) {
    auto decoded = DecodePageToken(EncodePageToken(offset));
    ASSERT_TRUE(decoded.has_value()) << offset << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, offset);
  }
}

TEST(PageTokenTest, EmptyTokenIsTheFirstPage) {
  auto decoded = DecodePageToken("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, 0);
}

TEST(PageTokenTest, UsesMlflowTokenFormat) {
  // MLflow's SQL store issues base64('{"offset": N}'); its tokens must be accepted.
  EXPECT_EQ(Base64Decode(EncodePageToken(25)), std::optional<std::string>(R"({"offset": 25})"));
  auto decoded = DecodePageToken(Base64Encode(R"({"offset": 40})"));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, 40);
}

TEST(MetricHistoryTokenTest, RoundTripsTheLastPointExactly) {
  store::Metric last;
  last.timestamp = std::numeric_limits<int64_t>::min();
  last.step = std::numeric_limits<int64_t>::max();
  for (double value : {0.1, -0.0, 5e-324, -std::numeric_limits<double>::max(), 1.0 / 3.0}) {
    last.value = value;
    auto decoded = DecodeMetricHistoryToken(EncodeMetricHistoryToken(last));
    ASSERT_TRUE(decoded.has_value()) << value << ": " << decoded.error().message;
    ASSERT_TRUE(decoded->has_value());
    EXPECT_EQ((*decoded)->timestamp, last.timestamp);
    EXPECT_EQ((*decoded)->step, last.step);
    EXPECT_EQ(std::bit_cast<uint64_t>((*decoded)->value), std::bit_cast<uint64_t>(value));
    EXPECT_FALSE((*decoded)->is_nan);
  }
  last.value = std::numeric_limits<double>::quiet_NaN();  // stored as 0 with is_nan
  auto nan = DecodeMetricHistoryToken(EncodeMetricHistoryToken(last));
  ASSERT_TRUE(nan.has_value() && nan->has_value());
  EXPECT_TRUE((*nan)->is_nan);
  EXPECT_EQ((*nan)->value, 0.0);
  auto first = DecodeMetricHistoryToken("");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->has_value());
}

TEST(MetricHistoryTokenTest, RejectsBadTokens) {
  for (const std::string& token : {
           std::string("!!!!"),
           Base64Encode(R"({"offset": 25})"),
           Base64Encode(R"({"after": [1, 2, 3]})"),
           Base64Encode(R"({"after": [1, 2, 3, 0, 5]})"),
           Base64Encode(R"({"after": [1, 2, 3, 2]})"),
           Base64Encode(R"({"after": [1, 2, x, 0]})"),
           Base64Encode(R"({"after": [1,2,3,0]})"),
           Base64Encode(R"({"after": [1, 2, 9218868437227405312, 0]})"),  // +inf bits
           Base64Encode(R"({"after": [1, 2, 3, 0]} )"),
       }) {
    EXPECT_FALSE(DecodeMetricHistoryToken(token).has_value()) << token;
  }
}

TEST(PageTokenTest, RejectsBadTokens) {
  for (const std::string& token : {
           std::string("!!!!"),
           std::string("not a token"),
           Base64Encode("hello"),
           Base64Encode(R"({"offset": -1})"),
           Base64Encode(R"({"offset": abc})"),
           Base64Encode(R"({"offset": })"),
           Base64Encode(R"({"offset": 5)"),
           Base64Encode(R"({"offset": 5.5})"),
           Base64Encode(R"({"offset": 99999999999999999999})"),
           Base64Encode(R"({"offset": 5} )"),
           Base64Encode(R"({"other": 5})"),
           Base64Encode(R"([5])"),
           std::string(limits::kMaxPageTokenLength + 4, 'A'),
       }) {
    auto decoded = DecodePageToken(token);
    EXPECT_FALSE(decoded.has_value()) << "accepted: " << token << " -> "
                                      << (decoded ? *decoded : 0);
    if (!decoded) {
      EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidParameterValue);
    }
  }
}

}  // namespace
}  // namespace hokusai::mlflow_api
