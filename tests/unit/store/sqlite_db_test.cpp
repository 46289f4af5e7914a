// The SQL seam on SQLite: prepared statements are reused per connection, each use gets a statement
// of its own, and a statement comes back reset and unbound.
#include "store/sql/sqlite_connection.hpp"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace hokusai::store::sql {
namespace {

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hk-sqlite-db-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto opened = OpenSqlite((dir_ / "t.db").string(), "NORMAL");
    ASSERT_TRUE(opened) << opened.error().message;
    conn_ = std::move(*opened);
    ASSERT_TRUE(conn_->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"));
    ASSERT_TRUE(conn_->Exec("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')"));
  }
  void TearDown() override {
    conn_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Connection> conn_;
};

constexpr const char* kSelect = "SELECT v FROM t WHERE k >= ? ORDER BY k";

TEST_F(SqliteDbTest, AStatementIsKeptAndReusedResetAndUnbound) {
  {
    auto stmt = conn_->Prepare(kSelect);
    ASSERT_TRUE(stmt);
    stmt->Bind(1, int64_t{2});
    ASSERT_TRUE(*stmt->Step());  // left in the middle of its rows
    EXPECT_EQ(stmt->Text(0), "b");
  }
  EXPECT_EQ(conn_->CachedStatements(), 1u);
  auto again = conn_->Prepare(kSelect);
  ASSERT_TRUE(again);
  EXPECT_EQ(conn_->CachedStatements(), 0u);
  // Reset and unbound: NULL matches nothing, so no row.
  EXPECT_FALSE(*again->Step());
}

TEST_F(SqliteDbTest, NestedUsesOfOneTextGetStatementsOfTheirOwn) {
  auto outer = conn_->Prepare(kSelect);
  ASSERT_TRUE(outer);
  outer->Bind(1, int64_t{1});
  std::string seen;
  for (;;) {
    auto row = outer->Step();
    ASSERT_TRUE(row);
    if (!*row) break;
    seen += outer->Text(0);
    auto inner = conn_->Prepare(kSelect);
    ASSERT_TRUE(inner);
    inner->Bind(1, int64_t{3});
    ASSERT_TRUE(*inner->Step());
    seen += inner->Text(0);
  }
  EXPECT_EQ(seen, "acbccc");
}

TEST_F(SqliteDbTest, TheCacheIsBoundedForVaryingTexts) {
  for (int i = 0; i < 1000; ++i) {
    auto stmt = conn_->Prepare("SELECT " + std::to_string(i));
    ASSERT_TRUE(stmt);
    ASSERT_TRUE(*stmt->Step());
    EXPECT_EQ(stmt->Int(0), i);
  }
  EXPECT_LE(conn_->CachedStatements(), 256u);
}

TEST_F(SqliteDbTest, WritesThroughAReusedStatementLand) {
  for (int i = 10; i < 13; ++i) {
    auto insert = conn_->Prepare("INSERT INTO t (k, v) VALUES (?, ?)");
    ASSERT_TRUE(insert);
    insert->Bind(1, int64_t{i}).Bind(2, std::string_view("x"));
    ASSERT_TRUE(insert->Run());
  }
  auto count = conn_->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(count);
  ASSERT_TRUE(*count->Step());
  EXPECT_EQ(count->Int(0), 6);
}

}  // namespace
}  // namespace hokusai::store::sql
