#include "mlflow_api/request_args.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "http/message.hpp"

namespace hokusai::mlflow_api {
namespace {

using http::Method;
using Strings = std::vector<std::string>;

constexpr double kInf = std::numeric_limits<double>::infinity();

http::Request JsonRequest(std::string body, Method method = Method::kPost) {
  http::Request request;
  request.method = method;
  request.content_type = "application/json";
  request.body = std::move(body);
  return request;
}

http::Request QueryRequest(http::QueryParams query, Method method = Method::kGet) {
  http::Request request;
  request.method = method;
  request.query = std::move(query);
  return request;
}

// The value, or nullopt after recording the error as a test failure.
template <typename T>
std::optional<T> Ok(const Result<T>& result) {
  if (!result) {
    ADD_FAILURE() << "unexpected error: " << result.error().message;
    return std::nullopt;
  }
  return *result;
}

// The request must outlive the Args (query parameters are read in place).
Args MustParse(const http::Request& request) {
  auto args = Args::From(request);
  EXPECT_TRUE(args.has_value()) << "body: " << request.body << "\nerror: "
                                << (args ? "" : args.error().message);
  if (!args) {
    static const http::Request kEmptyGet;
    return std::move(*Args::From(kEmptyGet));
  }
  return std::move(*args);
}

void ExpectInvalid(const Error& error) {
  EXPECT_EQ(error.code, ErrorCode::kInvalidParameterValue) << error.message;
  EXPECT_FALSE(error.message.empty());
}

void ExpectBodyRefused(std::string body) {
  http::Request request = JsonRequest(body);
  auto args = Args::From(request);
  EXPECT_FALSE(args.has_value()) << "accepted body: " << body;
  if (!args) ExpectInvalid(args.error());
}

std::string Nested(std::size_t depth) {
  // An object holding depth - 1 nested arrays: `depth` levels in all.
  std::string body = "{\"a\":";
  for (std::size_t i = 1; i < depth; ++i) body += "[";
  body += "1";
  for (std::size_t i = 1; i < depth; ++i) body += "]";
  body += "}";
  return body;
}

// ---- where parameters come from -------------------------------------------------------------

TEST(ArgsTest, ReadsAJsonObjectBody) {
  http::Request request = JsonRequest(R"({"name": "exp", "n": 3})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("name")), std::optional<std::string>("exp"));
  EXPECT_EQ(Ok(args.ReqInt("n")), std::optional<int64_t>(3));
}

TEST(ArgsTest, PostBodyIgnoresTheQueryString) {
  http::Request request = JsonRequest(R"({"name": "from-body"})");
  request.query = {{"name", "from-query"}, {"other", "q"}};
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("name")), std::optional<std::string>("from-body"));
  auto other = args.OptString("other");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->has_value());
}

TEST(ArgsTest, GetReadsTheQueryString) {
  http::Request request = QueryRequest({{"experiment_id", "7"}, {"name", "a b"}});
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("experiment_id")), std::optional<std::string>("7"));
  EXPECT_EQ(Ok(args.ReqInt("experiment_id")), std::optional<int64_t>(7));
  EXPECT_EQ(Ok(args.ReqString("name")), std::optional<std::string>("a b"));
}

TEST(ArgsTest, GetIgnoresABody) {
  http::Request request = QueryRequest({{"name", "from-query"}});
  request.body = R"({"name": "from-body"})";
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("name")), std::optional<std::string>("from-query"));
}

TEST(ArgsTest, GetWithMalformedBodyIsNotAnError) {
  http::Request request = QueryRequest({{"name", "q"}});
  request.body = "{not json";
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("name")), std::optional<std::string>("q"));
}

TEST(ArgsTest, DeleteWithEmptyBodyFallsBackToTheQuery) {
  http::Request request = QueryRequest({{"run_id", "abc"}}, Method::kDelete);
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("run_id")), std::optional<std::string>("abc"));
}

TEST(ArgsTest, DeleteWithWhitespaceBodyFallsBackToTheQuery) {
  http::Request request = QueryRequest({{"run_id", "abc"}}, Method::kDelete);
  request.body = " \r\n\t ";
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("run_id")), std::optional<std::string>("abc"));
}

TEST(ArgsTest, DeleteWithJsonBodyReadsTheBody) {
  http::Request request = JsonRequest(R"({"run_id": "from-body"})", Method::kDelete);
  request.query = {{"run_id", "from-query"}};
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqString("run_id")), std::optional<std::string>("from-body"));
}

// ---- body errors ----------------------------------------------------------------------------

TEST(ArgsTest, MalformedJsonIsInvalidParameter) {
  ExpectBodyRefused("{");
  ExpectBodyRefused(R"({"a": })");
  ExpectBodyRefused(R"({"a": 1,})");
  ExpectBodyRefused(R"({'a': 1})");
  ExpectBodyRefused(R"({"a": 1} trailing)");
  ExpectBodyRefused("\xff\xfe");
}

