// The SQL seam on SQLite: prepared statements are reused per connection, each use gets a statement
// of its own, and a statement comes back reset and unbound.
#include "store/sql/sqlite_connection.hpp"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

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

// ---- group commit (ConnectionPool::Write) ------------------------------------------------------

class WriteGroupTest : public SqliteDbTest {
 protected:
  void SetUp() override {
    SqliteDbTest::SetUp();
    ASSERT_TRUE(conn_->Exec("CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child ("
                            "id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) "
                            "DEFERRABLE INITIALLY DEFERRED)"));
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i < 3; ++i) {
      auto opened = OpenSqlite((dir_ / "t.db").string(), "NORMAL");
      ASSERT_TRUE(opened) << opened.error().message;
      connections.push_back(std::move(*opened));
    }
    pool_ = std::make_unique<ConnectionPool>(std::move(connections));
  }
  void TearDown() override {
    pool_.reset();
    SqliteDbTest::TearDown();
  }

  // Runs `bodies` as one group: while this test holds the writer lease, each is queued in turn
  // (the first to queue leads and waits for the lease; the rest queue behind it); the lease is
  // then let go. `done_` records each write's done(committed) as "<index>:<committed>", in the
  // order they ran (all on the leader's thread).
  std::vector<Result<void>> RunAsOneGroup(const std::vector<ConnectionPool::WriteBody>& bodies) {
    std::vector<Result<void>> results(bodies.size());
    std::vector<ConnectionPool::WriteDone> dones;
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      dones.emplace_back([this, i](bool committed) {
        done_.push_back(std::to_string(i) + ":" + (committed ? "true" : "false"));
      });
    }
    std::vector<std::thread> threads;
    {
      auto held = pool_->AcquireWriter();
      for (std::size_t i = 0; i < bodies.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = pool_->Write(bodies[i], dones[i]); });
        while (pool_->QueuedWrites() < i + 1) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    }
    for (std::thread& thread : threads) thread.join();
    return results;
  }

  static ConnectionPool::WriteBody Insert(int64_t k, bool then_fail = false) {
    return [k, then_fail](Connection& conn) -> Result<void> {
      HK_TRY(stmt, conn.Prepare("INSERT INTO t (k, v) VALUES (?, 'x')"));
      stmt.Bind(1, k);
      HK_CHECK(stmt.Run());
      if (then_fail) return Fail(ErrorCode::kInvalidParameterValue, "refused after writing");
      return {};
    };
  }

  std::vector<int64_t> Keys(int64_t from) {
    std::vector<int64_t> keys;
    auto stmt = conn_->Prepare("SELECT k FROM t WHERE k >= ? ORDER BY k");
    EXPECT_TRUE(stmt);
    stmt->Bind(1, from);
    while (*stmt->Step()) keys.push_back(stmt->Int(0));
    return keys;
  }

  std::unique_ptr<ConnectionPool> pool_;
  std::vector<std::string> done_;
};

TEST_F(WriteGroupTest, QueuedWritesShareOneTransactionAndAFailureUndoesOnlyItsOwn) {
  auto before = pool_->write_counts();
  auto results = RunAsOneGroup({Insert(10), Insert(11), Insert(12, true), Insert(13)});
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0]);
  EXPECT_TRUE(results[1]);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_TRUE(results[3]);
  EXPECT_EQ(Keys(10), (std::vector<int64_t>{10, 11, 13}));
  auto after = pool_->write_counts();
  EXPECT_EQ(after.writes - before.writes, 4u);
  EXPECT_EQ(after.transactions - before.transactions, 1u);
  // The failed write heard at once; the others after the commit, in order.
  EXPECT_EQ(done_, (std::vector<std::string>{"2:false", "0:true", "1:true", "3:true"}));
}

