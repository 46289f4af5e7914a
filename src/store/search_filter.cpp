// MLflow search grammar: a small hand-written lexer, a recursive-descent parser for the
// `clause AND clause ...` conjunction and for order_by elements, and per-target tables of what
// each search endpoint accepts. Every failure is INVALID_PARAMETER_VALUE, as in MLflow.
#include "store/search_filter.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/limits.hpp"

namespace hokusai::store {
namespace {

using ValueKind = Clause::ValueKind;

// Error snippets quote user input; this keeps messages short for huge inputs.
constexpr std::size_t kMaxSnippetLength = 80;

constexpr uint32_t Bit(Comparator op) { return 1u << static_cast<uint32_t>(op); }

constexpr uint32_t kNumericOps = Bit(Comparator::kEq) | Bit(Comparator::kNe) |
                                 Bit(Comparator::kGt) | Bit(Comparator::kGe) |
                                 Bit(Comparator::kLt) | Bit(Comparator::kLe);
constexpr uint32_t kStringOps = Bit(Comparator::kEq) | Bit(Comparator::kNe) |
                                Bit(Comparator::kLike) | Bit(Comparator::kILike);
constexpr uint32_t kListOps = Bit(Comparator::kIn) | Bit(Comparator::kNotIn);
constexpr uint32_t kStringListOps = kStringOps | kListOps;

constexpr Comparator kAllComparators[] = {
    Comparator::kEq, Comparator::kNe,   Comparator::kGt,    Comparator::kGe, Comparator::kLt,
    Comparator::kLe, Comparator::kLike, Comparator::kILike, Comparator::kIn, Comparator::kNotIn,
};

std::string_view ComparatorName(Comparator op) {
  switch (op) {
    case Comparator::kEq: return "=";
    case Comparator::kNe: return "!=";
    case Comparator::kGt: return ">";
    case Comparator::kGe: return ">=";
    case Comparator::kLt: return "<";
    case Comparator::kLe: return "<=";
    case Comparator::kLike: return "LIKE";
    case Comparator::kILike: return "ILIKE";
    case Comparator::kIn: return "IN";
    case Comparator::kNotIn: return "NOT IN";
  }
  return "?";
}

std::string DescribeOps(uint32_t ops) {
  std::string out;
  for (Comparator op : kAllComparators) {
    if ((ops & Bit(op)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += ComparatorName(op);
  }
  return out;
}

enum class ValueType { kString, kNumber };

// A filterable attribute. `name` is what the user writes (aliases are separate rows);
// `canonical` is what the stores see.
struct AttributeRule {
  std::string_view name;
  std::string_view canonical;
  ValueType type;
  uint32_t ops;
  // Model-version numbers may also be written as quoted integers ('3'), which the MLflow
  // server accepts; they are normalized to numbers.
  bool accepts_quoted_integers;
};

constexpr AttributeRule Str(std::string_view name, std::string_view canonical, uint32_t ops) {
  return AttributeRule{name, canonical, ValueType::kString, ops, false};
}

constexpr AttributeRule Num(std::string_view name, std::string_view canonical, uint32_t ops) {
  return AttributeRule{name, canonical, ValueType::kNumber, ops, false};
}

// An orderable attribute: user spelling and canonical name.
struct OrderKey {
  std::string_view name;
  std::string_view canonical;
};

constexpr AttributeRule kRunFilterAttributes[] = {
    Str("run_id", "run_id", kStringListOps),
    Str("run_name", "run_name", kStringOps),
    Str("run name", "run_name", kStringOps),
    Str("Run name", "run_name", kStringOps),
    Str("Run Name", "run_name", kStringOps),
    Str("status", "status", kStringOps),
    Str("user_id", "user_id", kStringOps),
    Str("artifact_uri", "artifact_uri", kStringOps),
    Str("lifecycle_stage", "lifecycle_stage", kStringOps),
    Num("start_time", "start_time", kNumericOps),
    Num("created", "start_time", kNumericOps),
    Num("Created", "start_time", kNumericOps),
    Num("end_time", "end_time", kNumericOps),
};

constexpr OrderKey kRunOrderAttributes[] = {
    {"run_id", "run_id"},
    {"run_name", "run_name"},
    {"run name", "run_name"},
    {"Run name", "run_name"},
    {"Run Name", "run_name"},
    {"status", "status"},
    {"user_id", "user_id"},
    {"artifact_uri", "artifact_uri"},
    {"start_time", "start_time"},
    {"created", "start_time"},
    {"Created", "start_time"},
    {"end_time", "end_time"},
};

constexpr AttributeRule kExperimentFilterAttributes[] = {
    Str("name", "name", kStringOps),
    Num("creation_time", "creation_time", kNumericOps),
    Num("last_update_time", "last_update_time", kNumericOps),
};

constexpr OrderKey kExperimentOrderAttributes[] = {
    {"name", "name"},
    {"experiment_id", "experiment_id"},
    {"creation_time", "creation_time"},
    {"last_update_time", "last_update_time"},
};

constexpr AttributeRule kRegisteredModelFilterAttributes[] = {
    Str("name", "name", kStringOps),
};

constexpr OrderKey kRegisteredModelOrderAttributes[] = {
    {"name", "name"},
    {"creation_timestamp", "creation_timestamp"},
    {"last_updated_timestamp", "last_updated_timestamp"},
    {"timestamp", "last_updated_timestamp"},
};

constexpr AttributeRule kModelVersionFilterAttributes[] = {
    Str("name", "name", kStringOps),
    Str("source_path", "source_path", kStringOps),
    Str("run_id", "run_id", kStringOps | Bit(Comparator::kIn)),
    AttributeRule{"version_number", "version_number", ValueType::kNumber,
                  kNumericOps | Bit(Comparator::kIn), true},
};

constexpr OrderKey kModelVersionOrderAttributes[] = {
    {"name", "name"},
    {"version_number", "version_number"},
    {"creation_timestamp", "creation_timestamp"},
    {"last_updated_timestamp", "last_updated_timestamp"},
    {"timestamp", "last_updated_timestamp"},
};

constexpr AttributeRule kLoggedModelFilterAttributes[] = {
    Str("name", "name", kStringListOps),
    Str("model_id", "model_id", kStringListOps),
    Str("model_type", "model_type", kStringListOps),
    Str("status", "status", kStringListOps),
    Str("source_run_id", "source_run_id", kStringListOps),
    Num("creation_timestamp", "creation_timestamp", kNumericOps),
    Num("creation_time", "creation_timestamp", kNumericOps),
    Num("last_updated_timestamp", "last_updated_timestamp", kNumericOps),
    Num("last_updated_time", "last_updated_timestamp", kNumericOps),
};

constexpr OrderKey kLoggedModelOrderAttributes[] = {
    {"name", "name"},
    {"model_id", "model_id"},
    {"model_type", "model_type"},
    {"status", "status"},
    {"source_run_id", "source_run_id"},
    {"creation_timestamp", "creation_timestamp"},
    {"creation_time", "creation_timestamp"},
    {"last_updated_timestamp", "last_updated_timestamp"},
    {"last_updated_time", "last_updated_timestamp"},
};

constexpr std::string_view kDatasetKeys[] = {"name", "digest", "context"};

constexpr uint32_t KindBit(EntityKind kind) { return 1u << static_cast<uint32_t>(kind); }

constexpr uint32_t kAttributeAndTag = KindBit(EntityKind::kAttribute) | KindBit(EntityKind::kTag);

struct TargetRules {
  std::string_view label;
  uint32_t filter_kinds;
  uint32_t order_kinds;
  std::span<const AttributeRule> filter_attributes;
  std::span<const OrderKey> order_attributes;
};

constexpr TargetRules kRunRules{
    "runs",
    KindBit(EntityKind::kAttribute) | KindBit(EntityKind::kMetric) | KindBit(EntityKind::kParam) |
        KindBit(EntityKind::kTag) | KindBit(EntityKind::kDataset),
    KindBit(EntityKind::kAttribute) | KindBit(EntityKind::kMetric) | KindBit(EntityKind::kParam) |
        KindBit(EntityKind::kTag),
    kRunFilterAttributes,
    kRunOrderAttributes,
};

constexpr TargetRules kExperimentRules{
    "experiments", kAttributeAndTag,           KindBit(EntityKind::kAttribute),
    kExperimentFilterAttributes, kExperimentOrderAttributes,
};

constexpr TargetRules kRegisteredModelRules{
    "registered models", kAttributeAndTag, KindBit(EntityKind::kAttribute),
    kRegisteredModelFilterAttributes, kRegisteredModelOrderAttributes,
};

constexpr TargetRules kModelVersionRules{
    "model versions", kAttributeAndTag, KindBit(EntityKind::kAttribute),
    kModelVersionFilterAttributes, kModelVersionOrderAttributes,
};

constexpr TargetRules kLoggedModelRules{
    "logged models",
    KindBit(EntityKind::kAttribute) | KindBit(EntityKind::kMetric) | KindBit(EntityKind::kParam) |
        KindBit(EntityKind::kTag),
    KindBit(EntityKind::kAttribute) | KindBit(EntityKind::kMetric),
    kLoggedModelFilterAttributes,
    kLoggedModelOrderAttributes,
};

const TargetRules& RulesFor(SearchTarget target) {
  switch (target) {
    case SearchTarget::kRuns: return kRunRules;
    case SearchTarget::kExperiments: return kExperimentRules;
    case SearchTarget::kRegisteredModels: return kRegisteredModelRules;
    case SearchTarget::kModelVersions: return kModelVersionRules;
    case SearchTarget::kLoggedModels: return kLoggedModelRules;
  }
  return kRunRules;
}

struct PrefixRule {
  std::string_view prefix;
  EntityKind kind;
};

constexpr PrefixRule kPrefixes[] = {
    {"metric", EntityKind::kMetric},        {"metrics", EntityKind::kMetric},
    {"param", EntityKind::kParam},          {"params", EntityKind::kParam},
    {"parameter", EntityKind::kParam},      {"parameters", EntityKind::kParam},
    {"tag", EntityKind::kTag},              {"tags", EntityKind::kTag},
    {"attribute", EntityKind::kAttribute},  {"attributes", EntityKind::kAttribute},
    {"attr", EntityKind::kAttribute},       {"run", EntityKind::kAttribute},
    {"dataset", EntityKind::kDataset},      {"datasets", EntityKind::kDataset},
};

std::string_view KindName(EntityKind kind) {
  switch (kind) {
    case EntityKind::kAttribute: return "attribute";
    case EntityKind::kMetric: return "metric";
    case EntityKind::kParam: return "param";
    case EntityKind::kTag: return "tag";
    case EntityKind::kDataset: return "dataset";
  }
  return "?";
}

// ASCII-only on purpose: <cctype> is locale-dependent and UB on negative chars.
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsAsciiLetter(c) || IsDigit(c) || c == '_'; }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Cuts on a UTF-8 boundary so messages stay valid UTF-8 when the input is.
std::string Snippet(std::string_view text) {
  if (text.size() <= kMaxSnippetLength) return std::string(text);
  std::size_t cut = kMaxSnippetLength;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

std::string Quote(std::string_view text) { return "'" + Snippet(text) + "'"; }

// A lone byte may be part of a multi-byte character; only printable ASCII is shown as-is.
std::string DescribeByte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return Quote(std::string_view(&c, 1));
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xF];
}

// Parses an optionally negative decimal integer that fits in int64; nothing else.
bool ParseInteger(std::string_view text, int64_t& out) {
  if (text.empty()) return false;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  return ec == std::errc() && ptr == end;
}

enum class TokenKind {
  kIdentifier,  // dotted chain of bare words / `backtick` / "double-quoted" segments
  kString,      // 'single' or "double" quoted; a lone "double" may also be an identifier
  kNumber,
  kOperator,  // = != < <= > >=
  kComma,
  kLeftParen,
  kRightParen,
  kEnd,
};

struct Segment {
  std::string text;
  bool quoted = false;
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view raw;           // the source text, for messages
  std::vector<Segment> segments;  // kIdentifier, and a lone double-quoted kString
  std::string text;               // kString content, kOperator spelling
  char quote = 0;                 // kString quote character
  double number = 0;              // kNumber
};

class Lexer {
 public:
  explicit Lexer(std::string_view input) : input_(input) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    while (true) {
      while (pos_ < input_.size() && IsSpace(input_[pos_])) ++pos_;
      if (pos_ >= input_.size()) break;
      auto token = Next();
      if (!token) return tl::unexpected(token.error());
      tokens.push_back(std::move(*token));
    }
    Token end;
    end.kind = TokenKind::kEnd;
    tokens.push_back(std::move(end));
    return tokens;
  }