TEST(ArgsTest, NonObjectBodyIsInvalidParameter) {
  ExpectBodyRefused("[]");
  ExpectBodyRefused(R"([{"a": 1}])");
  ExpectBodyRefused(R"("text")");
  ExpectBodyRefused("42");
  ExpectBodyRefused("null");
  ExpectBodyRefused("true");
}

TEST(ArgsTest, NestingAtTheDepthLimitIsAccepted) {
  http::Request request = JsonRequest(Nested(limits::kMaxJsonDepth));
  auto args = Args::From(request);
  EXPECT_TRUE(args.has_value()) << limits::kMaxJsonDepth
                                << " levels refused: " << args.error().message;
}

TEST(ArgsTest, NestingBeyondTheDepthLimitIsInvalidParameter) {
  ExpectBodyRefused(Nested(limits::kMaxJsonDepth + 1));
  ExpectBodyRefused(Nested(1000));
}

// ---- strings --------------------------------------------------------------------------------

TEST(ArgsTest, OptStringAbsentOrNullIsEmpty) {
  http::Request request = JsonRequest(R"({"n": null})");
  Args args = MustParse(request);
  auto absent = args.OptString("missing");
  ASSERT_TRUE(absent.has_value());
  EXPECT_FALSE(absent->has_value());
  auto null = args.OptString("n");
  ASSERT_TRUE(null.has_value());
  EXPECT_FALSE(null->has_value());
}

TEST(ArgsTest, OptStringKeepsEmptyAndEscapedStrings) {
  http::Request request = JsonRequest(R"({"e": "", "u": "\u00fc\n\"", "raw": "ü"})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.OptString("e")), std::optional<std::optional<std::string>>(std::string()));
  EXPECT_EQ(Ok(args.ReqString("u")), std::optional<std::string>("ü\n\""));
  EXPECT_EQ(Ok(args.ReqString("raw")), std::optional<std::string>("ü"));
}

TEST(ArgsTest, OptStringOfWrongTypeIsAnError) {
  http::Request request = JsonRequest(R"({"n": 1, "b": true, "o": {}, "l": ["x"]})");
  Args args = MustParse(request);
  for (std::string_view key : {"n", "b", "o", "l"}) {
    auto value = args.OptString(key);
    ASSERT_FALSE(value.has_value()) << key;
    ExpectInvalid(value.error());
    EXPECT_NE(value.error().message.find(std::string(key)), std::string::npos);
  }
}

// ---- integers -------------------------------------------------------------------------------

