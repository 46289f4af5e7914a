// Numbered schema migrations, one list per engine with the same numbers and the same logical
// schema (SQLite's here, PostgreSQL's in store/postgres/pg_migrations), applied in order at
// start-up.
#pragma once

#include <span>

#include "common/error.hpp"
#include "store/sql/db.hpp"

namespace hokusai::store::sql {

struct Migration {
  int version;
  const char* sql;
  // Run after `sql`, in the same transaction, where SQL alone cannot do the work.
  Result<void> (*then)(Connection&) = nullptr;
};

// Applies every migration newer than the database's recorded version, each in its own
// transaction. Idempotent; safe to call on every start, and from replicas starting together
// (PostgreSQL: one applies while the others wait).
Result<void> ApplyMigrations(Connection& conn);

// The highest migration number this binary knows.
int LatestSchemaVersion();

// SQLite's list (tests compare it with PostgreSQL's).
std::span<const Migration> SqliteMigrations();

}  // namespace hokusai::store::sql
