// Building SQL text with positional binds, shared by the SQLite stores. Values always travel as
// binds; only fixed column names and operators are spliced into the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.hpp"
#include "store/search_filter.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace hokusai::store::sqlite {

using BindValue = std::variant<std::string, int64_t, double>;

// SQL text with its positional bind values, built up clause by clause.
struct Query {
  std::string sql;
  std::vector<BindValue> binds;

  void Add(std::string_view text) { sql += text; }
  void Value(BindValue value) {
    sql += "?";
    binds.push_back(std::move(value));
  }
};

// Prepares `query` on `conn` and binds its values.
Result<Statement> PrepareQuery(Connection& conn, const Query& query);

// The SQL spelling of `op`, with surrounding spaces (ILIKE is LIKE over lower()).
std::string_view SqlComparator(Comparator op);

// Appends `<column> <op> <value>` for one clause; `column` is an SQL expression.
void AppendComparison(Query& q, std::string_view column, const Clause& clause);

}  // namespace hokusai::store::sqlite
