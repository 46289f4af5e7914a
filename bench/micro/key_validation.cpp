// hokusai-microbench: the in-process half of W7 in the benchmark issue (#8), "key validation
// with N keys stored" (bench/README.md). For each N it opens a scratch SQLite store through the
// server's own code (OpenDatabase with its migrations, SqlAuthStore, KeyService), stores N keys and
// measures, in this process:
//   digest_only  KeyService::Digest: the hashing every validation does (CPU only);
//   valid        LocalAuthenticator::Authenticate of up to --sample stored keys in use, on one
//                thread and on --threads;
//   valid_few    the same, with the same kFewKeys keys in use at every N: what the number of
//                keys stored costs, apart from the number in use (whose state no longer fits in
//                the CPU's caches when it is in the thousands);
//   unknown      Authenticate of well-formed keys that are not stored (the 401 path).
// Each case gets a warm-up, then --repeats timed loops of at least --seconds each (steady_clock),
// reported as ns per call and calls per second, median [min-max] over the repeats. --json prints
// one JSON object per line instead of the table (bench/bench.py reads them). Each store is deleted
// when its N is done.
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/api_key.hpp"
#include "auth/key_service.hpp"
#include "auth/local_authenticator.hpp"
#include "common/error.hpp"
#include "common/util.hpp"
#include "store/sql/db.hpp"
#include "store/sql/sql_auth_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

#ifndef HOKUSAI_BUILD_TYPE
#define HOKUSAI_BUILD_TYPE "unknown"
#endif

namespace hokusai::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// Rows per seeding transaction: enough to amortise the commit, few enough to bound the WAL.
constexpr int64_t kSeedBatchRows = 100'000;
// Most valid keys sampled: LocalAuthenticator remembers the last touch of at most 100,000 keys
// (kMaxTouchEntries in auth/local_authenticator.cpp); past that every pass over the sample writes.
constexpr std::size_t kMaxSampledKeys = 100'000;
// Touch writes a key's last use at most once a minute; the sample is touched again when its last
// pass is older than this, so that no timed loop reaches the minute.
constexpr Seconds kTouchRefresh{30};
constexpr Seconds kWarmup{0.2};
constexpr int kCallsPerClockRead = 64;
// Length of the index table a KeyPicker cycles through: a power of two, so `i & mask` indexes it.
constexpr std::size_t kPickOrderLength = std::size_t{1} << 16;
// Where thread t starts in the pick order (t * this), so threads do not ask for the same keys.
constexpr uint64_t kThreadPickOffset = 7919;
constexpr std::size_t kUnknownKeys = 1024;
// Keys in use in the valid_few case, at every number of keys stored: the smallest N measured.
constexpr std::size_t kFewKeys = 10;
constexpr std::string_view kClientIp = "127.0.0.1";
constexpr std::string_view kBenchName = "key_validation";

