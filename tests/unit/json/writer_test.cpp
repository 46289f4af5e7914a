#include "json/writer.hpp"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace hokusai::json {
namespace {

std::string Quoted(std::string_view value) {
  std::string out;
  AppendQuoted(out, value);
  return out;
}

// Parses `text` with strtod and checks that it consumed everything and gives back exactly the
// bits of `expected`.
void ExpectParsesBackExactly(const std::string& text, double expected) {
  errno = 0;
  char* end = nullptr;
  double parsed = std::strtod(text.c_str(), &end);
  ASSERT_EQ(end, text.c_str() + text.size()) << "not a complete number: " << text;
  EXPECT_EQ(std::bit_cast<uint64_t>(parsed), std::bit_cast<uint64_t>(expected))
      << "text " << text << " parsed to " << parsed;
}

// JSON number grammar (RFC 8259 section 6).
bool IsJsonNumber(std::string_view text) {
  std::size_t i = 0;
  auto digit = [&](std::size_t at) {
    return at < text.size() && text[at] >= '0' && text[at] <= '9';
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (!digit(i)) return false;
  if (text[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == text.size();
}

std::string WriteDouble(double value) {
  Writer w;
  w.Double(value);
  return w.Take();
}

// ---- escaping -------------------------------------------------------------------------------

TEST(JsonWriterTest, EscapesQuoteAndBackslash) {
  EXPECT_EQ(Quoted(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(Quoted(R"(C:\dir\file)"), R"("C:\\dir\\file")");
  EXPECT_EQ(Quoted(R"(\")"), R"("\\\"")");
}

TEST(JsonWriterTest, EscapesCommonControlCharactersShort) {
  EXPECT_EQ(Quoted("a\nb"), R"("a\nb")");
  EXPECT_EQ(Quoted("a\rb"), R"("a\rb")");
  EXPECT_EQ(Quoted("a\tb"), R"("a\tb")");
  EXPECT_EQ(Quoted("a\bb"), R"("a\bb")");
  EXPECT_EQ(Quoted("a\fb"), R"("a\fb")");
}

TEST(JsonWriterTest, EscapesOtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(Quoted(std::string_view("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Quoted("\x01"), R"("\u0001")");
  EXPECT_EQ(Quoted("\x0b"), R"("\u000b")");
  EXPECT_EQ(Quoted("\x1f"), R"("\u001f")");
  EXPECT_EQ(Quoted("x\x1by"), R"("x\u001by")");
}

TEST(JsonWriterTest, NoControlCharacterIsWrittenRaw) {
  for (int c = 0; c < 0x20; ++c) {
    std::string out = Quoted(std::string(1, static_cast<char>(c)));
    for (char ch : out) {
      EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << "raw control char " << c;
    }
  }
}

TEST(JsonWriterTest, PassesUtf8Through) {
  EXPECT_EQ(Quoted("ü"), "\"ü\"");
  EXPECT_EQ(Quoted("日本語"), "\"日本語\"");
  EXPECT_EQ(Quoted("\xF0\x9F\x8E\x89"), "\"\xF0\x9F\x8E\x89\"");  // U+1F389, 4 bytes
  EXPECT_EQ(Quoted("/path/ok"), "\"/path/ok\"");
}

TEST(JsonWriterTest, EscapesKeysLikeValues) {
  Writer w;
  w.BeginObject().Key("a\"b\n").Int(1).EndObject();
  EXPECT_EQ(w.Take(), R"({"a\"b\n":1})");
}

// ---- structure ------------------------------------------------------------------------------

TEST(JsonWriterTest, WritesEmptyContainers) {
  Writer w;
  w.BeginArray().BeginObject().EndObject().BeginArray().EndArray().EndArray();
  EXPECT_EQ(w.Take(), "[{},[]]");
}

TEST(JsonWriterTest, SeparatesObjectMembersWithCommas) {
  Writer w;
  w.BeginObject()
      .Field("s", "x")
      .Field("i", int64_t{7})
      .Field("b", true)
      .Key("n")
      .Null()
      .Key("d")
      .Double(1.5)
      .EndObject();
  EXPECT_EQ(w.Take(), R"({"s":"x","i":7,"b":true,"n":null,"d":1.5})");
}

TEST(JsonWriterTest, SeparatesArrayElementsWithCommas) {
  Writer w;
  w.BeginArray().Int(1).String("two").Bool(false).Null().EndArray();
  EXPECT_EQ(w.Take(), R"([1,"two",false,null])");
}

TEST(JsonWriterTest, NestsContainersWithIndependentCommaState) {
  Writer w;
  w.BeginObject();
  w.Key("runs").BeginArray();
  for (int i = 0; i < 2; ++i) {
    w.BeginObject().Field("id", int64_t{i}).Key("tags").BeginArray();
    w.BeginObject().Field("key", "k").Field("value", "v").EndObject();
    w.BeginObject().EndObject();
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Key("empty").BeginObject().EndObject();
  w.Field("after", "x");
  w.EndObject();
  EXPECT_EQ(w.Take(),
            R"({"runs":[{"id":0,"tags":[{"key":"k","value":"v"},{}]},)"
            R"({"id":1,"tags":[{"key":"k","value":"v"},{}]}],"empty":{},"after":"x"})");
}

TEST(JsonWriterTest, TakeLeavesTheWriterEmpty) {
  Writer w;
  w.BeginObject().Field("a", "b").EndObject();
  EXPECT_EQ(w.str(), R"({"a":"b"})");
  EXPECT_EQ(w.Take(), R"({"a":"b"})");
  EXPECT_TRUE(w.str().empty());
}

// ---- numbers --------------------------------------------------------------------------------

TEST(JsonWriterTest, WritesInt64Extremes) {
  Writer w;
  w.BeginArray()
      .Int(std::numeric_limits<int64_t>::min())
      .Int(std::numeric_limits<int64_t>::max())
      .Int(0)
      .Int(-1)
      .EndArray();
  EXPECT_EQ(w.Take(), "[-9223372036854775808,9223372036854775807,0,-1]");
}

TEST(JsonWriterTest, DoublesRoundTripExactlyForNotableValues) {
  const std::vector<double> values = {
      0.0,
      -0.0,
      0.1,
      0.2,
      0.30000000000000004,
      1.0 / 3.0,
      -2.5,
      1.0,
      100.0,
      1e21,
      1e22,
      123456789012345678.0,
      9007199254740993.0,
      1e-300,
      1e-7,
      1.7976931348623157e308,
      -1.7976931348623157e308,
      2.2250738585072014e-308,                   // smallest normal
      4.9406564584124654e-324,                   // smallest subnormal
      std::numeric_limits<double>::denorm_min(),
      std::numeric_limits<double>::epsilon(),
      std::nextafter(1.0, 2.0),
      std::nextafter(0.1, 1.0),
      3.141592653589793,
  };
  for (double value : values) {
    std::string text = FormatDouble(value);
    SCOPED_TRACE(text);
    EXPECT_TRUE(IsJsonNumber(text)) << text;
    ExpectParsesBackExactly(text, value);
    EXPECT_EQ(WriteDouble(value), text);
  }
}

TEST(JsonWriterTest, DoublesRoundTripExactlyForRandomBitPatterns) {
  std::mt19937_64 rng(20240611);
  int checked = 0;
  while (checked < 20000) {
    double value = std::bit_cast<double>(rng());
    if (!std::isfinite(value)) continue;
    ++checked;
    std::string text = WriteDouble(value);
    ASSERT_TRUE(IsJsonNumber(text)) << text;
    ExpectParsesBackExactly(text, value);
    if (HasFailure()) return;
  }
}

TEST(JsonWriterTest, NegativeZeroKeepsItsSign) {
  std::string text = WriteDouble(-0.0);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.front(), '-');
  ExpectParsesBackExactly(text, -0.0);
}

TEST(JsonWriterTest, WritesShortestForm) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(1.5), "1.5");
  EXPECT_EQ(FormatDouble(-2.0), "-2");
}

TEST(JsonWriterTest, WritesNonFiniteDoublesAsStrings) {
  Writer w;
  w.BeginArray()
      .Double(std::numeric_limits<double>::quiet_NaN())
      .Double(-std::numeric_limits<double>::quiet_NaN())
      .Double(std::numeric_limits<double>::infinity())
      .Double(-std::numeric_limits<double>::infinity())
      .EndArray();
  EXPECT_EQ(w.Take(), R"(["NaN","NaN","Infinity","-Infinity"])");
}

TEST(JsonWriterTest, NonFiniteDoubleAsObjectValueKeepsCommas) {
  Writer w;
  w.BeginObject()
      .Key("a")
      .Double(std::numeric_limits<double>::infinity())
      .Key("b")
      .Double(2.0)
      .EndObject();
  EXPECT_EQ(w.Take(), R"({"a":"Infinity","b":2})");
}

}  // namespace
}  // namespace hokusai::json

TEST(WriterInvalidUtf8Test, InvalidBytesBecomeReplacementCharacter) {
  std::string out;
  hokusai::json::AppendQuoted(out, std::string("a\xff" "b\xc3", 4));
  EXPECT_EQ(out, "\"a\\ufffdb\\ufffd\"");
}

TEST(WriterInvalidUtf8Test, ValidMultiByteSequencesPassThrough) {
  std::string out;
  hokusai::json::AppendQuoted(out, "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(out, "\"\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

TEST(WriterInvalidUtf8Test, PlainRunsBetweenEscapesAreKeptInOrder) {
  std::string out;
  hokusai::json::AppendQuoted(out, std::string("ab\"cd\\ef\ngh\xc3\xbcij\xffkl\x01mn", 21));
  EXPECT_EQ(out, "\"ab\\\"cd\\\\ef\\ngh\xc3\xbcij\\ufffdkl\\u0001mn\"");
}
