#include "store/postgres/pg_connection.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace hokusai::store::postgres {
namespace {

// Type OIDs of the parameters we type ourselves (pg_type.h); 0 lets the server infer.
constexpr Oid kInt8Oid = 20;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kUnknownOid = 0;
constexpr Oid kByteaOid = 17;

// Server-side prepared statements per connection. Statement texts built from requests
// (searches) vary; past this many the rest run unnamed, parsed each time.
constexpr std::size_t kMaxPreparedStatements = 512;

// Every write transaction of every replica takes this transaction-scoped advisory lock first,
// so writes are serialized on the database exactly as SQLite's one writer serializes them.
constexpr int64_t kWriterLockKey = 0x686b5f7772697465;  // "hk_write"

bool IsRetryableState(std::string_view state) {
  // SQLSTATE classes 40 (serialization failure, deadlock), 08 (connection) and 53 (insufficient
  // resources, e.g. too many connections); 57P01-57P03 (server shutting down); 55P03 (lock not
  // available).
  return state.starts_with("40") || state.starts_with("08") || state.starts_with("57P0") ||
         state == "55P03" || state.starts_with("53");
}

// A store error from PostgreSQL, logged with its SQLSTATE and primary message only (the detail
// can quote row values); the client sees a generic message.
Error PgError(PGconn* conn, const PGresult* result, std::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary ? primary : (conn ? PQerrorMessage(conn) : "no connection");
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  spdlog::error("postgresql {} failed: {} ({})", what, message, state ? state : "no sqlstate");
  bool lost = conn == nullptr || PQstatus(conn) != CONNECTION_OK;
  if (lost || (state != nullptr && IsRetryableState(state))) {
    return Error{ErrorCode::kTemporarilyUnavailable, "The store is busy, retry later"};
  }
  return Error{ErrorCode::kInternalError, "Store error"};
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

class PgConnection;

class PgStatement final : public sql::StatementImpl {
 public:
  PgStatement(PgConnection* conn, std::string text, int params)
      : conn_(conn), text_(std::move(text)), values_(static_cast<std::size_t>(params)),
        types_(static_cast<std::size_t>(params), kUnknownOid) {}

  void Bind(int index, std::string_view value) override {
    // Text-format values end at a NUL byte; PostgreSQL text cannot hold one at all.
    if (value.find('\0') != std::string_view::npos) has_nul_ = true;
    Set(index, std::string(value), kUnknownOid);
  }
  void Bind(int index, int64_t value) override {
    char buffer[24];
    auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
    Set(index, std::string(buffer, end), kInt8Oid);
  }
  void Bind(int index, double value) override {
    std::string text;
    if (std::isnan(value)) {
      text = "NaN";
    } else if (std::isinf(value)) {
      text = value > 0 ? "Infinity" : "-Infinity";
    } else {
      char buffer[32];
      auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
      text.assign(buffer, end);
    }
    Set(index, std::move(text), kFloat8Oid);
  }
  void BindNull(int index) override {
    if (InRange(index)) values_[static_cast<std::size_t>(index - 1)].reset();
  }
  // bytea travels in text format as hex: a backslash, x, then two digits a byte.
  void BindBlob(int index, std::string_view bytes) override {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text = "\\x";
    text.reserve(2 + 2 * bytes.size());
    for (unsigned char c : bytes) {
      text += kDigits[c >> 4];
      text += kDigits[c & 0xf];
    }
    Set(index, std::move(text), kByteaOid);
  }

  Result<bool> Step() override;

  void Reset() override {
    result_.reset();
    row_ = -1;
    rows_ = 0;
    has_nul_ = false;
    for (auto& value : values_) value.reset();
  }

  std::string Text(int column) const override {
    if (IsNull(column)) return {};
    return std::string(PQgetvalue(result_.get(), row_, column),
                       static_cast<std::size_t>(PQgetlength(result_.get(), row_, column)));
  }
  int64_t Int(int column) const override {
    if (IsNull(column)) return 0;
    const char* value = PQgetvalue(result_.get(), row_, column);
    // Booleans (comparisons, EXISTS) read as 1 and 0, as SQLite gives them.
    if (value[0] == 't' && value[1] == '\0') return 1;
    if (value[0] == 'f' && value[1] == '\0') return 0;
    return std::strtoll(value, nullptr, 10);
  }
  double Double(int column) const override {
    if (IsNull(column)) return 0.0;
    // strtod reads PostgreSQL's NaN, Infinity and -Infinity spellings.
    return std::strtod(PQgetvalue(result_.get(), row_, column), nullptr);
  }
  bool IsNull(int column) const override {
    return result_ == nullptr || row_ < 0 || row_ >= rows_ ||
           PQgetisnull(result_.get(), row_, column) != 0;
  }
  std::string Blob(int column) const override {
    if (IsNull(column)) return {};
    std::size_t length = 0;
    unsigned char* bytes = PQunescapeBytea(
        reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row_, column)), &length);
    if (bytes == nullptr) return {};
    std::string out(reinterpret_cast<const char*>(bytes), length);
    PQfreemem(bytes);
    return out;
  }

