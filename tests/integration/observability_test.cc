// What an operator sees of the services, in-process against a real redis-server and through real
// channels: the /metrics endpoint (scraped over HTTP as Prometheus does), the reminder delivery
// series, and the trace context that follows a request into the peer services and through an
// outbox into the log lines of the service that receives the effect.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/log/log.h"
#include "common/metrics/endpoint.h"
#include "common/metrics/process_metrics.h"
#include "common/metrics/redis_metrics.h"
#include "common/outbox/relay.h"
#include "common/trace/trace.h"
#include "services/goals/goal_service.h"
#include "services/measurements/measurement_service.h"
#include "services/reminders/dispatcher.h"
#include "services/reminders/reminder_service.h"
#include "tests/integration/reminder_test_util.h"
#include "tests/support/http.h"
#include "tests/support/measurement_requests.h"
#include "tests/support/service_fixture.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis {
namespace {

namespace v1 = ::trellis::v1;
using testing::HttpBody;
using testing::HttpGet;
using testing::Merge;
using testing::ServiceFixture;

std::string GoalLabels(const std::string& method) {
  return absl::StrCat("grpc_method=\"", method,
                      "\",grpc_service=\"trellis.v1.GoalService\",grpc_type=\"unary\"");
}

// The value of the sample `series` (name and labels exactly as exposed) in a scrape; -1 if absent.
double Sample(const std::string& scrape, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      return absl::SimpleAtod(line, &v) ? v : -1;
    }
  }
  return -1;
}

v1::Goal ProposedGoal(const std::string& patient = "p1") {
  v1::Goal g;
  g.set_patient(patient);
  g.set_title("Practise breathing exercises for 15 minutes daily");
  return g;
}

// ---------------------------------------------------------------------------------------------
// The /metrics endpoint of a goal service, as a binary wires it.

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start([](const server::ServiceEnv& env) { return goals::BuildGoalService(env); });
    auto endpoint = metrics::MetricsEndpoint::Start("127.0.0.1", 0);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = std::move(*endpoint);
    endpoint_->Serve(registry_);
    endpoint_->Serve(std::make_shared<metrics::ProcessCollector>());
    endpoint_->Serve(metrics::RedisConnectionGauges(
        [pool = &fixture_.pool()] { return pool->ReadyConnections(); }));
    goals_ = v1::GoalService::NewStub(fixture_.channel());
  }

  std::string Scrape() {
    std::string response = HttpGet(endpoint_->port(), "/metrics");
    EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 200") ||
                absl::StartsWith(response, "HTTP/1.0 200"))
        << response.substr(0, 200);
    return HttpBody(response);
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  ServiceFixture fixture_{
      absl::FromCivil(absl::CivilSecond(2026, 1, 5, 9, 0, 0), absl::UTCTimeZone()),
      registry_.get()};
  std::unique_ptr<metrics::MetricsEndpoint> endpoint_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
};