 private:
  Result<Token> Next() {
    const std::size_t start = pos_;
    const char c = input_[pos_];
    if (IsAsciiLetter(c) || c == '_' || c == '`' || c == '"') return IdentifierOrString();
    if (c == '\'') {
      auto text = ReadQuoted();
      if (!text) return tl::unexpected(text.error());
      return StringToken(start, std::move(*text), '\'');
    }
    if (IsDigit(c) || ((c == '-' || c == '.') && StartsNumberAt(pos_))) return NumberToken();
    Token token;
    if (c == ',' || c == '(' || c == ')') {
      token.kind = c == ',' ? TokenKind::kComma
                            : (c == '(' ? TokenKind::kLeftParen : TokenKind::kRightParen);
      ++pos_;
    } else if (c == '=' || c == '<' || c == '>' || (c == '!' && Peek(1) == '=')) {
      token.kind = TokenKind::kOperator;
      ++pos_;
      if (c != '=' && Peek(0) == '=') ++pos_;
      token.text = std::string(input_.substr(start, pos_ - start));
    } else {
      return InvalidParameter("unexpected character " + DescribeByte(c) + " at position " +
                              std::to_string(pos_));
    }
    token.raw = input_.substr(start, pos_ - start);
    return token;
  }

  char Peek(std::size_t ahead) const {
    return pos_ + ahead < input_.size() ? input_[pos_ + ahead] : '\0';
  }

