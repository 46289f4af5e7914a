#include "store/sql/sql_event_store.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "common/time_format.hpp"
#include "common/util.hpp"
#include "json/writer.hpp"
#include "store/sql/sql_query.hpp"

namespace hokusai::store {

std::string_view DeliveryStateName(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending: return "pending";
    case DeliveryState::kDelivered: return "delivered";
    case DeliveryState::kDead: return "dead";
  }
  return "pending";
}

std::optional<DeliveryState> ParseDeliveryState(std::string_view name) {
  if (name == "pending") return DeliveryState::kPending;
  if (name == "delivered") return DeliveryState::kDelivered;
  if (name == "dead") return DeliveryState::kDead;
  return std::nullopt;
}

}  // namespace hokusai::store

namespace hokusai::store::sql {
namespace {

constexpr int64_t kMaxListLimit = 1000;

// Columns of one event row, in the order ReadEvent expects; `e` is registration_events.
constexpr std::string_view kEventColumns =
    "e.seq, e.event_id, e.type, e.model_name, e.version, e.payload, e.created_ms";

RegistrationEvent ReadEvent(const Statement& stmt) {
  RegistrationEvent event;
  event.seq = stmt.Int(0);
  event.event_id = stmt.Text(1);
  event.type = stmt.Text(2);
  event.model_name = stmt.Text(3);
  event.version = stmt.Text(4);
  event.payload = stmt.Text(5);
  event.created_ms = stmt.Int(6);
  return event;
}

Error EventNotFound(std::string_view event_id) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Registration event '{}' not found", event_id)};
}

Error EndpointNotFound(std::string_view url) {
  return Error{ErrorCode::kResourceDoesNotExist,
               fmt::format("Webhook endpoint '{}' is not configured", url)};
}

// At most kMaxDeliveryErrorBytes, cut on a UTF-8 character boundary.
std::string BoundedError(const std::string& error) {
  if (error.size() <= kMaxDeliveryErrorBytes) return error;
  std::size_t end = kMaxDeliveryErrorBytes;
  while (end > 0 && (static_cast<unsigned char>(error[end]) & 0xC0) == 0x80) --end;
  return error.substr(0, end);
}

Result<void> EndpointExists(Connection& conn, const std::string& url) {
  HK_TRY(stmt, conn.Prepare("SELECT 1 FROM webhook_endpoints WHERE url = ?"));
  stmt.Bind(1, url);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(EndpointNotFound(url));
  return {};
}

Result<void> UpsertEndpoint(Connection& conn, const std::string& url, int64_t now) {
  HK_TRY(stmt, conn.Prepare(
                   "INSERT INTO webhook_endpoints (url, since_seq, active, created_ms) VALUES "
                   "(?, (SELECT coalesce(max(seq), 0) FROM registration_events), 1, ?) "
                   "ON CONFLICT (url) DO UPDATE SET active = 1"));
  stmt.Bind(1, url).Bind(2, now);
  return stmt.Run();
}

// The event's delivery rows, and a synthesized pending one for every active endpoint it is
// meant for that has not attempted it yet; by endpoint.
Result<std::vector<Delivery>> LoadDeliveries(Connection& conn, const RegistrationEvent& event) {
  HK_TRY(stmt, conn.Prepare(
                   "SELECT d.endpoint, d.state, d.attempts, d.next_attempt_ms, d.last_status, "
                   "d.last_error, coalesce(d.delivered_ms, 0) FROM webhook_deliveries d WHERE "
                   "d.event_seq = ?1 "
                   "UNION ALL "
                   "SELECT w.url, 'pending', 0, ?2, 0, '', 0 FROM webhook_endpoints w WHERE "
                   "w.active = 1 AND w.since_seq < ?1 AND NOT EXISTS (SELECT 1 FROM "
                   "webhook_deliveries d WHERE d.endpoint = w.url AND d.event_seq = ?1) "
                   "ORDER BY 1"));
  stmt.Bind(1, event.seq).Bind(2, event.created_ms);
  std::vector<Delivery> out;
  HK_CHECK(ForEachRow(stmt, [&] {
    Delivery d;
    d.endpoint = stmt.Text(0);
    d.state = ParseDeliveryState(stmt.Text(1)).value_or(DeliveryState::kPending);
    d.attempts = static_cast<int>(stmt.Int(2));
    d.next_attempt_ms = stmt.Int(3);
    d.last_status = static_cast<int>(stmt.Int(4));
    d.last_error = stmt.Text(5);
    d.delivered_ms = stmt.Int(6);
    out.push_back(std::move(d));
  }));
  return out;
}

Result<RegistrationEvent> FindEvent(Connection& conn, const std::string& event_id) {
  HK_TRY(stmt, conn.Prepare(fmt::format(
                   "SELECT {} FROM registration_events e WHERE e.event_id = ?", kEventColumns)));
  stmt.Bind(1, event_id);
  HK_TRY(found, stmt.Step());
  if (!found) return tl::unexpected(EventNotFound(event_id));
  return ReadEvent(stmt);
}

Result<EventWithDeliveries> LoadEvent(Connection& conn, const std::string& event_id) {
  HK_TRY(event, FindEvent(conn, event_id));
  HK_TRY(deliveries, LoadDeliveries(conn, event));
  return EventWithDeliveries{std::move(event), std::move(deliveries)};
}

// A random UUID (version 4, RFC 9562), lowercase: a registration event's id.
std::string NewUuidV4() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // no entropy: cannot continue safely
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

// The webhook body of a model_version.created event. Built here, once, so that every delivery
// and replay of the event sends the same bytes (the signature covers them).
std::string RegistrationPayload(const std::string& event_id, const ModelVersion& mv,
                                const std::string& user_id, int64_t created_ms) {
  json::Writer w;
  w.BeginObject();
  w.Field("event_id", event_id);
  w.Field("type", kEventModelVersionCreated);
  w.Field("created_at", FormatRfc3339(created_ms));
  w.Field("model_name", mv.name);
  w.Field("version", mv.version);
  w.Field("source", mv.source);
  w.Field("run_id", mv.run_id);
  if (!mv.model_id.empty()) w.Field("model_id", mv.model_id);
  if (!user_id.empty()) w.Field("user_id", user_id);
  w.Key("tags").BeginObject();
  for (const Tag& tag : mv.tags) w.Field(tag.key, tag.value);
  w.EndObject();
  w.EndObject();
  return w.Take();
}

}  // namespace

