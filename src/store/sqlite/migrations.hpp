// Numbered schema migrations for the SQLite store, applied in order at start-up.
#pragma once

#include "common/error.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace hokusai::store::sqlite {

// Applies every migration newer than the database's recorded version, each in its own
// transaction. Idempotent; safe to call on every start.
Result<void> ApplyMigrations(Connection& conn);

// The highest migration number this binary knows.
int LatestSchemaVersion();

}  // namespace hokusai::store::sqlite
