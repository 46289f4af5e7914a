// The SQLite registration-event outbox: endpoints and their cursors, due deliveries, attempts,
// the dead letter, listing and replay.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/util.hpp"
#include "store/event_store.hpp"
#include "store/registry_store.hpp"
#include "store/sql/sql_event_store.hpp"
#include "store/sql/sql_registry_store.hpp"
#include "store/sql/sql_tracking_store.hpp"

namespace hokusai::store::sql {
namespace {

constexpr char kA[] = "http://127.0.0.1:9/a";
constexpr char kB[] = "http://127.0.0.1:9/b";

std::vector<int64_t> Seqs(const std::vector<DueDelivery>& due) {
  std::vector<int64_t> out;
  for (const DueDelivery& d : due) out.push_back(d.event.seq);
  return out;
}

// A copy: callers pass temporaries.
std::optional<Delivery> For(const EventWithDeliveries& event, const std::string& endpoint) {
  for (const Delivery& d : event.deliveries) {
    if (d.endpoint == endpoint) return d;
  }
  return std::nullopt;
}

class SqlEventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hokusai-events-" + NewHexId());
    std::filesystem::create_directories(dir_);
    auto pool = OpenDatabase(DatabaseOptions{(dir_ / "mlflow.db").string(), 2, "NORMAL"});
    ASSERT_TRUE(pool.has_value()) << pool.error().message;
    tracking_ = std::make_unique<SqlTrackingStore>(*pool);
    registry_ = std::make_unique<SqlRegistryStore>(*pool);
    events_ = std::make_unique<SqlEventStore>(*pool);
    auto id = tracking_->CreateExperiment("exp", "", {});
    ASSERT_TRUE(id.has_value()) << id.error().message;
    CreateRunArgs run;
    run.experiment_id = *id;
    run.start_time = 1000;
    auto created = tracking_->CreateRun(run);
    ASSERT_TRUE(created.has_value()) << created.error().message;
    run_id_ = created->info.run_id;
    CreateRegisteredModelArgs model;
    model.name = "m";
    ASSERT_TRUE(registry_->CreateRegisteredModel(model));
  }

  void TearDown() override {
    events_.reset();
    registry_.reset();
    tracking_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A new version of "m" (or `name`), and with it an event; returns the event's seq.
  int64_t NewEvent(const std::string& name = "m") {
    if (name != "m" && !registry_->GetRegisteredModel(name)) {
      CreateRegisteredModelArgs model;
      model.name = name;
      EXPECT_TRUE(registry_->CreateRegisteredModel(model));
    }
    CreateModelVersionArgs args;
    args.name = name;
    args.source = "runs:/" + run_id_ + "/model";
    args.parsed_source.kind = ModelVersionSource::Kind::kRun;
    args.parsed_source.run_id = run_id_;
    args.parsed_source.path = "model";
    auto version = registry_->CreateModelVersion(args);
    EXPECT_TRUE(version.has_value()) << (version ? "" : version.error().message);
    ListEventsQuery all;
    all.limit = 1000;
    auto page = events_->ListEvents(all);
    EXPECT_TRUE(page.has_value());
    return page && !page->events.empty() ? page->events.back().event.seq : -1;
  }

  std::vector<DueDelivery> Due(const std::string& endpoint, int64_t now = NowMillis()) {
    auto due = events_->DueDeliveries(endpoint, now, 100);
    EXPECT_TRUE(due.has_value()) << (due ? "" : due.error().message);
    return due ? *due : std::vector<DueDelivery>{};
  }

  EventWithDeliveries EventAt(int64_t seq) {
    ListEventsQuery query;
    query.after_seq = seq - 1;
    query.limit = 1;
    auto page = events_->ListEvents(query);
    EXPECT_TRUE(page.has_value() && !page->events.empty());
    return page && !page->events.empty() ? page->events.front() : EventWithDeliveries{};
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqlTrackingStore> tracking_;
  std::unique_ptr<SqlRegistryStore> registry_;
  std::unique_ptr<SqlEventStore> events_;
  std::string run_id_;
};

TEST_F(SqlEventStoreTest, AnEndpointReceivesOnlyEventsAfterItWasFirstRegistered) {
  int64_t before = NewEvent();
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  EXPECT_TRUE(Due(kA).empty());
  int64_t after = NewEvent();
  EXPECT_EQ(Seqs(Due(kA)), std::vector<int64_t>{after});
  // Registering again changes nothing: the cursor stays where it was.
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  EXPECT_EQ(Seqs(Due(kA)), std::vector<int64_t>{after});
  EXPECT_LT(before, after);
}

TEST_F(SqlEventStoreTest, DueDeliveriesOfAnUnknownEndpointIsNotFound) {
  auto due = events_->DueDeliveries(kA, NowMillis(), 10);
  ASSERT_FALSE(due.has_value());
  EXPECT_EQ(due.error().code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlEventStoreTest, RetriesAreDueOnlyAtTheirTimeAndEndpointsAreIndependent) {
  ASSERT_TRUE(events_->SetActiveEndpoints({kA, kB}));
  int64_t first = NewEvent();
  int64_t second = NewEvent();
  int64_t now = NowMillis();
  ASSERT_TRUE(events_->RecordAttempt(kA, first, AttemptOutcome::Retry(now + 1000), 500,
                                     "HTTP 500"));
  ASSERT_TRUE(events_->RecordAttempt(kA, second, AttemptOutcome::Delivered(), 200, ""));
  EXPECT_TRUE(Due(kA, now).empty());
  auto later = Due(kA, now + 1000);
  ASSERT_EQ(Seqs(later), std::vector<int64_t>{first});
  EXPECT_EQ(later[0].attempts, 1);
  EXPECT_EQ(Seqs(Due(kB, now)), (std::vector<int64_t>{first, second}));

  EventWithDeliveries event = EventAt(first);
  std::optional<Delivery> a = For(event, kA);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->state, DeliveryState::kPending);
  EXPECT_EQ(a->attempts, 1);
  EXPECT_EQ(a->last_status, 500);
  EXPECT_EQ(a->last_error, "HTTP 500");
  EXPECT_EQ(a->next_attempt_ms, now + 1000);
  std::optional<Delivery> b = For(event, kB);  // not attempted yet: synthesized as pending
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state, DeliveryState::kPending);
  EXPECT_EQ(b->attempts, 0);

  std::optional<Delivery> delivered = For(EventAt(second), kA);
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->state, DeliveryState::kDelivered);
  EXPECT_GT(delivered->delivered_ms, 0);
}

