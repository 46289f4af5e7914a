#include "store/search_filter.hpp"

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace hokusai::store {
namespace {

using ValueKind = Clause::ValueKind;

std::vector<Clause> MustParse(std::string_view filter, SearchTarget target) {
  auto result = ParseFilter(filter, target);
  EXPECT_TRUE(result.has_value()) << "filter: " << filter << "\nerror: "
                                  << (result ? "" : result.error().message);
  return result ? *result : std::vector<Clause>{};
}

Clause MustParseOne(std::string_view filter, SearchTarget target) {
  std::vector<Clause> clauses = MustParse(filter, target);
  EXPECT_EQ(clauses.size(), 1u) << "filter: " << filter;
  return clauses.empty() ? Clause{} : clauses.front();
}

// Returns the error message; fails the test unless parsing failed with INVALID_PARAMETER_VALUE.
std::string MustFail(std::string_view filter, SearchTarget target) {
  auto result = ParseFilter(filter, target);
  EXPECT_FALSE(result.has_value()) << "filter unexpectedly parsed: " << filter;
  if (result) return "";
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_FALSE(result.error().message.empty());
  return result.error().message;
}

std::vector<OrderTerm> MustOrder(std::vector<std::string> order_by, SearchTarget target) {
  auto result = ParseOrderBy(order_by, target);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return result ? *result : std::vector<OrderTerm>{};
}

OrderTerm MustOrderOne(std::string element, SearchTarget target) {
  std::vector<OrderTerm> terms = MustOrder({std::move(element)}, target);
  EXPECT_EQ(terms.size(), 1u);
  return terms.empty() ? OrderTerm{} : terms.front();
}

std::string MustFailOrder(std::vector<std::string> order_by, SearchTarget target) {
  auto result = ParseOrderBy(order_by, target);
  EXPECT_FALSE(result.has_value());
  if (result) return "";
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  return result.error().message;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

constexpr SearchTarget kRuns = SearchTarget::kRuns;
constexpr SearchTarget kExperiments = SearchTarget::kExperiments;
constexpr SearchTarget kRegisteredModels = SearchTarget::kRegisteredModels;
constexpr SearchTarget kModelVersions = SearchTarget::kModelVersions;
constexpr SearchTarget kLoggedModels = SearchTarget::kLoggedModels;

// ---- General grammar ----------------------------------------------------------------------

TEST(SearchFilterTest, EmptyFilterHasNoClauses) {
  EXPECT_TRUE(MustParse("", kRuns).empty());
}

TEST(SearchFilterTest, WhitespaceOnlyFilterHasNoClauses) {
  EXPECT_TRUE(MustParse("  \t\n ", kExperiments).empty());
}

TEST(SearchFilterTest, MetricGreaterThanNumber) {
  Clause clause = MustParseOne("metrics.acc > 0.9", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kMetric);
  EXPECT_EQ(clause.key, "acc");
  EXPECT_EQ(clause.op, Comparator::kGt);
  EXPECT_EQ(clause.value_kind, ValueKind::kNumber);
  EXPECT_DOUBLE_EQ(clause.number_value, 0.9);
}

TEST(SearchFilterTest, AllNumericComparators) {
  const std::pair<std::string_view, Comparator> cases[] = {
      {"=", Comparator::kEq},  {"!=", Comparator::kNe}, {">", Comparator::kGt},
      {">=", Comparator::kGe}, {"<", Comparator::kLt},  {"<=", Comparator::kLe},
  };
  for (const auto& [text, op] : cases) {
    Clause clause = MustParseOne("metrics.m " + std::string(text) + " 1", kRuns);
    EXPECT_EQ(clause.op, op) << text;
  }
}

TEST(SearchFilterTest, ConjunctionWithAndInAnyCase) {
  std::vector<Clause> clauses =
      MustParse("metrics.a > 1 AND params.p = 'x' and tags.t != \"y\" aNd status = 'RUNNING'",
                kRuns);
  ASSERT_EQ(clauses.size(), 4u);
  EXPECT_EQ(clauses[0].kind, EntityKind::kMetric);
  EXPECT_EQ(clauses[1].kind, EntityKind::kParam);
  EXPECT_EQ(clauses[1].string_value, "x");
  EXPECT_EQ(clauses[2].kind, EntityKind::kTag);
  EXPECT_EQ(clauses[2].op, Comparator::kNe);
  EXPECT_EQ(clauses[2].string_value, "y");
  EXPECT_EQ(clauses[3].kind, EntityKind::kAttribute);
  EXPECT_EQ(clauses[3].key, "status");
}

TEST(SearchFilterTest, NoWhitespaceAroundOperators) {
  std::vector<Clause> clauses = MustParse("metrics.a>=1 AND params.p='x'", kRuns);
  ASSERT_EQ(clauses.size(), 2u);
  EXPECT_EQ(clauses[0].op, Comparator::kGe);
  EXPECT_EQ(clauses[1].string_value, "x");
}

TEST(SearchFilterTest, LikeAndILikeAreCaseInsensitiveKeywords) {
  std::vector<Clause> clauses =
      MustParse("params.a like 'x%' AND tags.b ILIKE '%y' AND run_name iLiKe 'z_'", kRuns);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].op, Comparator::kLike);
  EXPECT_EQ(clauses[1].op, Comparator::kILike);
  EXPECT_EQ(clauses[2].op, Comparator::kILike);
  EXPECT_EQ(clauses[2].string_value, "z_");
}

TEST(SearchFilterTest, EntityPrefixSynonyms) {
  const std::pair<std::string_view, EntityKind> cases[] = {
      {"metric.k > 1", EntityKind::kMetric},
      {"metrics.k > 1", EntityKind::kMetric},
      {"param.k = 'v'", EntityKind::kParam},
      {"params.k = 'v'", EntityKind::kParam},
      {"parameter.k = 'v'", EntityKind::kParam},
      {"parameters.k = 'v'", EntityKind::kParam},
      {"tag.k = 'v'", EntityKind::kTag},
      {"tags.k = 'v'", EntityKind::kTag},
      {"dataset.name = 'v'", EntityKind::kDataset},
      {"datasets.name = 'v'", EntityKind::kDataset},
  };
  for (const auto& [filter, kind] : cases) {
    Clause clause = MustParseOne(filter, kRuns);
    EXPECT_EQ(clause.kind, kind) << filter;
  }
}

TEST(SearchFilterTest, AttributePrefixSynonyms) {
  for (std::string_view prefix : {"attribute", "attributes", "attr", "run"}) {
    Clause clause = MustParseOne(std::string(prefix) + ".run_id = 'abc'", kRuns);
    EXPECT_EQ(clause.kind, EntityKind::kAttribute) << prefix;
    EXPECT_EQ(clause.key, "run_id") << prefix;
  }
}

TEST(SearchFilterTest, BareNameIsAttribute) {
  Clause clause = MustParseOne("user_id = 'alice'", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kAttribute);
  EXPECT_EQ(clause.key, "user_id");
  EXPECT_EQ(clause.string_value, "alice");
}

TEST(SearchFilterTest, BacktickQuotedKeyWithSpace) {
  Clause clause = MustParseOne("metrics.`f1 score` >= 0.5", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kMetric);
  EXPECT_EQ(clause.key, "f1 score");
}

TEST(SearchFilterTest, DoubleQuotedKeyWithDots) {
  Clause clause = MustParseOne("tags.\"mlflow.source.type\" = 'NOTEBOOK'", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kTag);
  EXPECT_EQ(clause.key, "mlflow.source.type");
  EXPECT_EQ(clause.string_value, "NOTEBOOK");
}

TEST(SearchFilterTest, UnquotedDottedKeySplitsAtFirstDot) {
  Clause clause = MustParseOne("tags.mlflow.runName = 'r1'", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kTag);
  EXPECT_EQ(clause.key, "mlflow.runName");
}

TEST(SearchFilterTest, BacktickQuotedPrefix) {
  Clause clause = MustParseOne("`metrics`.acc < 3", kRuns);
  EXPECT_EQ(clause.kind, EntityKind::kMetric);
  EXPECT_EQ(clause.key, "acc");
}

TEST(SearchFilterTest, QuotedKeyMayHoldKeywordsAndOperators) {
  Clause clause = MustParseOne("params.`a AND b = 'c'` = 'd'", kRuns);
  EXPECT_EQ(clause.key, "a AND b = 'c'");
  EXPECT_EQ(clause.string_value, "d");
}

TEST(SearchFilterTest, SingleAndDoubleQuotedStringValues) {
  std::vector<Clause> clauses =
      MustParse("params.a = 'single' AND params.b = \"double\" AND params.c = 'it\"s'", kRuns);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].value_kind, ValueKind::kString);
  EXPECT_EQ(clauses[0].string_value, "single");
  EXPECT_EQ(clauses[1].string_value, "double");
  EXPECT_EQ(clauses[2].string_value, "it\"s");
}