TEST_F(MetricsEndpointTest, PortZeroBindsAFreePortThatServesMetricsOnly) {
  EXPECT_GT(endpoint_->port(), 0);
  EXPECT_NE(HttpGet(endpoint_->port(), "/other").find(" 404 "), std::string::npos);
  // A second endpoint on the same port cannot start.
  auto second = metrics::MetricsEndpoint::Start("127.0.0.1", endpoint_->port());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MetricsEndpointTest, ScrapeShowsTheGrpcSeriesByCodeRedisLatencyAndTheProcess) {
  std::string token = fixture_.Token();
  v1::CreateGoalRequest create;
  *create.mutable_goal() = ProposedGoal();
  v1::Goal created;
  ASSERT_TRUE(goals_->CreateGoal(ServiceFixture::Context(token).get(), create, &created).ok());
  v1::GetGoalRequest get;
  get.set_name("patients/p1/goals/nosuchgoal");
  v1::Goal missing;
  grpc::Status not_found = goals_->GetGoal(ServiceFixture::Context(token).get(), get, &missing);
  ASSERT_EQ(not_found.error_code(), grpc::StatusCode::NOT_FOUND);

  std::string scrape = Scrape();
  EXPECT_NE(scrape.find("# TYPE grpc_server_handled_total counter\n"), std::string::npos);
  EXPECT_NE(scrape.find("# TYPE grpc_server_handling_seconds histogram\n"), std::string::npos);
  EXPECT_EQ(
      Sample(scrape, absl::StrCat("grpc_server_started_total{", GoalLabels("CreateGoal"), "}")), 1)
      << scrape;
  EXPECT_EQ(Sample(scrape, absl::StrCat("grpc_server_handled_total{grpc_code=\"OK\",",
                                        GoalLabels("CreateGoal"), "}")),
            1)
      << scrape;
  EXPECT_EQ(Sample(scrape, absl::StrCat("grpc_server_handled_total{grpc_code=\"NotFound\",",
                                        GoalLabels("GetGoal"), "}")),
            1)
      << scrape;
  EXPECT_EQ(Sample(scrape, absl::StrCat("grpc_server_handled_total{grpc_code=\"OK\",",
                                        GoalLabels("GetGoal"), "}")),
            -1)
      << scrape;
  EXPECT_EQ(Sample(scrape,
                   absl::StrCat("grpc_server_handling_seconds_count{", GoalLabels("GetGoal"), "}")),
            1)
      << scrape;
  EXPECT_EQ(Sample(scrape, absl::StrCat("grpc_server_handling_seconds_bucket{",
                                        GoalLabels("GetGoal"), ",le=\"+Inf\"}")),
            1)
      << scrape;

  // The create was one EVALSHA of the goal write script; every command is timed.
  EXPECT_NE(scrape.find("# TYPE trellis_redis_command_duration_seconds histogram\n"),
            std::string::npos);
  EXPECT_EQ(Sample(scrape,
                   "trellis_redis_command_duration_seconds_count{command=\"script:goals_write\"}"),
            1)
      << scrape;
  EXPECT_EQ(Sample(scrape,
                   "trellis_redis_command_duration_seconds_bucket{command=\"script:goals_write\","
                   "le=\"+Inf\"}"),
            1)
      << scrape;
  EXPECT_GE(Sample(scrape, "trellis_redis_command_duration_seconds_count{command=\"PING\"}"), 1)
      << scrape;
  EXPECT_EQ(Sample(scrape, "trellis_redis_up"), 1) << scrape;
  EXPECT_EQ(scrape.find("trellis_redis_command_errors_total{"), std::string::npos) << scrape;

  EXPECT_GT(Sample(scrape, "process_open_fds"), 0) << scrape;
  EXPECT_GT(Sample(scrape, "process_max_fds"), 0) << scrape;
  EXPECT_GT(Sample(scrape, "process_resident_memory_bytes"), 0) << scrape;
  EXPECT_GT(Sample(scrape, "process_virtual_memory_bytes"), 0) << scrape;
  EXPECT_GE(Sample(scrape, "process_threads"), 2) << scrape;
  EXPECT_GE(Sample(scrape, "process_cpu_seconds_total"), 0) << scrape;
  double started = Sample(scrape, "process_start_time_seconds");
  EXPECT_GT(started, absl::ToUnixSeconds(absl::Now()) - 24 * 3600) << scrape;
  EXPECT_LE(started, absl::ToUnixSeconds(absl::Now()) + 1) << scrape;
}