TEST_F(SqlEventStoreTest, DeadDeliveriesAreNoLongerDueAndListByState) {
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  int64_t first = NewEvent();
  int64_t second = NewEvent();
  ASSERT_TRUE(events_->RecordAttempt(kA, first, AttemptOutcome::Retry(0), 0, "refused"));
  ASSERT_TRUE(events_->RecordAttempt(kA, first, AttemptOutcome::Dead(), 0, "refused"));
  ASSERT_TRUE(events_->RecordAttempt(kA, second, AttemptOutcome::Delivered(), 204, ""));
  EXPECT_TRUE(Due(kA, NowMillis() + 1000000).empty());

  std::optional<Delivery> dead = For(EventAt(first), kA);
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->state, DeliveryState::kDead);
  EXPECT_EQ(dead->attempts, 2);

  ListEventsQuery query;
  query.state = DeliveryState::kDead;
  auto page = events_->ListEvents(query);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.seq, first);
  query.state = DeliveryState::kDelivered;
  page = events_->ListEvents(query);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.seq, second);
  query.state = DeliveryState::kPending;
  page = events_->ListEvents(query);
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->events.empty());
  int64_t third = NewEvent();  // unattempted: pending
  page = events_->ListEvents(query);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.seq, third);
}

TEST_F(SqlEventStoreTest, ReplayRevivesDeadAndDeliveredDeliveries) {
  ASSERT_TRUE(events_->SetActiveEndpoints({kA, kB}));
  int64_t seq = NewEvent();
  ASSERT_TRUE(events_->RecordAttempt(kA, seq, AttemptOutcome::Dead(), 503, "HTTP 503"));
  ASSERT_TRUE(events_->RecordAttempt(kB, seq, AttemptOutcome::Delivered(), 200, ""));
  EXPECT_TRUE(Due(kA).empty());
  EXPECT_TRUE(Due(kB).empty());
  std::string event_id = EventAt(seq).event.event_id;

  auto replayed = events_->Replay(event_id, std::nullopt);
  ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
  for (const Delivery& d : replayed->deliveries) {
    EXPECT_EQ(d.state, DeliveryState::kPending) << d.endpoint;
    EXPECT_EQ(d.attempts, 0) << d.endpoint;
    EXPECT_EQ(d.delivered_ms, 0) << d.endpoint;
  }
  EXPECT_EQ(Seqs(Due(kA)), std::vector<int64_t>{seq});
  EXPECT_EQ(Seqs(Due(kB)), std::vector<int64_t>{seq});
  EXPECT_EQ(Due(kA)[0].attempts, 0);
}

