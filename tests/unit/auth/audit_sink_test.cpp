// AuditSink over a real SQLite auth store: queued entries reach the store on Flush, on
// destruction and on the background tick; entries from many threads all land; a failed write
// is retried in order.
#include "auth/audit_sink.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/auth_store.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::auth {
namespace {

using store::AuditEntry;
using store::AuditQuery;

// The SQLite store, except that AppendAudit fails while `fail_appends` is set (a store that is
// down).
class FlakyAuditStore final : public store::AuthStore {
 public:
  explicit FlakyAuditStore(store::AuthStore& inner) : inner_(inner) {}

  std::atomic<bool> fail_appends{false};
  std::atomic<int> append_calls{0};

  Result<void> AppendAudit(const std::vector<AuditEntry>& entries) override {
    ++append_calls;
    if (fail_appends) return Fail(ErrorCode::kTemporarilyUnavailable, "database is locked");
    return inner_.AppendAudit(entries);
  }

  Result<store::User> CreateUser(const store::User& user) override {
    return inner_.CreateUser(user);
  }
  Result<store::User> GetUser(const std::string& user_id) override {
    return inner_.GetUser(user_id);
  }
  Result<std::vector<store::User>> ListUsers() override { return inner_.ListUsers(); }
  Result<int64_t> CountKeys() override { return inner_.CountKeys(); }
  Result<void> CreateKey(const store::ApiKeyRecord& key, const std::string& hash) override {
    return inner_.CreateKey(key, hash);
  }
  Result<void> CreateUserAndKey(const store::User& user, const store::ApiKeyRecord& key,
                                const std::string& hash) override {
    return inner_.CreateUserAndKey(user, key, hash);
  }
  Result<store::KeyLookup> FindKeyByHash(const std::string& hash, int64_t now) override {
    return inner_.FindKeyByHash(hash, now);
  }
  Result<store::ApiKeyRecord> GetKey(const std::string& key_id) override {
    return inner_.GetKey(key_id);
  }
  Result<std::vector<store::ApiKeyRecord>> ListKeys(const std::string& user_id) override {
    return inner_.ListKeys(user_id);
  }
  Result<store::ApiKeyRecord> RevokeKey(const std::string& key_id, int64_t now) override {
    return inner_.RevokeKey(key_id, now);
  }
  Result<store::ApiKeyRecord> RotateKey(const std::string& key_id, const std::string& new_hash,
                                        const std::string& new_prefix, int64_t now,
                                        int64_t old_valid_until) override {
    return inner_.RotateKey(key_id, new_hash, new_prefix, now, old_valid_until);
  }
  Result<void> TouchKey(const std::string& key_id, int64_t now) override {
    return inner_.TouchKey(key_id, now);
  }
  Result<std::optional<store::Permission>> GetExperimentPermission(
      const std::string& id, const std::string& user_id) override {
    return inner_.GetExperimentPermission(id, user_id);
  }
  Result<void> SetExperimentPermission(const std::string& id, const std::string& user_id,
                                       store::Permission permission) override {
    return inner_.SetExperimentPermission(id, user_id, permission);
  }
  Result<void> DeleteExperimentPermission(const std::string& id,
                                          const std::string& user_id) override {
    return inner_.DeleteExperimentPermission(id, user_id);
  }
  Result<std::optional<store::Permission>> GetModelPermission(
      const std::string& name, const std::string& user_id) override {
    return inner_.GetModelPermission(name, user_id);
  }
  Result<void> SetModelPermission(const std::string& name, const std::string& user_id,
                                  store::Permission permission) override {
    return inner_.SetModelPermission(name, user_id, permission);
  }
  Result<void> DeleteModelPermission(const std::string& name,
                                     const std::string& user_id) override {
    return inner_.DeleteModelPermission(name, user_id);
  }
  Result<std::pair<std::vector<AuditEntry>, bool>> SearchAudit(const AuditQuery& query) override {
    return inner_.SearchAudit(query);
  }