TEST_F(MetricsEndpointTest, RedisOutageShowsAsIoErrorsAndRedisDown) {
  if (fixture_.clustered()) GTEST_SKIP() << "stops the one redis-server; the cluster suite has its own";
  fixture_.redis_server().Stop(/*hard=*/true);
  std::string token = fixture_.Token();
  v1::GetGoalRequest get;
  get.set_name("patients/p1/goals/g1");
  v1::Goal goal;
  // Waits for the pool to notice (the call fails UNAVAILABLE once no connection is ready).
  grpc::Status s;
  absl::Time give_up = absl::Now() + absl::Seconds(15);
  do {
    s = goals_->GetGoal(ServiceFixture::Context(token).get(), get, &goal);
  } while (s.error_code() != grpc::StatusCode::UNAVAILABLE && absl::Now() < give_up);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  std::string scrape = Scrape();
  EXPECT_EQ(Sample(scrape, "trellis_redis_up"), 0) << scrape;
  EXPECT_GE(Sample(scrape,
                   "trellis_redis_command_errors_total{command=\"script:goals_get\","
                   "kind=\"io\"}"),
            1)
      << scrape;
  EXPECT_GE(Sample(scrape, absl::StrCat("grpc_server_handled_total{grpc_code=\"Unavailable\",",
                                        GoalLabels("GetGoal"), "}")),
            1)
      << scrape;
}

// ---------------------------------------------------------------------------------------------
// Reminder delivery series: dispatch lag on the fake clock, redeliveries.

class ReminderMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start([](const server::ServiceEnv& env) {
      reminders::ReminderServiceOptions options;
      options.run_dispatcher = false;
      options.delivery.poll_interval = absl::Milliseconds(10);
      return reminders::BuildReminderServiceWith(env, options);
    });
    stub_ = v1::ReminderService::NewStub(fixture_.channel());
  }

  std::string Text() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  prometheus::Registry registry_;
  ServiceFixture fixture_{
      absl::FromCivil(absl::CivilSecond(2026, 1, 5, 9, 0, 0), absl::UTCTimeZone()), &registry_};
  std::unique_ptr<v1::ReminderService::Stub> stub_;
};

