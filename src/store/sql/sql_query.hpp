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
#include "store/auth_store.hpp"
#include "store/search_filter.hpp"
#include "store/sql/db.hpp"

namespace hokusai::store::sql {

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

// Where one kind of resource keeps its permissions: the table and its column holding the
// resource's key.
struct PermissionTable {
  std::string_view table;       // e.g. "experiment_permissions"
  std::string_view key_column;  // e.g. "experiment_id"
};
inline constexpr PermissionTable kExperimentPermissions{"experiment_permissions",
                                                        "experiment_id"};
inline constexpr PermissionTable kModelPermissions{"registered_model_permissions", "model_key"};

// A name pattern (`*` for any run of characters) as a LIKE pattern with `\` escaping.
std::string GlobToLike(std::string_view pattern);

// Appends ` AND <condition>` restricting a search to the rows `visibility` may read: the user
// has no NO_PERMISSIONS row on the resource (default readable) or has a row other than
// NO_PERMISSIONS (default not readable), and the name matches one of the patterns when
// there are any. `key_expr` and `name_expr` are the searched row's key and name columns.
void AppendVisibility(Query& q, const Visibility& visibility, const PermissionTable& table,
                      std::string_view key_expr, std::string_view name_expr);

// Inserts or replaces `user_id`'s permission on the resource `key`, inside the caller's
// transaction.
Result<void> UpsertPermission(Connection& conn, const PermissionTable& table, int64_t key,
                              const std::string& user_id, Permission permission);

// One page of a search: appends LIMIT (one row more than the page, to learn whether more rows
// exist) and OFFSET to `q`, runs it on `conn` inside the caller's transaction, reads each row's
// key with `read_key(statement)` and loads the entity with `load(key)`. Returns the page and
// whether more rows follow it.
// The page of `keys` (one more than `max_results` when more rows exist), each loaded with
// `load(key)`, and whether more rows follow it.
template <typename T, typename Key, typename Load>
Result<std::pair<std::vector<T>, bool>> LoadPage(std::vector<Key> keys, int64_t max_results,
                                                 Load load) {
  bool more = static_cast<int64_t>(keys.size()) > max_results;
  if (more) keys.pop_back();
  std::vector<T> items;
  items.reserve(keys.size());
  for (const auto& key : keys) {
    HK_TRY(item, load(key));
    items.push_back(std::move(item));
  }
  return std::make_pair(std::move(items), more);
}

template <typename T, typename ReadKey, typename Load>
Result<std::pair<std::vector<T>, bool>> FetchPage(Connection& conn, Query q, int64_t max_results,
                                                  int64_t offset, ReadKey read_key, Load load) {
  q.Add(" LIMIT ");
  q.Value(max_results + 1);
  q.Add(" OFFSET ");
  q.Value(offset);
  HK_TRY(stmt, PrepareQuery(conn, q));
  std::vector<decltype(read_key(stmt))> keys;
  for (;;) {
    HK_TRY(row, stmt.Step());
    if (!row) break;
    keys.push_back(read_key(stmt));
  }
  return LoadPage<T>(std::move(keys), max_results, load);
}

}  // namespace hokusai::store::sql
