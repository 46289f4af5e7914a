#include "common/util.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace hokusai {
namespace {

int64_t SystemMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// ---- NowMillis ------------------------------------------------------------------------------

TEST(NowMillisTest, IsMillisecondsSinceTheUnixEpoch) {
  int64_t before = SystemMillis();
  int64_t now = NowMillis();
  int64_t after = SystemMillis();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
  // 2020-01-01 in milliseconds: catches seconds or microseconds by mistake.
  EXPECT_GT(now, int64_t{1577836800000});
  EXPECT_LT(now, int64_t{4102444800000});  // 2100-01-01
}

// ---- NewHexId -------------------------------------------------------------------------------

TEST(NewHexIdTest, Is32LowercaseHexCharacters) {
  for (int i = 0; i < 100; ++i) {
    std::string id = NewHexId();
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_TRUE(IsLowerHex(id)) << id;
  }
}

TEST(NewHexIdTest, IdsAreDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 2000; ++i) ids.insert(NewHexId());
  EXPECT_EQ(ids.size(), 2000u);
}

TEST(NewHexIdTest, UsesTheWholeHexAlphabet) {
  // A broken nibble split (e.g. only the high nibble) would leave digits unused.
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    for (char c : NewHexId()) seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 16u);
}

// ---- RandomRunName --------------------------------------------------------------------------

TEST(RandomRunNameTest, IsAdjectiveAnimalNumber) {
  const std::regex shape("^[a-z]+-[a-z]+-(0|[1-9][0-9]{0,2})$");
  for (int i = 0; i < 200; ++i) {
    std::string name = RandomRunName();
    EXPECT_TRUE(std::regex_match(name, shape)) << name;
  }
}

TEST(RandomRunNameTest, NamesVary) {
  std::set<std::string> names;
  for (int i = 0; i < 200; ++i) names.insert(RandomRunName());
  EXPECT_GT(names.size(), 100u);
}

// ---- Base64 ---------------------------------------------------------------------------------

TEST(Base64Test, EncodesRfc4648TestVectorsWithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, EncodesWithTheStandardAlphabet) {
  // 0xfb 0xff encodes to "+/8=" in the standard alphabet ("-_8=" in the URL-safe one).
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff", 2)), "+/8=");
}

TEST(Base64Test, DecodesRfc4648TestVectors) {
  EXPECT_EQ(Base64Decode(""), std::optional<std::string>(""));
  EXPECT_EQ(Base64Decode("Zg=="), std::optional<std::string>("f"));
  EXPECT_EQ(Base64Decode("Zm8="), std::optional<std::string>("fo"));
  EXPECT_EQ(Base64Decode("Zm9v"), std::optional<std::string>("foo"));
  EXPECT_EQ(Base64Decode("Zm9vYg=="), std::optional<std::string>("foob"));
  EXPECT_EQ(Base64Decode("Zm9vYmE="), std::optional<std::string>("fooba"));
  EXPECT_EQ(Base64Decode("Zm9vYmFy"), std::optional<std::string>("foobar"));
}

TEST(Base64Test, RoundTripsEveryLengthAndByteValue) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto decoded = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(decoded.has_value()) << "length " << data.size();
    ASSERT_EQ(*decoded, data) << "length " << data.size();
    data.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  }
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  EXPECT_EQ(Base64Decode(Base64Encode(all_bytes)), std::optional<std::string>(all_bytes));
}

TEST(Base64Test, DecodeRejectsCharactersOutsideTheAlphabet) {
  for (std::string_view bad : {"Zm9v!A==", "Zm 9", "Zm9\n", "****", "Zm9=v", "Zm9v.A=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << "accepted: " << bad;
  }
  EXPECT_FALSE(Base64Decode(std::string_view("Zm9v\0AAA", 8)).has_value());
}

TEST(Base64Test, DecodeRejectsImpossibleLengths) {
  // One leftover character carries only 6 bits: never a valid encoding.
  for (std::string_view bad : {"Z", "Zm9vY", "Z===", "Zm9vY==="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << "accepted: " << bad;
  }
}

TEST(Base64Test, DecodeRejectsPaddingInTheMiddle) {
  for (std::string_view bad : {"Zg==Zm9v", "Z=g=", "=Zm9"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << "accepted: " << bad;
  }
}

// The header promises the standard alphabet; '-' and '_' belong to the URL-safe one.
TEST(Base64Test, DecodeRejectsTheUrlSafeAlphabet) {
  EXPECT_FALSE(Base64Decode("-_8=").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v-A==").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v_A==").has_value());
}

// The header promises "with padding": missing or surplus '=' is malformed.
TEST(Base64Test, DecodeRejectsMissingOrSurplusPadding) {
  for (std::string_view bad : {"Zg", "Zg=", "Zm8", "Zg===", "Zm8==", "Zm9v=", "Zm9v===="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << "accepted: " << bad;
  }
}

// ---- ParseInt64 -----------------------------------------------------------------------------

TEST(ParseInt64Test, ParsesDecimalIntegers) {
  EXPECT_EQ(ParseInt64("0"), std::optional<int64_t>(0));
  EXPECT_EQ(ParseInt64("42"), std::optional<int64_t>(42));
  EXPECT_EQ(ParseInt64("-17"), std::optional<int64_t>(-17));
  EXPECT_EQ(ParseInt64("1700000000000"), std::optional<int64_t>(1700000000000));
}

TEST(ParseInt64Test, ParsesTheInt64Extremes) {
  EXPECT_EQ(ParseInt64("9223372036854775807"),
            std::optional<int64_t>(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(ParseInt64("-9223372036854775808"),
            std::optional<int64_t>(std::numeric_limits<int64_t>::min()));
}

TEST(ParseInt64Test, RejectsOutOfRangeValues) {
  EXPECT_FALSE(ParseInt64("9223372036854775808").has_value());
  EXPECT_FALSE(ParseInt64("-9223372036854775809").has_value());
  EXPECT_FALSE(ParseInt64("99999999999999999999999").has_value());
}

TEST(ParseInt64Test, RejectsAnythingButTheWholeStringAsDecimal) {
  for (std::string_view bad : {"", " ", "-", "+", "+1", " 1", "1 ", "1\n", "1a", "a1", "0x10",
                               "1e3", "1.0", "1.", ".5", "--1", "1,000", "١"}) {
    EXPECT_FALSE(ParseInt64(bad).has_value()) << "accepted: '" << bad << "'";
  }
  EXPECT_FALSE(ParseInt64(std::string_view("1\0", 2)).has_value());
}

}  // namespace
}  // namespace hokusai