TEST_F(ReminderMetricsTest, DispatchLagIsTheTimeFromDueToTheDeliveryStreamAndRetriesAreCounted) {
  v1::CreateReminderRequest create;
  auto* r = create.mutable_reminder();
  r->set_patient("p1");
  r->set_kind(v1::REMINDER_KIND_HOMEWORK);
  r->set_text("Thought record after a hard moment");
  *r->mutable_schedule() = reminders::rtest::Daily(2026, 1, 5, 9, 30, "UTC");
  v1::Reminder created;
  ASSERT_TRUE(
      stub_->CreateReminder(ServiceFixture::Context(fixture_.Token()).get(), create, &created)
          .ok());

  // Due 09:30, dispatched at 09:30:45.
  fixture_.clock().Advance(absl::Minutes(30) + absl::Seconds(45));
  reminders::DispatcherOptions options;
  reminders::Dispatcher dispatcher(&fixture_.pool(), &fixture_.clock(), options, &registry_);
  EXPECT_EQ(dispatcher.RunOnce().delivered, 1);
  std::string text = Text();
  EXPECT_NE(text.find("trellis_reminders_dispatch_lag_seconds_count 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("trellis_reminders_dispatch_lag_seconds_sum 45\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("trellis_reminders_dispatch_lag_seconds_bucket{le=\"30\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trellis_reminders_dispatch_lag_seconds_bucket{le=\"60\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trellis_reminders_dispatched_total{outcome=\"delivered\"} 1\n"),
            std::string::npos)
      << text;

  // Handed over, not acknowledged, handed over again after the visibility timeout (30 s).
  v1::StreamDueRemindersRequest req;
  req.set_subscriber("platform");
  auto ctx = ServiceFixture::Context(fixture_.Token("t1", v1::ROLE_SERVICE));
  auto reader = stub_->StreamDueReminders(ctx.get(), req);
  v1::Delivery first, again;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.attempt(), 1);
  fixture_.clock().Advance(absl::Seconds(31));
  ASSERT_TRUE(reader->Read(&again));
  EXPECT_EQ(again.attempt(), 2);
  text = Text();
  EXPECT_NE(text.find("trellis_reminders_deliveries_sent_total{attempt=\"first\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("trellis_reminders_deliveries_sent_total{attempt=\"retry\"} 1\n"),
            std::string::npos)
      << text;
  ctx->TryCancel();
}

// ---------------------------------------------------------------------------------------------
// Trace context: a request's trace id and request id reach the peers it calls, directly and
// through an outbox.

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetSinkForTesting([this](const std::string& line) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(nlohmann::json::parse(line));
    });
    log::Configure("suite", log::Level::kInfo);
    fixture_.Start([this](const server::ServiceEnv& env) {
      // All three services on one port, each calling the others through the fixture's channel.
      measurements::MeasurementServiceOptions mo;
      mo.goals_channel = [this] { return fixture_.channel(); };
      server::ServiceParts parts = measurements::BuildMeasurementServiceWithOptions(env, mo);
      reminders::ReminderServiceOptions ro;
      ro.run_dispatcher = false;
      ro.peers.goals = [this] { return fixture_.channel(); };
      ro.peers.measurements = [this] { return fixture_.channel(); };
      ro.peers.auth = fixture_.auth_options();
      Merge(parts, reminders::BuildReminderServiceWith(env, ro));
      Merge(parts, goals::BuildGoalService(env));
      return parts;
    });
    goals_ = v1::GoalService::NewStub(fixture_.channel());
    measurements_ = v1::MeasurementService::NewStub(fixture_.channel());
    reminders_ = v1::ReminderService::NewStub(fixture_.channel());
    clinician_ = fixture_.Token();
    v1::Metric metric;
    ASSERT_TRUE(measurements_
                    ->DefineMetric(ServiceFixture::Context(clinician_).get(),
                                   testing::PracticeMinutesMetric(), &metric)
                    .ok());
    v1::CreateGoalRequest create;
    *create.mutable_goal() = ProposedGoal();
    ASSERT_TRUE(goals_->CreateGoal(ServiceFixture::Context(clinician_).get(), create, &goal_).ok());
  }

  void TearDown() override { log::SetSinkForTesting(nullptr); }

  // The access-log lines of `method` so far.
  std::vector<nlohmann::json> RpcLines(const std::string& method) {
    absl::MutexLock lock(&mu_);
    std::vector<nlohmann::json> out;
    for (const auto& line : lines_) {
      if (line.value("msg", "") == "rpc" && line.value("method", "") == method) {
        out.push_back(line);
      }
    }
    return out;
  }

  // A context with the caller's traceparent and request id.
  std::unique_ptr<grpc::ClientContext> Traced(const std::string& token,
                                              const std::string& traceparent,
                                              const std::string& request_id) {
    auto ctx = ServiceFixture::Context(token);
    ctx->AddMetadata("traceparent", traceparent);
    ctx->AddMetadata("x-request-id", request_id);
    return ctx;
  }

  v1::Reminder CreatePracticeReminder(grpc::ClientContext* ctx) {
    v1::CreateReminderRequest req;
    auto* r = req.mutable_reminder();
    r->set_patient("p1");
    r->set_kind(v1::REMINDER_KIND_PRACTICE);
    r->set_text("Breathing practice");
    r->set_goal(goal_.name());
    r->set_metric("minutes_practised");
    *r->mutable_schedule() = reminders::rtest::Daily(2026, 1, 5, 9, 30, "UTC");
    v1::Reminder out;
    grpc::Status s = reminders_->CreateReminder(ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  absl::Mutex mu_;
  std::vector<nlohmann::json> lines_ ABSL_GUARDED_BY(mu_);
  ServiceFixture fixture_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
  std::unique_ptr<v1::MeasurementService::Stub> measurements_;
  std::unique_ptr<v1::ReminderService::Stub> reminders_;
  std::string clinician_;
  v1::Goal goal_;
};

TEST_F(TraceTest, PeerCallsMadeForARequestCarryItsTraceIdAndRequestId) {
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  CreatePracticeReminder(
      Traced(clinician_, absl::StrCat("00-", trace_id, "-00f067aa0ba902b7-01"), "req-create-1")
          .get());

  auto created = RpcLines("/trellis.v1.ReminderService/CreateReminder");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["trace_id"], trace_id);
  EXPECT_EQ(created[0]["parent_span_id"], "00f067aa0ba902b7");
  EXPECT_EQ(created[0]["request_id"], "req-create-1");
  std::string reminder_span = created[0]["span_id"];
  EXPECT_NE(reminder_span, "00f067aa0ba902b7");

  // The reminder service checked the metric and the goal with their services, in the same trace.
  for (const char* peer :
       {"/trellis.v1.MeasurementService/GetMetric", "/trellis.v1.GoalService/GetGoal"}) {
    auto lines = RpcLines(peer);
    ASSERT_EQ(lines.size(), 1u) << peer;
    EXPECT_EQ(lines[0]["code"], "OK") << peer;
    EXPECT_EQ(lines[0]["trace_id"], trace_id) << peer;
    EXPECT_EQ(lines[0]["request_id"], "req-create-1") << peer;
    // A span of its own under the reminder service's outgoing call.
    EXPECT_NE(lines[0]["span_id"], reminder_span) << peer;
    EXPECT_NE(lines[0]["parent_span_id"], "00f067aa0ba902b7") << peer;
    EXPECT_NE(lines[0]["parent_span_id"], reminder_span) << peer;
  }
}