  bool StartsNumberAt(std::size_t at) const {
    std::size_t i = at;
    if (i < input_.size() && input_[i] == '-') ++i;
    if (i < input_.size() && input_[i] == '.') ++i;
    return i < input_.size() && IsDigit(input_[i]);
  }

  // At an opening quote; returns the content and leaves pos_ after the closing quote.
  Result<std::string> ReadQuoted() {
    const std::size_t start = pos_;
    const char quote = input_[pos_];
    const std::size_t close = input_.find(quote, start + 1);
    if (close == std::string_view::npos) {
      return InvalidParameter("unterminated " + std::string(1, quote) +
                              " quote starting at position " + std::to_string(start));
    }
    pos_ = close + 1;
    return std::string(input_.substr(start + 1, close - start - 1));
  }

  Result<Segment> ReadSegment() {
    if (pos_ < input_.size() && (input_[pos_] == '`' || input_[pos_] == '"')) {
      auto text = ReadQuoted();
      if (!text) return tl::unexpected(text.error());
      return Segment{std::move(*text), true};
    }
    const std::size_t start = pos_;
    while (pos_ < input_.size() && IsWordChar(input_[pos_])) ++pos_;
    if (pos_ == start) {
      return InvalidParameter("expected a key after '.' at position " + std::to_string(start));
    }
    return Segment{std::string(input_.substr(start, pos_ - start)), false};
  }