TEST(SearchFilterTest, EmptyStringValue) {
  Clause clause = MustParseOne("tags.t = ''", kRuns);
  EXPECT_EQ(clause.value_kind, ValueKind::kString);
  EXPECT_EQ(clause.string_value, "");
}

TEST(SearchFilterTest, StringValueKeepsSpacesAndNonAscii) {
  Clause clause = MustParseOne("tags.t = '  東京 AND x  '", kRuns);
  EXPECT_EQ(clause.string_value, "  東京 AND x  ");
}

TEST(SearchFilterTest, NumberForms) {
  const std::pair<std::string_view, double> cases[] = {
      {"metrics.m > 42", 42},      {"metrics.m > -3", -3},         {"metrics.m > 1.5", 1.5},
      {"metrics.m > -0.25", -0.25}, {"metrics.m > .5", 0.5},       {"metrics.m > 2.", 2},
      {"metrics.m > 1e3", 1000},   {"metrics.m > 1.5E-2", 0.015},  {"metrics.m > 2e+2", 200},
      {"metrics.m > -.5", -0.5},
  };
  for (const auto& [filter, value] : cases) {
    Clause clause = MustParseOne(filter, kRuns);
    EXPECT_EQ(clause.value_kind, ValueKind::kNumber) << filter;
    EXPECT_DOUBLE_EQ(clause.number_value, value) << filter;
  }
}

TEST(SearchFilterTest, LargeIntegerTimestamp) {
  Clause clause = MustParseOne("start_time >= 1717171717171", kRuns);
  EXPECT_DOUBLE_EQ(clause.number_value, 1717171717171.0);
}

// ---- Rejections: grammar ------------------------------------------------------------------

TEST(SearchFilterTest, RejectsOr) {
  std::string message = MustFail("metrics.a > 1 OR metrics.b > 2", kRuns);
  EXPECT_TRUE(Contains(message, "OR")) << message;
}

TEST(SearchFilterTest, RejectsLowercaseOr) {
  MustFail("params.a = 'x' or params.b = 'y'", kRuns);
}