TEST_F(SqlEventStoreTest, ReplayToOneEndpointReachesOnlyThatOneEvenIfAddedLater) {
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  int64_t seq = NewEvent();
  ASSERT_TRUE(events_->RecordAttempt(kA, seq, AttemptOutcome::Delivered(), 200, ""));
  ASSERT_TRUE(events_->RegisterEndpoint(kB));  // after the event: not meant for it
  EXPECT_TRUE(Due(kB).empty());
  std::string event_id = EventAt(seq).event.event_id;
  ASSERT_TRUE(events_->Replay(event_id, std::string(kB)));
  EXPECT_EQ(Seqs(Due(kB)), std::vector<int64_t>{seq});
  EXPECT_TRUE(Due(kA).empty());

  auto unknown_endpoint = events_->Replay(event_id, std::string("http://127.0.0.1:9/c"));
  ASSERT_FALSE(unknown_endpoint.has_value());
  EXPECT_EQ(unknown_endpoint.error().code, ErrorCode::kResourceDoesNotExist);
  auto unknown_event = events_->Replay("no-such-event", std::nullopt);
  ASSERT_FALSE(unknown_event.has_value());
  EXPECT_EQ(unknown_event.error().code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(SqlEventStoreTest, InactiveEndpointsKeepTheirRowsButGetNoNewPendingEntries) {
  ASSERT_TRUE(events_->SetActiveEndpoints({kA, kB}));
  int64_t seq = NewEvent();
  ASSERT_TRUE(events_->RecordAttempt(kB, seq, AttemptOutcome::Delivered(), 200, ""));
  ASSERT_TRUE(events_->SetActiveEndpoints({kA}));
  int64_t later = NewEvent();
  EXPECT_TRUE(For(EventAt(seq), kB).has_value());    // its row stays visible
  EXPECT_FALSE(For(EventAt(later), kB).has_value());  // nothing synthesized for it
  EXPECT_TRUE(For(EventAt(later), kA).has_value());
}

TEST_F(SqlEventStoreTest, ListEventsPagesBySeqAndFiltersByModel) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(NewEvent(i % 2 == 0 ? "m" : "other"));
  ListEventsQuery query;
  query.limit = 2;
  auto first = events_->ListEvents(query);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->events.size(), 2u);
  ASSERT_TRUE(first->next_after_seq.has_value());
  query.after_seq = *first->next_after_seq;
  auto second = events_->ListEvents(query);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->events.size(), 2u);
  EXPECT_EQ(second->events[0].event.seq, seqs[2]);
  query.after_seq = *second->next_after_seq;
  auto third = events_->ListEvents(query);
  ASSERT_TRUE(third.has_value());
  ASSERT_EQ(third->events.size(), 1u);
  EXPECT_FALSE(third->next_after_seq.has_value());

  ListEventsQuery by_model;
  by_model.model_name = "other";
  auto other = events_->ListEvents(by_model);
  ASSERT_TRUE(other.has_value());
  ASSERT_EQ(other->events.size(), 2u);
  EXPECT_EQ(other->events[0].event.model_name, "other");
  EXPECT_EQ(other->events[0].event.type, "model_version.created");

  ListEventsQuery bad;
  bad.limit = 0;
  EXPECT_FALSE(events_->ListEvents(bad));
  bad.limit = 1001;
  EXPECT_FALSE(events_->ListEvents(bad));
}

TEST_F(SqlEventStoreTest, GetEventFindsByIdAndRecordAttemptChecksItsArguments) {
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  int64_t seq = NewEvent();
  EventWithDeliveries listed = EventAt(seq);
  auto got = events_->GetEvent(listed.event.event_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event.seq, seq);
  EXPECT_EQ(got->event.payload, listed.event.payload);
  ASSERT_EQ(got->deliveries.size(), 1u);
  auto missing = events_->GetEvent("nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kResourceDoesNotExist);
  EXPECT_FALSE(events_->RecordAttempt(kA, seq + 100, AttemptOutcome::Delivered(), 200, ""));
  EXPECT_FALSE(events_->RecordAttempt(kB, seq, AttemptOutcome::Delivered(), 200, ""));
}

TEST_F(SqlEventStoreTest, AppendVersionCreatedWritesAnEventForAVersionMadeElsewhere) {
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  ModelVersion upstream;  // as an upstream registry answered it (gateway mode)
  upstream.name = "remote";
  upstream.version = "7";
  upstream.source = "models:/m-0123456789abcdef0123456789abcdef";
  upstream.model_id = "m-0123456789abcdef0123456789abcdef";
  upstream.tags = {{"k", "v"}};
  auto event = events_->AppendVersionCreated(upstream, "bob");
  ASSERT_TRUE(event.has_value()) << event.error().message;
  EXPECT_GT(event->seq, 0);
  EXPECT_EQ(event->model_name, "remote");
  EXPECT_EQ(event->version, "7");
  EXPECT_NE(event->payload.find("\"user_id\":\"bob\""), std::string::npos);
  EXPECT_NE(event->payload.find("\"model_id\":\"m-0123"), std::string::npos);
  EXPECT_EQ(Seqs(Due(kA)), std::vector<int64_t>{event->seq});
  auto got = events_->GetEvent(event->event_id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event.payload, event->payload);
}

TEST_F(SqlEventStoreTest, LongErrorsAreStoredBounded) {
  ASSERT_TRUE(events_->RegisterEndpoint(kA));
  int64_t seq = NewEvent();
  ASSERT_TRUE(events_->RecordAttempt(kA, seq, AttemptOutcome::Retry(0), 0,
                                     std::string(5000, 'x')));
  std::optional<Delivery> d = For(EventAt(seq), kA);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->last_error.size(), kMaxDeliveryErrorBytes);
}

}  // namespace
}  // namespace hokusai::store::sql