TEST_F(WriteGroupTest, AWriteThatEndsTheTransactionFailsThoseBeforeItNotThoseAfter) {
  auto ends_it = [](Connection& conn) -> Result<void> {
    HK_TRY(stmt, conn.Prepare("INSERT INTO t (k, v) VALUES (21, 'x')"));
    HK_CHECK(stmt.Run());
    return conn.Run("ROLLBACK");  // as SQLite does by itself after some errors
  };
  auto results = RunAsOneGroup({Insert(20), ends_it, Insert(22)});
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(results[0].error().code, ErrorCode::kTemporarilyUnavailable);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(results[1].error().code, ErrorCode::kInternalError);
  EXPECT_TRUE(results[2]);
  EXPECT_EQ(Keys(20), (std::vector<int64_t>{22}));
  EXPECT_EQ(done_, (std::vector<std::string>{"1:false", "0:false", "2:true"}));
}

TEST_F(WriteGroupTest, ARefusalInALostTransactionIsNotFinal) {
  // A write may be refused because of another's uncommitted writes (a param it had just logged);
  // when the transaction is then lost, the refusal rested on nothing stored: retry, not 4xx.
  auto ends_it = [](Connection& conn) -> Result<void> { return conn.Run("ROLLBACK"); };
  auto results = RunAsOneGroup({Insert(60), Insert(61, true), ends_it});
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(results[0].error().code, ErrorCode::kTemporarilyUnavailable);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(results[1].error().code, ErrorCode::kTemporarilyUnavailable);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error().code, ErrorCode::kInternalError);
  EXPECT_TRUE(Keys(60).empty());
  EXPECT_EQ(done_, (std::vector<std::string>{"1:false", "2:false", "0:false"}));
}

TEST_F(WriteGroupTest, AFailedCommitFailsEveryWriteInItAndKeepsNone) {
  // A deferred foreign key is checked at COMMIT, so the group's commit itself fails.
  auto orphan = [](Connection& conn) -> Result<void> {
    return conn.Run("INSERT INTO child (id, parent) VALUES (1, 999)");
  };
  auto results = RunAsOneGroup({Insert(30), orphan});
  ASSERT_FALSE(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_TRUE(Keys(30).empty());
  EXPECT_EQ(done_, (std::vector<std::string>{"1:false", "0:false"}));
  // The connection is usable afterwards.
  EXPECT_TRUE(pool_->Write(Insert(31)));
  EXPECT_EQ(Keys(30), (std::vector<int64_t>{31}));
}

TEST_F(WriteGroupTest, AWriteThatThrowsFailsAloneAndTheQueueGoesOn) {
  auto throws = [](Connection& conn) -> Result<void> {
    HK_TRY(stmt, conn.Prepare("INSERT INTO t (k, v) VALUES (51, 'x')"));
    HK_CHECK(stmt.Run());
    throw std::runtime_error("a bug");
  };
  auto results = RunAsOneGroup({Insert(50), throws, Insert(52)});
  EXPECT_TRUE(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(results[1].error().code, ErrorCode::kInternalError);
  EXPECT_TRUE(results[2]);
  EXPECT_EQ(Keys(50), (std::vector<int64_t>{50, 52}));
  EXPECT_TRUE(pool_->Write(Insert(53)));  // later writes are not stuck behind it
  EXPECT_EQ(pool_->QueuedWrites(), 0u);
}

TEST_F(WriteGroupTest, AWriteAloneRunsInATransactionOfItsOwn) {
  auto before = pool_->write_counts();
  EXPECT_TRUE(pool_->Write(Insert(40)));
  auto failed = pool_->Write(Insert(41, true));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kInvalidParameterValue);
  EXPECT_EQ(Keys(40), (std::vector<int64_t>{40}));
  auto after = pool_->write_counts();
  EXPECT_EQ(after.transactions - before.transactions, 2u);
}

TEST_F(WriteGroupTest, ManyThreadsWritingEachWriteLandsOnceOrNotAtAll) {
  constexpr int kThreads = 8;
  constexpr int kEach = 150;
  std::vector<std::thread> threads;
  std::vector<int> wrong(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        int64_t k = 1000 + t * kEach + i;
        bool fail = i % 10 == 3;
        auto written = pool_->Write(Insert(k, fail));
        if (written.has_value() == fail) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
  std::vector<int64_t> expected;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      if (i % 10 != 3) expected.push_back(1000 + t * kEach + i);
    }
  }
  EXPECT_EQ(Keys(1000), expected);
  EXPECT_EQ(pool_->QueuedWrites(), 0u);
}

}  // namespace
}  // namespace hokusai::store::sql