TEST(SearchFilterTest, RejectsLeadingNot) {
  std::string message = MustFail("NOT params.a = 'x'", kRuns);
  EXPECT_TRUE(Contains(message, "NOT")) << message;
}

TEST(SearchFilterTest, RejectsNotWithoutIn) {
  MustFail("run_id NOT = 'x'", kRuns);
  MustFail("run_id NOT LIKE 'x'", kRuns);
}

TEST(SearchFilterTest, RejectsParenthesesGrouping) {
  std::string message = MustFail("(metrics.a > 1) AND params.b = 'x'", kRuns);
  EXPECT_TRUE(Contains(message, "parenthes")) << message;
  MustFail("metrics.a > 1 AND (params.b = 'x')", kRuns);
}

TEST(SearchFilterTest, RejectsUnterminatedSingleQuote) {
  std::string message = MustFail("params.a = 'abc", kRuns);
  EXPECT_TRUE(Contains(message, "unterminated")) << message;
}

TEST(SearchFilterTest, RejectsUnterminatedBacktick) {
  MustFail("metrics.`f1 score > 1", kRuns);
}

TEST(SearchFilterTest, RejectsUnterminatedDoubleQuote) {
  MustFail("tags.\"abc = 'x'", kRuns);
}

TEST(SearchFilterTest, RejectsTrailingGarbage) {
  std::string message = MustFail("params.a = 'x' garbage", kRuns);
  EXPECT_TRUE(Contains(message, "garbage")) << message;
  MustFail("metrics.a > 1 2", kRuns);
  MustFail("params.a = 'x' 'y'", kRuns);
  MustFail("params.a = 'x';", kRuns);
}

TEST(SearchFilterTest, RejectsDanglingAnd) {
  MustFail("params.a = 'x' AND", kRuns);
  MustFail("AND params.a = 'x'", kRuns);
  MustFail("params.a = 'x' AND AND params.b = 'y'", kRuns);
}

TEST(SearchFilterTest, RejectsMissingComparator) {
  MustFail("params.a 'x'", kRuns);
  MustFail("params.a", kRuns);
}

TEST(SearchFilterTest, RejectsMissingValue) {
  MustFail("params.a =", kRuns);
  MustFail("metrics.a > AND params.b = 'x'", kRuns);
}

TEST(SearchFilterTest, RejectsUnsupportedOperators) {
  MustFail("metrics.a == 1", kRuns);
  MustFail("metrics.a <> 1", kRuns);
  MustFail("metrics.a ! 1", kRuns);
}

TEST(SearchFilterTest, RejectsUnquotedStringValue) {
  std::string message = MustFail("params.a = abc", kRuns);
  EXPECT_TRUE(Contains(message, "quoted")) << message;
}

TEST(SearchFilterTest, RejectsBacktickQuotedValue) {
  MustFail("params.a = `abc`", kRuns);
}

TEST(SearchFilterTest, RejectsMalformedNumbers) {
  MustFail("metrics.a > 1abc", kRuns);
  MustFail("metrics.a > 1.2.3", kRuns);
  MustFail("metrics.a > 1e", kRuns);
  MustFail("metrics.a > +1", kRuns);
  MustFail("metrics.a > 1e999", kRuns);
}

TEST(SearchFilterTest, RejectsUnknownEntityPrefix) {
  std::string message = MustFail("foo.bar = 'x'", kRuns);
  EXPECT_TRUE(Contains(message, "foo")) << message;
}

TEST(SearchFilterTest, PrefixesAreCaseSensitive) {
  MustFail("Metrics.acc > 1", kRuns);
}

TEST(SearchFilterTest, RejectsEmptyKey) {
  MustFail("metrics.`` > 1", kRuns);
  MustFail("metrics. > 1", kRuns);
}

TEST(SearchFilterTest, RejectsQuotedSegmentInsideUnquotedChain) {
  MustFail("tags.a.`b` = 'x'", kRuns);
}

TEST(SearchFilterTest, RejectsSingleQuotedIdentifier) {
  MustFail("'run_id' = 'x'", kRuns);
}

TEST(SearchFilterTest, RejectsFilterLongerThanLimit) {
  std::string filter = "params.a = '" + std::string(20000, 'x') + "'";
  std::string message = MustFail(filter, kRuns);
  EXPECT_LT(message.size(), 200u);
}

TEST(SearchFilterTest, AcceptsFilterAtLimit) {
  std::string prefix = "params.a = '";
  std::string filter = prefix + std::string(20000 - prefix.size() - 1, 'x') + "'";
  ASSERT_EQ(filter.size(), 20000u);
  Clause clause = MustParseOne(filter, kRuns);
  EXPECT_EQ(clause.string_value.size(), 20000 - prefix.size() - 1);
}

TEST(SearchFilterTest, ErrorMessagesTruncateHugeSnippets) {
  std::string filter = "params.a = '" + std::string(5000, 'x') + "' " + std::string(5000, 'y');
  std::string message = MustFail(filter, kRuns);
  EXPECT_LT(message.size(), 300u) << message;
}

TEST(SearchFilterTest, UnexpectedNonAsciiByteIsReportedAsHex) {
  std::string message = MustFail("params.a = 'x' \xe6\x9d\xb1", kRuns);
  EXPECT_TRUE(Contains(message, "0xe6")) << message;
}

