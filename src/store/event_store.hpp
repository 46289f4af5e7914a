// The registration-event outbox and the state of its webhook deliveries.
//
// Events are written by the registry store in the transaction that creates a model version (see
// RegistryStore::CreateModelVersion and RegisterModel); this interface reads them and records
// delivery attempts. Every method is one transaction; implementations are thread-safe.
//
// Delivery model: an endpoint (a webhook URL) receives every event whose seq is greater than its
// `since_seq`, set to the highest seq when the endpoint was first registered (an endpoint added
// later does not receive the backlog). Per (endpoint, event) there is at most one delivery row;
// an event without one is due at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "store/types.hpp"

namespace hokusai::store {

inline constexpr std::string_view kEventModelVersionCreated = "model_version.created";

struct RegistrationEvent {
  int64_t seq = 0;          // increasing, never reused
  std::string event_id;     // UUID v4: the idempotency key receivers dedupe on
  std::string type;         // "model_version.created"
  std::string model_name;
  std::string version;      // registry version number, decimal
  std::string payload;      // the JSON body sent to webhooks, fixed at insert time
  int64_t created_ms = 0;
};

enum class DeliveryState { kPending, kDelivered, kDead };

// "pending" | "delivered" | "dead".
std::string_view DeliveryStateName(DeliveryState state);
// The inverse of DeliveryStateName; nullopt for anything else.
std::optional<DeliveryState> ParseDeliveryState(std::string_view name);

struct Delivery {
  std::string endpoint;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  int64_t next_attempt_ms = 0;  // when a pending delivery is due
  int last_status = 0;          // HTTP status of the last attempt; 0: no answer
  std::string last_error;       // why the last attempt failed; empty when it did not
  int64_t delivered_ms = 0;     // 0: not delivered
};

struct EventWithDeliveries {
  RegistrationEvent event;
  // One per registered endpoint the event is meant for; an endpoint not yet attempted appears
  // as pending with 0 attempts and next_attempt_ms = the event's created_ms.
  std::vector<Delivery> deliveries;
};

// An event due for delivery to one endpoint, with the attempts made so far (0: none).
struct DueDelivery {
  RegistrationEvent event;
  int attempts = 0;
};

// The outcome of one delivery attempt.
struct AttemptOutcome {
  enum class Kind { kDelivered, kRetry, kDead };
  Kind kind = Kind::kRetry;
  int64_t next_attempt_ms = 0;  // kRetry: when to try again

  static AttemptOutcome Delivered() { return {Kind::kDelivered, 0}; }
  static AttemptOutcome Retry(int64_t next_ms) { return {Kind::kRetry, next_ms}; }
  static AttemptOutcome Dead() { return {Kind::kDead, 0}; }
};

struct ListEventsQuery {
  std::optional<std::string> model_name;  // exact match
  // Only events with at least one delivery in this state (an unattempted delivery counts as
  // pending).
  std::optional<DeliveryState> state;
  int64_t after_seq = 0;  // events with seq > after_seq, in seq order
  int64_t limit = 100;    // 1..1000; INVALID_PARAMETER_VALUE outside
};

struct EventPage {
  std::vector<EventWithDeliveries> events;
  // The seq to pass as after_seq for the next page, or nullopt when this is the last.
  std::optional<int64_t> next_after_seq;
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Registers `url` as an active delivery endpoint; idempotent. The first registration sets its
  // cursor to the current highest seq; later calls only mark it active again (an endpoint that
  // comes back keeps its cursor, so it then receives what it missed while away).
  virtual Result<void> RegisterEndpoint(const std::string& url) = 0;
  // Registers every URL in `urls` and marks every other known endpoint inactive: inactive
  // endpoints keep their delivery rows but get no synthesized pending deliveries in ListEvents
  // and none from Replay without an endpoint. What the dispatcher calls at start.
  virtual Result<void> SetActiveEndpoints(const std::vector<std::string>& urls) = 0;

  // Writes the model_version.created event of a version created elsewhere — by the upstream
  // registry in gateway mode, once it has acknowledged the create — in a transaction of its own,
  // and returns it. Versions this server's registry store creates get their event in their own
  // transaction; never call this for those.
  virtual Result<RegistrationEvent> AppendVersionCreated(const ModelVersion& version,
                                                         const std::string& user_id) = 0;

  // Up to `limit` events for `endpoint` (which must be registered; RESOURCE_DOES_NOT_EXIST
  // otherwise) that have no delivery row yet (and seq > the endpoint's cursor) or a pending one
  // with next_attempt_ms <= now_ms, in seq order, each with its attempts so far.
  virtual Result<std::vector<DueDelivery>> DueDeliveries(const std::string& endpoint,
                                                         int64_t now_ms, int limit) = 0;

  // Records one attempt at delivering event `seq` to `endpoint`: attempts + 1, last_status and
  // last_error (truncated to a bounded length), and the new state (delivered: delivered_ms =
  // now). RESOURCE_DOES_NOT_EXIST for an unknown event or endpoint.
  virtual Result<void> RecordAttempt(const std::string& endpoint, int64_t seq,
                                     const AttemptOutcome& outcome, int status,
                                     const std::string& error) = 0;

  // Events with their deliveries, paged by seq.
  virtual Result<EventPage> ListEvents(const ListEventsQuery& query) = 0;

  // One event with its deliveries; RESOURCE_DOES_NOT_EXIST when unknown.
  virtual Result<EventWithDeliveries> GetEvent(const std::string& event_id) = 0;

  // Puts the event's deliveries (to `endpoint` only, when given) back to pending with 0
  // attempts, due now — dead and delivered ones alike. An endpoint registered after the event
  // (or never) is given a delivery too, so an event can be sent to a newly added receiver.
  // RESOURCE_DOES_NOT_EXIST for an unknown event or an unregistered endpoint. Returns the event
  // with its deliveries as they now are.
  virtual Result<EventWithDeliveries> Replay(const std::string& event_id,
                                             const std::optional<std::string>& endpoint) = 0;
};

}  // namespace hokusai::store