  Result<Token> IdentifierOrString() {
    const std::size_t start = pos_;
    const bool double_quoted = input_[pos_] == '"';
    Token token;
    token.kind = TokenKind::kIdentifier;
    auto first = ReadSegment();
    if (!first) return tl::unexpected(first.error());
    token.segments.push_back(std::move(*first));
    while (Peek(0) == '.') {
      ++pos_;
      auto segment = ReadSegment();
      if (!segment) return tl::unexpected(segment.error());
      token.segments.push_back(std::move(*segment));
    }
    if (double_quoted && token.segments.size() == 1) {
      token.kind = TokenKind::kString;
      token.text = token.segments.front().text;
      token.quote = '"';
    }
    token.raw = input_.substr(start, pos_ - start);
    return token;
  }

  Token StringToken(std::size_t start, std::string text, char quote) {
    Token token;
    token.kind = TokenKind::kString;
    token.text = std::move(text);
    token.quote = quote;
    token.raw = input_.substr(start, pos_ - start);
    return token;
  }

  // -?(digits[.digits?]|.digits)([eE][+-]?digits)?, not followed by a word character or '.'.
  Result<Token> NumberToken() {
    const std::size_t start = pos_;
    if (Peek(0) == '-') ++pos_;
    while (IsDigit(Peek(0))) ++pos_;
    if (Peek(0) == '.') {
      ++pos_;
      while (IsDigit(Peek(0))) ++pos_;
    }
    if (Peek(0) == 'e' || Peek(0) == 'E') {
      ++pos_;
      if (Peek(0) == '+' || Peek(0) == '-') ++pos_;
      if (!IsDigit(Peek(0))) return MalformedNumber(start);
      while (IsDigit(Peek(0))) ++pos_;
    }
    if (IsWordChar(Peek(0)) || Peek(0) == '.') return MalformedNumber(start);
    Token token;
    token.kind = TokenKind::kNumber;
    token.raw = input_.substr(start, pos_ - start);
    const char* begin = token.raw.data();
    const char* end = begin + token.raw.size();
    auto [ptr, ec] = std::from_chars(begin, end, token.number);
    if (ec != std::errc() || ptr != end) {
      return InvalidParameter("number out of range or malformed: " + Quote(token.raw));
    }
    return token;
  }