TEST(SearchFilterTest, TruncatedSnippetDoesNotSplitUtf8) {
  std::string value;
  for (int i = 0; i < 100; ++i) value += "\xe6\x9d\xb1";
  std::string message = MustFail("metrics.a > '" + value + "'", kRuns);
  const std::size_t found = message.find("found '");
  const std::size_t dots = message.find("...");
  ASSERT_NE(found, std::string::npos) << message;
  ASSERT_NE(dots, std::string::npos) << message;
  const std::size_t snippet_start = found + std::string_view("found '").size();
  ASSERT_LT(snippet_start, dots);
  EXPECT_EQ((dots - snippet_start) % 3, 0u) << "cut inside a 3-byte character";
}

TEST(SearchFilterTest, ManyClausesParse) {
  std::string filter;
  for (int i = 0; i < 500; ++i) {
    if (i > 0) filter += " AND ";
    filter += "params.p" + std::to_string(i) + " = 'v'";
  }
  EXPECT_EQ(MustParse(filter, kRuns).size(), 500u);
}

// Inputs stitched from grammar fragments must never crash; they either parse or fail cleanly.
TEST(SearchFilterTest, RandomFragmentSoupNeverCrashes) {
  const std::string_view fragments[] = {
      "metrics", "params", "tags", "dataset", "run_id", "name",  "version_number",
      ".",       "`",      "\"",   "'",       "(",      ")",     ",",
      "=",       "!=",     ">=",   "<",       " ",      "AND",   "OR",
      "NOT",     "IN",     "LIKE", "-",       "1",      "2.5e3", "e",
      "x y",     "DESC",   ";",    "\\",    "\xe6\x9d\xb1", std::string_view("\0", 1),
  };
  const SearchTarget targets[] = {kRuns, kExperiments, kRegisteredModels, kModelVersions,
                                  kLoggedModels};
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    const int pieces = static_cast<int>(next() % 12);
    for (int i = 0; i < pieces; ++i) input += fragments[next() % std::size(fragments)];
    const SearchTarget target = targets[next() % std::size(targets)];
    auto filter = ParseFilter(input, target);
    if (!filter) {
      EXPECT_EQ(filter.error().code, ErrorCode::kInvalidParameterValue) << input;
    }
    auto order = ParseOrderBy({input}, target);
    if (!order) {
      EXPECT_EQ(order.error().code, ErrorCode::kInvalidParameterValue) << input;
    }
  }
}

// ---- Runs ---------------------------------------------------------------------------------

TEST(SearchFilterRunsTest, RunIdIn) {
  Clause clause = MustParseOne("run_id IN ('a1', \"b2\",'c3')", kRuns);
  EXPECT_EQ(clause.key, "run_id");
  EXPECT_EQ(clause.op, Comparator::kIn);
  EXPECT_EQ(clause.value_kind, ValueKind::kList);
  EXPECT_EQ(clause.list_value, (std::vector<std::string>{"a1", "b2", "c3"}));
}

TEST(SearchFilterRunsTest, RunIdNotInSingleElement) {
  Clause clause = MustParseOne("attributes.run_id not in ('a1')", kRuns);
  EXPECT_EQ(clause.op, Comparator::kNotIn);
  EXPECT_EQ(clause.list_value, (std::vector<std::string>{"a1"}));
}

TEST(SearchFilterRunsTest, RunIdListKeepsUppercaseValues) {
  Clause clause = MustParseOne("run_id IN ('ABC', 'def')", kRuns);
  EXPECT_EQ(clause.list_value, (std::vector<std::string>{"ABC", "def"}));
}

TEST(SearchFilterRunsTest, RejectsEmptyInList) {
  MustFail("run_id IN ()", kRuns);
}

TEST(SearchFilterRunsTest, RejectsMalformedInLists) {
  MustFail("run_id IN ('a',)", kRuns);
  MustFail("run_id IN ('a' 'b')", kRuns);
  MustFail("run_id IN ('a', 1)", kRuns);
  MustFail("run_id IN ('a'", kRuns);
  MustFail("run_id IN 'a'", kRuns);
  MustFail("run_id IN (abc)", kRuns);
}

TEST(SearchFilterRunsTest, RejectsListWithoutIn) {
  MustFail("run_id = ('a', 'b')", kRuns);
}

TEST(SearchFilterRunsTest, RejectsInOnAttributesOtherThanRunId) {
  std::string message = MustFail("status IN ('RUNNING')", kRuns);
  EXPECT_TRUE(Contains(message, "status")) << message;
  MustFail("run_name NOT IN ('x')", kRuns);
}

TEST(SearchFilterRunsTest, StringAttributes) {
  for (std::string_view key :
       {"run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"}) {
    for (std::string_view op : {"=", "!=", "LIKE", "ILIKE"}) {
      std::string filter = std::string(key) + " " + std::string(op) + " 'v'";
      Clause clause = MustParseOne(filter, kRuns);
      EXPECT_EQ(clause.kind, EntityKind::kAttribute) << filter;
      EXPECT_EQ(clause.key, key) << filter;
      EXPECT_EQ(clause.value_kind, ValueKind::kString) << filter;
    }
  }
}

TEST(SearchFilterRunsTest, NumericAttributes) {
  for (std::string_view key : {"start_time", "end_time"}) {
    for (std::string_view op : {"=", "!=", ">", ">=", "<", "<="}) {
      std::string filter = std::string(key) + " " + std::string(op) + " 1000";
      Clause clause = MustParseOne(filter, kRuns);
      EXPECT_EQ(clause.key, key) << filter;
      EXPECT_EQ(clause.value_kind, ValueKind::kNumber) << filter;
    }
  }
}

