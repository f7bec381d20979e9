// A homework completion with a value records a measurement in MeasurementService through the
// reminder service's outbox: both services in-process on one host, a real redis-server, the relay
// driven pass by pass.

#include <gtest/gtest.h>

#include "common/outbox/relay.h"
#include "services/measurements/measurement_service.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/reminder_service.h"
#include "tests/integration/reminder_test_util.h"
#include "tests/support/measurement_requests.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::reminders {
namespace {

namespace v1 = ::trellis::v1;
using rtest::Daily;
using testing::FieldsOf;
using testing::ServiceFixture;

class ReminderMeasurementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start([](const server::ServiceEnv& env) {
      server::ServiceParts parts = measurements::BuildMeasurementServiceWithOptions(
          env, measurements::MeasurementServiceOptions{});
      ReminderServiceOptions options;
      options.run_dispatcher = false;
      testing::Merge(parts, BuildReminderServiceWith(env, options));
      return parts;
    });
    reminders_ = v1::ReminderService::NewStub(fixture_.channel());
    measurements_ = v1::MeasurementService::NewStub(fixture_.channel());
    clinician_ = fixture_.Token();
    relay_ = std::make_unique<outbox::OutboxRelay>(
        &fixture_.pool(), &fixture_.clock(), outbox::RelayOptions{.service = "rem"},
        [this](const outbox::Delivery& d) {
          return DeliverEffect(fixture_.channel(), fixture_.auth_options(), d);
        });

    v1::DefineMetricRequest def = testing::PracticeMinutesMetric();
    v1::Metric stored;
    ASSERT_TRUE(
        measurements_->DefineMetric(ServiceFixture::Context(clinician_).get(), def, &stored).ok());
  }

  v1::Reminder Create(const std::string& metric) {
    v1::CreateReminderRequest req;
    auto* r = req.mutable_reminder();
    r->set_patient("p1");
    r->set_kind(v1::REMINDER_KIND_PRACTICE);
    r->set_text("Breathing practice");
    r->set_metric(metric);
    *r->mutable_schedule() = Daily(2026, 1, 5, 9, 30, "UTC");
    v1::Reminder out;
    grpc::Status s =
        reminders_->CreateReminder(ServiceFixture::Context(clinician_).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status Done(const v1::Reminder& r, std::optional<double> value, v1::Completion* out,
                    const std::string& request_id = "") {
    v1::RecordCompletionRequest req;
    req.set_occurrence_id(absl::StrCat(r.name(), "/occurrences/20260105T093000Z"));
    req.set_outcome(v1::COMPLETION_OUTCOME_DONE);
    if (value.has_value()) req.set_value(*value);
    req.set_request_id(request_id);
    std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
    return reminders_->RecordCompletion(ServiceFixture::Context(client).get(), req, out);
  }

  std::vector<v1::Measurement> Recorded() {
    v1::ListMeasurementsRequest req;
    req.set_patient("p1");
    req.set_metric("minutes_practised");
    v1::ListMeasurementsResponse resp;
    grpc::Status s =
        measurements_->ListMeasurements(ServiceFixture::Context(clinician_).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.measurements().begin(), resp.measurements().end()};
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::ReminderService::Stub> reminders_;
  std::unique_ptr<v1::MeasurementService::Stub> measurements_;
  std::unique_ptr<outbox::OutboxRelay> relay_;
  std::string clinician_;
};

TEST_F(ReminderMeasurementTest, DoneWithAValueRecordsTheMeasurementOnce) {
  v1::Reminder r = Create("minutes_practised");
  fixture_.clock().Advance(absl::Minutes(40));
  v1::Completion c;
  ASSERT_TRUE(Done(r, 15, &c, "done-1").ok());
  EXPECT_EQ(c.value(), 15);
  EXPECT_TRUE(Recorded().empty()) << "recorded by the relay, not inline";

  EXPECT_EQ(relay_->RunOnce(), 1);
  std::vector<v1::Measurement> got = Recorded();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value(), 15);
  EXPECT_EQ(got[0].source(), v1::MEASUREMENT_SOURCE_CLIENT);
  EXPECT_EQ(got[0].occurrence(), c.occurrence_id());
  EXPECT_EQ(ToTime(got[0].observe_time()), fixture_.clock().Now());

  // A retry of the completion replays it and enqueues nothing; the relay has nothing left.
  v1::Completion again;
  ASSERT_TRUE(Done(r, 15, &again, "done-1").ok());
  EXPECT_EQ(again.SerializeAsString(), c.SerializeAsString());
  EXPECT_EQ(relay_->RunOnce(), 0);
  EXPECT_EQ(Recorded().size(), 1u);
}

TEST_F(ReminderMeasurementTest, MeasurementWaitsForTheMeasurementServiceAndIsNotLost) {
  v1::Reminder r = Create("minutes_practised");
  fixture_.clock().Advance(absl::Minutes(40));
  // A relay pointed at a peer that is down: the entry stays queued.
  outbox::OutboxRelay down(
      &fixture_.pool(), &fixture_.clock(), outbox::RelayOptions{.service = "rem"},
      [](const outbox::Delivery&) { return absl::UnavailableError("measurements is down"); });
  v1::Completion c;
  ASSERT_TRUE(Done(r, 20, &c).ok());
  EXPECT_EQ(down.RunOnce(), 0);
  EXPECT_TRUE(Recorded().empty());
  // Later, with the peer back (after the backoff), it is delivered.
  fixture_.clock().Advance(absl::Minutes(1));
  EXPECT_EQ(relay_->RunOnce(), 1);
  ASSERT_EQ(Recorded().size(), 1u);
  EXPECT_EQ(Recorded()[0].value(), 20);
}

TEST_F(ReminderMeasurementTest, ValueNeedsAMetricOnTheReminder) {
  v1::Reminder r = Create("");
  fixture_.clock().Advance(absl::Minutes(40));
  v1::Completion c;
  grpc::Status s = Done(r, 10, &c);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldsOf(s), std::set<std::string>{"value"});
  // Nothing was recorded: the same occurrence can still be completed without a value.
  ASSERT_TRUE(Done(r, std::nullopt, &c).ok());
  EXPECT_EQ(relay_->RunOnce(), 0);
}

}  // namespace
}  // namespace trellis::reminders
