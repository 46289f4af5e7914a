// The PostgreSQL engine behind the SQL stores (store/sql/db.hpp), on libpq 15, for several
// replicas on one database. The stores' statements are written once with `?` placeholders; this
// engine numbers them ($1, $2, ...), prepares each text once per connection and sends values in
// text form (integers typed bigint, doubles double precision, strings left for the server to type
// from their context, as SQLite's loose typing lets the same statements do).
//
// Connections are used synchronously on the store's blocking pool, like SQLite's: see
// docs/decisions/0014-postgresql-and-s3.md for why not Asio-driven.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/sql/db.hpp"

namespace hokusai::store::postgres {

// Opens a connection to `url` (a `postgresql://` or `postgres://` URI libpq understands). The
// error never contains the URL's password.
Result<std::unique_ptr<sql::Connection>> OpenPostgres(const std::string& url);

// `url` with any password replaced by "***", for logs and messages.
std::string RedactDatabaseUrl(std::string_view url);

// `sql` with each placeholder outside quotes numbered as SQLite numbers it: `?NNN` becomes $NNN,
// a bare `?` one more than the placeholder before it. `count` receives the highest number.
std::string NumberPlaceholders(std::string_view sql, int* count);

// A PostgreSQL array literal of `values` ({"a","b\"c"}), for one `?::text[]` bind that carries a
// whole batch (unnest), and of numbers ({1,2.5}).
std::string TextArrayLiteral(const std::vector<std::string>& values);
std::string IntArrayLiteral(const std::vector<int64_t>& values);
std::string DoubleArrayLiteral(const std::vector<double>& values);  // finite values

// True for `postgresql://` and `postgres://` URLs.
bool IsPostgresUrl(std::string_view url);

}  // namespace hokusai::store::postgres