TEST(SearchFilterRunsTest, CreatedAliasesStartTime) {
  EXPECT_EQ(MustParseOne("created > 5", kRuns).key, "start_time");
  EXPECT_EQ(MustParseOne("Created > 5", kRuns).key, "start_time");
  EXPECT_EQ(MustParseOne("attributes.created > 5", kRuns).key, "start_time");
}

TEST(SearchFilterRunsTest, RunNameAliases) {
  EXPECT_EQ(MustParseOne("`run name` = 'a'", kRuns).key, "run_name");
  EXPECT_EQ(MustParseOne("`Run name` = 'a'", kRuns).key, "run_name");
  EXPECT_EQ(MustParseOne("`Run Name` LIKE 'a%'", kRuns).key, "run_name");
  EXPECT_EQ(MustParseOne("attributes.`run name` = 'a'", kRuns).key, "run_name");
  EXPECT_EQ(MustParseOne("\"run_name\" = 'a'", kRuns).key, "run_name");
}

TEST(SearchFilterRunsTest, DatasetKeys) {
  for (std::string_view key : {"name", "digest", "context"}) {
    Clause clause = MustParseOne("dataset." + std::string(key) + " = 'v'", kRuns);
    EXPECT_EQ(clause.kind, EntityKind::kDataset);
    EXPECT_EQ(clause.key, key);
  }
}

TEST(SearchFilterRunsTest, DatasetComparatorsIncludingLists) {
  std::vector<Clause> clauses = MustParse(
      "datasets.name LIKE 'ds%' AND dataset.digest IN ('d1', 'd2') AND "
      "dataset.context NOT IN ('train') AND dataset.name ILIKE 'x' AND dataset.digest != 'y'",
      kRuns);
  ASSERT_EQ(clauses.size(), 5u);
  EXPECT_EQ(clauses[1].op, Comparator::kIn);
  EXPECT_EQ(clauses[1].list_value, (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ(clauses[2].op, Comparator::kNotIn);
}

TEST(SearchFilterRunsTest, RejectsUnknownDatasetKey) {
  std::string message = MustFail("dataset.source = 'x'", kRuns);
  EXPECT_TRUE(Contains(message, "source")) << message;
}

TEST(SearchFilterRunsTest, RejectsNumberForDataset) {
  MustFail("dataset.name = 1", kRuns);
}

TEST(SearchFilterRunsTest, RejectsUnknownAttribute) {
  std::string message = MustFail("foo = 'x'", kRuns);
  EXPECT_TRUE(Contains(message, "foo")) << message;
  MustFail("experiment_id = '1'", kRuns);
  MustFail("attributes.RUN_ID = 'x'", kRuns);
}

TEST(SearchFilterRunsTest, RejectsStringForMetric) {
  std::string message = MustFail("metrics.acc > '0.5'", kRuns);
  EXPECT_TRUE(Contains(message, "numeric")) << message;
}

TEST(SearchFilterRunsTest, RejectsNumberForParam) {
  std::string message = MustFail("params.lr = 0.1", kRuns);
  EXPECT_TRUE(Contains(message, "string")) << message;
}

TEST(SearchFilterRunsTest, RejectsNumberForTag) {
  MustFail("tags.t = 1", kRuns);
}

TEST(SearchFilterRunsTest, RejectsNumberForStringAttribute) {
  MustFail("status = 1", kRuns);
}

TEST(SearchFilterRunsTest, RejectsStringForNumericAttribute) {
  MustFail("start_time > '5'", kRuns);
}

TEST(SearchFilterRunsTest, RejectsLikeOnMetric) {
  std::string message = MustFail("metrics.acc LIKE 1", kRuns);
  EXPECT_TRUE(Contains(message, "LIKE")) << message;
  EXPECT_TRUE(Contains(message, "metrics.acc")) << message;
}

TEST(SearchFilterRunsTest, RejectsInOnMetric) {
  MustFail("metrics.acc IN ('1')", kRuns);
}

TEST(SearchFilterRunsTest, RejectsOrderingComparatorOnParam) {
  std::string message = MustFail("params.p > 'a'", kRuns);
  EXPECT_TRUE(Contains(message, ">")) << message;
  MustFail("tags.t <= 'a'", kRuns);
}

TEST(SearchFilterRunsTest, RejectsInOnTag) {
  MustFail("tags.t IN ('a')", kRuns);
}

TEST(SearchFilterRunsTest, RejectsLikeOnNumericAttribute) {
  MustFail("end_time LIKE '1%'", kRuns);
}

TEST(SearchFilterRunsTest, RejectsOrderingComparatorOnStringAttribute) {
  MustFail("status > 'A'", kRuns);
}

// ---- Experiments --------------------------------------------------------------------------

TEST(SearchFilterExperimentsTest, NameAndTimes) {
  std::vector<Clause> clauses = MustParse(
      "name LIKE 'exp%' AND creation_time > 10 AND attribute.last_update_time <= 20", kExperiments);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].key, "name");
  EXPECT_EQ(clauses[0].op, Comparator::kLike);
  EXPECT_EQ(clauses[1].key, "creation_time");
  EXPECT_EQ(clauses[1].value_kind, ValueKind::kNumber);
  EXPECT_EQ(clauses[2].key, "last_update_time");
  EXPECT_EQ(clauses[2].op, Comparator::kLe);
}

TEST(SearchFilterExperimentsTest, Tags) {
  Clause clause = MustParseOne("tags.`team name` ILIKE '%ml%'", kExperiments);
  EXPECT_EQ(clause.kind, EntityKind::kTag);
  EXPECT_EQ(clause.key, "team name");
}