  const std::string& text() const { return text_; }
  const std::vector<std::optional<std::string>>& values() const { return values_; }
  const std::vector<Oid>& types() const { return types_; }

 private:
  bool InRange(int index) const {
    return index >= 1 && static_cast<std::size_t>(index) <= values_.size();
  }
  void Set(int index, std::string value, Oid type) {
    if (!InRange(index)) return;  // SQLite ignores out-of-range binds too (SQLITE_RANGE)
    values_[static_cast<std::size_t>(index - 1)] = std::move(value);
    types_[static_cast<std::size_t>(index - 1)] = type;
  }

  PgConnection* conn_;
  std::string text_;  // numbered placeholders
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  ResultPtr result_;
  int row_ = -1;
  int rows_ = 0;
  bool has_nul_ = false;
};

class PgConnection final : public sql::Connection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override {
    DropCachedStatements();
    PQfinish(conn_);
  }

  Result<void> Exec(std::string_view sql) override {
    HK_CHECK(EnsureConnected());
    ResultPtr result(PQexec(conn_, std::string(sql).c_str()));
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return tl::unexpected(PgError(conn_, result.get(), "exec"));
    }
    return {};
  }
  int64_t Changes() const override { return changes_; }
  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
  bool InTransaction() const override {
    PGTransactionStatusType status = PQtransactionStatus(conn_);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
  }
  Result<void> Begin(bool write) override {
    HK_CHECK(EnsureConnected());
    HK_CHECK(Run("BEGIN"));
    if (!write) return {};
    auto locked = [&]() -> Result<void> {
      HK_TRY(lock, Prepare("SELECT pg_advisory_xact_lock(?)"));
      lock.Bind(1, kWriterLockKey);
      return lock.Run();
    }();
    // A lock that timed out leaves the transaction open and aborted: no caller holds it yet, so
    // end it here, or the connection would go back to its pool unusable.
    if (!locked) (void)Run("ROLLBACK");
    return locked;
  }

  // Runs `stmt` (prepared on first use); the result's rows are the statement's to read.
  Result<ResultPtr> Execute(const PgStatement& stmt) {
    HK_CHECK(EnsureConnected());
    std::vector<const char*> values;
    values.reserve(stmt.values().size());
    for (const auto& value : stmt.values()) values.push_back(value ? value->c_str() : nullptr);
    int count = static_cast<int>(values.size());
    ResultPtr result;
    auto prepared = prepared_.find(stmt.text());
    if (prepared == prepared_.end() && prepared_.size() < kMaxPreparedStatements) {
      std::string name = fmt::format("hk{}", next_name_++);
      ResultPtr made(
          PQprepare(conn_, name.c_str(), stmt.text().c_str(), count, stmt.types().data()));
      if (!made || PQresultStatus(made.get()) != PGRES_COMMAND_OK) {
        return tl::unexpected(PgError(conn_, made.get(), "prepare"));
      }
      prepared = prepared_.emplace(stmt.text(), std::move(name)).first;
    }
    if (prepared != prepared_.end()) {
      result.reset(PQexecPrepared(conn_, prepared->second.c_str(), count, values.data(),
                                  nullptr, nullptr, 0));
    } else {
      result.reset(PQexecParams(conn_, stmt.text().c_str(), count, stmt.types().data(),
                                values.data(), nullptr, nullptr, 0));
    }
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return tl::unexpected(PgError(conn_, result.get(), "statement"));
    }
    const char* changed = PQcmdTuples(result.get());
    if (changed != nullptr && changed[0] != '\0') changes_ = std::strtoll(changed, nullptr, 10);
    return result;
  }

 protected:
  Result<std::unique_ptr<sql::StatementImpl>> PrepareNew(std::string_view sql) override {
    int params = 0;
    std::string text = NumberPlaceholders(sql, &params);
    return std::make_unique<PgStatement>(this, std::move(text), params);
  }

 private:
  // A connection lost (server restart, failover, idle kill) is re-established once before the
  // next statement; statements prepared on the old session are forgotten. Inside a transaction
  // the loss is an error (the transaction is gone), which the caller reports as retryable.
  Result<void> EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    spdlog::warn("postgresql connection lost; reconnecting");
    prepared_.clear();
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      return tl::unexpected(PgError(conn_, nullptr, "reconnect"));
    }
    return {};
  }

  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // text -> server-side name
  int64_t next_name_ = 0;
  int64_t changes_ = 0;
};

