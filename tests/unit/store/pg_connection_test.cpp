// The PostgreSQL engine's pure parts: placeholder numbering (SQLite's rules, quotes left alone),
// URL redaction and the migration list. The engine itself runs the whole integration suite on a
// real server (the postgres leg of scripts/test.sh).
#include "store/postgres/pg_connection.hpp"

#include <string_view>

#include <gtest/gtest.h>

#include "store/postgres/pg_migrations.hpp"
#include "store/sql/migrations.hpp"

namespace hokusai::store::postgres {
namespace {

TEST(NumberPlaceholders, BarePlaceholdersAreNumberedInOrder) {
  int count = 0;
  EXPECT_EQ(NumberPlaceholders("SELECT a FROM t WHERE b = ? AND c IN (?, ?)", &count),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)");
  EXPECT_EQ(count, 3);
}

TEST(NumberPlaceholders, NumberedPlaceholdersKeepTheirNumbersAndCountTheHighest) {
  int count = 0;
  EXPECT_EQ(NumberPlaceholders("VALUES (?1, ?2) WHERE x = ?2 AND y = ?3", &count),
            "VALUES ($1, $2) WHERE x = $2 AND y = $3");
  EXPECT_EQ(count, 3);
  // A bare one after a numbered one takes the next number, as in SQLite.
  EXPECT_EQ(NumberPlaceholders("?5, ?", &count), "$5, $6");
  EXPECT_EQ(count, 6);
  EXPECT_EQ(NumberPlaceholders("?12", &count), "$12");
  EXPECT_EQ(count, 12);
}

TEST(NumberPlaceholders, QuotedQuestionMarksAreText) {
  int count = 0;
  EXPECT_EQ(NumberPlaceholders("SELECT '?', \"a?\" WHERE v = ? AND w = 'it''s ?'", &count),
            "SELECT '?', \"a?\" WHERE v = $1 AND w = 'it''s ?'");
  EXPECT_EQ(count, 1);
  EXPECT_EQ(NumberPlaceholders("SELECT 1", &count), "SELECT 1");
  EXPECT_EQ(count, 0);
}

TEST(RedactDatabaseUrl, HidesPasswordsInUserInfoAndQuery) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u:s3cret@db:5432/hk"), "postgresql://u:***@db:5432/hk");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u:p@ss@db/hk"), "postgresql://u:***@db/hk");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u@db/hk?password=s3cret&sslmode=require"),
            "postgresql://u@db/hk?password=***&sslmode=require");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://db/hk?sslmode=require&password=s3cret"),
            "postgresql://db/hk?sslmode=require&password=***");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u@db/hk"), "postgresql://u@db/hk");
}

TEST(ArrayLiterals, QuoteTextAndSpellNumbersExactly) {
  EXPECT_EQ(TextArrayLiteral({}), "{}");
  EXPECT_EQ(TextArrayLiteral({"a", "", "b c", "q\"uote", "back\\slash", "{,}", "NULL"}),
            R"({"a","","b c","q\"uote","back\\slash","{,}","NULL"})");
  EXPECT_EQ(IntArrayLiteral({1, -2, 9223372036854775807}), "{1,-2,9223372036854775807}");
  EXPECT_EQ(DoubleArrayLiteral({0.1, -1.5e300, 3.0}), "{0.1,-1.5e+300,3}");
}

TEST(IsPostgresUrl, BothSchemes) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://db/hk"));
  EXPECT_TRUE(IsPostgresUrl("postgres://db/hk"));
  EXPECT_FALSE(IsPostgresUrl("sqlite:///x.db"));
  EXPECT_FALSE(IsPostgresUrl("hokusai-data/registry.db"));
}

TEST(PgMigrations, AreTheSQLiteListNumberForNumber) {
  auto pg = PgMigrations();
  auto sqlite = sql::SqliteMigrations();
  ASSERT_EQ(pg.size(), sqlite.size());
  for (std::size_t i = 0; i < pg.size(); ++i) EXPECT_EQ(pg[i].version, sqlite[i].version);
  EXPECT_EQ(pg.back().version, sql::LatestSchemaVersion());
}

}  // namespace
}  // namespace hokusai::store::postgres