TEST(ArgsTest, OptIntAcceptsANumber) {
  http::Request request = JsonRequest(R"({"a": 42, "b": -7, "c": 9223372036854775807})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqInt("a")), std::optional<int64_t>(42));
  EXPECT_EQ(Ok(args.ReqInt("b")), std::optional<int64_t>(-7));
  EXPECT_EQ(Ok(args.ReqInt("c")), std::optional<int64_t>(std::numeric_limits<int64_t>::max()));
}

TEST(ArgsTest, OptIntAcceptsANumericString) {
  http::Request request = JsonRequest(R"({"a": "1700000000000", "b": "-3"})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqInt("a")), std::optional<int64_t>(1700000000000));
  EXPECT_EQ(Ok(args.ReqInt("b")), std::optional<int64_t>(-3));
}

TEST(ArgsTest, OptIntAcceptsAnIntegralDouble) {
  http::Request request = JsonRequest(R"({"a": 5.0, "b": 1e3, "c": -2.0})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqInt("a")), std::optional<int64_t>(5));
  EXPECT_EQ(Ok(args.ReqInt("b")), std::optional<int64_t>(1000));
  EXPECT_EQ(Ok(args.ReqInt("c")), std::optional<int64_t>(-2));
}

TEST(ArgsTest, OptIntRejectsFractionsTextAndOtherTypes) {
  http::Request request = JsonRequest(
      R"({"frac": 1.5, "text": "abc", "fracs": "1.5", "empty": "", "big": 1e19,)"
      R"( "huge": 18446744073709551615, "bool": true, "list": [1], "obj": {}})");
  Args args = MustParse(request);
  for (std::string_view key : {"frac", "text", "fracs", "empty", "big", "huge", "bool", "list",
                               "obj"}) {
    auto value = args.OptInt(key);
    EXPECT_FALSE(value.has_value()) << key << " accepted as " << (value && *value ? **value : 0);
    if (!value) ExpectInvalid(value.error());
  }
}

TEST(ArgsTest, OptIntFromTheQueryIsStrict) {
  http::Request request = QueryRequest({{"a", "12"}, {"b", "1.5"}, {"c", "abc"}, {"d", " 1"}});
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqInt("a")), std::optional<int64_t>(12));
  for (std::string_view key : {"b", "c", "d"}) {
    auto value = args.OptInt(key);
    EXPECT_FALSE(value.has_value()) << key;
    if (!value) ExpectInvalid(value.error());
  }
}

// ---- doubles --------------------------------------------------------------------------------

TEST(ArgsTest, OptDoubleAcceptsNumbers) {
  http::Request request = JsonRequest(R"({"a": 1.25, "b": 3, "c": -1e-300, "d": "0.5"})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.ReqDouble("a")), std::optional<double>(1.25));
  EXPECT_EQ(Ok(args.ReqDouble("b")), std::optional<double>(3.0));
  EXPECT_EQ(Ok(args.ReqDouble("c")), std::optional<double>(-1e-300));
  EXPECT_EQ(Ok(args.ReqDouble("d")), std::optional<double>(0.5));
}

TEST(ArgsTest, OptDoubleAcceptsNonFiniteNames) {
  http::Request request =
      JsonRequest(R"({"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"})");
  Args args = MustParse(request);
  auto nan = args.ReqDouble("nan");
  ASSERT_TRUE(nan.has_value());
  EXPECT_TRUE(std::isnan(*nan));
  EXPECT_EQ(Ok(args.ReqDouble("inf")), std::optional<double>(kInf));
  EXPECT_EQ(Ok(args.ReqDouble("ninf")), std::optional<double>(-kInf));
}

TEST(ArgsTest, OptDoubleAcceptsNonFiniteNamesInTheQuery) {
  http::Request request = QueryRequest({{"nan", "NaN"}, {"inf", "Infinity"}, {"x", "2.5"}});
  Args args = MustParse(request);
  auto nan = args.ReqDouble("nan");
  ASSERT_TRUE(nan.has_value());
  EXPECT_TRUE(std::isnan(*nan));
  EXPECT_EQ(Ok(args.ReqDouble("inf")), std::optional<double>(kInf));
  EXPECT_EQ(Ok(args.ReqDouble("x")), std::optional<double>(2.5));
}

TEST(ArgsTest, OptDoubleRejectsText) {
  http::Request request =
      JsonRequest(R"({"a": "abc", "b": "", "c": "1.5x", "d": true, "e": [1.0]})");
  Args args = MustParse(request);
  for (std::string_view key : {"a", "b", "c", "d", "e"}) {
    auto value = args.OptDouble(key);
    EXPECT_FALSE(value.has_value()) << key;
    if (!value) ExpectInvalid(value.error());
  }
}

// ---- booleans -------------------------------------------------------------------------------

TEST(ArgsTest, OptBoolReadsJsonBooleansAndQueryWords) {
  http::Request body = JsonRequest(R"({"t": true, "f": false, "s": "true"})");
  Args json = MustParse(body);
  EXPECT_EQ(Ok(json.OptBool("t")), std::optional<std::optional<bool>>(true));
  EXPECT_EQ(Ok(json.OptBool("f")), std::optional<std::optional<bool>>(false));
  EXPECT_FALSE(json.OptBool("s").has_value());

  http::Request get = QueryRequest({{"t", "True"}, {"f", "false"}, {"x", "yes"}});
  Args query = MustParse(get);
  EXPECT_EQ(Ok(query.OptBool("t")), std::optional<std::optional<bool>>(true));
  EXPECT_EQ(Ok(query.OptBool("f")), std::optional<std::optional<bool>>(false));
  EXPECT_FALSE(query.OptBool("x").has_value());
}

// ---- lists and objects ----------------------------------------------------------------------

TEST(ArgsTest, StringListReadsAJsonArray) {
  http::Request request = JsonRequest(R"({"ids": ["1", "2", "3"], "empty": []})");
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.StringList("ids")), std::optional<Strings>(Strings{"1", "2", "3"}));
  EXPECT_EQ(Ok(args.StringList("empty")), std::optional<Strings>(Strings{}));
  EXPECT_EQ(Ok(args.StringList("absent")), std::optional<Strings>(Strings{}));
}

TEST(ArgsTest, StringListReadsRepeatedQueryKeysInOrder) {
  http::Request request =
      QueryRequest({{"run_id", "b"}, {"other", "x"}, {"run_id", "a"}, {"run_id", "c"}});
  Args args = MustParse(request);
  EXPECT_EQ(Ok(args.StringList("run_id")), std::optional<Strings>(Strings{"b", "a", "c"}));
}

TEST(ArgsTest, StringListRejectsNonStrings) {
  http::Request request = JsonRequest(R"({"a": "x", "b": [1], "c": ["x", null], "d": {}})");
  Args args = MustParse(request);
  for (std::string_view key : {"a", "b", "c", "d"}) {
    auto value = args.StringList(key);
    EXPECT_FALSE(value.has_value()) << key;
    if (!value) ExpectInvalid(value.error());
  }
}