  tl::unexpected<Error> MalformedNumber(std::size_t start) {
    std::size_t end = pos_;
    while (end < input_.size() && (IsWordChar(input_[end]) || input_[end] == '.')) ++end;
    return InvalidParameter("malformed number " + Quote(input_.substr(start, end - start)) +
                            " at position " + std::to_string(start));
  }

  std::string_view input_;
  std::size_t pos_ = 0;
};

bool IsKeyword(const Token& token, std::string_view word) {
  return token.kind == TokenKind::kIdentifier && token.segments.size() == 1 &&
         !token.segments.front().quoted && EqualsIgnoreCase(token.segments.front().text, word);
}

bool IsAnyKeyword(const Token& token) {
  for (std::string_view word : {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "ASC", "DESC"}) {
    if (IsKeyword(token, word)) return true;
  }
  return false;
}

std::string Describe(const Token& token) {
  if (token.kind == TokenKind::kEnd) return "end of input";
  return token.kind == TokenKind::kString ? Snippet(token.raw) : Quote(token.raw);
}

// True when `token` can name an identifier: a dotted chain or a lone double-quoted name.
bool CanBeIdentifier(const Token& token) {
  if (token.kind == TokenKind::kString) return token.quote == '"';
  return token.kind == TokenKind::kIdentifier && !IsAnyKeyword(token);
}

struct Identifier {
  EntityKind kind = EntityKind::kAttribute;
  std::string key;  // as written (not yet canonical)
};

// Splits `prefix.key` / bare `key`. Unquoted dotted keys after the prefix are rejoined
// (`tags.mlflow.runName` -> tag `mlflow.runName`).
Result<Identifier> SplitIdentifier(const Token& token) {
  const std::vector<Segment>& segments = token.segments;
  Identifier identifier;
  if (segments.size() == 1) {
    identifier.key = segments.front().text;
  } else {
    const std::string& prefix = segments.front().text;
    bool known = false;
    for (const PrefixRule& rule : kPrefixes) {
      if (rule.prefix == prefix) {
        identifier.kind = rule.kind;
        known = true;
        break;
      }
    }
    if (!known) {
      return InvalidParameter("Invalid entity type " + Quote(prefix) + " in identifier " +
                              Quote(token.raw) +
                              ". Valid prefixes are metric(s), param(s), parameter(s), tag(s), "
                              "attribute(s), attr, run, dataset(s)");
    }
    if (segments.size() == 2) {
      identifier.key = segments[1].text;
    } else {
      for (std::size_t i = 1; i < segments.size(); ++i) {
        if (segments[i].quoted) {
          return InvalidParameter("Invalid identifier " + Quote(token.raw) +
                                  ": quote the whole key after the prefix");
        }
        if (i > 1) identifier.key += '.';
        identifier.key += segments[i].text;
      }
    }
  }
  if (identifier.key.empty()) {
    return InvalidParameter("Invalid identifier " + Quote(token.raw) + ": empty key");
  }
  return identifier;
}

Result<void> CheckKindAllowed(EntityKind kind, uint32_t allowed, const TargetRules& rules,
                              const Token& token, std::string_view what) {
  if ((allowed & KindBit(kind)) != 0) return {};
  return InvalidParameter("Invalid identifier " + Quote(token.raw) + ": " +
                          std::string(KindName(kind)) + " keys are not supported in " +
                          std::string(what) + " for " + std::string(rules.label) + " search");
}

template <typename Rule>
std::string DescribeNames(std::span<const Rule> rules) {
  std::string out;
  for (const Rule& rule : rules) {
    if (!out.empty()) out += ", ";
    out += rule.name;
  }
  return out;
}

// What the value side of one clause must look like.
struct ValueRule {
  EntityKind kind = EntityKind::kAttribute;
  std::string key;  // canonical
  ValueType type = ValueType::kString;
  uint32_t ops = 0;
  bool accepts_quoted_integers = false;
};

class FilterParser {
 public:
  FilterParser(std::vector<Token> tokens, const TargetRules& rules)
      : tokens_(std::move(tokens)), rules_(rules) {}

