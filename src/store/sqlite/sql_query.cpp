#include "store/sqlite/sql_query.hpp"

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

}  // namespace hokusai::store::sqlite
