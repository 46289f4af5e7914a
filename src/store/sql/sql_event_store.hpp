// EventStore on SQLite, over the same database (and connection pool) as the registry store,
// which writes the events (registration_events) in the transaction that creates each version.
// Delivery state lives in webhook_endpoints (one row per endpoint URL, with its cursor
// since_seq and whether it is configured now) and webhook_deliveries (one row per attempted
// (endpoint, event)). Each call runs in one transaction (BEGIN IMMEDIATE for writes).
// Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/event_store.hpp"
#include "store/sql/db.hpp"
#include "store/types.hpp"

namespace hokusai::store::sql {

// Bound on the stored last_error of a delivery, in bytes.
inline constexpr std::size_t kMaxDeliveryErrorBytes = 500;

// Writes the model_version.created event of the new version `version` (a fresh UUID v4
// event_id; the payload of docs/events.md, with `user_id` when non-empty and the version's tags)
// on `conn`, inside the caller's transaction, and returns it. The registry store calls it in the
// transaction that creates the version.
Result<RegistrationEvent> InsertVersionCreatedEvent(Connection& conn, const ModelVersion& version,
                                                    const std::string& user_id, int64_t now_ms);

class SqlEventStore final : public EventStore {
 public:
  // `pool` comes from OpenDatabase (migrations applied) and is shared with the other stores.
  explicit SqlEventStore(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  Result<RegistrationEvent> AppendVersionCreated(const ModelVersion& version,
                                                 const std::string& user_id) override;
  Result<void> RegisterEndpoint(const std::string& url) override;
  Result<void> SetActiveEndpoints(const std::vector<std::string>& urls) override;
  Result<std::vector<DueDelivery>> DueDeliveries(const std::string& endpoint, int64_t now_ms,
                                                 int limit) override;
  Result<void> RecordAttempt(const std::string& endpoint, int64_t seq,
                             const AttemptOutcome& outcome, int status,
                             const std::string& error) override;
  Result<EventPage> ListEvents(const ListEventsQuery& query) override;
  Result<EventWithDeliveries> GetEvent(const std::string& event_id) override;
  Result<EventWithDeliveries> Replay(const std::string& event_id,
                                     const std::optional<std::string>& endpoint) override;

 private:
  std::shared_ptr<ConnectionPool> pool_;
};

}  // namespace hokusai::store::sql
