// The registration-event outbox as operators see it: list, inspect, replay (admin only).
#include <string>
#include <utility>

#include <fmt/format.h>

#include "common/time_format.hpp"
#include "hokusai_api/handlers.hpp"
#include "hokusai_api/requests.hpp"
#include "json/writer.hpp"

namespace hokusai::hokusai_api {
namespace {

Result<store::EventStore*> Events(Context& ctx) {
  if (ctx.deps.events == nullptr) {
    return Fail(ErrorCode::kNotImplemented, "registration events are not kept by this server");
  }
  return ctx.deps.events;
}

void WriteEvent(json::Writer& w, const store::EventWithDeliveries& item) {
  const store::RegistrationEvent& event = item.event;
  w.BeginObject();
  w.Field("seq", event.seq);
  w.Field("event_id", event.event_id);
  w.Field("type", event.type);
  w.Field("model_name", event.model_name);
  w.Field("version", event.version);
  w.Field("created_at", FormatRfc3339(event.created_ms));
  w.Key("payload").RawValue(event.payload);
  w.Key("deliveries").BeginArray();
  for (const store::Delivery& delivery : item.deliveries) {
    w.BeginObject();
    w.Field("endpoint", delivery.endpoint);
    w.Field("state", store::DeliveryStateName(delivery.state));
    w.Field("attempts", static_cast<int64_t>(delivery.attempts));
    if (delivery.state == store::DeliveryState::kPending) {
      w.Field("next_attempt_at", FormatRfc3339(delivery.next_attempt_ms));
    }
    if (delivery.last_status != 0) w.Field("last_status", static_cast<int64_t>(delivery.last_status));
    if (!delivery.last_error.empty()) w.Field("last_error", delivery.last_error);
    if (delivery.delivered_ms != 0) w.Field("delivered_at", FormatRfc3339(delivery.delivered_ms));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

Response EventResponse(const store::EventWithDeliveries& item) {
  json::Writer w;
  WriteEvent(w, item);
  return Response::Json(w.Take());
}

}  // namespace

Result<Response> ListEvents(Context& ctx, const Request& request) {
  HK_TRY(events, Events(ctx));
  HK_TRY(query, ParseEventQuery(request));
  HK_TRY(page, events->ListEvents(query));
  json::Writer w;
  w.BeginObject().Key("events").BeginArray();
  for (const store::EventWithDeliveries& item : page.events) WriteEvent(w, item);
  w.EndArray();
  if (page.next_after_seq) w.Field("next_page_token", std::to_string(*page.next_after_seq));
  w.EndObject();
  return Response::Json(w.Take());
}

Result<Response> GetEvent(Context& ctx, const Request& request) {
  HK_TRY(events, Events(ctx));
  HK_TRY(event_id, ParseEventId(request));
  HK_TRY(item, events->GetEvent(event_id));
  return EventResponse(item);
}

Result<Response> ReplayEvent(Context& ctx, const Request& request) {
  HK_TRY(events, Events(ctx));
  HK_TRY(event_id, ParseEventId(request));
  HK_TRY(endpoint, ParseReplayEndpoint(request));
  HK_TRY(item, events->Replay(event_id, endpoint));
  if (ctx.deps.events_committed) ctx.deps.events_committed();
  return EventResponse(item);
}

}  // namespace hokusai::hokusai_api