TEST(ArgsTest, ObjectListReadsEachObject) {
  http::Request request = JsonRequest(
      R"({"metrics": [{"key": "a", "value": 1.5, "step": "2"}, {"key": "b", "value": "NaN"}]})");
  Args args = MustParse(request);
  auto items = args.ObjectList("metrics");
  ASSERT_TRUE(items.has_value()) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ(Ok((*items)[0].ReqString("key")), std::optional<std::string>("a"));
  EXPECT_EQ(Ok((*items)[0].ReqDouble("value")), std::optional<double>(1.5));
  EXPECT_EQ(Ok((*items)[0].ReqInt("step")), std::optional<int64_t>(2));
  EXPECT_EQ(Ok((*items)[1].ReqString("key")), std::optional<std::string>("b"));
  auto nan = (*items)[1].ReqDouble("value");
  ASSERT_TRUE(nan.has_value());
  EXPECT_TRUE(std::isnan(*nan));
}

TEST(ArgsTest, ObjectListOutlivesItsParent) {
  http::Request request = JsonRequest(R"({"tags": [{"key": "k", "value": "v"}]})");
  std::vector<Args> items;
  {
    Args args = MustParse(request);
    auto list = args.ObjectList("tags");
    ASSERT_TRUE(list.has_value());
    items = std::move(*list);
  }
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(Ok(items[0].ReqString("value")), std::optional<std::string>("v"));
}

TEST(ArgsTest, ObjectListAbsentIsEmpty) {
  http::Request request = JsonRequest(R"({"tags": null})");
  Args args = MustParse(request);
  auto absent = args.ObjectList("absent");
  ASSERT_TRUE(absent.has_value());
  EXPECT_TRUE(absent->empty());
  auto null = args.ObjectList("tags");
  ASSERT_TRUE(null.has_value());
  EXPECT_TRUE(null->empty());
  http::Request get = QueryRequest({{"tags", "x"}});
  Args query = MustParse(get);
  auto from_query = query.ObjectList("tags");
  ASSERT_TRUE(from_query.has_value());
  EXPECT_TRUE(from_query->empty());
}

TEST(ArgsTest, ObjectListRejectsNonObjects) {
  http::Request request = JsonRequest(R"({"a": [{"k": 1}, "x"], "b": {"k": 1}, "c": [[]]})");
  Args args = MustParse(request);
  for (std::string_view key : {"a", "b", "c"}) {
    auto value = args.ObjectList(key);
    EXPECT_FALSE(value.has_value()) << key;
    if (!value) ExpectInvalid(value.error());
  }
}

TEST(ArgsTest, OptObjectReadsANestedObject) {
  http::Request request = JsonRequest(R"({"dataset": {"name": "d"}, "bad": 1})");
  Args args = MustParse(request);
  auto dataset = args.OptObject("dataset");
  ASSERT_TRUE(dataset.has_value());
  ASSERT_TRUE(dataset->has_value());
  EXPECT_EQ(Ok((*dataset)->ReqString("name")), std::optional<std::string>("d"));
  auto absent = args.OptObject("absent");
  ASSERT_TRUE(absent.has_value());
  EXPECT_FALSE(absent->has_value());
  EXPECT_FALSE(args.OptObject("bad").has_value());
}

// ---- required parameters --------------------------------------------------------------------

TEST(ArgsTest, MissingRequiredParameterUsesMlflowWording) {
  http::Request request = JsonRequest(R"({"present": "x", "null": null})");
  Args args = MustParse(request);
  const std::string prefix = "Missing value for required parameter '";
  auto s = args.ReqString("experiment_id");
  ASSERT_FALSE(s.has_value());
  ExpectInvalid(s.error());
  EXPECT_EQ(s.error().message.rfind(prefix + "experiment_id'", 0), 0u) << s.error().message;
  auto i = args.ReqInt("max_results");
  ASSERT_FALSE(i.has_value());
  EXPECT_EQ(i.error().message.rfind(prefix + "max_results'", 0), 0u) << i.error().message;
  auto d = args.ReqDouble("value");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().message.rfind(prefix + "value'", 0), 0u) << d.error().message;
  auto n = args.ReqString("null");
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().message.rfind(prefix + "null'", 0), 0u) << n.error().message;
}

TEST(ArgsTest, MissingRequiredQueryParameterUsesMlflowWording) {
  http::Request request = QueryRequest({{"other", "x"}});
  Args args = MustParse(request);
  auto s = args.ReqString("run_id");
  ASSERT_FALSE(s.has_value());
  ExpectInvalid(s.error());
  EXPECT_EQ(s.error().message.rfind("Missing value for required parameter 'run_id'", 0), 0u);
}

}  // namespace
}  // namespace hokusai::mlflow_api