  Result<std::vector<Clause>> Parse() {
    std::vector<Clause> clauses;
    if (Current().kind == TokenKind::kEnd) return clauses;
    while (true) {
      auto clause = ParseClause();
      if (!clause) return tl::unexpected(clause.error());
      clauses.push_back(std::move(*clause));
      const Token& next = Current();
      if (next.kind == TokenKind::kEnd) break;
      if (IsKeyword(next, "AND")) {
        Advance();
        continue;
      }
      if (IsKeyword(next, "OR")) {
        return InvalidParameter("Invalid filter: OR is not supported; clauses can only be "
                                "joined with AND");
      }
      return InvalidParameter("Invalid filter: expected AND or end of filter, found " +
                              Describe(next));
    }
    return clauses;
  }

 private:
  const Token& Current() const { return tokens_[index_]; }
  void Advance() {
    if (index_ + 1 < tokens_.size()) ++index_;
  }

  Result<Clause> ParseClause() {
    const Token& head = Current();
    if (head.kind == TokenKind::kLeftParen) {
      return InvalidParameter("Invalid filter: parentheses grouping of clauses is not supported");
    }
    if (IsKeyword(head, "NOT")) {
      return InvalidParameter("Invalid filter: NOT is only supported as NOT IN");
    }
    if (IsKeyword(head, "OR")) {
      return InvalidParameter("Invalid filter: OR is not supported; clauses can only be "
                              "joined with AND");
    }
    if (!CanBeIdentifier(head)) {
      return InvalidParameter("Invalid filter: expected an identifier, found " + Describe(head));
    }
    const Token& identifier_token = head;
    auto rule = ResolveValueRule(identifier_token);
    if (!rule) return tl::unexpected(rule.error());
    Advance();

    auto op = ParseComparator(identifier_token);
    if (!op) return tl::unexpected(op.error());
    if ((rule->ops & Bit(*op)) == 0) {
      return InvalidParameter("Invalid comparator '" + std::string(ComparatorName(*op)) +
                              "' for " + std::string(KindName(rule->kind)) + " " +
                              Quote(identifier_token.raw) + "; expected one of " +
                              DescribeOps(rule->ops));
    }

    Clause clause;
    clause.kind = rule->kind;
    clause.key = rule->key;
    clause.op = *op;
    Result<void> value = (*op == Comparator::kIn || *op == Comparator::kNotIn)
                             ? ParseList(*rule, identifier_token, clause)
                             : ParseScalar(*rule, identifier_token, clause);
    if (!value) return tl::unexpected(value.error());
    return clause;
  }

  Result<ValueRule> ResolveValueRule(const Token& token) const {
    auto identifier = SplitIdentifier(token);
    if (!identifier) return tl::unexpected(identifier.error());
    auto allowed =
        CheckKindAllowed(identifier->kind, rules_.filter_kinds, rules_, token, "filters");
    if (!allowed) return tl::unexpected(allowed.error());

    ValueRule rule;
    rule.kind = identifier->kind;
    switch (identifier->kind) {
      case EntityKind::kMetric:
        rule.key = std::move(identifier->key);
        rule.type = ValueType::kNumber;
        rule.ops = kNumericOps;
        return rule;
      case EntityKind::kParam:
      case EntityKind::kTag:
        rule.key = std::move(identifier->key);
        rule.type = ValueType::kString;
        rule.ops = kStringOps;
        return rule;
      case EntityKind::kDataset:
        for (std::string_view key : kDatasetKeys) {
          if (key == identifier->key) {
            rule.key = std::move(identifier->key);
            rule.type = ValueType::kString;
            rule.ops = kStringListOps;
            return rule;
          }
        }
        return InvalidParameter("Invalid dataset key " + Quote(identifier->key) +
                                ". Valid keys are name, digest, context");
      case EntityKind::kAttribute:
        for (const AttributeRule& attribute : rules_.filter_attributes) {
          if (attribute.name == identifier->key) {
            rule.key = std::string(attribute.canonical);
            rule.type = attribute.type;
            rule.ops = attribute.ops;
            rule.accepts_quoted_integers = attribute.accepts_quoted_integers;
            return rule;
          }
        }
        return InvalidParameter("Invalid attribute key " + Quote(identifier->key) + " for " +
                                std::string(rules_.label) + " search. Valid keys are " +
                                DescribeNames(rules_.filter_attributes));
    }
    return InvalidParameter("Invalid identifier " + Quote(token.raw));
  }

