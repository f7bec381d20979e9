// MeasurementService in-process (with a real GoalService on the same host), against a real
// redis-server, through a real channel with real tokens.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/outbox/relay.h"
#include "common/redis/keys.h"
#include "common/trace/trace.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/goals/goal_service.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/measurement_service.h"
#include "services/measurements/store/measurement_store.h"
#include "tests/support/measurement_requests.h"
#include "tests/support/service_fixture.h"

namespace trellis::measurements {
namespace {

namespace v1 = ::trellis::v1;
using testing::Date;
using testing::Phq9;
using testing::Phq9Goal;
using testing::ServiceFixture;

std::string ReasonOfDetails(const google::rpc::Status& details) {
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

std::set<std::string> FieldsOfDetails(const google::rpc::Status& details) {
  std::set<std::string> fields;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest br;
    if (any.UnpackTo(&br)) {
      for (const auto& v : br.field_violations()) fields.insert(v.field());
    }
  }
  return fields;
}

google::rpc::Status DetailsOf(const grpc::Status& s) {
  google::rpc::Status out;
  out.ParseFromString(s.error_details());
  return out;
}

std::string ReasonOf(const grpc::Status& s) { return ReasonOfDetails(DetailsOf(s)); }
std::set<std::string> FieldsOf(const grpc::Status& s) { return FieldsOfDetails(DetailsOf(s)); }

v1::RecordMeasurementRequest Mood(const std::string& patient, double value,
                                  const std::string& request_id = "") {
  v1::RecordMeasurementRequest req;
  req.mutable_measurement()->set_patient(patient);
  req.mutable_measurement()->set_metric("mood");
  req.mutable_measurement()->set_value(value);
  req.set_request_id(request_id);
  return req;
}

// A batch item recording a mood value of patient p1.
v1::BatchRecordMeasurementsRequest MoodItem(int64_t client_index, double value,
                                            const std::string& request_id) {
  v1::BatchRecordMeasurementsRequest item;
  item.set_client_index(client_index);
  *item.mutable_measurement() = Mood("p1", value, request_id);
  return item;
}

// `req` without the answers to the items in `missing`.
v1::SubmitQuestionnaireRequest Unanswered(v1::SubmitQuestionnaireRequest req,
                                          const std::set<int>& missing) {
  google::protobuf::RepeatedPtrField<v1::ItemAnswer> kept;
  for (const auto& a : req.answers()) {
    if (missing.count(a.item()) == 0) *kept.Add() = a;
  }
  *req.mutable_answers() = std::move(kept);
  return req;
}

// A GAD-7 with every item answered 1 (total 7).
v1::SubmitQuestionnaireRequest Gad7AllOnes(const std::string& patient) {
  v1::SubmitQuestionnaireRequest req;
  req.set_patient(patient);
  req.set_instrument("gad7");
  for (int item = 1; item <= 7; ++item) {
    auto* a = req.add_answers();
    a->set_item(item);
    a->set_value(1);
  }
  return req;
}

v1::UpdateMeasurementSettingsRequest SettingsUpdate(const v1::MeasurementSettings& settings,
                                                    const std::vector<std::string>& paths,
                                                    const std::string& etag) {
  v1::UpdateMeasurementSettingsRequest req;
  *req.mutable_settings() = settings;
  for (const auto& p : paths) req.mutable_update_mask()->add_paths(p);
  req.set_etag(etag);
  return req;
}

class MeasurementServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dead_channel_ = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    fixture_.Start([this](const server::ServiceEnv& env) {
      server::ServiceParts parts = goals::BuildGoalService(env);
      MeasurementServiceOptions options;
      options.goals_channel = [this] {
        return goals_down_.load() ? dead_channel_ : fixture_.channel();
      };
      options.peer_timeout = absl::Milliseconds(500);
      server::ServiceParts meas = BuildMeasurementServiceWithOptions(env, std::move(options));
      for (auto& s : meas.services) parts.services.push_back(std::move(s));
      for (auto& n : meas.health_names) parts.health_names.push_back(n);
      return parts;
    });
    stub_ = v1::MeasurementService::NewStub(fixture_.channel());
    goals_ = v1::GoalService::NewStub(fixture_.channel());
    token_ = fixture_.Token();
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "") {
    return ServiceFixture::Context(token.empty() ? token_ : token);
  }