struct Options {
  std::vector<int64_t> key_counts = {10, 10'000, 1'000'000};
  double seconds = 0.5;
  int repeats = 3;
  int threads = 2;
  std::size_t sample = 10'000;
  std::string dir = std::filesystem::temp_directory_path().string();
  bool json = false;
};

// ---- scratch store ------------------------------------------------------------------------------

// A fresh directory under `parent`, removed with everything in it on destruction.
class ScratchDir {
 public:
  static Result<ScratchDir> Create(const std::string& parent) {
    std::string pattern = (std::filesystem::path(parent) / "hokusai-microbench.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Fail(ErrorCode::kInternalError,
                  fmt::format("cannot create a directory in {}: {}", parent, std::strerror(errno)));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// Keeps every stride-th secret offered, up to `capacity`: stored keys spread evenly over insertion
// order, and so over api_keys' rowid order (the hash index's order is random anyway). Keeping the
// first keys instead would sample rows that sit together in a few pages.
class KeySample {
 public:
  KeySample(int64_t total, std::size_t capacity)
      : stride_(std::max<int64_t>(1, total / static_cast<int64_t>(capacity))),
        capacity_(capacity) {}

  void Offer(std::string&& secret) {
    if (offered_++ % stride_ == 0 && kept_.size() < capacity_) kept_.push_back(std::move(secret));
  }
  std::vector<std::string> Take() { return std::move(kept_); }

 private:
  int64_t stride_;
  std::size_t capacity_;
  int64_t offered_ = 0;
  std::vector<std::string> kept_;
};

// Stores keys cloned from one that KeyService minted (same user and settings), each with a fresh
// secret hashed by the same KeyService, in write transactions of kSeedBatchRows rows. The store has
// no bulk insert and KeyService::Create costs two transactions per key, so this writes the rows
// through the store's own Connection.
class KeySeeder {
 public:
  KeySeeder(store::sql::ConnectionPool& pool, const auth::KeyService& keys,
            const store::ApiKeyRecord& model, KeySample& sample)
      : pool_(pool), keys_(keys), model_(model), sample_(sample) {}

  Result<void> Seed(int64_t count) {
    auto environment = auth::ParseEnvironment(model_.environment);
    if (!environment) return Fail(ErrorCode::kInternalError, "minted key has no environment");
    for (int64_t done = 0; done < count;) {
      int64_t rows = std::min(kSeedBatchRows, count - done);
      HK_CHECK(SeedBatch(*environment, rows));
      done += rows;
    }
    return {};
  }

 private:
  // The columns a key needs, copied from the model row; the others keep their defaults.
  static constexpr std::string_view kCloneKey =
      "INSERT INTO api_keys (key_id, user_id, name, key_prefix, environment, scopes, allowed_ips, "
      "rate_limit_per_hour, created_at) SELECT ?1, user_id, name, ?2, environment, scopes, "
      "allowed_ips, rate_limit_per_hour, created_at FROM api_keys WHERE key_id = ?3";
  static constexpr std::string_view kInsertSecret =
      "INSERT INTO api_key_secrets (secret_hash, key_id, created_at) VALUES (?, ?, ?)";

  Result<void> SeedBatch(auth::KeyEnvironment environment, int64_t rows) {
    auto conn = pool_.AcquireWriter();
    HK_TRY(tx, store::sql::Transaction::Begin(*conn, true));
    HK_TRY(clone, conn->Prepare(kCloneKey));
    HK_TRY(secret, conn->Prepare(kInsertSecret));
    for (int64_t i = 0; i < rows; ++i) {
      std::string key = auth::GenerateKey(environment);
      std::string key_id = NewHexId();
      clone.Bind(1, key_id).Bind(2, auth::DisplayPrefix(key)).Bind(3, model_.key_id);
      HK_CHECK(clone.Run());
      if (conn->Changes() != 1) return Fail(ErrorCode::kInternalError, "model key row vanished");
      HK_CHECK(clone.Reset());
      secret.Bind(1, keys_.Hash(key)).Bind(2, key_id).Bind(3, model_.created_at);
      HK_CHECK(secret.Run());
      HK_CHECK(secret.Reset());
      sample_.Offer(std::move(key));
    }
    return tx.Commit();
  }

  store::sql::ConnectionPool& pool_;
  const auth::KeyService& keys_;
  const store::ApiKeyRecord& model_;
  KeySample& sample_;
};

// The server's key-validation stack over a scratch SQLite store.
struct KeyStore {
  std::shared_ptr<store::sql::ConnectionPool> pool;
  std::unique_ptr<store::sql::SqlAuthStore> store;
  std::unique_ptr<auth::KeyService> keys;
  std::unique_ptr<auth::LocalAuthenticator> authenticator;
  std::vector<std::string> sampled;  // secrets of stored keys (KeySample)
  Seconds seed_time{};
};

// Moves the seeded pages from the WAL into the database file, as a server's checkpoints do long
// before its keys are used: otherwise every read of the fresh store searches a large WAL.
Result<void> Checkpoint(store::sql::ConnectionPool& pool) {
  auto conn = pool.AcquireWriter();
  return conn->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// Mints the first key through KeyService::Create (user "bench", template "reader", like W7's
// end-to-end keys), then clones it until `count` keys are stored.
Result<void> SeedKeys(KeyStore& ks, int64_t count, std::size_t sample_size) {
  auth::NewKeyRequest request;
  request.user_id = "bench";
  request.name = "microbench";
  request.template_name = "reader";
  HK_TRY(minted, ks.keys->Create(request, nullptr));
  KeySample sample(count, sample_size);
  sample.Offer(std::move(minted.secret));
  KeySeeder seeder(*ks.pool, *ks.keys, minted.record, sample);
  HK_CHECK(seeder.Seed(count - 1));
  ks.sampled = sample.Take();
  return Checkpoint(*ks.pool);
}

// A new store at `db_path` (migrations applied) holding `count` keys, with a KeyService (a fresh
// server secret) and a LocalAuthenticator over it, as the server builds them.
Result<KeyStore> OpenKeyStore(const std::filesystem::path& db_path, int64_t count,
                              std::size_t sample_size) {
  KeyStore ks;
  HK_TRY(pool, store::sql::OpenDatabase(store::sql::DatabaseOptions{db_path.string()}));
  ks.pool = pool;
  ks.store = std::make_unique<store::sql::SqlAuthStore>(ks.pool);
  ks.keys =
      std::make_unique<auth::KeyService>(*ks.store, auth::GenerateSecret(), auth::KeyDefaults{});
  ks.authenticator =
      std::make_unique<auth::LocalAuthenticator>(*ks.store, *ks.keys, "hokusai-microbench");
  Clock::time_point start = Clock::now();
  HK_CHECK(SeedKeys(ks, count, sample_size));
  ks.seed_time = Clock::now() - start;
  return ks;
}

std::vector<std::string> UnknownKeys() {
  std::vector<std::string> keys;
  keys.reserve(kUnknownKeys);
  for (std::size_t i = 0; i < kUnknownKeys; ++i) {
    keys.push_back(auth::GenerateKey(auth::KeyEnvironment::kLive));
  }
  return keys;
}

// ---- timing -------------------------------------------------------------------------------------

// Cycles through `secrets` in a fixed random order, so that a timed loop pays an array read per
// call, not a random number generator. The picks are laid out one after another in that order, so
// the loop reads each key's bytes from memory it walks in sequence (the hardware prefetches it),
// as a server reads a key from the request bytes it has just received: what a call misses in the
// CPU's caches is the validation's own state, not the benchmark's copy of the keys (with the keys
// as 10,000 separate strings, ParseKey + Hash alone went from 0.5 to 1.0 µs).
class KeyPicker {
 public:
  KeyPicker(const std::vector<std::string>& secrets, uint32_t seed) : distinct_(secrets.size()) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<std::size_t> index(0, secrets.size() - 1);
    picks_.reserve(kPickOrderLength);
    for (std::size_t n = 0; n < kPickOrderLength; ++n) {
      const std::string& secret = secrets[index(random)];
      picks_.emplace_back(stream_.size(), secret.size());
      stream_ += secret;
    }
  }

  std::string_view operator()(uint64_t i) const {
    auto [at, size] = picks_[i & kMask];
    return std::string_view(stream_).substr(at, size);
  }
  std::size_t distinct() const { return distinct_; }

 private:
  static constexpr uint64_t kMask = kPickOrderLength - 1;
  std::size_t distinct_;
  std::string stream_;
  std::vector<std::pair<std::size_t, std::size_t>> picks_;  // offset and length in stream_
};

// One benchmarked call, number `i` of its thread's loop; false when the answer was not the expected
// one.
using Op = std::function<bool(uint64_t i)>;

struct LoopCount {
  int64_t calls = 0;
  int64_t failures = 0;
  Seconds elapsed{};
};

// Calls `op` from index `first` on until `min_time` has passed (the clock is read every
// kCallsPerClockRead calls).
LoopCount LoopFor(const Op& op, uint64_t first, Seconds min_time) {
  LoopCount count;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(min_time);
  uint64_t i = first;
  Clock::time_point now;
  do {
    for (int n = 0; n < kCallsPerClockRead; ++n) {
      if (!op(i++)) ++count.failures;
    }
    count.calls += kCallsPerClockRead;
    now = Clock::now();
  } while (now < deadline);
  count.elapsed = now - start;
  return count;
}

// One timed loop over all threads.
struct Run {
  int threads = 1;
  int64_t calls = 0;
  int64_t failures = 0;
  Seconds wall{};  // the longest thread's loop

  double NsPerCall() const { return wall.count() * 1e9 * threads / static_cast<double>(calls); }
  double CallsPerSecond() const { return static_cast<double>(calls) / wall.count(); }
};

// Runs `op` on `threads` threads released together, each for at least `min_time`.
Run RunConcurrently(const Op& op, int threads, Seconds min_time) {
  std::vector<LoopCount> counts(threads);
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      counts[t] = LoopFor(op, t * kThreadPickOffset, min_time);
    });
  }
  for (std::thread& worker : workers) worker.join();
  Run run{.threads = threads};
  for (const LoopCount& count : counts) {
    run.calls += count.calls;
    run.failures += count.failures;
    run.wall = std::max(run.wall, count.elapsed);
  }
  return run;
}

struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};

Spread SpreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  double median = values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  return Spread{median, values.front(), values.back()};
}

// Authenticates every sampled key once when the last such pass is older than kTouchRefresh, so that
// LocalAuthenticator::Touch's last-use write (at most once a minute per key) happens here and not
// in a timed loop. The first pass also measures what a key's first use in a minute costs.
class TouchPass {
 public:
  TouchPass(auth::LocalAuthenticator& authenticator, const std::vector<std::string>& secrets)
      : authenticator_(authenticator), secrets_(secrets) {}

  Result<void> Refresh() {
    Clock::time_point start = Clock::now();
    if (last_ && start - *last_ < kTouchRefresh) return {};
    for (const std::string& secret : secrets_) {
      auto principal = authenticator_.Authenticate(secret, kClientIp);
      if (!principal) return Fail(principal.error().code, "a stored key did not authenticate");
    }
    last_ = Clock::now();
    if (!first_use_ns_) {
      first_use_ns_ = Seconds(*last_ - start).count() * 1e9 / static_cast<double>(secrets_.size());
    }
    return {};
  }

  std::optional<double> first_use_ns() const { return first_use_ns_; }

 private:
  auth::LocalAuthenticator& authenticator_;
  const std::vector<std::string>& secrets_;
  std::optional<Clock::time_point> last_;
  std::optional<double> first_use_ns_;
};

