// The authorization table (common/auth/policy.h) through the real RPCs: GoalService,
// MeasurementService, ReminderService and AuditService hosted together in-process against a real
// redis-server. Every row of auth::AllRules() has a call that is valid for the seeded data, and
// every cell of the row is checked with a token of that role: kNone is PERMISSION_DENIED, kOwn
// (clients) passes on the client's own patient and is NOT_FOUND on another one, kTenant passes.
// Also: the client content rules, nothing crossing tenants, and token failures.

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/auth/authenticator.h"
#include "common/auth/policy.h"
#include "services/goals/goal_service.h"
#include "services/measurements/measurement_service.h"
#include "services/reminders/dispatcher.h"
#include "services/reminders/reminder_service.h"
#include "tests/integration/reminder_test_util.h"
#include "tests/support/measurement_requests.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"
#include "trellis/v1/audit.grpc.pb.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis {
namespace {

namespace v1 = ::trellis::v1;
using auth::Grant;
using testing::Date;
using testing::Merge;
using testing::ReasonOf;
using testing::ServiceFixture;

// A call of one RPC with `token`, valid for the seeded resources of `patient`.
using Call = std::function<grpc::Status(const std::string& token, const std::string& patient)>;

constexpr char kGoalText[] = "Reduce PHQ-9 score from 18 to 9";

const char* RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_CLINICIAN:
      return "clinician";
    case v1::ROLE_CLIENT:
      return "client";
    case v1::ROLE_SERVICE:
      return "service";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "?";
  }
}

std::string IdOf(const std::string& name) { return name.substr(name.rfind('/') + 1); }

// The call passed admission (token, rate limit, role, patient scope).
void ExpectAdmitted(const grpc::Status& s) {
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

void ExpectDenied(const grpc::Status& s) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << s.error_code() << " " << s.error_message();
  EXPECT_EQ(ReasonOf(s), "PERMISSION_DENIED");
}

// What the seed created for one patient of tenant t1.
struct Seeded {
  v1::Goal goal;       // ACTIVE PHQ-9 goal
  v1::Goal objective;  // PROPOSED objective under it
  v1::Measurement mood;
  v1::Measurement phq9;
  v1::SafetyFlag flag;  // raised by the PHQ-9 (item 9 > 0)
  v1::Reminder reminder;
};

class AuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start([this](const server::ServiceEnv& env) {
      measurements::MeasurementServiceOptions mo;
      // GetGoalProgress and GetPatientSummary ask GoalService, hosted on the same port.
      mo.goals_channel = [this] { return fixture_.channel(); };
      server::ServiceParts parts = measurements::BuildMeasurementServiceWithOptions(env, mo);
      reminders::ReminderServiceOptions ro;
      ro.run_dispatcher = false;
      ro.delivery.poll_interval = absl::Milliseconds(10);
      Merge(parts, reminders::BuildReminderServiceWith(env, ro));
      // Without a config (the fixture's env) GoalService has no peers: the built-in metric
      // catalogue, no outbox relay.
      Merge(parts, goals::BuildGoalService(env));
      return parts;
    });
    goals_ = v1::GoalService::NewStub(fixture_.channel());
    measurements_ = v1::MeasurementService::NewStub(fixture_.channel());
    reminders_ = v1::ReminderService::NewStub(fixture_.channel());
    audit_ = v1::AuditService::NewStub(fixture_.channel());
    clinician_ = fixture_.Token("t1", v1::ROLE_CLINICIAN);
    service_ = fixture_.Token("t1", v1::ROLE_SERVICE);
    admin_ = fixture_.Token("t1", v1::ROLE_ADMIN);

    v1::DefineMetricRequest def = testing::PracticeMinutesMetric();
    v1::Metric stored;
    grpc::Status s = measurements_->DefineMetric(Ctx(clinician_).get(), def, &stored);
    ASSERT_TRUE(s.ok()) << s.error_message();

    for (const char* patient : {"p1", "p2"}) Seed(patient);
    ASSERT_FALSE(HasFailure());
    // The reminders (daily 09:30 UTC) are due; the dispatcher hands them to the stream.
    fixture_.clock().Advance(absl::Minutes(40));
    reminders::Dispatcher dispatcher(&fixture_.pool(), &fixture_.clock(),
                                     reminders::DispatcherOptions{});
    EXPECT_EQ(dispatcher.RunOnce().delivered, 2);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    return ServiceFixture::Context(token);
  }

  std::string Unique(absl::string_view prefix) { return absl::StrCat(prefix, "-", ++counter_); }

  // ---- seeding (as a clinician of t1) ----

  v1::Goal CreateGoal(const v1::Goal& goal) {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = goal;
    v1::Goal out;
    grpc::Status s = goals_->CreateGoal(Ctx(clinician_).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static v1::Goal Proposed(const std::string& patient) {
    v1::Goal g = testing::Phq9Goal(patient);
    g.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
    return g;
  }

  v1::Reminder CreateReminder(const std::string& patient) {
    v1::CreateReminderRequest req;
    auto* r = req.mutable_reminder();
    r->set_patient(patient);
    r->set_kind(v1::REMINDER_KIND_PRACTICE);
    r->set_text("Breathing practice");
    *r->mutable_schedule() = reminders::rtest::Daily(2026, 1, 5, 9, 30, "UTC");
    v1::Reminder out;
    grpc::Status s = reminders_->CreateReminder(Ctx(clinician_).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::RecordMeasurementRequest Mood(const std::string& patient) {
    v1::RecordMeasurementRequest req;
    req.mutable_measurement()->set_patient(patient);
    req.mutable_measurement()->set_metric("mood");
    req.mutable_measurement()->set_value(6);
    req.mutable_measurement()->set_source(v1::MEASUREMENT_SOURCE_CLIENT);
    req.set_request_id(Unique("mood"));
    return req;
  }

  v1::SubmitQuestionnaireRequest Questionnaire(const std::string& patient) {
    v1::SubmitQuestionnaireRequest req = testing::Phq9(patient, 12, 0, Unique("phq9"));
    req.set_source(v1::MEASUREMENT_SOURCE_CLIENT);
    return req;
  }

  // The first days of the seeded reminders.
  static void SetInterval(v1::GetAdherenceRequest& req) {
    req.mutable_interval()->mutable_start_time()->set_seconds(
        absl::ToUnixSeconds(reminders::rtest::Utc(2026, 1, 5, 0)));
    req.mutable_interval()->mutable_end_time()->set_seconds(
        absl::ToUnixSeconds(reminders::rtest::Utc(2026, 1, 7, 0)));
  }

  // A fresh open safety flag of `patient` (a PHQ-9 with item 9 = 1).
  v1::SubmitQuestionnaireResponse RaiseFlag(const std::string& patient) {
    v1::SubmitQuestionnaireResponse out;
    grpc::Status s = measurements_->SubmitQuestionnaire(
        Ctx(clinician_).get(), testing::Phq9(patient, 15, 1, Unique("phq9")), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.safety_flags_size(), 1);
    return out;
  }

  void Seed(const std::string& patient) {
    Seeded& seed = seeded_[patient];
    seed.goal = CreateGoal(testing::Phq9Goal(patient));
    EXPECT_EQ(seed.goal.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
    v1::Goal objective;
    objective.set_patient(patient);
    objective.set_parent(seed.goal.name());
    objective.set_title("Practise breathing exercises for 15 minutes daily");
    seed.objective = CreateGoal(objective);
    grpc::Status s =
        measurements_->RecordMeasurement(Ctx(clinician_).get(), Mood(patient), &seed.mood);
    EXPECT_TRUE(s.ok()) << s.error_message();
    v1::SubmitQuestionnaireResponse phq9 = RaiseFlag(patient);
    seed.phq9 = phq9.measurement();
    if (phq9.safety_flags_size() > 0) seed.flag = phq9.safety_flags(0);
    seed.reminder = CreateReminder(patient);
  }

  // ---- one call per row of the authorization table ----

  std::map<std::string, Call> Calls() {
    std::map<std::string, Call> calls;
    // GoalService
    calls["GoalService.CreateGoal"] = [this](const std::string& token, const std::string& p) {
      v1::CreateGoalRequest req;
      *req.mutable_goal() = Proposed(p);
      v1::Goal out;
      return goals_->CreateGoal(Ctx(token).get(), req, &out);
    };
    calls["GoalService.GetGoal"] = [this](const std::string& token, const std::string& p) {
      v1::GetGoalRequest req;
      req.set_name(seeded_[p].goal.name());
      v1::Goal out;
      return goals_->GetGoal(Ctx(token).get(), req, &out);
    };
    calls["GoalService.ListGoals"] = [this](const std::string& token, const std::string& p) {
      v1::ListGoalsRequest req;
      req.set_patient(p);
      v1::ListGoalsResponse out;
      return goals_->ListGoals(Ctx(token).get(), req, &out);
    };
    calls["GoalService.UpdateGoal"] = [this](const std::string& token, const std::string& p) {
      // A fresh PROPOSED goal: one a client may change too.
      v1::Goal fresh = CreateGoal(Proposed(p));
      v1::UpdateGoalRequest req;
      req.mutable_goal()->set_name(fresh.name());
      req.mutable_goal()->set_title("Reduce PHQ-9 score from 18 to 8");
      req.mutable_update_mask()->add_paths("title");
      req.set_etag(fresh.etag());
      req.set_reason("rephrased");
      v1::Goal out;
      return goals_->UpdateGoal(Ctx(token).get(), req, &out);
    };
    calls["GoalService.TransitionGoal"] = [this](const std::string& token, const std::string& p) {
      v1::Goal fresh = CreateGoal(Proposed(p));
      v1::TransitionGoalRequest req;
      req.set_name(fresh.name());
      req.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_PLANNED);
      req.set_reason("agreed in session");
      req.set_etag(fresh.etag());
      v1::TransitionGoalResponse out;
      return goals_->TransitionGoal(Ctx(token).get(), req, &out);
    };
    calls["GoalService.ListGoalRevisions"] = [this](const std::string& token,
                                                    const std::string& p) {
      v1::ListGoalRevisionsRequest req;
      req.set_name(seeded_[p].goal.name());
      v1::ListGoalRevisionsResponse out;
      return goals_->ListGoalRevisions(Ctx(token).get(), req, &out);
    };
    calls["GoalService.EvaluateSmart"] = [this](const std::string& token, const std::string& p) {
      v1::EvaluateSmartRequest req;
      *req.mutable_goal() = Proposed(p);
      v1::EvaluateSmartResponse out;
      return goals_->EvaluateSmart(Ctx(token).get(), req, &out);
    };
    calls["GoalService.RateGoalAttainment"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::RateGoalAttainmentRequest req;
      req.set_name(seeded_[p].goal.name());
      req.set_rating(0);
      *req.mutable_review_date() = Date(2026, 1, 5);
      v1::AttainmentRating out;
      return goals_->RateGoalAttainment(Ctx(token).get(), req, &out);
    };
    calls["GoalService.GetAttainmentScore"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::GetAttainmentScoreRequest req;
      req.set_patient(p);
      v1::GetAttainmentScoreResponse out;
      return goals_->GetAttainmentScore(Ctx(token).get(), req, &out);
    };
    calls["GoalService.ExportGoalsFhir"] = [this](const std::string& token, const std::string& p) {
      v1::ExportGoalsFhirRequest req;
      req.set_patient(p);
      v1::ExportGoalsFhirResponse out;
      return goals_->ExportGoalsFhir(Ctx(token).get(), req, &out);
    };
    calls["GoalService.SetAchievementStatus"] = [this](const std::string& token,
                                                       const std::string& p) {
      v1::SetAchievementStatusRequest req;
      req.set_name(seeded_[p].goal.name());
      req.set_achievement_status(v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS);
      req.mutable_evaluate_time()->set_seconds(absl::ToUnixSeconds(fixture_.clock().Now()) +
                                               ++counter_);
      req.set_reason("progress evaluated");
      req.set_request_id(Unique("achievement"));
      v1::SetAchievementStatusResponse out;
      return goals_->SetAchievementStatus(Ctx(token).get(), req, &out);
    };

    // MeasurementService
    calls["MeasurementService.ListInstruments"] = [this](const std::string& token,
                                                         const std::string&) {
      v1::ListInstrumentsRequest req;
      v1::ListInstrumentsResponse out;
      return measurements_->ListInstruments(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.GetMetric"] = [this](const std::string& token, const std::string&) {
      v1::GetMetricRequest req;
      req.set_id("minutes_practised");
      v1::Metric out;
      return measurements_->GetMetric(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.DefineMetric"] = [this](const std::string& token,
                                                      const std::string&) {
      v1::DefineMetricRequest req;
      auto* m = req.mutable_metric();
      m->set_id(absl::StrCat("sleep_hours_", ++counter_));
      m->set_display_name("Hours of sleep");
      m->set_kind(v1::METRIC_KIND_HOURS);
      m->set_min_value(0);
      m->set_max_value(24);
      m->set_better_direction(v1::BETTER_DIRECTION_HIGHER);
      v1::Metric out;
      return measurements_->DefineMetric(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.RecordMeasurement"] = [this](const std::string& token,
                                                           const std::string& p) {
      v1::Measurement out;
      return measurements_->RecordMeasurement(Ctx(token).get(), Mood(p), &out);
    };
    calls["MeasurementService.SubmitQuestionnaire"] = [this](const std::string& token,
                                                             const std::string& p) {
      v1::SubmitQuestionnaireResponse out;
      return measurements_->SubmitQuestionnaire(Ctx(token).get(), Questionnaire(p), &out);
    };
    calls["MeasurementService.BatchRecordMeasurements"] = [this](const std::string& token,
                                                                 const std::string& p) {
      auto ctx = Ctx(token);
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      v1::BatchRecordMeasurementsResponse out;
      auto writer = measurements_->BatchRecordMeasurements(ctx.get(), &out);
      v1::BatchRecordMeasurementsRequest item;
      item.set_client_index(0);
      *item.mutable_measurement() = Mood(p);
      writer->Write(item);  // false when the server already finished the stream: Finish says why
      writer->WritesDone();
      grpc::Status s = writer->Finish();
      if (!s.ok()) return s;
      // The patient of each item is checked per item: report the item's refusal as the call's.
      if (out.results_size() != 1) return grpc::Status(grpc::StatusCode::INTERNAL, "no result");
      if (out.results(0).has_error()) {
        return grpc::Status(static_cast<grpc::StatusCode>(out.results(0).error().code()),
                            out.results(0).error().message());
      }
      return s;
    };
    calls["MeasurementService.ListMeasurements"] = [this](const std::string& token,
                                                          const std::string& p) {
      v1::ListMeasurementsRequest req;
      req.set_patient(p);
      v1::ListMeasurementsResponse out;
      return measurements_->ListMeasurements(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.GetGoalProgress"] = [this](const std::string& token,
                                                         const std::string& p) {
      v1::GetGoalProgressRequest req;
      req.set_goal(seeded_[p].goal.name());
      v1::GoalProgress out;
      return measurements_->GetGoalProgress(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.GetPatientSummary"] = [this](const std::string& token,
                                                           const std::string& p) {
      v1::GetPatientSummaryRequest req;
      req.set_patient(p);
      v1::PatientSummary out;
      return measurements_->GetPatientSummary(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.ListSafetyFlags"] = [this](const std::string& token,
                                                         const std::string& p) {
      v1::ListSafetyFlagsRequest req;
      req.set_patient(p);
      v1::ListSafetyFlagsResponse out;
      return measurements_->ListSafetyFlags(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.AcknowledgeSafetyFlag"] = [this](const std::string& token,
                                                               const std::string& p) {
      v1::SubmitQuestionnaireResponse raised = RaiseFlag(p);
      v1::AcknowledgeSafetyFlagRequest req;
      if (raised.safety_flags_size() > 0) req.set_name(raised.safety_flags(0).name());
      req.set_note("called the client");
      v1::SafetyFlag out;
      return measurements_->AcknowledgeSafetyFlag(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.ExportObservationsFhir"] = [this](const std::string& token,
                                                                const std::string& p) {
      v1::ExportObservationsFhirRequest req;
      req.set_patient(p);
      v1::ExportObservationsFhirResponse out;
      return measurements_->ExportObservationsFhir(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.GetMeasurementSettings"] = [this](const std::string& token,
                                                                const std::string&) {
      v1::GetMeasurementSettingsRequest req;
      v1::MeasurementSettings out;
      return measurements_->GetMeasurementSettings(Ctx(token).get(), req, &out);
    };
    calls["MeasurementService.UpdateMeasurementSettings"] = [this](const std::string& token,
                                                                   const std::string&) {
      v1::MeasurementSettings current;
      grpc::Status read = measurements_->GetMeasurementSettings(
          Ctx(admin_).get(), v1::GetMeasurementSettingsRequest(), &current);
      EXPECT_TRUE(read.ok()) << read.error_message();
      v1::UpdateMeasurementSettingsRequest req;
      req.mutable_settings()->set_proration_enabled(!current.proration_enabled());
      req.mutable_update_mask()->add_paths("proration_enabled");
      req.set_etag(current.etag());
      v1::MeasurementSettings out;
      return measurements_->UpdateMeasurementSettings(Ctx(token).get(), req, &out);
    };

    // ReminderService
    calls["ReminderService.CreateReminder"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::CreateReminderRequest req;
      *req.mutable_reminder() = seeded_[p].reminder;
      req.mutable_reminder()->clear_name();
      v1::Reminder out;
      return reminders_->CreateReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.GetReminder"] = [this](const std::string& token, const std::string& p) {
      v1::GetReminderRequest req;
      req.set_name(seeded_[p].reminder.name());
      v1::Reminder out;
      return reminders_->GetReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.ListReminders"] = [this](const std::string& token,
                                                    const std::string& p) {
      v1::ListRemindersRequest req;
      req.set_patient(p);
      v1::ListRemindersResponse out;
      return reminders_->ListReminders(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.UpdateReminder"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::Reminder fresh = CreateReminder(p);
      v1::UpdateReminderRequest req;
      req.mutable_reminder()->set_name(fresh.name());
      req.mutable_reminder()->set_text("Breathing practice, 10 minutes");
      req.mutable_update_mask()->add_paths("text");
      req.set_etag(fresh.etag());
      v1::Reminder out;
      return reminders_->UpdateReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.DeleteReminder"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::Reminder fresh = CreateReminder(p);
      v1::DeleteReminderRequest req;
      req.set_name(fresh.name());
      req.set_etag(fresh.etag());
      v1::Reminder out;
      return reminders_->DeleteReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.PauseReminder"] = [this](const std::string& token,
                                                    const std::string& p) {
      v1::Reminder fresh = CreateReminder(p);
      v1::PauseReminderRequest req;
      req.set_name(fresh.name());
      req.set_reason("holiday");
      req.set_etag(fresh.etag());
      v1::Reminder out;
      return reminders_->PauseReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.ResumeReminder"] = [this](const std::string& token,
                                                     const std::string& p) {
      v1::Reminder fresh = CreateReminder(p);
      v1::PauseReminderRequest pause;
      pause.set_name(fresh.name());
      pause.set_reason("holiday");
      v1::Reminder paused;
      grpc::Status s = reminders_->PauseReminder(Ctx(clinician_).get(), pause, &paused);
      EXPECT_TRUE(s.ok()) << s.error_message();
      v1::ResumeReminderRequest req;
      req.set_name(fresh.name());
      req.set_etag(paused.etag());
      v1::Reminder out;
      return reminders_->ResumeReminder(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.PreviewSchedule"] = [this](const std::string& token,
                                                      const std::string&) {
      v1::PreviewScheduleRequest req;
      *req.mutable_schedule() = reminders::rtest::Daily(2026, 1, 5, 20, 0, "Europe/London");
      req.set_count(3);
      v1::PreviewScheduleResponse out;
      return reminders_->PreviewSchedule(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.StreamDueReminders"] = [this](const std::string& token,
                                                         const std::string&) {
      std::string ignored;
      return ReadOneDelivery(token, Unique("sub"), &ignored);
    };
    calls["ReminderService.AckDelivery"] = [this](const std::string& token, const std::string&) {
      // A delivery really made to a fresh subscriber (read with a service token).
      std::string subscriber = Unique("acker");
      std::string delivery_id;
      grpc::Status read = ReadOneDelivery(service_, subscriber, &delivery_id);
      EXPECT_TRUE(read.ok()) << read.error_message();
      v1::AckDeliveryRequest req;
      req.set_delivery_id(delivery_id);
      req.set_subscriber(subscriber);
      v1::AckDeliveryResponse out;
      return reminders_->AckDelivery(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.AckDeliveries"] = [this](const std::string& token,
                                                    const std::string& p) {
      // Per-delivery results: an id never handed to this subscriber is NOT_FOUND in its result,
      // the call itself is OK.
      v1::AckDeliveriesRequest req;
      req.set_subscriber("platform");
      req.add_delivery_ids(
          absl::StrCat(seeded_[p].reminder.name(), "/occurrences/20260105T093000Z"));
      v1::AckDeliveriesResponse out;
      return reminders_->AckDeliveries(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.RecordCompletion"] = [this](const std::string& token,
                                                       const std::string& p) {
      v1::RecordCompletionRequest req;
      req.set_occurrence_id(
          absl::StrCat(seeded_[p].reminder.name(), "/occurrences/20260105T093000Z"));
      req.set_outcome(v1::COMPLETION_OUTCOME_DONE);
      req.set_request_id(Unique("done"));
      v1::Completion out;
      return reminders_->RecordCompletion(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.GetAdherence"] = [this](const std::string& token, const std::string& p) {
      v1::GetAdherenceRequest req;
      SetInterval(req);
      req.set_patient(p);
      v1::AdherenceReport out;
      return reminders_->GetAdherence(Ctx(token).get(), req, &out);
    };
    calls["ReminderService.EndGoalReminders"] = [this](const std::string& token,
                                                       const std::string& p) {
      v1::EndGoalRemindersRequest req;
      req.set_goal(seeded_[p].objective.name());
      req.set_reason("goal closed");
      req.set_request_id(Unique("end"));
      v1::EndGoalRemindersResponse out;
      return reminders_->EndGoalReminders(Ctx(token).get(), req, &out);
    };

    // AuditService
    calls["AuditService.ListAuditEvents"] = [this](const std::string& token, const std::string& p) {
      v1::ListAuditEventsRequest req;
      req.set_patient(p);
      v1::ListAuditEventsResponse out;
      return audit_->ListAuditEvents(Ctx(token).get(), req, &out);
    };
    return calls;
  }

  // Opens StreamDueReminders for `subscriber` with a short deadline and reads one delivery: OK
  // with its id, or the status the stream ended with. A stream that stays open without a
  // delivery ends with DEADLINE_EXCEEDED, which still means it was admitted.
  grpc::Status ReadOneDelivery(const std::string& token, const std::string& subscriber,
                               std::string* delivery_id) {
    auto ctx = Ctx(token);
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::StreamDueRemindersRequest req;
    req.set_subscriber(subscriber);
    auto reader = reminders_->StreamDueReminders(ctx.get(), req);
    v1::Delivery d;
    if (reader->Read(&d)) {
      *delivery_id = d.delivery_id();
      ctx->TryCancel();
      reader->Finish();
      return grpc::Status::OK;
    }
    return reader->Finish();
  }

  std::string TokenFor(v1::Role role, const std::string& tenant = "t1") const {
    return fixture_.Token(tenant, role, role == v1::ROLE_CLIENT ? "p1" : "");
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
  std::unique_ptr<v1::MeasurementService::Stub> measurements_;
  std::unique_ptr<v1::ReminderService::Stub> reminders_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::string clinician_;
  std::string service_;
  std::string admin_;
  std::map<std::string, Seeded> seeded_;
  std::atomic<int> counter_{0};
};

constexpr v1::Role kRoles[] = {v1::ROLE_CLINICIAN, v1::ROLE_CLIENT, v1::ROLE_SERVICE,
                               v1::ROLE_ADMIN};

TEST_F(AuthorizationTest, EveryRpcHasARuleAndEveryRuleHasACall) {
  std::map<std::string, Call> calls = Calls();
  for (const auth::MethodRule& rule : auth::AllRules()) {
    EXPECT_TRUE(calls.contains(std::string(rule.method))) << "no call for " << rule.method;
  }
  EXPECT_EQ(calls.size(), auth::AllRules().size()) << "a call without a row";
  // And every RPC of the protos has a row (so a new RPC without a row or a call fails here).
  int rpcs = 0;
  for (const char* service : {"trellis.v1.GoalService", "trellis.v1.MeasurementService",
                              "trellis.v1.ReminderService", "trellis.v1.AuditService"}) {
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int i = 0; i < descriptor->method_count(); ++i, ++rpcs) {
      std::string method = absl::StrCat(descriptor->name(), ".", descriptor->method(i)->name());
      EXPECT_NE(auth::FindRule(method), nullptr) << "no authorization row for " << method;
    }
  }
  EXPECT_EQ(rpcs, static_cast<int>(auth::AllRules().size()));
}

TEST_F(AuthorizationTest, EveryCellOfTheTableHoldsThroughTheRealRpc) {
  std::map<std::string, Call> calls = Calls();
  int cells = 0;
  for (const auth::MethodRule& rule : auth::AllRules()) {
    auto it = calls.find(std::string(rule.method));
    if (it == calls.end()) continue;  // reported by EveryRpcHasARuleAndEveryRuleHasACall
    const Call& call = it->second;
    for (v1::Role role : kRoles) {
      auth::Identity who;
      who.role = role;
      Grant grant = auth::GrantOf(rule, who);
      std::string token = TokenFor(role);
      SCOPED_TRACE(absl::StrCat(std::string(rule.method), " as ", RoleName(role)));
      ++cells;
      switch (grant) {
        case Grant::kNone:
          ExpectDenied(call(token, "p1"));
          break;
        case Grant::kOwn: {
          grpc::Status own = call(token, "p1");
          ExpectAdmitted(own);
          EXPECT_TRUE(own.ok()) << own.error_code() << " " << own.error_message();
          grpc::Status other = call(token, "p2");
          EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND)
              << "another patient: " << other.error_code() << " " << other.error_message();
          break;
        }
        case Grant::kTenant: {
          grpc::Status s = call(token, "p1");
          ExpectAdmitted(s);
          EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
          break;
        }
      }
    }
  }
  EXPECT_EQ(cells, 4 * static_cast<int>(auth::AllRules().size()));
}

// ---- the client content rules of the table (client_limits) ----

TEST_F(AuthorizationTest, ClientsMayOnlyProposeGoals) {
  std::string client = TokenFor(v1::ROLE_CLIENT);
  v1::CreateGoalRequest active;
  *active.mutable_goal() = testing::Phq9Goal("p1");
  v1::Goal out;
  ExpectDenied(goals_->CreateGoal(Ctx(client).get(), active, &out));

  v1::CreateGoalRequest proposed;
  *proposed.mutable_goal() = Proposed("p1");
  grpc::Status s = goals_->CreateGoal(Ctx(client).get(), proposed, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
}

TEST_F(AuthorizationTest, ClientsMayNotChangeTheTargetOfAnActiveGoal) {
  const v1::Goal& active = seeded_["p1"].goal;
  v1::UpdateGoalRequest req;
  req.mutable_goal()->set_name(active.name());
  req.mutable_goal()->mutable_measure()->set_target(12);
  req.mutable_update_mask()->add_paths("measure.target");
  req.set_etag(active.etag());
  v1::Goal out;
  ExpectDenied(goals_->UpdateGoal(Ctx(TokenFor(v1::ROLE_CLIENT)).get(), req, &out));
  // Unchanged: the clinician still reads the old target.
  v1::GetGoalRequest get;
  get.set_name(active.name());
  ASSERT_TRUE(goals_->GetGoal(Ctx(clinician_).get(), get, &out).ok());
  EXPECT_EQ(out.measure().target(), 9);
}

TEST_F(AuthorizationTest, ClientsListOnlyTheirOwnSafetyFlags) {
  v1::ListSafetyFlagsRequest req;  // no patient
  v1::ListSafetyFlagsResponse out;
  ExpectDenied(measurements_->ListSafetyFlags(Ctx(TokenFor(v1::ROLE_CLIENT)).get(), req, &out));
  // A clinician may list the tenant's flags.
  grpc::Status s = measurements_->ListSafetyFlags(Ctx(clinician_).get(), req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.safety_flags_size(), 2);
}

// ---- nothing crosses tenants ----

struct Read {
  explicit Read(grpc::Status s) : status(std::move(s)) {}
  grpc::Status status;
  int items = 0;         // what a list call returned
  std::string response;  // the serialized answer
  bool named = false;    // a named resource (NOT_FOUND expected) rather than a list
};

TEST_F(AuthorizationTest, AnotherTenantSeesNothingOfT1) {
  const Seeded& p1 = seeded_["p1"];
  std::map<std::string, std::function<Read(const std::string&)>> reads;
  // First, so that t2's own audit trail holds nothing yet but (possibly) this call.
  reads["AuditService.ListAuditEvents"] = [&](const std::string& token) {
    v1::ListAuditEventsRequest req;
    v1::ListAuditEventsResponse out;
    Read r(audit_->ListAuditEvents(Ctx(token).get(), req, &out));
    for (const auto& e : out.events()) {
      if (e.action() != "AuditService.ListAuditEvents") ++r.items;
    }
    r.response = out.SerializeAsString();
    return r;
  };
  reads["GoalService.GetGoal"] = [&](const std::string& token) {
    v1::GetGoalRequest req;
    req.set_name(p1.goal.name());
    v1::Goal out;
    Read r(goals_->GetGoal(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };
  reads["GoalService.ListGoals"] = [&](const std::string& token) {
    v1::ListGoalsRequest req;
    req.set_patient("p1");
    v1::ListGoalsResponse out;
    Read r(goals_->ListGoals(Ctx(token).get(), req, &out));
    r.items = out.goals_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["GoalService.ListGoalRevisions"] = [&](const std::string& token) {
    v1::ListGoalRevisionsRequest req;
    req.set_name(p1.goal.name());
    v1::ListGoalRevisionsResponse out;
    Read r(goals_->ListGoalRevisions(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };
  reads["GoalService.GetAttainmentScore"] = [&](const std::string& token) {
    v1::GetAttainmentScoreRequest req;
    req.set_patient("p1");
    v1::GetAttainmentScoreResponse out;
    Read r(goals_->GetAttainmentScore(Ctx(token).get(), req, &out));
    r.items = out.n() + out.terms_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["GoalService.ExportGoalsFhir"] = [&](const std::string& token) {
    v1::ExportGoalsFhirRequest req;
    req.set_patient("p1");
    v1::ExportGoalsFhirResponse out;
    Read r(goals_->ExportGoalsFhir(Ctx(token).get(), req, &out));
    r.items = out.goal_count();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.ListMeasurements"] = [&](const std::string& token) {
    v1::ListMeasurementsRequest req;
    req.set_patient("p1");
    v1::ListMeasurementsResponse out;
    Read r(measurements_->ListMeasurements(Ctx(token).get(), req, &out));
    r.items = out.measurements_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.GetGoalProgress"] = [&](const std::string& token) {
    v1::GetGoalProgressRequest req;
    req.set_goal(p1.goal.name());
    v1::GoalProgress out;
    Read r(measurements_->GetGoalProgress(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.GetPatientSummary"] = [&](const std::string& token) {
    v1::GetPatientSummaryRequest req;
    req.set_patient("p1");
    v1::PatientSummary out;
    Read r(measurements_->GetPatientSummary(Ctx(token).get(), req, &out));
    r.items = out.goals_size() + out.latest_scores_size() + out.open_safety_flags_size() +
              out.goals_needing_review_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.ListSafetyFlags"] = [&](const std::string& token) {
    v1::ListSafetyFlagsRequest req;
    req.set_patient("p1");
    v1::ListSafetyFlagsResponse out;
    Read r(measurements_->ListSafetyFlags(Ctx(token).get(), req, &out));
    r.items = out.safety_flags_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.ExportObservationsFhir"] = [&](const std::string& token) {
    v1::ExportObservationsFhirRequest req;
    req.set_patient("p1");
    v1::ExportObservationsFhirResponse out;
    Read r(measurements_->ExportObservationsFhir(Ctx(token).get(), req, &out));
    r.items = out.observation_count();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["MeasurementService.GetMetric"] = [&](const std::string& token) {
    v1::GetMetricRequest req;
    req.set_id("minutes_practised");  // a metric t1 defined
    v1::Metric out;
    Read r(measurements_->GetMetric(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };
  reads["ReminderService.GetReminder"] = [&](const std::string& token) {
    v1::GetReminderRequest req;
    req.set_name(p1.reminder.name());
    v1::Reminder out;
    Read r(reminders_->GetReminder(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };
  reads["ReminderService.ListReminders"] = [&](const std::string& token) {
    v1::ListRemindersRequest req;
    req.set_patient("p1");
    v1::ListRemindersResponse out;
    Read r(reminders_->ListReminders(Ctx(token).get(), req, &out));
    r.items = out.reminders_size();
    r.response = out.SerializeAsString();
    return r;
  };
  reads["ReminderService.GetAdherence"] = [&](const std::string& token) {
    v1::GetAdherenceRequest req;
    SetInterval(req);
    req.set_patient("p1");
    v1::AdherenceReport out;
    Read r(reminders_->GetAdherence(Ctx(token).get(), req, &out));
    r.items = out.reminders_size() + out.totals().scheduled();
    r.response = out.SerializeAsString();
    return r;
  };
  // GetAdherence of one named reminder (not a row of its own: the same method).
  auto adherence_of_reminder = [&](const std::string& token) {
    v1::GetAdherenceRequest req;
    SetInterval(req);
    req.set_reminder(p1.reminder.name());
    v1::AdherenceReport out;
    Read r(reminders_->GetAdherence(Ctx(token).get(), req, &out));
    r.named = true;
    r.response = out.SerializeAsString();
    return r;
  };

  // What t1's data must never show up as in t2's answers.
  const std::vector<std::string> secrets = {IdOf(p1.goal.name()),
                                            IdOf(p1.objective.name()),
                                            IdOf(p1.mood.name()),
                                            IdOf(p1.phq9.name()),
                                            IdOf(p1.flag.name()),
                                            IdOf(p1.reminder.name()),
                                            kGoalText,
                                            "Breathing practice",
                                            "Minutes of breathing practice"};
  for (const std::string& s : secrets) ASSERT_FALSE(s.empty());

  struct Caller {
    const char* label;
    v1::Role role;
    std::string token;
  };
  const std::vector<Caller> callers = {
      {"t2 clinician", v1::ROLE_CLINICIAN, fixture_.Token("t2", v1::ROLE_CLINICIAN)},
      {"t2 admin", v1::ROLE_ADMIN, fixture_.Token("t2", v1::ROLE_ADMIN)},
      {"t2 client claiming p1", v1::ROLE_CLIENT, fixture_.Token("t2", v1::ROLE_CLIENT, "p1")},
  };
  int checked = 0;
  auto check = [&](const std::string& method, const std::function<Read(const std::string&)>& read,
                   const Caller& caller) {
    SCOPED_TRACE(absl::StrCat(method, " as ", caller.label));
    const auth::MethodRule* rule = auth::FindRule(method);
    ASSERT_NE(rule, nullptr);
    auth::Identity who;
    who.role = caller.role;
    Read r = read(caller.token);
    ++checked;
    for (const std::string& secret : secrets) {
      EXPECT_FALSE(absl::StrContains(r.status.error_message(), secret)) << r.status.error_message();
      EXPECT_FALSE(absl::StrContains(r.response, secret)) << "leaked " << secret;
    }
    if (auth::GrantOf(*rule, who) == Grant::kNone) {
      ExpectDenied(r.status);
    } else if (r.named) {
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND)
          << r.status.error_code() << " " << r.status.error_message();
    } else {
      EXPECT_TRUE(r.status.ok()) << r.status.error_code() << " " << r.status.error_message();
      EXPECT_EQ(r.items, 0);
    }
  };
  // The audit trail first, before t2 has made any other call.
  for (const Caller& caller : callers) {
    check("AuditService.ListAuditEvents", reads["AuditService.ListAuditEvents"], caller);
  }
  for (const Caller& caller : callers) {
    for (const auto& [method, read] : reads) {
      if (method == "AuditService.ListAuditEvents") continue;
      check(method, read, caller);
    }
    check("ReminderService.GetAdherence", adherence_of_reminder, caller);
  }
  EXPECT_EQ(checked, 3 * 16);

  // t1 still sees its own data (the reads above were not vacuous).
  EXPECT_TRUE(reads["GoalService.GetGoal"](clinician_).status.ok());
  EXPECT_EQ(reads["GoalService.ListGoals"](clinician_).items, 2);
  EXPECT_TRUE(reads["MeasurementService.GetMetric"](clinician_).status.ok());
  EXPECT_TRUE(reads["ReminderService.GetReminder"](clinician_).status.ok());
}

// ---- token failures ----

TEST_F(AuthorizationTest, EveryTokenFailureIsUnauthenticated) {
  auth::Identity who;
  who.tenant = "t1";
  who.subject = "clin-1";
  who.role = v1::ROLE_CLINICIAN;
  auto minted = [&](auto change, absl::Duration ttl = absl::Hours(1)) {
    auth::AuthOptions options = fixture_.auth_options();
    change(options);
    return absl::StrCat("Bearer ", auth::MintHs256Token(options, who, ttl));
  };
  auto same = [](auth::AuthOptions&) {};
  struct Case {
    const char* label;
    std::string header;  // "" : no authorization header at all
  };
  const std::vector<Case> cases = {
      {"missing header", ""},
      {"Bearer with garbage", "Bearer not.a.jwt"},
      {"Bearer without token", "Bearer "},
      {"not Bearer",
       absl::StrCat("Basic ", auth::MintHs256Token(fixture_.auth_options(), who, absl::Hours(1)))},
      {"expired", minted(same, -absl::Hours(1))},
      {"wrong signature", minted([](auth::AuthOptions& o) {
         o.hs256_secret = "another-secret-0123456789abcdefghij";
       })},
      {"wrong audience", minted([](auth::AuthOptions& o) { o.audience = "someone-else"; })},
      {"wrong issuer", minted([](auth::AuthOptions& o) { o.issuer = "someone-else"; })},
  };
  auto context = [](const std::string& header) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!header.empty()) ctx->AddMetadata("authorization", header);
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return ctx;
  };
  // The control: the same call with a good token passes.
  {
    v1::ListGoalsRequest req;
    req.set_patient("p1");
    v1::ListGoalsResponse out;
    ASSERT_TRUE(goals_->ListGoals(context(minted(same)).get(), req, &out).ok());
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    {
      v1::ListGoalsRequest req;
      req.set_patient("p1");
      v1::ListGoalsResponse out;
      EXPECT_EQ(goals_->ListGoals(context(c.header).get(), req, &out).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
    {
      v1::ListMeasurementsRequest req;
      req.set_patient("p1");
      v1::ListMeasurementsResponse out;
      EXPECT_EQ(measurements_->ListMeasurements(context(c.header).get(), req, &out).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
    {
      v1::ListRemindersRequest req;
      req.set_patient("p1");
      v1::ListRemindersResponse out;
      EXPECT_EQ(reminders_->ListReminders(context(c.header).get(), req, &out).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
    {
      v1::ListAuditEventsRequest req;
      v1::ListAuditEventsResponse out;
      EXPECT_EQ(audit_->ListAuditEvents(context(c.header).get(), req, &out).error_code(),
                grpc::StatusCode::UNAUTHENTICATED);
    }
    {
      // A stream is refused the same way.
      auto ctx = context(c.header);
      v1::StreamDueRemindersRequest req;
      req.set_subscriber("platform");
      auto reader = reminders_->StreamDueReminders(ctx.get(), req);
      v1::Delivery d;
      EXPECT_FALSE(reader->Read(&d));
      EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
  }
}

}  // namespace
}  // namespace trellis