TEST(SearchFilterExperimentsTest, RejectsMetricsParamsAndDatasets) {
  std::string message = MustFail("metrics.acc > 1", kExperiments);
  EXPECT_TRUE(Contains(message, "metric")) << message;
  MustFail("params.p = 'x'", kExperiments);
  MustFail("dataset.name = 'x'", kExperiments);
}

TEST(SearchFilterExperimentsTest, RejectsRunAttributes) {
  MustFail("run_id = 'x'", kExperiments);
  MustFail("experiment_id = '1'", kExperiments);
  MustFail("lifecycle_stage = 'active'", kExperiments);
}

TEST(SearchFilterExperimentsTest, RejectsInOnName) {
  MustFail("name IN ('a')", kExperiments);
}

TEST(SearchFilterExperimentsTest, RejectsStringForCreationTime) {
  MustFail("creation_time > 'yesterday'", kExperiments);
}

// ---- Registered models --------------------------------------------------------------------

TEST(SearchFilterRegisteredModelsTest, Name) {
  Clause clause = MustParseOne("name = 'my-model'", kRegisteredModels);
  EXPECT_EQ(clause.kind, EntityKind::kAttribute);
  EXPECT_EQ(clause.key, "name");
  EXPECT_EQ(clause.string_value, "my-model");
}

TEST(SearchFilterRegisteredModelsTest, TagAndTagsPrefixes) {
  EXPECT_EQ(MustParseOne("tag.k = 'v'", kRegisteredModels).kind, EntityKind::kTag);
  EXPECT_EQ(MustParseOne("tags.k LIKE 'v%'", kRegisteredModels).kind, EntityKind::kTag);
}

TEST(SearchFilterRegisteredModelsTest, PromptClauseFromClient) {
  Clause clause = MustParseOne("tags.`mlflow.prompt.is_prompt` != 'true'", kRegisteredModels);
  EXPECT_EQ(clause.kind, EntityKind::kTag);
  EXPECT_EQ(clause.key, "mlflow.prompt.is_prompt");
  EXPECT_EQ(clause.op, Comparator::kNe);
  EXPECT_EQ(clause.value_kind, ValueKind::kString);
  EXPECT_EQ(clause.string_value, "true");
}

TEST(SearchFilterRegisteredModelsTest, UserFilterWithAppendedPromptClause) {
  std::vector<Clause> clauses = MustParse(
      "name LIKE '%prod%' AND tags.`mlflow.prompt.is_prompt` != 'true'", kRegisteredModels);
  ASSERT_EQ(clauses.size(), 2u);
  EXPECT_EQ(clauses[1].key, "mlflow.prompt.is_prompt");
}

TEST(SearchFilterRegisteredModelsTest, RejectsOtherAttributes) {
  MustFail("creation_timestamp > 1", kRegisteredModels);
  MustFail("run_id = 'x'", kRegisteredModels);
}

TEST(SearchFilterRegisteredModelsTest, RejectsMetricsAndParams) {
  MustFail("metrics.a > 1", kRegisteredModels);
  MustFail("params.a = 'x'", kRegisteredModels);
}

TEST(SearchFilterRegisteredModelsTest, RejectsInOnName) {
  MustFail("name IN ('a', 'b')", kRegisteredModels);
}

// ---- Model versions -----------------------------------------------------------------------

TEST(SearchFilterModelVersionsTest, NameRunIdSourcePath) {
  std::vector<Clause> clauses = MustParse(
      "name = 'm' AND run_id = 'abc' AND source_path LIKE 's3://%'", kModelVersions);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].key, "name");
  EXPECT_EQ(clauses[1].key, "run_id");
  EXPECT_EQ(clauses[2].key, "source_path");
  EXPECT_EQ(clauses[2].op, Comparator::kLike);
}

TEST(SearchFilterModelVersionsTest, RunIdIn) {
  Clause clause = MustParseOne("run_id IN ('a', 'b')", kModelVersions);
  EXPECT_EQ(clause.op, Comparator::kIn);
  EXPECT_EQ(clause.list_value, (std::vector<std::string>{"a", "b"}));
}

TEST(SearchFilterModelVersionsTest, RejectsRunIdNotIn) {
  MustFail("run_id NOT IN ('a')", kModelVersions);
}

TEST(SearchFilterModelVersionsTest, VersionNumberNumericComparators) {
  for (std::string_view op : {"=", "!=", ">", ">=", "<", "<="}) {
    Clause clause = MustParseOne("version_number " + std::string(op) + " 3", kModelVersions);
    EXPECT_EQ(clause.key, "version_number");
    EXPECT_EQ(clause.value_kind, ValueKind::kNumber);
    EXPECT_DOUBLE_EQ(clause.number_value, 3);
  }
}

TEST(SearchFilterModelVersionsTest, VersionNumberQuotedIntegerIsNumber) {
  Clause clause = MustParseOne("version_number = '7'", kModelVersions);
  EXPECT_EQ(clause.value_kind, ValueKind::kNumber);
  EXPECT_DOUBLE_EQ(clause.number_value, 7);
}