struct Case {
  std::string_view name;   // "case" in the JSON lines
  std::string_view title;  // in the table
  int threads = 1;
  std::size_t distinct_keys = 0;  // how many different keys the loop cycles through
  Op op;
  std::function<Result<void>()> before_each = [] { return Result<void>{}; };
};

struct CaseResult {
  const Case* spec = nullptr;
  Spread ns_per_call;
  Spread calls_per_second;
  int64_t calls = 0;  // over all repeats
};

Result<Run> CheckedRun(const Case& spec, Seconds min_time) {
  HK_CHECK(spec.before_each());
  Run run = RunConcurrently(spec.op, spec.threads, min_time);
  if (run.failures > 0) {
    return Fail(ErrorCode::kInternalError,
                fmt::format("{}: {} of {} calls did not give the expected answer", spec.title,
                            run.failures, run.calls));
  }
  return run;
}

// A warm-up, then `options.repeats` timed loops.
Result<CaseResult> Measure(const Case& spec, const Options& options) {
  HK_CHECK(CheckedRun(spec, kWarmup));
  std::vector<double> ns;
  std::vector<double> rates;
  CaseResult result{.spec = &spec};
  for (int r = 0; r < options.repeats; ++r) {
    HK_TRY(run, CheckedRun(spec, Seconds(options.seconds)));
    ns.push_back(run.NsPerCall());
    rates.push_back(run.CallsPerSecond());
    result.calls += run.calls;
  }
  result.ns_per_call = SpreadOf(ns);
  result.calls_per_second = SpreadOf(rates);
  return result;
}

// ---- output -------------------------------------------------------------------------------------

// Prints either an aligned table (stdout) or one JSON object per line (stdout).
class Report {
 public:
  explicit Report(const Options& options) : options_(options) {}