  Result<Comparator> ParseComparator(const Token& identifier_token) {
    const Token& token = Current();
    Comparator op = Comparator::kEq;
    if (token.kind == TokenKind::kOperator) {
      const std::string& text = token.text;
      if (text == "=") {
        op = Comparator::kEq;
      } else if (text == "!=") {
        op = Comparator::kNe;
      } else if (text == ">") {
        op = Comparator::kGt;
      } else if (text == ">=") {
        op = Comparator::kGe;
      } else if (text == "<") {
        op = Comparator::kLt;
      } else {
        op = Comparator::kLe;
      }
    } else if (IsKeyword(token, "LIKE")) {
      op = Comparator::kLike;
    } else if (IsKeyword(token, "ILIKE")) {
      op = Comparator::kILike;
    } else if (IsKeyword(token, "IN")) {
      op = Comparator::kIn;
    } else if (IsKeyword(token, "NOT")) {
      Advance();
      if (!IsKeyword(Current(), "IN")) {
        return InvalidParameter("Invalid filter: NOT is only supported as NOT IN, found NOT " +
                                Describe(Current()));
      }
      op = Comparator::kNotIn;
    } else {
      return InvalidParameter("Invalid filter: expected a comparator after " +
                              Quote(identifier_token.raw) + ", found " + Describe(token));
    }
    Advance();
    return op;
  }

  Result<void> ParseScalar(const ValueRule& rule, const Token& identifier_token, Clause& clause) {
    const Token& token = Current();
    const std::string subject = std::string(KindName(rule.kind)) + " " +
                                Quote(identifier_token.raw);
    if (token.kind == TokenKind::kString) {
      if (rule.type == ValueType::kString) {
        clause.value_kind = ValueKind::kString;
        clause.string_value = token.text;
      } else {
        int64_t integer = 0;
        if (!rule.accepts_quoted_integers || !ParseInteger(token.text, integer)) {
          return InvalidParameter("Expected a numeric value for " + subject + ", found " +
                                  Describe(token));
        }
        clause.value_kind = ValueKind::kNumber;
        clause.number_value = static_cast<double>(integer);
      }
    } else if (token.kind == TokenKind::kNumber) {
      if (rule.type != ValueType::kNumber) {
        return InvalidParameter("Expected a quoted string value for " + subject + ", found " +
                                Describe(token));
      }
      clause.value_kind = ValueKind::kNumber;
      clause.number_value = token.number;
    } else if (token.kind == TokenKind::kLeftParen) {
      return InvalidParameter("Invalid filter: a parenthesized list is only allowed with IN or "
                              "NOT IN (" + subject + ")");
    } else if (token.kind == TokenKind::kIdentifier) {
      return InvalidParameter("Invalid value " + Quote(token.raw) + " for " + subject +
                              ": strings must be quoted with ' or \"");
    } else {
      return InvalidParameter("Invalid filter: expected a value for " + subject + ", found " +
                              Describe(token));
    }
    Advance();
    return {};
  }

  Result<void> ParseList(const ValueRule& rule, const Token& identifier_token, Clause& clause) {
    const std::string subject = std::string(KindName(rule.kind)) + " " +
                                Quote(identifier_token.raw);
    if (Current().kind != TokenKind::kLeftParen) {
      return InvalidParameter("Invalid filter: IN and NOT IN need a parenthesized list for " +
                              subject + ", found " + Describe(Current()));
    }
    Advance();
    clause.value_kind = ValueKind::kList;
    if (Current().kind == TokenKind::kRightParen) {
      return InvalidParameter("Invalid filter: empty list for " + subject);
    }
    while (true) {
      auto item = ListItem(rule, subject);
      if (!item) return tl::unexpected(item.error());
      clause.list_value.push_back(std::move(*item));
      Advance();
      const Token& separator = Current();
      if (separator.kind == TokenKind::kRightParen) break;
      if (separator.kind != TokenKind::kComma) {
        return InvalidParameter("Invalid filter: expected ',' or ')' in the list for " +
                                subject + ", found " + Describe(separator));
      }
      Advance();
    }
    Advance();
    return {};
  }

