// Dispatch and delivery of the ReminderService against a real redis-server: dispatchers driven
// pass by pass with the fixture's FakeClock, subscribers through real StreamDueReminders streams
// (and, where a test must show that nothing is handed over, through the store's poll at a chosen
// instant, which is what a stream does on each poll).

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/reminders/dispatcher.h"
#include "services/reminders/domain/occurrence_id.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/reminder_service.h"
#include "services/reminders/store/dispatch_store.h"
#include "services/reminders/store/reminder_store.h"
#include "tests/integration/reminder_test_util.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"

namespace trellis::reminders {
namespace {

namespace v1 = ::trellis::v1;
using rtest::Daily;
using rtest::IdOf;
using rtest::Utc;
using testing::FieldsOf;
using testing::ReasonOf;
using testing::ServiceFixture;

// The fixture's clock starts at 2026-01-05 09:00 UTC; these reminders fire daily at 09:30 UTC.
const absl::Time kFirstDue = Utc(2026, 1, 5, 9, 30);

v1::Reminder Homework(const std::string& patient,
                      v1::ReminderKind kind = v1::REMINDER_KIND_HOMEWORK,
                      const std::string& rrule = "FREQ=DAILY") {
  v1::Reminder r;
  r.set_patient(patient);
  r.set_kind(kind);
  if (kind == v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE) r.set_instrument("phq9");
  r.set_text("Thought record after a hard moment");
  *r.mutable_schedule() = Daily(2026, 1, 5, 9, 30, "UTC", rrule);
  return r;
}

class ReminderDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start([](const server::ServiceEnv& env) {
      ReminderServiceOptions options;
      options.run_dispatcher = false;
      options.delivery.poll_interval = absl::Milliseconds(10);
      return BuildReminderServiceWith(env, options);
    });
    stub_ = v1::ReminderService::NewStub(fixture_.channel());
    clinician_ = fixture_.Token();
    platform_ = fixture_.Token("t1", v1::ROLE_SERVICE);
  }

  std::unique_ptr<Dispatcher> NewDispatcher(int batch = 256) {
    DispatcherOptions o;
    o.batch = batch;
    return std::make_unique<Dispatcher>(&fixture_.pool(), &fixture_.clock(), o);
  }

