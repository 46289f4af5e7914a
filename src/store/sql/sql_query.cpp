#include "store/sql/sql_query.hpp"

#include <fmt/format.h>

namespace hokusai::store::sql {

Result<Statement> PrepareQuery(Connection& conn, const Query& query) {
  HK_TRY(stmt, conn.Prepare(query.sql));
  for (std::size_t i = 0; i < query.binds.size(); ++i) {
    int index = static_cast<int>(i + 1);
    std::visit([&](const auto& v) { stmt.Bind(index, v); }, query.binds[i]);
  }
  return std::move(stmt);
}

std::string_view SqlComparator(Comparator op) {
  switch (op) {
    case Comparator::kEq: return " = ";
    case Comparator::kNe: return " != ";
    case Comparator::kGt: return " > ";
    case Comparator::kGe: return " >= ";
    case Comparator::kLt: return " < ";
    case Comparator::kLe: return " <= ";
    case Comparator::kLike: return " LIKE ";
    case Comparator::kILike: return " LIKE ";
    case Comparator::kIn: return " IN ";
    case Comparator::kNotIn: return " NOT IN ";
  }
  return " = ";
}

void AppendComparison(Query& q, std::string_view column, const Clause& clause) {
  bool ilike = clause.op == Comparator::kILike;
  bool like = ilike || clause.op == Comparator::kLike;
  if (ilike) {
    q.Add("lower(");
    q.Add(column);
    q.Add(")");
  } else {
    q.Add(column);
  }
  q.Add(SqlComparator(clause.op));
  switch (clause.value_kind) {
    case Clause::ValueKind::kNumber:
      q.Value(clause.number_value);
      break;
    case Clause::ValueKind::kString:
      if (like) {
        // PostgreSQL's LIKE escapes with `\` by default and SQLite's has no escape: naming
        // the escape and doubling the pattern's backslashes makes `\` literal on both.
        std::string pattern;
        for (char c : clause.string_value) {
          if (c == '\\') pattern += '\\';
          pattern += c;
        }
        if (ilike) q.Add("lower(");
        q.Value(std::move(pattern));
        if (ilike) q.Add(")");
        q.Add(" ESCAPE '\\'");
      } else {
        q.Value(clause.string_value);
      }
      break;
    case Clause::ValueKind::kList:
      q.Add("(");
      for (std::size_t i = 0; i < clause.list_value.size(); ++i) {
        if (i > 0) q.Add(", ");
        q.Value(clause.list_value[i]);
      }
      q.Add(")");
      break;
  }
}

std::string GlobToLike(std::string_view pattern) {
  std::string like;
  like.reserve(pattern.size() + 4);
  for (char c : pattern) {
    if (c == '*') {
      like += '%';
    } else {
      if (c == '%' || c == '_' || c == '\\') like += '\\';
      like += c;
    }
  }
  return like;
}

void AppendVisibility(Query& q, const Visibility& visibility, const PermissionTable& table,
                      std::string_view key_expr, std::string_view name_expr) {
  q.Add(visibility.default_readable ? " AND NOT EXISTS (" : " AND EXISTS (");
  q.Add(fmt::format("SELECT 1 FROM {} vp WHERE vp.{} = {} AND vp.user_id = ", table.table,
                    table.key_column, key_expr));
  q.Value(visibility.user_id);
  q.Add(visibility.default_readable ? " AND vp.permission = " : " AND vp.permission != ");
  q.Value(std::string(PermissionName(Permission::kNoPermissions)));
  q.Add(")");
  if (visibility.name_patterns.empty()) return;
  // Patterns hold only [A-Za-z0-9-_./ *] with `*` for any run: as a LIKE pattern (case-sensitive
  // on both engines) with `_` escaped, the match is exact.
  q.Add(" AND (");
  for (std::size_t i = 0; i < visibility.name_patterns.size(); ++i) {
    if (i > 0) q.Add(" OR ");
    q.Add(name_expr);
    q.Add(" LIKE ");
    q.Value(GlobToLike(visibility.name_patterns[i]));
    q.Add(" ESCAPE '\\'");
  }
  q.Add(")");
}

Result<void> UpsertPermission(Connection& conn, const PermissionTable& table, int64_t key,
                              const std::string& user_id, Permission permission) {
  HK_TRY(stmt, conn.Prepare(fmt::format(
                   "INSERT INTO {0} ({1}, user_id, permission) VALUES (?, ?, ?) ON CONFLICT "
                   "({1}, user_id) DO UPDATE SET permission = excluded.permission",
                   table.table, table.key_column)));
  stmt.Bind(1, key).Bind(2, user_id).Bind(3, PermissionName(permission));
  return stmt.Run();
}

}  // namespace hokusai::store::sql