  v1::Measurement MustRecord(const v1::RecordMeasurementRequest& req) {
    v1::Measurement out;
    grpc::Status s = stub_->RecordMeasurement(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::SubmitQuestionnaireResponse MustSubmit(const v1::SubmitQuestionnaireRequest& req) {
    v1::SubmitQuestionnaireResponse out;
    grpc::Status s = stub_->SubmitQuestionnaire(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::Goal MustCreateGoal(const v1::Goal& goal) {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = goal;
    v1::Goal out;
    grpc::Status s = goals_->CreateGoal(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // How many measurements `patient` has (up to 1000).
  int StoredMeasurements(const std::string& patient = "p1") {
    v1::ListMeasurementsRequest list;
    list.set_patient(patient);
    list.set_page_size(1000);
    v1::ListMeasurementsResponse resp;
    grpc::Status s = stub_->ListMeasurements(Ctx().get(), list, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.measurements_size();
  }

  // The size of p1's index of all measurements, read from Redis itself.
  std::string P1IndexSize() {
    auto size = fixture_.RedisCommand(
        {"ZCARD", redis::PatientKeys("meas", "t1", "p1").Key({"all"})});
    return size.ok() ? *size : size.status().ToString();
  }

  // One BatchRecordMeasurements stream carrying `items`, half-closed.
  grpc::Status Batch(const std::vector<v1::BatchRecordMeasurementsRequest>& items,
                     v1::BatchRecordMeasurementsResponse* out) {
    auto ctx = Ctx();
    auto writer = stub_->BatchRecordMeasurements(ctx.get(), out);
    for (const auto& item : items) {
      if (!writer->Write(item)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Submit(const v1::SubmitQuestionnaireRequest& req,
                      v1::SubmitQuestionnaireResponse* out, const std::string& token = "") {
    return stub_->SubmitQuestionnaire(Ctx(token).get(), req, out);
  }

  v1::MeasurementSettings MustGetSettings() {
    v1::MeasurementSettings out;
    grpc::Status s = stub_->GetMeasurementSettings(Ctx().get(), {}, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  grpc::Status UpdateSettings(const v1::UpdateMeasurementSettingsRequest& req,
                              v1::MeasurementSettings* out, const std::string& token = "") {
    return stub_->UpdateMeasurementSettings(
        Ctx(token.empty() ? fixture_.Token("t1", v1::ROLE_ADMIN) : token).get(), req, out);
  }

  // Metric.max_missing_items of a built-in questionnaire as ListInstruments shows it.
  int ListedMaxMissingItems(const std::string& id) {
    v1::ListInstrumentsResponse resp;
    grpc::Status s = stub_->ListInstruments(Ctx().get(), {}, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const auto& m : resp.metrics()) {
      if (m.id() == id) return m.max_missing_items();
    }
    return -1;
  }

  grpc::Status Progress(const std::string& goal, v1::GoalProgress* out) {
    v1::GetGoalProgressRequest req;
    req.set_goal(goal);
    return stub_->GetGoalProgress(Ctx().get(), req, out);
  }

  std::string Key(absl::string_view service, absl::string_view part, absl::string_view id) {
    return redis::PatientKeys(service, "t1", "p1").Key({part, id});
  }

  ServiceFixture fixture_;
  std::atomic<bool> goals_down_{false};
  std::shared_ptr<grpc::Channel> dead_channel_;
  std::unique_ptr<v1::MeasurementService::Stub> stub_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
  std::string token_;
};

TEST_F(MeasurementServiceTest, ListInstrumentsShowsBuiltInsThenTenantMetrics) {
  v1::DefineMetricRequest def;
  auto* m = def.mutable_metric();
  m->set_id("panic_attacks");
  m->set_display_name("Panic attacks per week");
  m->set_kind(v1::METRIC_KIND_COUNT_PER_PERIOD);
  m->set_period(v1::METRIC_PERIOD_WEEK);
  m->set_min_value(0);
  m->set_max_value(100);
  m->set_better_direction(v1::BETTER_DIRECTION_LOWER);
  v1::Metric stored;
  ASSERT_TRUE(stub_->DefineMetric(Ctx().get(), def, &stored).ok());

  v1::ListInstrumentsRequest req;
  v1::ListInstrumentsResponse resp;
  ASSERT_TRUE(stub_->ListInstruments(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.metrics_size(), 5);
  EXPECT_EQ(resp.metrics(0).id(), "phq9");
  EXPECT_EQ(resp.metrics(1).id(), "gad7");
  EXPECT_EQ(resp.metrics(2).id(), "mood");
  EXPECT_EQ(resp.metrics(3).id(), "suds");
  EXPECT_EQ(resp.metrics(4).id(), "panic_attacks");
  EXPECT_EQ(resp.metrics(0).items_size(), 10);
  EXPECT_TRUE(resp.next_page_token().empty());

  // Paged, filtered by kind.
  req.add_kinds(v1::METRIC_KIND_QUESTIONNAIRE);
  req.set_page_size(1);
  ASSERT_TRUE(stub_->ListInstruments(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.metrics_size(), 1);
  EXPECT_EQ(resp.metrics(0).id(), "phq9");
  ASSERT_FALSE(resp.next_page_token().empty());
  req.set_page_token(resp.next_page_token());
  v1::ListInstrumentsResponse page2;
  ASSERT_TRUE(stub_->ListInstruments(Ctx().get(), req, &page2).ok());
  ASSERT_EQ(page2.metrics_size(), 1);
  EXPECT_EQ(page2.metrics(0).id(), "gad7");
  EXPECT_TRUE(page2.next_page_token().empty());

  // Another tenant does not see t1's metric.
  v1::ListInstrumentsResponse other;
  ASSERT_TRUE(
      stub_->ListInstruments(Ctx(fixture_.Token("t2")).get(), v1::ListInstrumentsRequest(), &other)
          .ok());
  EXPECT_EQ(other.metrics_size(), 4);
}

TEST_F(MeasurementServiceTest, DefineMetricIsIdempotentAndGetMetricFindsIt) {
  v1::DefineMetricRequest def = testing::PracticeMinutesMetric();
  v1::Metric first, again;
  ASSERT_TRUE(stub_->DefineMetric(Ctx().get(), def, &first).ok());
  EXPECT_EQ(first.unit(), "min");
  EXPECT_FALSE(first.built_in());
  ASSERT_TRUE(stub_->DefineMetric(Ctx().get(), def, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());

  v1::DefineMetricRequest different = def;
  different.mutable_metric()->set_max_value(300);
  grpc::Status s = stub_->DefineMetric(Ctx().get(), different, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(s), "ALREADY_EXISTS");

  v1::DefineMetricRequest reserved = def;
  reserved.mutable_metric()->set_id("PHQ9");
  s = stub_->DefineMetric(Ctx().get(), reserved, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("metric.id")) << s.error_message();

  s = stub_->DefineMetric(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), def, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  v1::GetMetricRequest get;
  get.set_id("minutes_practised");
  v1::Metric got;
  ASSERT_TRUE(stub_->GetMetric(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.display_name(), "Minutes of breathing practice");
  get.set_id("phq9");
  ASSERT_TRUE(stub_->GetMetric(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.reliable_change_threshold(), 6);
  get.set_id("nope");
  EXPECT_EQ(stub_->GetMetric(Ctx().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
  get.set_id("minutes_practised");
  EXPECT_EQ(stub_->GetMetric(Ctx(fixture_.Token("t2")).get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MeasurementServiceTest, RecordMeasurementRetriesReturnTheFirstResult) {
  v1::Measurement first = MustRecord(Mood("p1", 6, "req-1"));
  EXPECT_TRUE(absl::StartsWith(first.name(), "patients/p1/measurements/"));
  EXPECT_EQ(first.source(), v1::MEASUREMENT_SOURCE_CLINICIAN);
  EXPECT_EQ(first.request_id(), "req-1");
  fixture_.clock().Advance(absl::Minutes(1));
  v1::Measurement again = MustRecord(Mood("p1", 6, "req-1"));
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  // The request record names the measurement instead of holding a second copy of it; a record
  // written the older way (the whole response after the fingerprint) still replays.
  const std::string record =
      redis::PatientKeys("meas", "t1", "p1").Key({"req", "RecordMeasurement", "req-1"});
  auto stored = fixture_.RedisCommand({"GET", record});
  ASSERT_TRUE(stored.ok()) << stored.status();
  const std::string id = first.name().substr(first.name().rfind('/') + 1);
  ASSERT_EQ(stored->substr(stored->find('|')), "|@" + id);
  ASSERT_TRUE(fixture_.RedisCommand({"SET", record,
                            stored->substr(0, stored->find('|') + 1) + first.SerializeAsString()})
                  .ok());
  v1::Measurement from_old = MustRecord(Mood("p1", 6, "req-1"));
  EXPECT_EQ(from_old.SerializeAsString(), first.SerializeAsString());

  v1::Measurement out;
  grpc::Status s = stub_->RecordMeasurement(Ctx().get(), Mood("p1", 7, "req-1"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ReasonOf(s), "REQUEST_ID_REUSED");

  EXPECT_EQ(StoredMeasurements(), 1);
}

TEST_F(MeasurementServiceTest, RecordMeasurementNamesBadFields) {
  v1::Measurement out;
  grpc::Status s = stub_->RecordMeasurement(Ctx().get(), Mood("p1", 11), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("measurement.value")) << s.error_message();

  v1::RecordMeasurementRequest phq = Mood("p1", 10);
  phq.mutable_measurement()->set_metric("phq9");
  s = stub_->RecordMeasurement(Ctx().get(), phq, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("measurement.metric"));

  v1::RecordMeasurementRequest unknown = Mood("p1", 1);
  unknown.mutable_measurement()->set_metric("not_defined");
  s = stub_->RecordMeasurement(Ctx().get(), unknown, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("measurement.metric"));

  v1::RecordMeasurementRequest future = Mood("p1", 5);
  *future.mutable_measurement()->mutable_observe_time() =
      ToProtoTimestamp(fixture_.clock().Now() + absl::Hours(1));
  s = stub_->RecordMeasurement(Ctx().get(), future, &out);
  EXPECT_TRUE(FieldsOf(s).count("measurement.observe_time"));

  v1::RecordMeasurementRequest for_goal = Mood("p1", 5);
  for_goal.mutable_measurement()->set_goal("patients/p1/goals/nope");
  s = stub_->RecordMeasurement(Ctx().get(), for_goal, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  for_goal.mutable_measurement()->set_goal("patients/p2/goals/x");
  s = stub_->RecordMeasurement(Ctx().get(), for_goal, &out);
  EXPECT_TRUE(FieldsOf(s).count("measurement.goal")) << s.error_message();

  // Clients record only for themselves; another patient is NOT_FOUND.
  std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p1");
  EXPECT_TRUE(stub_->RecordMeasurement(Ctx(client).get(), Mood("p1", 5), &out).ok());
  EXPECT_EQ(out.source(), v1::MEASUREMENT_SOURCE_CLIENT);
  EXPECT_EQ(stub_->RecordMeasurement(Ctx(client).get(), Mood("p2", 5), &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // No token.
  grpc::ClientContext bare;
  EXPECT_EQ(stub_->RecordMeasurement(&bare, Mood("p1", 5), &out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(MeasurementServiceTest, Phq9Item9RaisesAFlagShownInTheSummaryUntilAcknowledged) {
  v1::SubmitQuestionnaireResponse resp = MustSubmit(Phq9("p1", 3, /*item9=*/1, "q-1"));
  EXPECT_EQ(resp.measurement().value(), 3);
  EXPECT_EQ(resp.measurement().questionnaire().total(), 3);
  EXPECT_EQ(resp.measurement().questionnaire().severity_band(), "minimal");
  ASSERT_EQ(resp.safety_flags_size(), 1);
  const v1::SafetyFlag& flag = resp.safety_flags(0);
  EXPECT_EQ(flag.kind(), v1::SAFETY_FLAG_KIND_PHQ9_ITEM9);
  EXPECT_EQ(flag.item(), 9);
  EXPECT_EQ(flag.value(), 1);
  EXPECT_EQ(flag.state(), v1::SAFETY_FLAG_STATE_OPEN);
  EXPECT_EQ(flag.measurement(), resp.measurement().name());
  EXPECT_TRUE(absl::StartsWith(flag.name(), "patients/p1/safetyFlags/"));

  // A retry returns the same submission and flag; no second flag.
  v1::SubmitQuestionnaireResponse again = MustSubmit(Phq9("p1", 3, 1, "q-1"));
  EXPECT_EQ(again.measurement().name(), resp.measurement().name());
  ASSERT_EQ(again.safety_flags_size(), 1);
  EXPECT_EQ(again.safety_flags(0).name(), flag.name());

  // The flag event is in the patient's events stream.
  auto events = fixture_.RedisCommand(
      {"XLEN", redis::PatientKeys("meas", "t1", "p1").Key({"events"})});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(*events, "1");

  v1::GetPatientSummaryRequest sreq;
  sreq.set_patient("p1");
  v1::PatientSummary summary;
  grpc::Status s = stub_->GetPatientSummary(Ctx().get(), sreq, &summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(summary.open_safety_flags_size(), 1);
  EXPECT_EQ(summary.open_safety_flags(0).name(), flag.name());
  ASSERT_EQ(summary.latest_scores_size(), 1);
  EXPECT_EQ(summary.latest_scores(0).metric(), "phq9");
  EXPECT_EQ(summary.latest_scores(0).severity_band(), "minimal");
  EXPECT_EQ(summary.latest_scores(0).latest().value(), 3);

  v1::ListSafetyFlagsRequest lreq;
  lreq.set_patient("p1");
  lreq.set_open_only(true);
  v1::ListSafetyFlagsResponse flags;
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), lreq, &flags).ok());
  ASSERT_EQ(flags.safety_flags_size(), 1);

  v1::AcknowledgeSafetyFlagRequest ack;
  ack.set_name(flag.name());
  ack.set_note("called the client; safety plan reviewed");
  v1::SafetyFlag acked;
  EXPECT_EQ(stub_
                ->AcknowledgeSafetyFlag(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), ack,
                                        &acked)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->AcknowledgeSafetyFlag(Ctx().get(), ack, &acked).ok());
  EXPECT_EQ(acked.state(), v1::SAFETY_FLAG_STATE_ACKNOWLEDGED);
  EXPECT_EQ(acked.acknowledge_note(), "called the client; safety plan reviewed");
  v1::SafetyFlag twice;
  ASSERT_TRUE(stub_->AcknowledgeSafetyFlag(Ctx().get(), ack, &twice).ok());
  EXPECT_EQ(twice.SerializeAsString(), acked.SerializeAsString());
  ack.set_name("patients/p1/safetyFlags/missing");
  EXPECT_EQ(stub_->AcknowledgeSafetyFlag(Ctx().get(), ack, &twice).error_code(),
            grpc::StatusCode::NOT_FOUND);

  summary.Clear();
  ASSERT_TRUE(stub_->GetPatientSummary(Ctx().get(), sreq, &summary).ok());
  EXPECT_EQ(summary.open_safety_flags_size(), 0);
  flags.Clear();
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), lreq, &flags).ok());
  EXPECT_EQ(flags.safety_flags_size(), 0);
  lreq.set_open_only(false);
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), lreq, &flags).ok());
  ASSERT_EQ(flags.safety_flags_size(), 1);
  EXPECT_EQ(flags.safety_flags(0).state(), v1::SAFETY_FLAG_STATE_ACKNOWLEDGED);

  // The tenant-wide log: every patient's flags, oldest first, paged; not for clients.
  fixture_.clock().Advance(absl::Minutes(5));
  v1::SubmitQuestionnaireResponse other = MustSubmit(Phq9("p3", 20, 3));
  ASSERT_EQ(other.safety_flags_size(), 1);
  v1::ListSafetyFlagsRequest treq;
  treq.set_page_size(1);
  v1::ListSafetyFlagsResponse page1, page2;
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), treq, &page1).ok());
  ASSERT_EQ(page1.safety_flags_size(), 1);
  EXPECT_EQ(page1.safety_flags(0).name(), flag.name());
  ASSERT_FALSE(page1.next_page_token().empty());
  treq.set_page_token(page1.next_page_token());
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), treq, &page2).ok());
  ASSERT_EQ(page2.safety_flags_size(), 1);
  EXPECT_EQ(page2.safety_flags(0).name(), other.safety_flags(0).name());
  EXPECT_TRUE(page2.next_page_token().empty());
  v1::ListSafetyFlagsRequest open_only;
  open_only.set_open_only(true);
  v1::ListSafetyFlagsResponse open;
  ASSERT_TRUE(stub_->ListSafetyFlags(Ctx().get(), open_only, &open).ok());
  ASSERT_EQ(open.safety_flags_size(), 1);
  EXPECT_EQ(open.safety_flags(0).patient(), "p3");
  EXPECT_EQ(stub_
                ->ListSafetyFlags(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), open_only,
                                  &open)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(stub_->ListSafetyFlags(Ctx(fixture_.Token("t2")).get(), open_only, &open).ok());
  EXPECT_EQ(open.safety_flags_size(), 0);
}

TEST_F(MeasurementServiceTest, SubmitQuestionnaireNamesBadAnswers) {
  v1::SubmitQuestionnaireRequest req = Phq9("p1", 10);
  req.mutable_answers(3)->set_value(7);
  v1::SubmitQuestionnaireResponse out;
  grpc::Status s = stub_->SubmitQuestionnaire(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("answers[3].value")) << s.error_message();

  req = Phq9("p1", 10);
  req.mutable_answers()->RemoveLast();  // item 9 missing
  s = stub_->SubmitQuestionnaire(Ctx().get(), req, &out);
  EXPECT_TRUE(FieldsOf(s).count("answers")) << s.error_message();

  req = Phq9("p1", 10);
  req.mutable_answers(1)->set_item(1);  // item 1 twice, item 2 missing
  s = stub_->SubmitQuestionnaire(Ctx().get(), req, &out);
  EXPECT_TRUE(FieldsOf(s).count("answers[1].item")) << s.error_message();

  req = Phq9("p1", 10);
  req.set_instrument("mood");
  s = stub_->SubmitQuestionnaire(Ctx().get(), req, &out);
  EXPECT_TRUE(FieldsOf(s).count("instrument"));

  // Nothing was stored.
  EXPECT_EQ(StoredMeasurements(), 0);
}

TEST_F(MeasurementServiceTest, BatchStoresGoodItemsAndReportsBadOnes) {
  auto send = [&](v1::BatchRecordMeasurementsResponse* resp) {
    auto ctx = Ctx();
    auto writer = stub_->BatchRecordMeasurements(ctx.get(), resp);
    auto item = [&](int64_t index) {
      v1::BatchRecordMeasurementsRequest r;
      r.set_client_index(index);
      return r;
    };
    for (int i = 0; i < 20; ++i) {
      auto r = item(i);
      *r.mutable_measurement() = Mood("p1", i % 11, absl::StrCat("b-", i));
      *r.mutable_measurement()->mutable_measurement()->mutable_observe_time() =
          ToProtoTimestamp(fixture_.clock().Now() - absl::Hours(i));
      EXPECT_TRUE(writer->Write(r));
    }
    auto bad_value = item(100);
    *bad_value.mutable_measurement() = Mood("p1", 42, "b-bad");
    EXPECT_TRUE(writer->Write(bad_value));
    auto repeated_index = item(3);
    *repeated_index.mutable_measurement() = Mood("p1", 5, "b-rep");
    EXPECT_TRUE(writer->Write(repeated_index));
    auto no_request_id = item(101);
    *no_request_id.mutable_measurement() = Mood("p1", 5);
    EXPECT_TRUE(writer->Write(no_request_id));
    auto questionnaire = item(102);
    *questionnaire.mutable_questionnaire() = Phq9("p1", 12, 2, "b-q");
    EXPECT_TRUE(writer->Write(questionnaire));
    auto bad_questionnaire = item(103);
    *bad_questionnaire.mutable_questionnaire() = Phq9("p1", 12, 0, "b-q-bad");
    bad_questionnaire.mutable_questionnaire()->mutable_answers(2)->set_value(9);
    EXPECT_TRUE(writer->Write(bad_questionnaire));
    auto questionnaire_without_request_id = item(104);
    *questionnaire_without_request_id.mutable_questionnaire() = Phq9("p1", 3);
    EXPECT_TRUE(writer->Write(questionnaire_without_request_id));
    writer->WritesDone();
    return writer->Finish();
  };

  v1::BatchRecordMeasurementsResponse resp;
  grpc::Status s = send(&resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 26);
  EXPECT_EQ(resp.accepted_count(), 21);
  EXPECT_EQ(resp.rejected_count(), 5);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(resp.results(i).client_index(), i);
    EXPECT_FALSE(resp.results(i).measurement().empty()) << i;
    EXPECT_FALSE(resp.results(i).duplicate());
  }
  EXPECT_EQ(resp.results(20).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOfDetails(resp.results(20).error()).count("measurement.value"));
  EXPECT_TRUE(FieldsOfDetails(resp.results(21).error()).count("client_index"));
  EXPECT_TRUE(FieldsOfDetails(resp.results(22).error()).count("measurement.request_id"));
  EXPECT_FALSE(resp.results(23).measurement().empty());
  ASSERT_EQ(resp.results(23).safety_flags_size(), 1);
  EXPECT_TRUE(FieldsOfDetails(resp.results(24).error()).count("questionnaire.answers[2].value"));
  EXPECT_TRUE(FieldsOfDetails(resp.results(25).error()).count("questionnaire.request_id"));

  // Re-sending the whole batch is safe: duplicates, nothing stored twice.
  v1::BatchRecordMeasurementsResponse again;
  ASSERT_TRUE(send(&again).ok());
  EXPECT_EQ(again.accepted_count(), 21);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(again.results(i).duplicate()) << i;
    EXPECT_EQ(again.results(i).measurement(), resp.results(i).measurement());
  }
  EXPECT_EQ(StoredMeasurements(), 21);
}

TEST_F(MeasurementServiceTest, BatchRefusesUnauthenticatedCalls) {
  grpc::ClientContext bare;
  v1::BatchRecordMeasurementsResponse resp;
  auto writer = stub_->BatchRecordMeasurements(&bare, &resp);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(MeasurementServiceTest, BatchOfMoreThanTenThousandItemsIsRefusedWithNothingStored) {
  auto ctx = Ctx();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  v1::BatchRecordMeasurementsResponse resp;
  auto writer = stub_->BatchRecordMeasurements(ctx.get(), &resp);
  for (int i = 0; i <= 10000; ++i) {  // 10 001 valid items
    if (!writer->Write(MoodItem(i, i % 11, absl::StrCat("big-", i)))) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("items")) << s.error_message();
  EXPECT_EQ(resp.results_size(), 0);

  EXPECT_EQ(StoredMeasurements(), 0);
  EXPECT_EQ(P1IndexSize(), "0");
}

TEST_F(MeasurementServiceTest, ACancelledBatchStoresNothing) {
  auto ctx = Ctx();
  v1::BatchRecordMeasurementsResponse resp;
  auto writer = stub_->BatchRecordMeasurements(ctx.get(), &resp);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(writer->Write(MoodItem(i, 5, absl::StrCat("cancelled-", i))));
  }
  ctx->TryCancel();  // the app gave up before half-closing
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // Shutting the server down waits for the call to end on its side too (a batch that wrote
  // would finish only after its writes), so what Redis holds now is final.
  fixture_.StopHost();
  EXPECT_EQ(P1IndexSize(), "0");
}

TEST_F(MeasurementServiceTest, BatchRefusesAnOversizedItemAndStoresTheRest) {
  v1::BatchRecordMeasurementsRequest big = MoodItem(1, 5, "oversized");
  big.mutable_measurement()->mutable_measurement()->set_note(std::string(20000, 'x'));
  v1::BatchRecordMeasurementsResponse resp;
  grpc::Status s = Batch({big, MoodItem(2, 5, "fine")}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(0).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOfDetails(resp.results(0).error()).count("item"));
  EXPECT_FALSE(resp.results(1).measurement().empty());
  EXPECT_EQ(resp.accepted_count(), 1);
}

TEST_F(MeasurementServiceTest, AFlatSeriesStallsAndTheSummaryListsTheGoalForReview) {
  v1::Goal goal = MustCreateGoal(Phq9Goal("p2"));
  for (int week = 0; week <= 7; ++week) {
    MustSubmit(Phq9("p2", 18, 0));
    fixture_.clock().Advance(absl::Hours(24 * 7));
  }
  v1::GoalProgress progress;
  grpc::Status s = Progress(goal.name(), &progress);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(progress.stalled());
  EXPECT_EQ(progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
  auto entry = fixture_.RedisCommand(
      {"LINDEX", redis::PatientKeys("meas", "t1", "p2").Key({"outbox"}), "0"});
  ASSERT_TRUE(entry.ok());
  v1::SetAchievementStatusRequest wb;
  ASSERT_TRUE(wb.ParseFromString(entry->substr(entry->find('|', entry->find('|') + 1) + 1)));
  EXPECT_TRUE(wb.has_needs_review() && wb.needs_review());

  v1::GetPatientSummaryRequest sreq;
  sreq.set_patient("p2");
  v1::PatientSummary summary;
  s = stub_->GetPatientSummary(Ctx().get(), sreq, &summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(summary.goals_size(), 1);
  EXPECT_TRUE(summary.goals(0).stalled());
  ASSERT_EQ(summary.goals_needing_review_size(), 1);
  EXPECT_EQ(summary.goals_needing_review(0), goal.name());
  EXPECT_EQ(summary.open_safety_flags_size(), 0);

  // The summary needs the goal list from GoalService: down -> UNAVAILABLE PEER_UNAVAILABLE.
  goals_down_ = true;
  s = stub_->GetPatientSummary(Ctx().get(), sreq, &summary);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(s), "PEER_UNAVAILABLE");
  goals_down_ = false;

  // A client sees its own summary, not another patient's.
  EXPECT_TRUE(stub_
                  ->GetPatientSummary(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p2")).get(), sreq,
                                      &summary)
                  .ok());
  EXPECT_EQ(stub_
                ->GetPatientSummary(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), sreq,
                                    &summary)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MeasurementServiceTest, ListMeasurementsPagesFiltersAndOrders) {
  absl::Time now = fixture_.clock().Now();
  for (int i = 0; i < 7; ++i) {
    v1::RecordMeasurementRequest r = Mood("p1", i);
    *r.mutable_measurement()->mutable_observe_time() = ToProtoTimestamp(now - absl::Hours(7 - i));
    MustRecord(r);
  }
  v1::RecordMeasurementRequest suds = Mood("p1", 50);
  suds.mutable_measurement()->set_metric("suds");
  MustRecord(suds);

  v1::ListMeasurementsRequest req;
  req.set_patient("p1");
  req.set_metric("mood");
  req.set_page_size(3);
  std::vector<double> seen;
  for (int page = 0; page < 5; ++page) {
    v1::ListMeasurementsResponse resp;
    ASSERT_TRUE(stub_->ListMeasurements(Ctx().get(), req, &resp).ok());
    for (const auto& m : resp.measurements()) seen.push_back(m.value());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<double>{6, 5, 4, 3, 2, 1, 0}));  // newest first

  req.clear_page_token();
  req.set_order(v1::TIME_ORDER_OLDEST_FIRST);
  *req.mutable_observe_interval()->mutable_start_time() = ToProtoTimestamp(now - absl::Hours(5));
  *req.mutable_observe_interval()->mutable_end_time() = ToProtoTimestamp(now - absl::Hours(2));
  req.set_page_size(100);
  v1::ListMeasurementsResponse range;
  ASSERT_TRUE(stub_->ListMeasurements(Ctx().get(), req, &range).ok());
  ASSERT_EQ(range.measurements_size(), 3);
  EXPECT_EQ(range.measurements(0).value(), 2);
  EXPECT_EQ(range.measurements(2).value(), 4);

  v1::ListMeasurementsRequest all;
  all.set_patient("p1");
  v1::ListMeasurementsResponse everything;
  ASSERT_TRUE(stub_->ListMeasurements(Ctx().get(), all, &everything).ok());
  EXPECT_EQ(everything.measurements_size(), 8);

  all.set_page_token("garbage");
  EXPECT_TRUE(FieldsOf(stub_->ListMeasurements(Ctx().get(), all, &everything)).count("page_token"));
  all.clear_page_token();
  all.set_page_size(5000);
  EXPECT_TRUE(FieldsOf(stub_->ListMeasurements(Ctx().get(), all, &everything)).count("page_size"));
}

TEST_F(MeasurementServiceTest, ProgressIsServedAgainUntilTheSeriesTheGoalOrItsAgeChanges) {
  v1::Goal goal = MustCreateGoal(Phq9Goal());
  for (int week = 0; week < 4; ++week) {
    MustSubmit(Phq9("p1", 18 - week, 0, absl::StrCat("c", week)));
    fixture_.clock().Advance(absl::Hours(24 * 7));
  }
  auto compute_time = [](const v1::GoalProgress& p) { return ToAbslTime(p.compute_time()); };
  v1::GoalProgress first;
  ASSERT_TRUE(Progress(goal.name(), &first).ok());
  EXPECT_EQ(first.points_used(), 4);
  const absl::Time t0 = fixture_.clock().Now();
  EXPECT_EQ(compute_time(first), t0);

  // Unchanged goal and series, 30 s later: the same result, computed at t0.
  fixture_.clock().Advance(absl::Seconds(30));
  v1::GoalProgress again;
  ASSERT_TRUE(Progress(goal.name(), &again).ok());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());

  // A request with its own trend window is computed (and cached) on its own.
  v1::GetGoalProgressRequest windowed;
  windowed.set_goal(goal.name());
  windowed.mutable_trend_window()->set_seconds(14 * 24 * 3600);
  v1::GoalProgress narrow;
  ASSERT_TRUE(stub_->GetGoalProgress(Ctx().get(), windowed, &narrow).ok());
  EXPECT_EQ(compute_time(narrow), t0 + absl::Seconds(30));

  // A new score invalidates it at once, even one observed in the past.
  v1::SubmitQuestionnaireRequest late = Phq9("p1", 10, 0, "c-late");
  *late.mutable_observe_time() = ToProtoTimestamp(t0 - absl::Hours(24 * 10));
  MustSubmit(late);
  v1::GoalProgress after_write;
  ASSERT_TRUE(Progress(goal.name(), &after_write).ok());
  EXPECT_EQ(after_write.points_used(), 5);
  EXPECT_EQ(compute_time(after_write), t0 + absl::Seconds(30));

  // Older than the time to live (60 s): computed again.
  fixture_.clock().Advance(absl::Seconds(61));
  v1::GoalProgress aged;
  ASSERT_TRUE(Progress(goal.name(), &aged).ok());
  EXPECT_EQ(compute_time(aged), t0 + absl::Seconds(91));

  // A change of the goal (its target) invalidates it at once.
  v1::UpdateGoalRequest update;
  update.mutable_goal()->set_name(goal.name());
  update.mutable_goal()->mutable_measure()->set_target(5);
  update.mutable_update_mask()->add_paths("measure.target");
  v1::GetGoalRequest get;
  get.set_name(goal.name());
  v1::Goal current;
  ASSERT_TRUE(goals_->GetGoal(Ctx().get(), get, &current).ok());
  update.set_etag(current.etag());
  update.set_reason("aim for remission");
  v1::Goal updated;
  grpc::Status s = goals_->UpdateGoal(Ctx().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GoalProgress retargeted;
  ASSERT_TRUE(Progress(goal.name(), &retargeted).ok());
  EXPECT_EQ(retargeted.measure().target(), 5);
  EXPECT_EQ(retargeted.points_used(), 5);
}

TEST_F(MeasurementServiceTest, GoalProgressReadsTheCachedGoalAndFallsBackToGoalService) {
  v1::Goal goal = MustCreateGoal(Phq9Goal());
  ASSERT_FALSE(goal.name().empty());
  // A measurement may name the goal it is for.
  v1::RecordMeasurementRequest for_goal = Mood("p1", 5);
  for_goal.mutable_measurement()->set_goal(goal.name());
  EXPECT_EQ(MustRecord(for_goal).goal(), goal.name());
  v1::ListMeasurementsRequest by_goal;
  by_goal.set_patient("p1");
  by_goal.set_goal(goal.name());
  v1::ListMeasurementsResponse of_goal;
  ASSERT_TRUE(stub_->ListMeasurements(Ctx().get(), by_goal, &of_goal).ok());
  EXPECT_EQ(of_goal.measurements_size(), 1);
  // Weekly PHQ-9 from 18 down to 9 over 9 weeks.
  for (int week = 0; week <= 9; ++week) {
    MustSubmit(Phq9("p1", 18 - week, 0, absl::StrCat("w", week)));
    fixture_.clock().Advance(absl::Hours(24 * 7));
  }
  fixture_.clock().Advance(-absl::Hours(24 * 7) + absl::Hours(1));

  // The goal service wrote the shared cache on create: progress works without it.
  goals_down_ = true;
  v1::GoalProgress progress;
  grpc::Status s = Progress(goal.name(), &progress);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(progress.goal(), goal.name());
  EXPECT_EQ(progress.metric(), "phq9");
  EXPECT_EQ(progress.baseline().value(), 18);
  EXPECT_EQ(progress.latest().value(), 9);
  EXPECT_TRUE(progress.target_reached());
  EXPECT_EQ(progress.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(progress.points_used(), 10);
  EXPECT_NE(progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_UNSPECIFIED);
  // The baseline and latest points name the measurements they come from.
  v1::ListMeasurementsRequest phq;
  phq.set_patient("p1");
  phq.set_metric("phq9");
  phq.set_page_size(100);
  v1::ListMeasurementsResponse phqs;
  ASSERT_TRUE(stub_->ListMeasurements(Ctx().get(), phq, &phqs).ok());
  ASSERT_EQ(phqs.measurements_size(), 10);
  EXPECT_EQ(progress.latest().measurement(), phqs.measurements(0).name());
  EXPECT_EQ(progress.baseline_source(), v1::BASELINE_SOURCE_GOAL);
  EXPECT_TRUE(progress.baseline().measurement().empty());

  // The changed suggestion was recorded once in the outbox for the goal service.
  auto outbox = fixture_.RedisCommand(
      {"LLEN", redis::PatientKeys("meas", "t1", "p1").Key({"outbox"})});
  ASSERT_TRUE(outbox.ok());
  EXPECT_EQ(*outbox, "1");
  ASSERT_TRUE(Progress(goal.name(), &progress).ok());
  EXPECT_EQ(*fixture_.RedisCommand(
                {"LLEN", redis::PatientKeys("meas", "t1", "p1").Key({"outbox"})}),
            "1");
  auto entry = fixture_.RedisCommand(
      {"LINDEX", redis::PatientKeys("meas", "t1", "p1").Key({"outbox"}), "0"});
  ASSERT_TRUE(entry.ok());
  auto decoded = outbox::DecodeEntry(*entry);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, "SetAchievementStatus");
  // Recorded in the trace of the GetGoalProgress call that found the suggestion.
  EXPECT_TRUE(trace::ParseTraceparent(decoded->traceparent).has_value()) << *entry;
  v1::SetAchievementStatusRequest wb;
  ASSERT_TRUE(wb.ParseFromString(decoded->payload));
  EXPECT_EQ(wb.name(), goal.name());
  EXPECT_EQ(wb.request_id(), decoded->id);
  EXPECT_EQ(wb.achievement_status(), progress.suggested_achievement_status());

  // The relay delivers the write-back once the goal service is reachable again.
  outbox::RelayOptions relay_options;
  relay_options.service = "meas";
  outbox::OutboxRelay relay(
      &fixture_.pool(), &fixture_.clock(), relay_options, [this](const outbox::Delivery& d) {
        return DeliverWriteBack(goals_down_.load() ? dead_channel_ : fixture_.channel(),
                                fixture_.auth_options(), d, absl::Milliseconds(500));
      });
  EXPECT_EQ(relay.RunOnce(), 0);  // goal service down: kept for a retry
  goals_down_ = false;
  fixture_.clock().Advance(absl::Minutes(2));
  EXPECT_EQ(relay.RunOnce(), 1);
  v1::GetGoalRequest get;
  get.set_name(goal.name());
  v1::Goal written;
  ASSERT_TRUE(goals_->GetGoal(Ctx().get(), get, &written).ok());
  EXPECT_EQ(written.achievement_status(), wb.achievement_status());

  // After an update the cache holds the new target.
  v1::UpdateGoalRequest update;
  update.mutable_goal()->set_name(goal.name());
  update.mutable_goal()->mutable_measure()->set_target(7);
  update.mutable_update_mask()->add_paths("measure.target");
  update.set_etag(written.etag());
  update.set_reason("aim for remission");
  v1::Goal updated;
  s = goals_->UpdateGoal(Ctx().get(), update, &updated);
  ASSERT_TRUE(s.ok()) << s.error_message();
  goals_down_ = true;
  ASSERT_TRUE(Progress(goal.name(), &progress).ok());
  EXPECT_EQ(progress.measure().target(), 7);
  EXPECT_FALSE(progress.target_reached());

  // A cache miss goes to the goal service: down -> UNAVAILABLE PEER_UNAVAILABLE; up -> served.
  ASSERT_TRUE(fixture_.RedisCommand({"DEL", Key("cache", "goal",
                                       updated.name().substr(updated.name().rfind('/') + 1))})
                  .ok());
  s = Progress(goal.name(), &progress);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ReasonOf(s), "PEER_UNAVAILABLE");
  goals_down_ = false;
  s = Progress(goal.name(), &progress);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(progress.measure().target(), 7);

  // Unknown goal; malformed names.
  EXPECT_EQ(Progress("patients/p1/goals/nope", &progress).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(FieldsOf(Progress("goals/x", &progress)).count("goal"));

  // The summary shows the active goal's progress and the latest PHQ-9.
  v1::GetPatientSummaryRequest sreq;
  sreq.set_patient("p1");
  v1::PatientSummary summary;
  s = stub_->GetPatientSummary(Ctx().get(), sreq, &summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(summary.goals_size(), 1);
  EXPECT_EQ(summary.goals(0).goal(), goal.name());
  EXPECT_EQ(summary.goals(0).latest().value(), 9);
  ASSERT_EQ(summary.latest_scores_size(), 2);  // built-ins in catalog order
  EXPECT_EQ(summary.latest_scores(0).metric(), "phq9");
  EXPECT_EQ(summary.latest_scores(0).severity_band(), "mild");
  EXPECT_EQ(summary.latest_scores(1).metric(), "mood");
  // (Last: its progress enqueues a write-back of its own.)
  // Without a baseline on the goal, the first score since the start is the baseline.
  v1::Goal no_baseline = Phq9Goal();
  no_baseline.mutable_measure()->clear_baseline();  // allowed while proposed
  no_baseline.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  no_baseline = MustCreateGoal(no_baseline);
  v1::GoalProgress from_first;
  ASSERT_TRUE(Progress(no_baseline.name(), &from_first).ok());
  EXPECT_EQ(from_first.baseline_source(), v1::BASELINE_SOURCE_FIRST_MEASUREMENT);
  EXPECT_EQ(from_first.baseline().value(), 18);
  EXPECT_EQ(from_first.baseline().measurement(), phqs.measurements(9).name());
  EXPECT_EQ(from_first.latest().measurement(), phqs.measurements(0).name());
}

TEST_F(MeasurementServiceTest, ProrationIsOffUntilTheTenantAdminEnablesIt) {
  // Off by default: an unanswered item is INVALID_ARGUMENT naming it.
  v1::SubmitQuestionnaireResponse out;
  grpc::Status s = Submit(Unanswered(Phq9("p1", 16), {8}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("answers"));
  EXPECT_TRUE(absl::StrContains(s.error_message(), "item 8 is missing")) << s.error_message();
  v1::MeasurementSettings defaults = MustGetSettings();
  EXPECT_FALSE(defaults.proration_enabled());
  EXPECT_EQ(defaults.phq9_max_missing_items(), 2);
  EXPECT_EQ(defaults.gad7_max_missing_items(), 1);
  EXPECT_EQ(defaults.etag(), "r0");
  EXPECT_EQ(ListedMaxMissingItems("phq9"), 0);

  // The tenant's admin enables it.
  v1::MeasurementSettings enable;
  enable.set_proration_enabled(true);
  v1::MeasurementSettings enabled;
  s = UpdateSettings(SettingsUpdate(enable, {"proration_enabled"}, "r0"), &enabled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(enabled.proration_enabled());
  EXPECT_EQ(enabled.phq9_max_missing_items(), 2);
  EXPECT_EQ(enabled.etag(), "r1");
  EXPECT_EQ(enabled.updated_by().role(), v1::ROLE_ADMIN);
  EXPECT_EQ(ToAbslTime(enabled.update_time()), fixture_.clock().Now());
  EXPECT_EQ(MustGetSettings().etag(), "r1");
  EXPECT_EQ(ListedMaxMissingItems("phq9"), 2);
  EXPECT_EQ(ListedMaxMissingItems("gad7"), 1);

  // Up to two PHQ-9 items may now be missing: the total is prorated (rounded half up).
  s = Submit(Unanswered(Phq9("p1", 16), {8}), &out);  // 16 over 8 items: 18
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.measurement().questionnaire().total(), 18);
  EXPECT_TRUE(out.measurement().questionnaire().prorated());
  EXPECT_EQ(out.measurement().questionnaire().answered_items(), 8);
  EXPECT_EQ(out.measurement().value(), 18);
  s = Submit(Unanswered(Phq9("p1", 16), {7, 8}), &out);  // 16 over 7 items: 20.57
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.measurement().questionnaire().total(), 21);
  // More than allowed, or the safety item: still refused, naming the items.
  s = Submit(Unanswered(Phq9("p1", 16), {6, 7, 8}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("answers")) << s.error_message();
  s = Submit(Unanswered(Phq9("p1", 16), {9}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "item 9")) << s.error_message();
  // GAD-7: one item.
  s = Submit(Unanswered(Gad7AllOnes("p1"), {7}), &out);  // 6 over 6 items: 7
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.measurement().questionnaire().total(), 7);
  EXPECT_EQ(Submit(Unanswered(Gad7AllOnes("p1"), {6, 7}), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A questionnaire inside a batch is scored with the same settings.
  v1::BatchRecordMeasurementsRequest item;
  item.set_client_index(1);
  *item.mutable_questionnaire() = Unanswered(Phq9("p1", 16, 0, "batch-prorated"), {8});
  v1::BatchRecordMeasurementsResponse batch;
  ASSERT_TRUE(Batch({item}, &batch).ok());
  ASSERT_EQ(batch.results_size(), 1);
  EXPECT_FALSE(batch.results(0).measurement().empty()) << batch.results(0).error().message();

  // Another tenant still has the defaults.
  EXPECT_EQ(Submit(Unanswered(Phq9("p1", 16), {8}), &out, fixture_.Token("t2")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The admin lowers the PHQ-9 limit to one item.
  v1::MeasurementSettings one;
  one.set_phq9_max_missing_items(1);
  v1::MeasurementSettings lowered;
  ASSERT_TRUE(UpdateSettings(SettingsUpdate(one, {"phq9_max_missing_items"}, "r1"), &lowered).ok());
  EXPECT_EQ(lowered.etag(), "r2");
  EXPECT_TRUE(lowered.proration_enabled());
  EXPECT_EQ(Submit(Unanswered(Phq9("p1", 16), {7, 8}), &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MeasurementServiceTest, OnlyAnAdminChangesMeasurementSettingsAndABadUpdateChangesNothing) {
  v1::MeasurementSettings enable;
  enable.set_proration_enabled(true);
  const auto request = SettingsUpdate(enable, {"proration_enabled"}, "r0");
  v1::MeasurementSettings out;
  for (v1::Role role : {v1::ROLE_CLINICIAN, v1::ROLE_SERVICE}) {
    SCOPED_TRACE(v1::Role_Name(role));
    grpc::Status s = UpdateSettings(request, &out, fixture_.Token("t1", role));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(UpdateSettings(request, &out, fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      stub_
          ->GetMeasurementSettings(Ctx(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), {}, &out)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  // Bad masks name update_mask (and the path); a bad value names the setting.
  grpc::Status s =
      UpdateSettings(SettingsUpdate(enable, {"proration_enabled", "etag"}, "r0"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("update_mask"));
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"etag\"")) << s.error_message();
  EXPECT_TRUE(
      FieldsOf(UpdateSettings(SettingsUpdate(enable, {"*"}, "r0"), &out)).count("update_mask"));
  EXPECT_TRUE(
      FieldsOf(UpdateSettings(SettingsUpdate(enable, {}, "r0"), &out)).count("update_mask"));
  EXPECT_TRUE(FieldsOf(UpdateSettings(SettingsUpdate(enable, {"proration_enabled"}, ""), &out))
                  .count("etag"));
  v1::MeasurementSettings nine;
  nine.set_phq9_max_missing_items(9);
  s = UpdateSettings(SettingsUpdate(nine, {"phq9_max_missing_items"}, "r0"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(FieldsOf(s).count("settings.phq9_max_missing_items")) << s.error_message();
  // A stale etag is ABORTED.
  s = UpdateSettings(SettingsUpdate(enable, {"proration_enabled"}, "r7"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(s), "ETAG_MISMATCH");

  // None of that was stored; an update that changes nothing keeps the etag.
  EXPECT_EQ(MustGetSettings().etag(), "r0");
  EXPECT_FALSE(MustGetSettings().proration_enabled());
  v1::MeasurementSettings off;
  ASSERT_TRUE(UpdateSettings(SettingsUpdate(off, {"proration_enabled"}, "r0"), &out).ok());
  EXPECT_EQ(out.etag(), "r0");
  v1::SubmitQuestionnaireResponse submitted;
  EXPECT_EQ(Submit(Unanswered(Phq9("p1", 16), {8}), &submitted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(MeasurementServiceTest, AChangeMadeThroughAnotherReplicaIsUsedWithinTheCacheLifetime) {
  v1::MeasurementSettings enable;
  enable.set_proration_enabled(true);
  v1::MeasurementSettings enabled;
  ASSERT_TRUE(UpdateSettings(SettingsUpdate(enable, {"proration_enabled"}, "r0"), &enabled).ok());

  // Another replica (its own store over the same Redis) turns proration off again.
  MeasurementStore other_replica(&fixture_.pool());
  v1::MeasurementSettings off = enabled;
  off.set_proration_enabled(false);
  off.set_etag("r2");
  absl::Notification written;
  absl::Status write_status;
  other_replica.WriteSettings(
      "t1", off, "r1",
      [&](absl::StatusOr<v1::MeasurementSettings> stored) {
        write_status = stored.status();
        written.Notify();
      },
      absl::Now() + absl::Seconds(10));
  written.WaitForNotification();
  ASSERT_TRUE(write_status.ok()) << write_status;

  // This replica scores with its cached settings for up to 30 seconds (the documented
  // staleness), then reads them again.
  v1::SubmitQuestionnaireResponse out;
  fixture_.clock().Advance(absl::Seconds(29));
  grpc::Status s = Submit(Unanswered(Phq9("p1", 16), {8}), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(out.measurement().questionnaire().prorated());
  fixture_.clock().Advance(absl::Seconds(1));
  s = Submit(Unanswered(Phq9("p1", 16), {8}), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(MustGetSettings().etag(), "r2");
}

TEST_F(MeasurementServiceTest, ExportsFhirObservations) {
  MustSubmit(Phq9("p1", 14, 0));
  fixture_.clock().Advance(absl::Hours(1));
  MustRecord(Mood("p1", 4));
  v1::ExportObservationsFhirRequest req;
  req.set_patient("p1");
  v1::ExportObservationsFhirResponse resp;
  grpc::Status s = stub_->ExportObservationsFhir(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.observation_count(), 2);
  auto bundle = nlohmann::json::parse(resp.bundle_json());
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  EXPECT_EQ(bundle["type"], "collection");
  ASSERT_EQ(bundle["entry"].size(), 2u);
  const auto& phq = bundle["entry"][0]["resource"];
  EXPECT_EQ(phq["resourceType"], "Observation");
  EXPECT_EQ(phq["code"]["coding"][0]["code"], "44261-6");
  EXPECT_EQ(phq["subject"]["reference"], "Patient/p1");
  EXPECT_EQ(phq["valueQuantity"]["value"], 14);

  req.add_metrics("mood");
  ASSERT_TRUE(stub_->ExportObservationsFhir(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.observation_count(), 1);
  req.set_page_size(-1);
  EXPECT_TRUE(FieldsOf(stub_->ExportObservationsFhir(Ctx().get(), req, &resp)).count("page_size"));
}

TEST_F(MeasurementServiceTest, RedisOutageIsUnavailable) {
  if (fixture_.clustered()) GTEST_SKIP() << "stops the one redis-server; the cluster suite has its own";
  fixture_.redis_server().Stop(/*hard=*/true);
  v1::Measurement out;
  grpc::Status s = stub_->RecordMeasurement(Ctx().get(), Mood("p1", 5, "r-down"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::ListMeasurementsRequest list;
  list.set_patient("p1");
  v1::ListMeasurementsResponse resp;
  EXPECT_EQ(stub_->ListMeasurements(Ctx().get(), list, &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A batch fails as a whole with UNAVAILABLE (re-send it; request ids make that safe).
  v1::BatchRecordMeasurementsResponse batch;
  EXPECT_EQ(Batch({MoodItem(1, 5, "r-batch")}, &batch).error_code(), grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(fixture_.redis_server().Restart().ok());
  grpc::Status up;
  for (int i = 0; i < 100; ++i) {
    up = stub_->RecordMeasurement(Ctx().get(), Mood("p1", 5, "r-down"), &out);
    if (up.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(up.ok()) << up.error_message();
}

}  // namespace
}  // namespace trellis::measurements