  v1::Reminder MustCreate(const v1::Reminder& r) {
    v1::CreateReminderRequest req;
    *req.mutable_reminder() = r;
    v1::Reminder out;
    grpc::Status s = stub_->CreateReminder(ServiceFixture::Context(clinician_).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Ack(const std::string& delivery_id, const std::string& subscriber,
                   v1::AckDeliveryResponse* out, const std::string& token = "") {
    v1::AckDeliveryRequest req;
    req.set_delivery_id(delivery_id);
    req.set_subscriber(subscriber);
    return stub_->AckDelivery(ServiceFixture::Context(token.empty() ? platform_ : token).get(), req,
                              out);
  }

  struct Subscription {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<v1::Delivery>> reader;

    v1::Delivery Next() {
      v1::Delivery d;
      EXPECT_TRUE(reader->Read(&d)) << "the stream ended: " << reader->Finish().error_message();
      return d;
    }
  };

  Subscription Subscribe(const std::string& subscriber, std::vector<v1::ReminderKind> kinds = {},
                         int max_unacked = 0, const std::string& token = "") {
    v1::StreamDueRemindersRequest req;
    req.set_subscriber(subscriber);
    for (auto k : kinds) req.add_kinds(k);
    req.set_max_unacked(max_unacked);
    Subscription s;
    s.ctx = ServiceFixture::Context(token.empty() ? platform_ : token);
    s.reader = stub_->StreamDueReminders(s.ctx.get(), req);
    return s;
  }

  // What one poll of `subscriber` would hand over now (the stream's own step, at the fake time).
  std::vector<StreamedDelivery> PollNow(const std::string& subscriber, const std::string& consumer,
                                        int max_unacked = 1000) {
    DispatchStore store(&fixture_.pool());
    PollRequest req;
    req.tenant = "t1";
    req.subscriber = subscriber;
    req.consumer = consumer;
    req.now = fixture_.clock().Now();
    req.ack_deadline = req.now + absl::Seconds(30);
    req.cutoff = req.now - absl::Hours(1);
    req.max_unacked = max_unacked;
    absl::Notification subscribed;
    // A subscriber seen before keeps its filter (a mismatch is fine here: the poll applies none).
    store.Subscribe(
        "t1", subscriber, {}, [&](absl::StatusOr<bool>) { subscribed.Notify(); },
        absl::Now() + absl::Seconds(5));
    subscribed.WaitForNotification();
    absl::Notification done;
    absl::StatusOr<PollResult> result;
    store.Poll(
        req, {},
        [&](absl::StatusOr<PollResult> r) {
          result = std::move(r);
          done.Notify();
        },
        absl::Now() + absl::Seconds(5));
    done.WaitForNotification();
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->deliveries : std::vector<StreamedDelivery>{};
  }

  std::string Redis(const std::vector<std::string>& args) {
    auto r = fixture_.RedisCommand(args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }

  // Stream entries of tenant t1 across all buckets.
  int StreamEntries() {
    int total = 0;
    for (int b = 0; b < kDueBuckets; ++b) {
      int n = 0;
      std::string len = Redis({"XLEN", OutStreamKey(b, "t1")});
      EXPECT_TRUE(absl::SimpleAtoi(len, &n)) << len;
      total += n;
    }
    return total;
  }

  std::string OccurrenceRecord(const v1::Reminder& r, absl::Time scheduled) {
    return Redis({"HGET", absl::StrCat("trellis:rem:{t1:", r.patient(), "}:occ:", IdOf(r.name())),
                  rtest::Ms(scheduled)});
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::ReminderService::Stub> stub_;
  std::string clinician_;
  std::string platform_;
};

TEST_F(ReminderDispatchTest, DueOccurrenceIsStreamedWithItsStableIdAndAcknowledgedOnce) {
  v1::Reminder r = MustCreate(Homework("p1"));
  auto dispatcher = NewDispatcher();
  EXPECT_EQ(dispatcher->RunOnce().delivered, 0) << "not due before 09:30";
  fixture_.clock().Advance(absl::Minutes(30));
  DispatchStats stats = dispatcher->RunOnce();
  EXPECT_EQ(stats.claimed, 1);
  EXPECT_EQ(stats.delivered, 1);

  Subscription sub = Subscribe("platform");
  v1::Delivery d = sub.Next();
  std::string occurrence = absl::StrCat(r.name(), "/occurrences/20260105T093000Z");
  EXPECT_EQ(d.occurrence_id(), occurrence);
  EXPECT_EQ(d.delivery_id(), occurrence);
  EXPECT_EQ(d.reminder().name(), r.name());
  EXPECT_EQ(d.reminder().text(), r.text());
  EXPECT_EQ(ToTime(d.scheduled_time()), kFirstDue);
  EXPECT_EQ(ToTime(d.due_time()), kFirstDue);
  EXPECT_EQ(d.local_time(), "2026-01-05T09:30:00+00:00");
  EXPECT_EQ(d.attempt(), 1);
  EXPECT_FALSE(d.late());
  EXPECT_FALSE(d.snoozed());
  EXPECT_EQ(ToTime(d.ack_deadline()), fixture_.clock().Now() + absl::Seconds(30));
  EXPECT_EQ(ToTime(d.reminder().next_occurrence_time()), kFirstDue + absl::Hours(24));
  EXPECT_EQ(OccurrenceRecord(r, kFirstDue), "(nil)") << "a delivery adds no occurrence record";

  v1::AckDeliveryResponse ack;
  ASSERT_TRUE(Ack(d.delivery_id(), "platform", &ack).ok());
  EXPECT_FALSE(ack.already_acknowledged());
  EXPECT_EQ(ToTime(ack.ack_time()), fixture_.clock().Now());
  fixture_.clock().Advance(absl::Seconds(5));
  v1::AckDeliveryResponse again;
  ASSERT_TRUE(Ack(d.delivery_id(), "platform", &again).ok());
  EXPECT_TRUE(again.already_acknowledged());
  EXPECT_EQ(ToTime(again.ack_time()), ToTime(ack.ack_time()));

  // The next occurrence is due tomorrow, and the acknowledged one never comes back.
  fixture_.clock().Advance(absl::Minutes(10));
  EXPECT_EQ(dispatcher->RunOnce().claimed, 0);
  EXPECT_TRUE(PollNow("platform", "other").empty());
  EXPECT_EQ(StreamEntries(), 1);
}

TEST_F(ReminderDispatchTest, DueEntriesInTheSingleServerBucketsAreDispatched) {
  // Data moved from a single Redis onto a cluster keeps its due entries in the 16 "{due:b}"
  // buckets; the cluster's dispatcher moves them to their slot's bucket and dispatches them. (On
  // a single Redis the two keys are one and the same: the ordinary path.)
  v1::Reminder r = MustCreate(Homework("p1"));
  const std::string member = DueMember("t1", "p1", IdOf(r.name()));
  const std::string slot_bucket =
      DueKey(fixture_.pool(), DueBucketOf(fixture_.pool(), "t1", "p1"));
  const std::string single_bucket = SingleDueKey(DueBucket("t1", "p1"));
  const std::string due = Redis({"ZSCORE", slot_bucket, member});
  ASSERT_NE(due, "(nil)");
  if (fixture_.clustered()) {
    ASSERT_EQ(Redis({"ZREM", slot_bucket, member}), "1");
    ASSERT_EQ(Redis({"ZADD", single_bucket, due, member}), "1");
  }
  fixture_.clock().Advance(absl::Minutes(30));
  DispatchStats stats = NewDispatcher()->RunOnce();
  EXPECT_EQ(stats.delivered, 1);
  EXPECT_EQ(Redis({"ZCARD", single_bucket}), fixture_.clustered() ? "0" : "1");
  Subscription sub = Subscribe("platform");
  EXPECT_EQ(sub.Next().occurrence_id(), absl::StrCat(r.name(), "/occurrences/20260105T093000Z"));
  EXPECT_EQ(StreamEntries(), 1);
}

TEST_F(ReminderDispatchTest, AckErrorsNameTheProblemAndChangeNothing) {
  v1::Reminder r = MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  NewDispatcher()->RunOnce();
  Subscription sub = Subscribe("platform");
  v1::Delivery d = sub.Next();

  v1::AckDeliveryResponse out;
  grpc::Status malformed = Ack("patients/p1/reminders/x/occurrences/soon", "platform", &out);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldsOf(malformed), std::set<std::string>{"delivery_id"});
  grpc::Status bad_subscriber = Ack(d.delivery_id(), "no spaces", &out);
  EXPECT_EQ(bad_subscriber.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldsOf(bad_subscriber), std::set<std::string>{"subscriber"});
  // Never handed to this subscriber, an occurrence that was never delivered, another tenant's.
  EXPECT_EQ(Ack(d.delivery_id(), "someone-else", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      Ack(absl::StrCat(r.name(), "/occurrences/20260106T093000Z"), "platform", &out).error_code(),
      grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      Ack(d.delivery_id(), "platform", &out, fixture_.Token("t2", v1::ROLE_SERVICE)).error_code(),
      grpc::StatusCode::NOT_FOUND);
  // Only the platform's roles.
  EXPECT_EQ(Ack(d.delivery_id(), "platform", &out, clinician_).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Ack(d.delivery_id(), "platform", &out, "not-a-token").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // None of that acknowledged it.
  v1::AckDeliveryResponse first;
  ASSERT_TRUE(Ack(d.delivery_id(), "platform", &first).ok());
  EXPECT_FALSE(first.already_acknowledged());
}

TEST_F(ReminderDispatchTest, AckDeliveriesAcknowledgesABatchWithAResultEach) {
  v1::Reminder a = MustCreate(Homework("p1"));
  v1::Reminder b = MustCreate(Homework("p2"));
  fixture_.clock().Advance(absl::Minutes(30));
  NewDispatcher()->RunOnce();
  Subscription sub = Subscribe("platform");
  std::set<std::string> got = {sub.Next().delivery_id(), sub.Next().delivery_id()};
  std::string da = absl::StrCat(a.name(), "/occurrences/20260105T093000Z");
  std::string db = absl::StrCat(b.name(), "/occurrences/20260105T093000Z");
  EXPECT_EQ(got, (std::set<std::string>{da, db}));

  v1::AckDeliveriesRequest malformed;
  malformed.set_subscriber("platform");
  malformed.add_delivery_ids(da);
  malformed.add_delivery_ids("patients/p1/reminders/r/occurrences/never");
  v1::AckDeliveriesResponse out;
  grpc::Status bad =
      stub_->AckDeliveries(ServiceFixture::Context(platform_).get(), malformed, &out);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldsOf(bad), std::set<std::string>{"delivery_ids[1]"});
  v1::AckDeliveriesRequest empty;
  empty.set_subscriber("platform");
  EXPECT_EQ(FieldsOf(stub_->AckDeliveries(ServiceFixture::Context(platform_).get(), empty, &out)),
            std::set<std::string>{"delivery_ids"});

  // The malformed call acknowledged nothing: da is new here, repeated once, and an occurrence
  // that was never delivered fails alone.
  v1::AckDeliveriesRequest req;
  req.set_subscriber("platform");
  req.add_delivery_ids(da);
  req.add_delivery_ids(db);
  req.add_delivery_ids(da);
  req.add_delivery_ids(absl::StrCat(a.name(), "/occurrences/20260106T093000Z"));
  ASSERT_TRUE(stub_->AckDeliveries(ServiceFixture::Context(platform_).get(), req, &out).ok());
  ASSERT_EQ(out.results_size(), 4);
  EXPECT_EQ(out.results(0).delivery_id(), da);
  EXPECT_FALSE(out.results(0).already_acknowledged());
  EXPECT_FALSE(out.results(0).has_error());
  EXPECT_EQ(ToTime(out.results(0).ack_time()), fixture_.clock().Now());
  EXPECT_FALSE(out.results(1).already_acknowledged());
  EXPECT_TRUE(out.results(2).already_acknowledged());
  EXPECT_EQ(out.results(3).error().code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_FALSE(out.results(3).has_ack_time());
  v1::AckDeliveryResponse single;
  ASSERT_TRUE(Ack(db, "platform", &single).ok());
  EXPECT_TRUE(single.already_acknowledged());
  EXPECT_EQ(stub_->AckDeliveries(ServiceFixture::Context(clinician_).get(), req, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ReminderDispatchTest, StreamRequestsAreValidatedAndLimitedToThePlatform) {
  Subscription bad = Subscribe("", {v1::REMINDER_KIND_UNSPECIFIED}, 10001);
  v1::Delivery d;
  EXPECT_FALSE(bad.reader->Read(&d));
  grpc::Status s = bad.reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldsOf(s), (std::set<std::string>{"subscriber", "kinds", "max_unacked"}));

  Subscription clinician = Subscribe("platform", {}, 0, clinician_);
  EXPECT_FALSE(clinician.reader->Read(&d));
  EXPECT_EQ(clinician.reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ReminderDispatchTest, SubscriberFilterIsFixedByItsFirstStreamAndApplied) {
  MustCreate(Homework("p1", v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE));
  v1::Reminder hw = MustCreate(Homework("p2", v1::REMINDER_KIND_HOMEWORK));
  fixture_.clock().Advance(absl::Minutes(30));
  EXPECT_EQ(NewDispatcher()->RunOnce().delivered, 2);

  Subscription homework = Subscribe("homework-app", {v1::REMINDER_KIND_HOMEWORK});
  v1::Delivery d = homework.Next();
  EXPECT_EQ(d.reminder().name(), hw.name());

  Subscription other = Subscribe("homework-app", {v1::REMINDER_KIND_PRACTICE});
  v1::Delivery none;
  EXPECT_FALSE(other.reader->Read(&none));
  grpc::Status s = other.reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "SUBSCRIBER_FILTER_MISMATCH");

  // The check-in went past the filter (never to this subscriber), and every subscriber gets
  // every occurrence that matches it: an unfiltered one receives both.
  EXPECT_TRUE(PollNow("homework-app", "c2").empty());
  EXPECT_EQ(PollNow("everything", "c3").size(), 2u);
}

TEST_F(ReminderDispatchTest, UnacknowledgedDeliveryComesAgainAfterTheVisibilityTimeout) {
  v1::Reminder r = MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  NewDispatcher()->RunOnce();
  Subscription sub = Subscribe("platform");
  v1::Delivery first = sub.Next();
  EXPECT_EQ(first.attempt(), 1);

  // Within the timeout nobody gets it again; after it, the stream hands it over again.
  fixture_.clock().Advance(absl::Seconds(29));
  EXPECT_TRUE(PollNow("platform", "probe").empty());
  fixture_.clock().Advance(absl::Seconds(2));
  v1::Delivery second = sub.Next();
  EXPECT_EQ(second.delivery_id(), first.delivery_id());
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_EQ(ToTime(second.ack_deadline()), fixture_.clock().Now() + absl::Seconds(30));

  // Acknowledging the redelivered copy ends it for good.
  v1::AckDeliveryResponse ack;
  ASSERT_TRUE(Ack(second.delivery_id(), "platform", &ack).ok());
  fixture_.clock().Advance(absl::Minutes(5));
  EXPECT_TRUE(PollNow("platform", "probe").empty());
}

TEST_F(ReminderDispatchTest, MaxUnackedBoundsWhatOneStreamHolds) {
  for (int i = 0; i < 5; ++i) MustCreate(Homework(absl::StrCat("p", i)));
  fixture_.clock().Advance(absl::Minutes(30));
  EXPECT_EQ(NewDispatcher()->RunOnce().delivered, 5);
  std::vector<StreamedDelivery> first = PollNow("platform", "c1", /*max_unacked=*/2);
  EXPECT_EQ(first.size(), 2u);
  EXPECT_TRUE(PollNow("platform", "c1", 2).empty());
  // Another stream of the same subscriber takes the rest: each delivery goes to one stream.
  EXPECT_EQ(PollNow("platform", "c2", 10).size(), 3u);
  v1::Delivery d;
  ASSERT_TRUE(d.ParseFromString(first[0].payload));
  v1::AckDeliveryResponse ack;
  ASSERT_TRUE(Ack(d.delivery_id(), "platform", &ack).ok());
  EXPECT_TRUE(PollNow("platform", "c1", 2).empty()) << "nothing new is left";
}

TEST_F(ReminderDispatchTest, TwoDispatchersRacingDeliverEachOccurrenceExactlyOnce) {
  constexpr int kReminders = 300;
  for (int i = 0; i < kReminders; ++i) MustCreate(Homework(absl::StrCat("p", i)));
  fixture_.clock().Advance(absl::Minutes(30));
  auto a = NewDispatcher(/*batch=*/7);
  auto b = NewDispatcher(/*batch=*/7);
  DispatchStats sa, sb;
  std::thread ta([&] { sa = a->RunOnce(); });
  std::thread tb([&] { sb = b->RunOnce(); });
  ta.join();
  tb.join();
  EXPECT_EQ(sa.delivered + sb.delivered, kReminders);
  EXPECT_EQ(sa.lost + sb.lost, 0);
  EXPECT_EQ(StreamEntries(), kReminders);
  std::set<std::string> ids;
  std::vector<StreamedDelivery> got = PollNow("platform", "c1", 10000);
  for (const StreamedDelivery& s : got) {
    v1::Delivery d;
    ASSERT_TRUE(d.ParseFromString(s.payload));
    ids.insert(d.delivery_id());
  }
  EXPECT_EQ(got.size(), static_cast<size_t>(kReminders));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kReminders));
}

TEST_F(ReminderDispatchTest, EntriesOfADispatcherThatDiedAreTakenOverAfterTheLease) {
  v1::Reminder r = MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  int bucket = DueBucketOf(fixture_.pool(), "t1", "p1");
  auto dead = NewDispatcher();
  auto claimed = dead->ClaimOnlyForTest(bucket, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);

  auto survivor = NewDispatcher();
  EXPECT_EQ(survivor->RunOnce().claimed, 0) << "the lease is still held";
  fixture_.clock().Advance(absl::Seconds(31));
  DispatchStats stats = survivor->RunOnce();
  EXPECT_EQ(stats.claimed, 1);
  EXPECT_EQ(stats.delivered, 1);
  std::vector<StreamedDelivery> got = PollNow("platform", "c1");
  ASSERT_EQ(got.size(), 1u);
  v1::Delivery d;
  ASSERT_TRUE(d.ParseFromString(got[0].payload));
  // The occurrence keeps its scheduled instant (not the lease expiry) and is not late: the
  // takeover came within the lateness threshold.
  EXPECT_EQ(ToTime(d.scheduled_time()), kFirstDue);
  EXPECT_FALSE(d.late());
  EXPECT_EQ(ToTime(d.reminder().next_occurrence_time()), kFirstDue + absl::Hours(24));
}

TEST_F(ReminderDispatchTest, CompletionAfterTheLeaseWasTakenOverChangesNothing) {
  MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  int bucket = DueBucketOf(fixture_.pool(), "t1", "p1");
  DispatchStore store(&fixture_.pool());
  absl::Time claimed_at = fixture_.clock().Now();
  std::string lease = LeaseScore(claimed_at + absl::Seconds(30));
  auto claim = [&]() {
    absl::Notification done;
    std::vector<ClaimedEntry> out;
    store.Claim(
        bucket, claimed_at, lease, 10,
        [&](absl::StatusOr<std::vector<ClaimedEntry>> r) {
          EXPECT_TRUE(r.ok());
          if (r.ok()) out = *std::move(r);
          done.Notify();
        },
        absl::Now() + absl::Seconds(5));
    done.WaitForNotification();
    return out;
  };
  std::vector<ClaimedEntry> slow = claim();
  EXPECT_EQ(Redis({"ZSCORE", DueKey(fixture_.pool(), bucket), slow[0].member}), lease);
  ASSERT_EQ(slow.size(), 1u);
  fixture_.clock().Advance(absl::Seconds(31));
  EXPECT_EQ(NewDispatcher()->RunOnce().delivered, 1);

  // The slow replica wakes up and completes its stale claim: refused, nothing entered twice.
  EntryCompletion late;
  late.entry = &slow[0];
  late.due = EntryCompletion::Due::kSet;
  late.next_due_ms = 1;
  late.deliveries.push_back({.scheduled_ms = slow[0].scheduled_ms,
                             .snooze = false,
                             .kind = 1,
                             .due_ms = slow[0].due_ms,
                             .payload = "x"});
  absl::Notification done;
  CompleteResult result;
  store.Complete(
      bucket, lease, {late},
      [&](absl::StatusOr<CompleteResult> r) {
        ASSERT_TRUE(r.ok());
        result = *r;
        done.Notify();
      },
      absl::Now() + absl::Seconds(5));
  done.WaitForNotification();
  EXPECT_EQ(result.lost, 1);
  EXPECT_EQ(result.delivered, 0);
  EXPECT_EQ(StreamEntries(), 1);
  EXPECT_NE(Redis({"ZSCORE", DueKey(fixture_.pool(), bucket), DueMember("t1", "p1", slow[0].reminder_id)}), "1");
}

TEST_F(ReminderDispatchTest, AfterDowntimeRecentOccurrencesAreLateAndOlderOnesMissed) {
  v1::Reminder r = MustCreate(
      Homework("p1", v1::REMINDER_KIND_HOMEWORK, "FREQ=DAILY;BYHOUR=10,11,12,13;BYMINUTE=0"));
  // Down from 09:00 to 13:30: 10:00, 11:00 and 12:00 are more than an hour old.
  fixture_.clock().Advance(absl::Minutes(270));
  DispatchStats stats = NewDispatcher()->RunOnce();
  EXPECT_EQ(stats.missed, 3);
  EXPECT_EQ(stats.delivered, 1);
  EXPECT_EQ(stats.late, 1);
  Subscription sub = Subscribe("platform");
  v1::Delivery d = sub.Next();
  EXPECT_EQ(ToTime(d.scheduled_time()), Utc(2026, 1, 5, 13));
  EXPECT_TRUE(d.late());
  EXPECT_EQ(OccurrenceRecord(r, Utc(2026, 1, 5, 10)), "missed");
  EXPECT_EQ(OccurrenceRecord(r, Utc(2026, 1, 5, 12)), "missed");
  EXPECT_EQ(OccurrenceRecord(r, Utc(2026, 1, 5, 13)), "(nil)");

  v1::GetAdherenceRequest req;
  req.set_reminder(r.name());
  *req.mutable_interval()->mutable_start_time() = ToProto(Utc(2026, 1, 5, 0));
  v1::AdherenceReport report;
  ASSERT_TRUE(stub_->GetAdherence(ServiceFixture::Context(clinician_).get(), req, &report).ok());
  EXPECT_EQ(report.totals().missed(), 3);
  EXPECT_EQ(report.totals().scheduled(), 4);
}

TEST_F(ReminderDispatchTest, OccurrencesInsideAPauseAreSkippedAndResumeDeliversAgain) {
  v1::Reminder r = MustCreate(Homework("p1"));
  v1::PauseReminderRequest pause;
  pause.set_name(r.name());
  *pause.mutable_start_time() = ToProto(Utc(2026, 1, 5, 9, 10));
  *pause.mutable_end_time() = ToProto(Utc(2026, 1, 6, 0));
  v1::Reminder paused;
  ASSERT_TRUE(stub_->PauseReminder(ServiceFixture::Context(clinician_).get(), pause, &paused).ok());
  fixture_.clock().Advance(absl::Minutes(30));
  auto dispatcher = NewDispatcher();
  DispatchStats stats = dispatcher->RunOnce();
  EXPECT_EQ(stats.delivered, 0);
  EXPECT_EQ(stats.skipped_paused, 1);
  EXPECT_EQ(OccurrenceRecord(r, kFirstDue), "skipped_paused");
  EXPECT_EQ(StreamEntries(), 0);
  // The next day is after the pause: delivered.
  fixture_.clock().Advance(absl::Hours(24));
  EXPECT_EQ(dispatcher->RunOnce().delivered, 1);
}

TEST_F(ReminderDispatchTest, SnoozedOccurrenceIsDeliveredOnceMoreAndCompletedOnesNotAtAll) {
  v1::Reminder snoozed = MustCreate(Homework("p1"));
  v1::Reminder done_early = MustCreate(Homework("p2"));
  // p2 did it in the morning, before it was due: not delivered at 09:30.
  v1::RecordCompletionRequest done;
  done.set_occurrence_id(absl::StrCat(done_early.name(), "/occurrences/20260105T093000Z"));
  done.set_outcome(v1::COMPLETION_OUTCOME_DONE);
  v1::Completion c;
  ASSERT_TRUE(stub_->RecordCompletion(ServiceFixture::Context(clinician_).get(), done, &c).ok());

  fixture_.clock().Advance(absl::Minutes(30));
  auto dispatcher = NewDispatcher();
  EXPECT_EQ(dispatcher->RunOnce().delivered, 1);
  Subscription sub = Subscribe("platform");
  v1::Delivery d = sub.Next();
  EXPECT_EQ(d.reminder().name(), snoozed.name());

  v1::RecordCompletionRequest snooze;
  snooze.set_occurrence_id(d.occurrence_id());
  snooze.set_outcome(v1::COMPLETION_OUTCOME_SNOOZED);
  snooze.mutable_snooze_duration()->set_seconds(600);
  ASSERT_TRUE(stub_->RecordCompletion(ServiceFixture::Context(clinician_).get(), snooze, &c).ok());
  v1::AckDeliveryResponse ack;
  ASSERT_TRUE(Ack(d.delivery_id(), "platform", &ack).ok());

  fixture_.clock().Advance(absl::Minutes(10));
  EXPECT_EQ(dispatcher->RunOnce().delivered, 1);
  v1::Delivery again = sub.Next();
  EXPECT_EQ(again.delivery_id(), absl::StrCat(d.occurrence_id(), "/snooze"));
  // The handled snooze entry leaves nothing behind in the bucket's lease records.
  EXPECT_EQ(Redis({"HEXISTS", DueLeaseKey(fixture_.pool(), DueBucketOf(fixture_.pool(), "t1", "p1")),
                   absl::StrCat(DueMember("t1", "p1", IdOf(snoozed.name())), "|snooze|",
                                rtest::Ms(kFirstDue))}),
            "0");
  EXPECT_EQ(again.occurrence_id(), d.occurrence_id());
  EXPECT_TRUE(again.snoozed());
  EXPECT_EQ(ToTime(again.due_time()), kFirstDue + absl::Minutes(10));
  ASSERT_TRUE(Ack(again.delivery_id(), "platform", &ack).ok());
  EXPECT_FALSE(ack.already_acknowledged());
  // Once only.
  fixture_.clock().Advance(absl::Minutes(10));
  EXPECT_EQ(dispatcher->RunOnce().claimed, 0);
}

TEST_F(ReminderDispatchTest, ExhaustedScheduleEndsTheReminder) {
  v1::Reminder r = MustCreate(Homework("p1", v1::REMINDER_KIND_HOMEWORK, "FREQ=DAILY;COUNT=1"));
  fixture_.clock().Advance(absl::Minutes(30));
  DispatchStats stats = NewDispatcher()->RunOnce();
  EXPECT_EQ(stats.delivered, 1);
  EXPECT_EQ(stats.ended, 1);
  v1::GetReminderRequest get;
  get.set_name(r.name());
  v1::Reminder now;
  ASSERT_TRUE(stub_->GetReminder(ServiceFixture::Context(clinician_).get(), get, &now).ok());
  EXPECT_EQ(now.state(), v1::REMINDER_STATE_ENDED);
  EXPECT_EQ(now.end_reason(), v1::REMINDER_END_REASON_SCHEDULE_EXHAUSTED);
  EXPECT_FALSE(now.has_next_occurrence_time());
  EXPECT_NE(now.etag(), r.etag());
}

TEST_F(ReminderDispatchTest, AnEditBetweenClaimAndCompletionWins) {
  v1::Reminder r = MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  int bucket = DueBucketOf(fixture_.pool(), "t1", "p1");
  auto slow = NewDispatcher();
  ASSERT_TRUE(slow->ClaimOnlyForTest(bucket, 10).ok());
  // The clinician moves the reminder to 18:00 while the claim is held.
  v1::UpdateReminderRequest update;
  update.mutable_reminder()->set_name(r.name());
  *update.mutable_reminder()->mutable_schedule() = Daily(2026, 1, 5, 18, 0, "UTC");
  update.mutable_update_mask()->add_paths("schedule");
  update.set_etag(r.etag());
  v1::Reminder updated;
  ASSERT_TRUE(
      stub_->UpdateReminder(ServiceFixture::Context(clinician_).get(), update, &updated).ok());
  EXPECT_EQ(Redis({"ZSCORE", DueKey(fixture_.pool(), bucket), DueMember("t1", "p1", IdOf(r.name()))}),
            rtest::Ms(Utc(2026, 1, 5, 18)));
  EXPECT_EQ(Redis({"HEXISTS", DueLeaseKey(fixture_.pool(), bucket), DueMember("t1", "p1", IdOf(r.name()))}), "0");
  // After the old lease would have expired nothing is due: the entry follows the edit.
  fixture_.clock().Advance(absl::Minutes(1));
  EXPECT_EQ(NewDispatcher()->RunOnce().claimed, 0);
}

TEST_F(ReminderDispatchTest, DrainEndsOpenStreamsWithUnavailable) {
  Subscription sub = Subscribe("platform");
  // Make sure the stream is open on the server before shutting down.
  MustCreate(Homework("p1"));
  fixture_.clock().Advance(absl::Minutes(30));
  NewDispatcher()->RunOnce();
  sub.Next();
  fixture_.StopHost();
  v1::Delivery d;
  EXPECT_FALSE(sub.reader->Read(&d));
  EXPECT_EQ(sub.reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace trellis::reminders