TEST(SearchFilterModelVersionsTest, VersionNumberInMixedQuotedAndUnquoted) {
  Clause clause = MustParseOne("version_number IN (1, '2', 003)", kModelVersions);
  EXPECT_EQ(clause.op, Comparator::kIn);
  EXPECT_EQ(clause.value_kind, ValueKind::kList);
  EXPECT_EQ(clause.list_value, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(SearchFilterModelVersionsTest, RejectsNonIntegerVersionList) {
  MustFail("version_number IN ('a')", kModelVersions);
  MustFail("version_number IN (1.5)", kModelVersions);
}

TEST(SearchFilterModelVersionsTest, RejectsNonNumericVersionNumber) {
  MustFail("version_number = 'latest'", kModelVersions);
  MustFail("version_number LIKE '1%'", kModelVersions);
  MustFail("version_number NOT IN (1)", kModelVersions);
}

TEST(SearchFilterModelVersionsTest, PromptClauseAndTags) {
  std::vector<Clause> clauses = MustParse(
      "name = 'm' AND tags.`mlflow.prompt.is_prompt` != 'true' AND tag.k ILIKE 'v'",
      kModelVersions);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[1].kind, EntityKind::kTag);
  EXPECT_EQ(clauses[1].key, "mlflow.prompt.is_prompt");
  EXPECT_EQ(clauses[2].op, Comparator::kILike);
}

TEST(SearchFilterModelVersionsTest, RejectsUnknownAttributeAndKinds) {
  MustFail("current_stage = 'Production'", kModelVersions);
  MustFail("metrics.a > 1", kModelVersions);
  MustFail("name IN ('a')", kModelVersions);
  MustFail("name = 3", kModelVersions);
}

// ---- Logged models ------------------------------------------------------------------------

TEST(SearchFilterLoggedModelsTest, StringAttributes) {
  for (std::string_view key : {"name", "model_id", "model_type", "status", "source_run_id"}) {
    Clause clause = MustParseOne(std::string(key) + " = 'v'", kLoggedModels);
    EXPECT_EQ(clause.kind, EntityKind::kAttribute);
    EXPECT_EQ(clause.key, key);
  }
}

TEST(SearchFilterLoggedModelsTest, StringAttributeLists) {
  std::vector<Clause> clauses =
      MustParse("model_id IN ('m-1', 'm-2') AND status NOT IN ('FAILED')", kLoggedModels);
  ASSERT_EQ(clauses.size(), 2u);
  EXPECT_EQ(clauses[0].list_value, (std::vector<std::string>{"m-1", "m-2"}));
  EXPECT_EQ(clauses[1].op, Comparator::kNotIn);
}

TEST(SearchFilterLoggedModelsTest, TimestampsAndAliases) {
  EXPECT_EQ(MustParseOne("creation_timestamp > 1", kLoggedModels).key, "creation_timestamp");
  EXPECT_EQ(MustParseOne("creation_time > 1", kLoggedModels).key, "creation_timestamp");
  EXPECT_EQ(MustParseOne("last_updated_timestamp < 1", kLoggedModels).key,
            "last_updated_timestamp");
  EXPECT_EQ(MustParseOne("last_updated_time < 1", kLoggedModels).key, "last_updated_timestamp");
}

TEST(SearchFilterLoggedModelsTest, MetricsParamsTags) {
  std::vector<Clause> clauses = MustParse(
      "metrics.accuracy >= 0.9 AND params.alpha = '0.1' AND tags.`my tag` LIKE 'x%'",
      kLoggedModels);
  ASSERT_EQ(clauses.size(), 3u);
  EXPECT_EQ(clauses[0].kind, EntityKind::kMetric);
  EXPECT_EQ(clauses[1].kind, EntityKind::kParam);
  EXPECT_EQ(clauses[2].kind, EntityKind::kTag);
  EXPECT_EQ(clauses[2].key, "my tag");
}

TEST(SearchFilterLoggedModelsTest, RejectsDatasetsAndUnknownAttributes) {
  MustFail("dataset.name = 'x'", kLoggedModels);
  MustFail("run_id = 'x'", kLoggedModels);
  MustFail("creation_timestamp > 'x'", kLoggedModels);
  MustFail("name > 'x'", kLoggedModels);
}

// ---- order_by -----------------------------------------------------------------------------

TEST(SearchOrderByTest, EmptyListIsEmpty) {
  EXPECT_TRUE(MustOrder({}, kRuns).empty());
}

TEST(SearchOrderByTest, DefaultIsAscending) {
  OrderTerm term = MustOrderOne("metrics.acc", kRuns);
  EXPECT_EQ(term.kind, EntityKind::kMetric);
  EXPECT_EQ(term.key, "acc");
  EXPECT_TRUE(term.ascending);
}

TEST(SearchOrderByTest, DirectionsAreCaseInsensitive) {
  EXPECT_FALSE(MustOrderOne("metrics.acc DESC", kRuns).ascending);
  EXPECT_FALSE(MustOrderOne("metrics.acc desc", kRuns).ascending);
  EXPECT_TRUE(MustOrderOne("metrics.acc Asc", kRuns).ascending);
  EXPECT_TRUE(MustOrderOne("  metrics.acc   ASC  ", kRuns).ascending);
}

TEST(SearchOrderByTest, SeveralElementsKeepOrder) {
  std::vector<OrderTerm> terms =
      MustOrder({"params.`learning rate` DESC", "tags.mlflow.runName", "start_time"}, kRuns);
  ASSERT_EQ(terms.size(), 3u);
  EXPECT_EQ(terms[0].kind, EntityKind::kParam);
  EXPECT_EQ(terms[0].key, "learning rate");
  EXPECT_FALSE(terms[0].ascending);
  EXPECT_EQ(terms[1].kind, EntityKind::kTag);
  EXPECT_EQ(terms[1].key, "mlflow.runName");
  EXPECT_EQ(terms[2].kind, EntityKind::kAttribute);
  EXPECT_EQ(terms[2].key, "start_time");
}

TEST(SearchOrderByTest, RunAttributesAndAliases) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"start_time", "start_time"},     {"created", "start_time"},
      {"Created DESC", "start_time"},   {"end_time", "end_time"},
      {"run_name", "run_name"},         {"`run name` DESC", "run_name"},
      {"`Run Name`", "run_name"},       {"run_id", "run_id"},
      {"status", "status"},             {"user_id", "user_id"},
      {"artifact_uri", "artifact_uri"}, {"attributes.start_time DESC", "start_time"},
      {"attr.run_name", "run_name"},
  };
  for (const auto& [element, key] : cases) {
    OrderTerm term = MustOrderOne(std::string(element), kRuns);
    EXPECT_EQ(term.kind, EntityKind::kAttribute) << element;
    EXPECT_EQ(term.key, key) << element;
  }
}