  void Start() const {
    if (options_.json) {
      Json(fmt::format(R"("case":"config","build_type":"{}","store":"sqlite","repeats":{},)"
                       R"("seconds":{},"warmup_seconds":{},"threads":{},"sample":{})",
                       HOKUSAI_BUILD_TYPE, options_.repeats, options_.seconds, kWarmup.count(),
                       options_.threads, options_.sample));
      return;
    }
    fmt::print("hokusai-microbench: API key validation in process ({} build), SQLite store\n",
               HOKUSAI_BUILD_TYPE);
    fmt::print(
        "each case: {:.1f} s warm-up, then {} timed loop(s) of >= {} s; ns/call = wall time "
        "x threads / calls; median [min-max] over the loops\n",
        kWarmup.count(), options_.repeats, options_.seconds);
    fmt::print(
        "valid keys: up to {} stored keys (every N/{}-th inserted) in a fixed random order, "
        "or {} of them; each is authenticated once before the timed loops (again after "
        "{:.0f} s), so the last-use write of LocalAuthenticator::Touch (once a minute per key) "
        "is not in them\n",
        options_.sample, options_.sample, kFewKeys, kTouchRefresh.count());
  }

  void Seeded(int64_t count, Seconds seed_time, std::size_t sampled) const {
    if (options_.json) {
      Json(fmt::format(R"("case":"seed","keys":{},"seed_seconds":{:.3f},"sampled_keys":{})", count,
                       seed_time.count(), sampled));
      return;
    }
    fmt::print("\n{} keys stored (seeded in {:.2f} s)\n", count, seed_time.count());
    fmt::print("  {:<56} {:>7}  {:>26}  {:>14}\n", "case", "threads", "ns/call median [min-max]",
               "calls/s median");
  }

  void Measured(int64_t count, const CaseResult& result) const {
    const Case& spec = *result.spec;
    if (options_.json) {
      Json(fmt::format(R"("case":"{}","keys":{},"threads":{},"ns_median":{:.1f},"ns_min":{:.1f},)"
                       R"("ns_max":{:.1f},"calls_per_s_median":{:.0f},"calls_per_s_min":{:.0f},)"
                       R"("calls_per_s_max":{:.0f},"calls":{},"distinct_keys":{})",
                       spec.name, count, spec.threads, result.ns_per_call.median,
                       result.ns_per_call.min, result.ns_per_call.max,
                       result.calls_per_second.median, result.calls_per_second.min,
                       result.calls_per_second.max, result.calls, spec.distinct_keys));
      return;
    }
    std::string ns = fmt::format("{:.0f} [{:.0f}-{:.0f}]", result.ns_per_call.median,
                                 result.ns_per_call.min, result.ns_per_call.max);
    fmt::print("  {:<56} {:>7}  {:>26}  {:>14.0f}\n", spec.title, spec.threads, ns,
               result.calls_per_second.median);
  }

  void FirstUse(int64_t count, std::optional<double> ns, std::size_t keys) const {
    if (!ns) return;
    if (options_.json) {
      Json(fmt::format(R"("case":"valid_first_use","keys":{},"threads":1,"ns_mean":{:.1f},)"
                       R"("distinct_keys":{})",
                       count, *ns, keys));
      return;
    }
    fmt::print(
        "  first use of a key in a minute (with its last-use write): {:.0f} ns "
        "(mean over one pass of {} keys)\n",
        *ns, keys);
  }

 private:
  static void Json(const std::string& fields) {
    fmt::print("{{\"bench\":\"{}\",{}}}\n", kBenchName, fields);
    std::fflush(stdout);
  }

  const Options& options_;
};

// ---- the benchmark ------------------------------------------------------------------------------

