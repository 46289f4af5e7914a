// MLflow search grammar: filter strings and order_by clauses, parsed into a small AST that the
// stores translate into their query language. Parsing also validates against what each search
// target allows (identifiers, comparators, value types), so a store never sees an invalid clause.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace hokusai::store {

// Which search endpoint a filter belongs to; each allows different identifiers.
enum class SearchTarget { kRuns, kExperiments, kRegisteredModels, kModelVersions, kLoggedModels };

// The kind of identifier on the left side of a clause.
enum class EntityKind { kAttribute, kMetric, kParam, kTag, kDataset };

enum class Comparator { kEq, kNe, kGt, kGe, kLt, kLe, kLike, kILike, kIn, kNotIn };

// One `<identifier> <comparator> <value>` clause. A filter is the AND of its clauses.
struct Clause {
  EntityKind kind = EntityKind::kAttribute;
  // Attribute names are canonical (aliases resolved: `created` -> `start_time`,
  // `run name` -> `run_name`, `timestamp` -> `last_updated_timestamp`, ...). Dataset keys are
  // `name`, `digest` or `context`. Metric/param/tag keys are unquoted, exactly as given.
  std::string key;
  Comparator op = Comparator::kEq;
  // Exactly one of these holds the value, as given by `value_kind`.
  enum class ValueKind { kString, kNumber, kList } value_kind = ValueKind::kString;
  std::string string_value;
  double number_value = 0;
  std::vector<std::string> list_value;
};

// One order_by element: `<identifier> [ASC|DESC]`.
struct OrderTerm {
  EntityKind kind = EntityKind::kAttribute;
  std::string key;  // canonical as in Clause::key
  bool ascending = true;
};

// Parses `filter` (may be empty: no clauses) for `target`. Errors are INVALID_PARAMETER_VALUE
// with a message that names the offending part.
Result<std::vector<Clause>> ParseFilter(std::string_view filter, SearchTarget target);

// Parses each element of `order_by` for `target`.
Result<std::vector<OrderTerm>> ParseOrderBy(const std::vector<std::string>& order_by,
                                            SearchTarget target);

}  // namespace hokusai::store
