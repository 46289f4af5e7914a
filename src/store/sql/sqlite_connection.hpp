// The SQLite engine behind the SQL stores (store/sql/db.hpp): the embedded default.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/sql/db.hpp"

struct sqlite3;

namespace hokusai::store::sql {

// Opens (creating if needed) the database at `path` with WAL, foreign keys, busy timeout and
// the given synchronous level ("NORMAL" or "FULL").
Result<std::unique_ptr<Connection>> OpenSqlite(const std::string& path,
                                               const std::string& synchronous);

// A store error from SQLite, logged with its detail; the client sees a generic message.
Error SqliteError(sqlite3* db, std::string_view what);

}  // namespace hokusai::store::sql