TEST(SearchOrderByTest, RunsRejectNonOrderableAttributes) {
  MustFailOrder({"experiment_id"}, kRuns);
  MustFailOrder({"lifecycle_stage"}, kRuns);
  MustFailOrder({"foo DESC"}, kRuns);
}

TEST(SearchOrderByTest, RunsRejectDatasets) {
  MustFailOrder({"dataset.name"}, kRuns);
}

TEST(SearchOrderByTest, RejectsBadDirection) {
  std::string message = MustFailOrder({"metrics.acc DOWN"}, kRuns);
  EXPECT_TRUE(Contains(message, "DOWN")) << message;
}

TEST(SearchOrderByTest, RejectsExtraTokens) {
  MustFailOrder({"metrics.acc DESC ASC"}, kRuns);
  MustFailOrder({"metrics.acc DESC, start_time"}, kRuns);
  MustFailOrder({"metrics.acc params.b"}, kRuns);
}

TEST(SearchOrderByTest, RejectsEmptyElement) {
  MustFailOrder({""}, kRuns);
  MustFailOrder({"   "}, kRuns);
  MustFailOrder({"DESC"}, kRuns);
}

TEST(SearchOrderByTest, RejectsUnterminatedQuote) {
  MustFailOrder({"metrics.`acc DESC"}, kRuns);
}

TEST(SearchOrderByTest, FailureInLaterElementFailsAll) {
  MustFailOrder({"start_time", "bogus"}, kRuns);
}

TEST(SearchOrderByTest, RejectsTooManyElements) {
  std::vector<std::string> order_by(21, "start_time");
  MustFailOrder(order_by, kRuns);
  order_by.resize(20);
  EXPECT_EQ(MustOrder(order_by, kRuns).size(), 20u);
}

TEST(SearchOrderByTest, RejectsOverlongElement) {
  MustFailOrder({"metrics.`" + std::string(20001, 'a') + "`"}, kRuns);
}

TEST(SearchOrderByTest, Experiments) {
  for (std::string_view key : {"name", "experiment_id", "creation_time", "last_update_time"}) {
    OrderTerm term = MustOrderOne(std::string(key) + " DESC", kExperiments);
    EXPECT_EQ(term.kind, EntityKind::kAttribute);
    EXPECT_EQ(term.key, key);
    EXPECT_FALSE(term.ascending);
  }
  MustFailOrder({"tags.x"}, kExperiments);
  MustFailOrder({"metrics.x"}, kExperiments);
  MustFailOrder({"start_time"}, kExperiments);
}

TEST(SearchOrderByTest, RegisteredModels) {
  EXPECT_EQ(MustOrderOne("name", kRegisteredModels).key, "name");
  EXPECT_EQ(MustOrderOne("creation_timestamp DESC", kRegisteredModels).key,
            "creation_timestamp");
  EXPECT_EQ(MustOrderOne("last_updated_timestamp", kRegisteredModels).key,
            "last_updated_timestamp");
  EXPECT_EQ(MustOrderOne("timestamp DESC", kRegisteredModels).key, "last_updated_timestamp");
  MustFailOrder({"version_number"}, kRegisteredModels);
  MustFailOrder({"tags.x"}, kRegisteredModels);
}

TEST(SearchOrderByTest, ModelVersions) {
  EXPECT_EQ(MustOrderOne("name ASC", kModelVersions).key, "name");
  EXPECT_EQ(MustOrderOne("version_number DESC", kModelVersions).key, "version_number");
  EXPECT_EQ(MustOrderOne("creation_timestamp", kModelVersions).key, "creation_timestamp");
  EXPECT_EQ(MustOrderOne("last_updated_timestamp", kModelVersions).key,
            "last_updated_timestamp");
  EXPECT_EQ(MustOrderOne("timestamp", kModelVersions).key, "last_updated_timestamp");
  MustFailOrder({"run_id"}, kModelVersions);
  MustFailOrder({"metrics.a"}, kModelVersions);
}

TEST(SearchOrderByTest, LoggedModels) {
  EXPECT_EQ(MustOrderOne("creation_time DESC", kLoggedModels).key, "creation_timestamp");
  EXPECT_EQ(MustOrderOne("last_updated_time", kLoggedModels).key, "last_updated_timestamp");
  EXPECT_EQ(MustOrderOne("model_id", kLoggedModels).key, "model_id");
  OrderTerm metric = MustOrderOne("metrics.`val loss` ASC", kLoggedModels);
  EXPECT_EQ(metric.kind, EntityKind::kMetric);
  EXPECT_EQ(metric.key, "val loss");
  MustFailOrder({"params.a"}, kLoggedModels);
  MustFailOrder({"tags.a"}, kLoggedModels);
  MustFailOrder({"start_time"}, kLoggedModels);
}

}  // namespace
}  // namespace hokusai::store