 private:
  store::AuthStore& inner_;
};

class AuditSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-audit-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool =
        store::sql::OpenDatabase(store::sql::DatabaseOptions{(dir_ / "mlflow.db").string(), 4,
                                                                 "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    store_ = std::make_unique<store::sql::SqlAuthStore>(*pool);
  }

  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  static AuditEntry Entry(const std::string& user_id, int n) {
    AuditEntry entry;
    entry.timestamp = 1'700'000'000'000 + n;
    entry.user_id = user_id;
    entry.key_id = "key-" + user_id;
    entry.method = "POST";
    entry.route = "/api/2.0/mlflow/runs/create";
    entry.resource = "experiment:" + std::to_string(n);
    entry.outcome = "allowed";
    entry.status = 200;
    entry.client_address = "10.0.0.1";
    entry.detail = "entry " + std::to_string(n);
    return entry;
  }

  // Every stored entry, oldest first.
  std::vector<AuditEntry> All() {
    AuditQuery query;
    query.max_results = 100'000;
    auto found = store_->SearchAudit(query);
    EXPECT_TRUE(found.has_value()) << (found ? "" : found.error().message);
    if (!found) return {};
    std::vector<AuditEntry> entries(found->first.rbegin(), found->first.rend());
    return entries;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::sql::SqlAuthStore> store_;
};

TEST_F(AuditSinkTest, FlushWritesQueuedEntries) {
  AuditSink sink(*store_);
  for (int i = 0; i < 3; ++i) sink.Add(Entry("alice", i));
  sink.Flush();
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const AuditEntry& e = entries[static_cast<std::size_t>(i)];
    EXPECT_GT(e.id, 0);
    EXPECT_EQ(e.timestamp, 1'700'000'000'000 + i);
    EXPECT_EQ(e.user_id, "alice");
    EXPECT_EQ(e.key_id, "key-alice");
    EXPECT_EQ(e.method, "POST");
    EXPECT_EQ(e.route, "/api/2.0/mlflow/runs/create");
    EXPECT_EQ(e.resource, "experiment:" + std::to_string(i));
    EXPECT_EQ(e.outcome, "allowed");
    EXPECT_EQ(e.status, 200);
    EXPECT_EQ(e.client_address, "10.0.0.1");
    EXPECT_EQ(e.detail, "entry " + std::to_string(i));
  }
  EXPECT_EQ(sink.dropped(), 0);
}

TEST_F(AuditSinkTest, FlushOnAnEmptyQueueReturns) {
  AuditSink sink(*store_);
  sink.Flush();
  sink.Flush();
  EXPECT_TRUE(All().empty());
}

TEST_F(AuditSinkTest, DestructorWritesWhatIsQueued) {
  {
    AuditSink sink(*store_);
    for (int i = 0; i < 10; ++i) sink.Add(Entry("bob", i));
  }
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(entries[static_cast<std::size_t>(i)].detail,
                                         "entry " + std::to_string(i));
}

TEST_F(AuditSinkTest, BackgroundThreadWritesWithoutFlush) {
  AuditSink sink(*store_);
  sink.Add(Entry("carol", 1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (All().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(All().size(), 1u);
}

TEST_F(AuditSinkTest, EntriesFromManyThreadsAllLand) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 400;
  {
    AuditSink sink(*store_);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&sink, t] {
        for (int i = 0; i < kPerThread; ++i) sink.Add(Entry("user-" + std::to_string(t), i));
      });
    }
    for (std::thread& thread : threads) thread.join();
    sink.Flush();
    EXPECT_EQ(sink.dropped(), 0);
    EXPECT_EQ(All().size(), static_cast<std::size_t>(kThreads * kPerThread));
  }
  // Per thread: every entry, once, in the order that thread added them.
  std::map<std::string, std::vector<std::string>> by_user;
  for (const AuditEntry& e : All()) by_user[e.user_id].push_back(e.detail);
  ASSERT_EQ(by_user.size(), static_cast<std::size_t>(kThreads));
  for (const auto& [user, details] : by_user) {
    ASSERT_EQ(details.size(), static_cast<std::size_t>(kPerThread)) << user;
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(details[static_cast<std::size_t>(i)], "entry " + std::to_string(i)) << user;
    }
  }
}

TEST_F(AuditSinkTest, FailedWriteIsKeptAndRetriedInOrder) {
  FlakyAuditStore flaky(*store_);
  flaky.fail_appends = true;
  AuditSink sink(flaky);
  for (int i = 0; i < 5; ++i) sink.Add(Entry("dave", i));
  sink.Flush();  // the store refuses: returns, keeps the entries
  EXPECT_GT(flaky.append_calls.load(), 0);
  EXPECT_TRUE(All().empty());
  EXPECT_EQ(sink.dropped(), 0);

  flaky.fail_appends = false;
  sink.Add(Entry("dave", 5));
  sink.Flush();
  std::vector<AuditEntry> entries = All();
  ASSERT_EQ(entries.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(entries[static_cast<std::size_t>(i)].detail, "entry " + std::to_string(i));
  }
}

}  // namespace
}  // namespace hokusai::auth