std::vector<Case> Cases(const KeyStore& ks, const KeyPicker& valid_keys,
                        const KeyPicker& few_keys, const KeyPicker& unknown_keys, TouchPass& touch,
                        int threads) {
  // Pointers captured by value: the cases outlive this function, the objects outlive the cases.
  const auth::KeyService* keys = ks.keys.get();
  auth::LocalAuthenticator* authenticator = ks.authenticator.get();
  const KeyPicker* valid = &valid_keys;
  const KeyPicker* few = &few_keys;
  const KeyPicker* unknown = &unknown_keys;
  Op digest_only = [keys, valid](uint64_t i) {
    return keys->Digest((*valid)(i)) != auth::KeyDigest{};
  };
  Op authenticate_valid = [authenticator, valid](uint64_t i) {
    return authenticator->Authenticate((*valid)(i), kClientIp).has_value();
  };
  Op authenticate_few = [authenticator, few](uint64_t i) {
    return authenticator->Authenticate((*few)(i), kClientIp).has_value();
  };
  Op authenticate_unknown = [authenticator, unknown](uint64_t i) {
    auto principal = authenticator->Authenticate((*unknown)(i), kClientIp);
    return !principal && principal.error().code == ErrorCode::kUnauthenticated;
  };
  auto touched = [touch = &touch] { return touch->Refresh(); };
  std::vector<Case> cases;
  cases.push_back(
      {"digest_only", "KeyService::Digest (CPU only)", 1, valid_keys.distinct(), digest_only});
  cases.push_back({"valid", "Authenticate, valid key (all sampled keys in use)", 1,
                   valid_keys.distinct(), authenticate_valid, touched});
  cases.push_back({"valid_few", "Authenticate, valid key (the same few keys in use)", 1,
                   few_keys.distinct(), authenticate_few, touched});
  if (threads > 1) {
    cases.push_back({"valid", "Authenticate, valid key, concurrently", threads,
                     valid_keys.distinct(), authenticate_valid, touched});
  }
  cases.push_back({"unknown", "Authenticate, unknown well-formed key (401 path)", 1,
                   unknown_keys.distinct(), authenticate_unknown});
  return cases;
}

Result<void> BenchKeyCount(int64_t count, const Options& options, const Report& report) {
  HK_TRY(dir, ScratchDir::Create(options.dir));
  HK_TRY(ks, OpenKeyStore(dir.path() / "keys.db", count, options.sample));
  report.Seeded(count, ks.seed_time, ks.sampled.size());
  KeyPicker valid(ks.sampled, 1);
  // kFewKeys of the sampled keys: as many keys in use at every N (each N has its own store).
  std::vector<std::string> few_secrets(
      ks.sampled.begin(), ks.sampled.begin() + std::min(kFewKeys, ks.sampled.size()));
  KeyPicker few(few_secrets, 3);
  KeyPicker unknown(UnknownKeys(), 2);
  TouchPass touch(*ks.authenticator, ks.sampled);
  for (const Case& spec : Cases(ks, valid, few, unknown, touch, options.threads)) {
    HK_TRY(result, Measure(spec, options));
    report.Measured(count, result);
  }
  report.FirstUse(count, touch.first_use_ns(), ks.sampled.size());
  return {};
}

int RunAll(const Options& options) {
  // Logs go to stderr: stdout carries the table or the JSON lines.
  spdlog::set_default_logger(spdlog::stderr_color_st("microbench"));
  spdlog::set_level(spdlog::level::warn);
  Report report(options);
  report.Start();
  for (int64_t count : options.key_counts) {
    if (auto done = BenchKeyCount(count, options, report); !done) {
      std::fprintf(stderr, "hokusai-microbench: %lld keys: %s\n", static_cast<long long>(count),
                   done.error().message.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace hokusai::bench

int main(int argc, char** argv) {
  using hokusai::bench::Options;
  Options options;
  CLI::App app{
      "In-process cost of API key validation (LocalAuthenticator on SQLite) with N keys stored: "
      "W7 of bench/README.md"};
  app.add_option("--keys", options.key_counts, "Numbers of stored keys to measure, comma-separated")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->default_str("10,10000,1000000");
  app.add_option("--seconds", options.seconds, "Minimum length of one timed loop")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--repeats", options.repeats, "Timed loops per case")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads of the concurrent valid-key case")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--sample", options.sample, "Stored keys the valid-key loops draw from")
      ->check(CLI::Range(std::size_t{1}, hokusai::bench::kMaxSampledKeys))
      ->capture_default_str();
  app.add_option("--dir", options.dir, "Parent directory of the scratch stores")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_flag("--json", options.json, "One JSON object per line instead of the table");
  CLI11_PARSE(app, argc, argv);
  return hokusai::bench::RunAll(options);
}