TEST_F(TraceTest, ACallWithoutTraceparentStartsATraceItsPeersShare) {
  CreatePracticeReminder(ServiceFixture::Context(clinician_).get());
  auto created = RpcLines("/trellis.v1.ReminderService/CreateReminder");
  ASSERT_EQ(created.size(), 1u);
  std::string trace_id = created[0]["trace_id"];
  EXPECT_EQ(trace_id.size(), 32u);
  EXPECT_FALSE(created[0].contains("parent_span_id"));
  EXPECT_EQ(created[0]["request_id"], trace_id);
  auto checked = RpcLines("/trellis.v1.GoalService/GetGoal");
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0]["trace_id"], trace_id);
  EXPECT_EQ(checked[0]["request_id"], trace_id);
}

TEST_F(TraceTest, AnEffectRelayedThroughTheOutboxContinuesTheTraceOfTheCallThatRecordedIt) {
  v1::Reminder reminder = CreatePracticeReminder(ServiceFixture::Context(clinician_).get());
  const std::string trace_id = "0af7651916cd43dd8448eb211c80319c";
  v1::RecordCompletionRequest done;
  done.set_occurrence_id(absl::StrCat(reminder.name(), "/occurrences/20260105T093000Z"));
  done.set_outcome(v1::COMPLETION_OUTCOME_DONE);
  done.set_value(12);
  v1::Completion completion;
  ASSERT_TRUE(reminders_
                  ->RecordCompletion(
                      Traced(fixture_.Token("t1", v1::ROLE_CLIENT, "p1"),
                             absl::StrCat("00-", trace_id, "-b7ad6b7169203331-01"), "req-done-7")
                          .get(),
                      done, &completion)
                  .ok());
  std::string completion_span =
      RpcLines("/trellis.v1.ReminderService/RecordCompletion").at(0)["span_id"];

  // The completion's call has ended; the relay delivers the measurement afterwards.
  outbox::OutboxRelay relay(
      &fixture_.pool(), &fixture_.clock(), outbox::RelayOptions{.service = "rem"},
      [this](const outbox::Delivery& d) {
        return reminders::DeliverEffect(fixture_.channel(), fixture_.auth_options(), d);
      });
  EXPECT_EQ(relay.RunOnce(), 1);
  auto recorded = RpcLines("/trellis.v1.MeasurementService/RecordMeasurement");
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0]["code"], "OK");
  EXPECT_EQ(recorded[0]["trace_id"], trace_id);
  EXPECT_EQ(recorded[0]["request_id"], "req-done-7");
  EXPECT_NE(recorded[0]["parent_span_id"], completion_span);
  EXPECT_NE(recorded[0]["span_id"], completion_span);
}

}  // namespace
}  // namespace trellis
