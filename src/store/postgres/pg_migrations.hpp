// The PostgreSQL schema of the SQL stores: numbered migrations that mirror the SQLite ones
// (store/sql/migrations.cpp) number for number, with the same tables, columns, keys,
// constraints, indexes and seeded rows, so that the stores' statements run on either engine.
#pragma once

#include <span>

#include "store/sql/migrations.hpp"

namespace hokusai::store::postgres {

// One schema step, of the same type as SQLite's so that one runner applies both lists. `sql`
// holds several statements without parameters (and no `?` at all), meant to run in one
// transaction: PostgreSQL DDL is transactional.
using PgMigration = sql::Migration;

// Every migration in order, version N being the translation of SQLite migration N. Migration 1
// also creates the function the PostgreSQL spelling of a store statement calls:
//   hk_jsonb_array(value text) -> jsonb: the value as a JSON array, NULL when it is not one.
// Never edit a released migration; add a new one, with its SQLite twin.
std::span<const PgMigration> PgMigrations();

}  // namespace hokusai::store::postgres