Result<RegistrationEvent> InsertVersionCreatedEvent(Connection& conn, const ModelVersion& version,
                                                    const std::string& user_id, int64_t now_ms) {
  RegistrationEvent event;
  event.event_id = NewUuidV4();
  event.type = std::string(kEventModelVersionCreated);
  event.model_name = version.name;
  event.version = version.version;
  event.payload = RegistrationPayload(event.event_id, version, user_id, now_ms);
  event.created_ms = now_ms;
  HK_TRY(stmt, conn.Prepare("INSERT INTO registration_events (event_id, type, model_name, "
                            "version, payload, created_ms) VALUES (?, ?, ?, ?, ?, ?) "
                            "RETURNING seq"));
  stmt.Bind(1, event.event_id).Bind(2, event.type).Bind(3, event.model_name);
  stmt.Bind(4, event.version).Bind(5, event.payload).Bind(6, now_ms);
  HK_TRY(inserted, stmt.Step());
  if (!inserted) return Fail(ErrorCode::kInternalError, "event insert returned no seq");
  event.seq = stmt.Int(0);
  HK_CHECK(stmt.Run());
  return event;
}

Result<RegistrationEvent> SqlEventStore::AppendVersionCreated(const ModelVersion& version,
                                                                 const std::string& user_id) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(event, InsertVersionCreatedEvent(*conn, version, user_id, NowMillis()));
  HK_CHECK(tx.Commit());
  return std::move(event);
}

Result<void> SqlEventStore::RegisterEndpoint(const std::string& url) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(UpsertEndpoint(*conn, url, NowMillis()));
  return tx.Commit();
}

