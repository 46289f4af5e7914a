#include "store/sqlite/sql_query.hpp"

#include <fmt/format.h>

namespace hokusai::store::sqlite {

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
      if (ilike) {
        q.Add("lower(");
        q.Value(clause.string_value);
        q.Add(")");
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
  // Patterns hold only [A-Za-z0-9-_./ *], so GLOB (case-sensitive, `*` = any run) is exact.
  q.Add(" AND (");
  for (std::size_t i = 0; i < visibility.name_patterns.size(); ++i) {
    if (i > 0) q.Add(" OR ");
    q.Add(name_expr);
    q.Add(" GLOB ");
    q.Value(visibility.name_patterns[i]);
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

}  // namespace hokusai::store::sqlite