  Result<std::string> ListItem(const ValueRule& rule, const std::string& subject) const {
    const Token& token = Current();
    if (rule.type == ValueType::kString) {
      if (token.kind != TokenKind::kString) {
        return InvalidParameter("Invalid filter: the list for " + subject +
                                " must hold quoted strings, found " + Describe(token));
      }
      return token.text;
    }
    int64_t integer = 0;
    const bool is_integer =
        (token.kind == TokenKind::kString && ParseInteger(token.text, integer)) ||
        (token.kind == TokenKind::kNumber && ParseInteger(token.raw, integer));
    if (!is_integer) {
      return InvalidParameter("Invalid filter: the list for " + subject +
                              " must hold integers, found " + Describe(token));
    }
    return std::to_string(integer);
  }

  std::vector<Token> tokens_;
  std::size_t index_ = 0;
  const TargetRules& rules_;
};

Result<OrderTerm> ParseOrderElement(std::string_view element, const TargetRules& rules) {
  const std::string context = "Invalid order_by clause " + Quote(element) + ": ";
  if (element.size() > limits::kMaxFilterLength) {
    return InvalidParameter("Invalid order_by clause: longer than " +
                            std::to_string(limits::kMaxFilterLength) + " characters");
  }
  auto tokens = Lexer(element).Run();
  if (!tokens) return InvalidParameter(context + tokens.error().message);
  const Token& head = tokens->front();
  if (head.kind == TokenKind::kEnd) return InvalidParameter(context + "empty clause");
  if (!CanBeIdentifier(head)) {
    return InvalidParameter(context + "expected an identifier, found " + Describe(head));
  }
  auto identifier = SplitIdentifier(head);
  if (!identifier) return InvalidParameter(context + identifier.error().message);
  auto allowed = CheckKindAllowed(identifier->kind, rules.order_kinds, rules, head, "order_by");
  if (!allowed) return InvalidParameter(context + allowed.error().message);

  OrderTerm term;
  term.kind = identifier->kind;
  if (identifier->kind == EntityKind::kAttribute) {
    const OrderKey* match = nullptr;
    for (const OrderKey& key : rules.order_attributes) {
      if (key.name == identifier->key) {
        match = &key;
        break;
      }
    }
    if (match == nullptr) {
      return InvalidParameter(context + "invalid order_by key " + Quote(identifier->key) +
                              " for " + std::string(rules.label) + " search. Valid keys are " +
                              DescribeNames(rules.order_attributes));
    }
    term.key = std::string(match->canonical);
  } else {
    term.key = std::move(identifier->key);
  }

  std::size_t index = 1;
  const Token& direction = (*tokens)[index];
  if (IsKeyword(direction, "ASC")) {
    term.ascending = true;
    ++index;
  } else if (IsKeyword(direction, "DESC")) {
    term.ascending = false;
    ++index;
  } else if (direction.kind != TokenKind::kEnd) {
    return InvalidParameter(context + "expected ASC or DESC, found " + Describe(direction));
  }
  const Token& rest = (*tokens)[index];
  if (rest.kind != TokenKind::kEnd) {
    return InvalidParameter(context + "unexpected " + Describe(rest) + " after the direction");
  }
  return term;
}

}  // namespace

Result<std::vector<Clause>> ParseFilter(std::string_view filter, SearchTarget target) {
  if (filter.size() > limits::kMaxFilterLength) {
    return InvalidParameter("Invalid filter: longer than " +
                            std::to_string(limits::kMaxFilterLength) + " characters");
  }
  auto tokens = Lexer(filter).Run();
  if (!tokens) return InvalidParameter("Invalid filter: " + tokens.error().message);
  return FilterParser(std::move(*tokens), RulesFor(target)).Parse();
}

Result<std::vector<OrderTerm>> ParseOrderBy(const std::vector<std::string>& order_by,
                                            SearchTarget target) {
  if (order_by.size() > limits::kMaxOrderByClauses) {
    return InvalidParameter("Invalid order_by: at most " +
                            std::to_string(limits::kMaxOrderByClauses) + " clauses are allowed");
  }
  const TargetRules& rules = RulesFor(target);
  std::vector<OrderTerm> terms;
  terms.reserve(order_by.size());
  for (const std::string& element : order_by) {
    auto term = ParseOrderElement(element, rules);
    if (!term) return tl::unexpected(term.error());
    terms.push_back(std::move(*term));
  }
  return terms;
}

}  // namespace hokusai::store