Result<void> SqlEventStore::SetActiveEndpoints(const std::vector<std::string>& urls) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(conn->Exec("UPDATE webhook_endpoints SET active = 0"));
  int64_t now = NowMillis();
  for (const std::string& url : urls) HK_CHECK(UpsertEndpoint(*conn, url, now));
  return tx.Commit();
}

Result<std::vector<DueDelivery>> SqlEventStore::DueDeliveries(const std::string& endpoint,
                                                                 int64_t now_ms, int limit) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_CHECK(EndpointExists(*conn, endpoint));
  // Unattempted events past the cursor, then pending deliveries that are due. The first part
  // scans the events past the cursor; the outbox grows by one row per registration, so that
  // stays small next to the one-second poll.
  HK_TRY(stmt, conn->Prepare(fmt::format(
                   "SELECT {0}, 0 FROM registration_events e WHERE e.seq > (SELECT since_seq "
                   "FROM webhook_endpoints WHERE url = ?1) AND NOT EXISTS (SELECT 1 FROM "
                   "webhook_deliveries d WHERE d.endpoint = ?1 AND d.event_seq = e.seq) "
                   "UNION ALL "
                   "SELECT {0}, d.attempts FROM webhook_deliveries d JOIN registration_events e "
                   "ON e.seq = d.event_seq WHERE d.endpoint = ?1 AND d.state = 'pending' AND "
                   "d.next_attempt_ms <= ?2 "
                   "ORDER BY 1 LIMIT ?3",
                   kEventColumns)));
  stmt.Bind(1, endpoint).Bind(2, now_ms).Bind(3, static_cast<int64_t>(limit));
  std::vector<DueDelivery> out;
  HK_CHECK(ForEachRow(stmt, [&] {
    out.push_back(DueDelivery{ReadEvent(stmt), static_cast<int>(stmt.Int(7))});
  }));
  return out;
}

Result<void> SqlEventStore::RecordAttempt(const std::string& endpoint, int64_t seq,
                                             const AttemptOutcome& outcome, int status,
                                             const std::string& error) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_CHECK(EndpointExists(*conn, endpoint));
  HK_TRY(exists, conn->Prepare("SELECT 1 FROM registration_events WHERE seq = ?"));
  exists.Bind(1, seq);
  HK_TRY(found, exists.Step());
  if (!found) {
    return Fail(ErrorCode::kResourceDoesNotExist,
                fmt::format("Registration event with seq {} not found", seq));
  }
  DeliveryState state = DeliveryState::kPending;
  int64_t next_attempt_ms = 0;
  switch (outcome.kind) {
    case AttemptOutcome::Kind::kDelivered: state = DeliveryState::kDelivered; break;
    case AttemptOutcome::Kind::kDead: state = DeliveryState::kDead; break;
    case AttemptOutcome::Kind::kRetry:
      state = DeliveryState::kPending;
      next_attempt_ms = outcome.next_attempt_ms;
      break;
  }
  HK_TRY(upsert, conn->Prepare(
                     "INSERT INTO webhook_deliveries (endpoint, event_seq, state, attempts, "
                     "next_attempt_ms, last_status, last_error, delivered_ms) VALUES "
                     "(?1, ?2, ?3, 1, ?4, ?5, ?6, ?7) ON CONFLICT (endpoint, event_seq) DO "
                     "UPDATE SET state = excluded.state, attempts = webhook_deliveries.attempts + 1, "
                     "next_attempt_ms = excluded.next_attempt_ms, last_status = "
                     "excluded.last_status, last_error = excluded.last_error, delivered_ms = "
                     "excluded.delivered_ms"));
  upsert.Bind(1, endpoint).Bind(2, seq).Bind(3, DeliveryStateName(state));
  upsert.Bind(4, next_attempt_ms).Bind(5, static_cast<int64_t>(status));
  upsert.Bind(6, BoundedError(error));
  if (state == DeliveryState::kDelivered) {
    upsert.Bind(7, NowMillis());
  } else {
    upsert.BindNull(7);
  }
  HK_CHECK(upsert.Run());
  return tx.Commit();
}