Result<bool> PgStatement::Step() {
  if (result_ == nullptr) {
    if (has_nul_) {
      return Fail(ErrorCode::kInvalidParameterValue,
                  "Values may not contain NUL characters");
    }
    HK_TRY(result, conn_->Execute(*this));
    result_ = std::move(result);
    rows_ = PQresultStatus(result_.get()) == PGRES_TUPLES_OK ? PQntuples(result_.get()) : 0;
    row_ = 0;
    return rows_ > 0;
  }
  if (row_ < rows_) ++row_;
  return row_ < rows_;
}

}  // namespace

std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string IntArrayLiteral(const std::vector<int64_t>& values) {
  return fmt::format("{{{}}}", fmt::join(values, ","));
}

std::string DoubleArrayLiteral(const std::vector<double>& values) {
  std::string out = "{";
  char buffer[32];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out.append(buffer, std::to_chars(buffer, buffer + sizeof buffer, values[i]).ptr);
  }
  out += '}';
  return out;
}

bool IsPostgresUrl(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

std::string RedactDatabaseUrl(std::string_view url) {
  std::string out(url);
  auto scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  // user:password@ in the authority.
  auto authority_start = scheme + 3;
  auto authority_end = out.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = out.size();
  auto at = out.rfind('@', authority_end);
  if (at != std::string::npos && at >= authority_start) {
    auto colon = out.find(':', authority_start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // password=... among the query parameters.
  auto query = out.find('?');
  if (query == std::string::npos) return out;
  for (auto pos = out.find("password=", query); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    if (out[pos - 1] != '?' && out[pos - 1] != '&') continue;
    auto value = pos + std::string_view("password=").size();
    auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

std::string NumberPlaceholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;     // the number a bare `?` gets: one past the previous placeholder (SQLite's rule)
  int highest = 0;
  char quote = 0;   // inside '...' or "..." when set
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: same result
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      // `?NNN` names its number; a bare `?` takes the next one.
      std::size_t digits = i + 1;
      while (digits < sql.size() && sql[digits] >= '0' && sql[digits] <= '9') ++digits;
      int number = next + 1;
      if (digits > i + 1) {
        std::from_chars(sql.data() + i + 1, sql.data() + digits, number);
        i = digits - 1;
      }
      next = number;
      highest = std::max(highest, number);
      out += fmt::format("${}", number);
    } else {
      out += c;
    }
  }
  if (count != nullptr) *count = highest;
  return out;
}

Result<std::unique_ptr<sql::Connection>> OpenPostgres(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn ? PQerrorMessage(conn) : "out of memory";
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    // libpq's message names host and port, never the password.
    return Fail(ErrorCode::kInternalError,
                fmt::format("cannot connect to PostgreSQL at '{}': {}", RedactDatabaseUrl(url),
                            message));
  }
  auto connection = std::make_unique<PgConnection>(conn);
  // Exact doubles in text form, UTC timestamps, and no statement left waiting on a lock forever.
  HK_CHECK(connection->Exec("SET extra_float_digits = 3; SET TIME ZONE 'UTC'; "
                            "SET lock_timeout = '30s'"));
  return std::unique_ptr<sql::Connection>(std::move(connection));
}

}  // namespace hokusai::store::postgres