Result<EventPage> SqlEventStore::ListEvents(const ListEventsQuery& query) {
  if (query.limit < 1 || query.limit > kMaxListLimit) {
    return InvalidParameter(fmt::format("limit must be between 1 and {}", kMaxListLimit));
  }
  Query q;
  q.Add(fmt::format("SELECT {} FROM registration_events e WHERE e.seq > ", kEventColumns));
  q.Value(query.after_seq);
  if (query.model_name) {
    q.Add(" AND e.model_name = ");
    q.Value(*query.model_name);
  }
  if (query.state) {
    q.Add(" AND (EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq AND "
          "d.state = ");
    q.Value(std::string(DeliveryStateName(*query.state)));
    q.Add(")");
    if (*query.state == DeliveryState::kPending) {
      q.Add(" OR EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.active = 1 AND "
            "w.since_seq < e.seq AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE "
            "d.endpoint = w.url AND d.event_seq = e.seq))");
    }
    q.Add(")");
  }
  q.Add(" ORDER BY e.seq LIMIT ");
  q.Value(query.limit + 1);

  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  HK_TRY(stmt, PrepareQuery(*conn, q));
  std::vector<RegistrationEvent> events;
  HK_CHECK(ForEachRow(stmt, [&] { events.push_back(ReadEvent(stmt)); }));

  EventPage page;
  if (static_cast<int64_t>(events.size()) > query.limit) {
    events.pop_back();
    page.next_after_seq = events.back().seq;
  }
  page.events.reserve(events.size());
  for (RegistrationEvent& event : events) {
    HK_TRY(deliveries, LoadDeliveries(*conn, event));
    page.events.push_back(EventWithDeliveries{std::move(event), std::move(deliveries)});
  }
  return page;
}

Result<EventWithDeliveries> SqlEventStore::GetEvent(const std::string& event_id) {
  auto conn = pool_->Acquire();
  HK_TRY(tx, Transaction::Begin(*conn, false));
  return LoadEvent(*conn, event_id);
}

Result<EventWithDeliveries> SqlEventStore::Replay(const std::string& event_id,
                                                     const std::optional<std::string>& endpoint) {
  auto conn = pool_->AcquireWriter();
  HK_TRY(tx, Transaction::Begin(*conn, true));
  HK_TRY(event, FindEvent(*conn, event_id));
  int64_t now = NowMillis();
  if (endpoint) {
    // Only a configured endpoint is ever attempted: replaying to another would leave a delivery
    // pending for good.
    HK_TRY(active, conn->Prepare("SELECT 1 FROM webhook_endpoints WHERE url = ? AND active = 1"));
    active.Bind(1, *endpoint);
    HK_TRY(is_active, active.Step());
    if (!is_active) return tl::unexpected(EndpointNotFound(*endpoint));
    HK_TRY(upsert, conn->Prepare(
                       "INSERT INTO webhook_deliveries (endpoint, event_seq, state, attempts, "
                       "next_attempt_ms) VALUES (?1, ?2, 'pending', 0, ?3) ON CONFLICT "
                       "(endpoint, event_seq) DO UPDATE SET state = 'pending', attempts = 0, "
                       "next_attempt_ms = ?3, delivered_ms = NULL"));
    upsert.Bind(1, *endpoint).Bind(2, event.seq).Bind(3, now);
    HK_CHECK(upsert.Run());
  } else {
    HK_TRY(update, conn->Prepare("UPDATE webhook_deliveries SET state = 'pending', attempts = 0, "
                                 "next_attempt_ms = ?2, delivered_ms = NULL WHERE "
                                 "event_seq = ?1 AND endpoint IN (SELECT url FROM "
                                 "webhook_endpoints WHERE active = 1)"));
    update.Bind(1, event.seq).Bind(2, now);
    HK_CHECK(update.Run());
  }
  HK_TRY(deliveries, LoadDeliveries(*conn, event));
  HK_CHECK(tx.Commit());
  return EventWithDeliveries{std::move(event), std::move(deliveries)};
}

}  // namespace hokusai::store::sql
