// The authorization table (common/auth/policy.h) cell by cell: every RPC of the suite has exactly
// one row, and each role gets what the specification below says.

#include "common/auth/policy.h"

#include <set>
#include <string>

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "trellis/v1/audit.pb.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::auth {
namespace {

using trellis::v1::Role;

// The specification, written independently of the table: per method, the cell of clinician,
// client, service, admin: T (any patient of the tenant), O (own patient only), - (refused).
struct Spec {
  const char* method;
  const char* cells;  // four characters
};
constexpr Spec kSpec[] = {
    {"GoalService.CreateGoal", "TO--"},
    {"GoalService.GetGoal", "TOT-"},
    {"GoalService.ListGoals", "TOT-"},
    {"GoalService.UpdateGoal", "TO--"},
    {"GoalService.TransitionGoal", "T---"},
    {"GoalService.ListGoalRevisions", "TO--"},
    {"GoalService.EvaluateSmart", "TO--"},
    {"GoalService.RateGoalAttainment", "T---"},
    {"GoalService.GetAttainmentScore", "TO--"},
    {"GoalService.ExportGoalsFhir", "TO--"},
    {"GoalService.SetAchievementStatus", "T-T-"},
    {"MeasurementService.ListInstruments", "TTTT"},
    {"MeasurementService.GetMetric", "TTTT"},
    {"MeasurementService.DefineMetric", "T--T"},
    {"MeasurementService.RecordMeasurement", "TOT-"},
    {"MeasurementService.SubmitQuestionnaire", "TOT-"},
    {"MeasurementService.BatchRecordMeasurements", "TOT-"},
    {"MeasurementService.ListMeasurements", "TO--"},
    {"MeasurementService.GetGoalProgress", "TO--"},
    {"MeasurementService.GetPatientSummary", "TO--"},
    {"MeasurementService.ListSafetyFlags", "TOT-"},
    {"MeasurementService.AcknowledgeSafetyFlag", "T---"},
    {"MeasurementService.ExportObservationsFhir", "TO--"},
    {"MeasurementService.GetMeasurementSettings", "T-TT"},
    {"MeasurementService.UpdateMeasurementSettings", "---T"},
    {"ReminderService.CreateReminder", "T---"},
    {"ReminderService.GetReminder", "TO--"},
    {"ReminderService.ListReminders", "TO--"},
    {"ReminderService.UpdateReminder", "T---"},
    {"ReminderService.DeleteReminder", "T---"},
    {"ReminderService.PauseReminder", "T---"},
    {"ReminderService.ResumeReminder", "T---"},
    {"ReminderService.PreviewSchedule", "TT--"},
    {"ReminderService.StreamDueReminders", "--T-"},
    {"ReminderService.AckDelivery", "--T-"},
    {"ReminderService.AckDeliveries", "--T-"},
    {"ReminderService.RecordCompletion", "TOT-"},
    {"ReminderService.GetAdherence", "TO--"},
    {"ReminderService.EndGoalReminders", "--T-"},
    {"AuditService.ListAuditEvents", "---T"},
};

constexpr Role kRoles[] = {trellis::v1::ROLE_CLINICIAN, trellis::v1::ROLE_CLIENT,
                           trellis::v1::ROLE_SERVICE, trellis::v1::ROLE_ADMIN};

Identity Caller(Role role) {
  Identity who;
  who.tenant = "t1";
  who.subject = "someone";
  who.role = role;
  if (role == trellis::v1::ROLE_CLIENT) who.patient = "p1";
  return who;
}

TEST(PolicyTest, EveryRpcOfTheSuiteHasExactlyOneRow) {
  std::set<std::string> rpcs;
  // Reached through a message of each file, so the descriptors are linked in.
  const google::protobuf::ServiceDescriptor* services[] = {
      trellis::v1::CreateGoalRequest::descriptor()->file()->FindServiceByName("GoalService"),
      trellis::v1::RecordMeasurementRequest::descriptor()->file()->FindServiceByName(
          "MeasurementService"),
      trellis::v1::CreateReminderRequest::descriptor()->file()->FindServiceByName(
          "ReminderService"),
      trellis::v1::ListAuditEventsRequest::descriptor()->file()->FindServiceByName("AuditService")};
  for (const auto* d : services) {
    ASSERT_NE(d, nullptr);
    for (int i = 0; i < d->method_count(); ++i) {
      rpcs.insert(absl::StrCat(d->name(), ".", d->method(i)->name()));
    }
  }
  std::set<std::string> rows;
  for (const MethodRule& rule : AllRules()) {
    EXPECT_TRUE(rows.insert(std::string(rule.method)).second) << "two rows: " << rule.method;
  }
  EXPECT_EQ(rows, rpcs);
  EXPECT_EQ(std::size(kSpec), rpcs.size());
}

TEST(PolicyTest, EachCellMatchesTheSpecification) {
  for (const Spec& spec : kSpec) {
    const MethodRule* rule = FindRule(spec.method);
    ASSERT_NE(rule, nullptr) << spec.method;
    for (int r = 0; r < 4; ++r) {
      Identity who = Caller(kRoles[r]);
      std::string cell = absl::StrCat(spec.method, " as ", trellis::v1::Role_Name(kRoles[r]));
      absl::Status own = CheckScope(*rule, who, "p1");
      absl::Status other = CheckScope(*rule, who, "p2");
      switch (spec.cells[r]) {
        case 'T':
          EXPECT_TRUE(CheckRole(*rule, who).ok()) << cell;
          EXPECT_TRUE(own.ok()) << cell;
          EXPECT_TRUE(other.ok()) << cell;
          break;
        case 'O':
          EXPECT_TRUE(CheckRole(*rule, who).ok()) << cell;
          EXPECT_TRUE(own.ok()) << cell;
          // Another patient's record looks missing, never forbidden.
          EXPECT_EQ(other.code(), absl::StatusCode::kNotFound) << cell;
          break;
        default:
          EXPECT_EQ(CheckRole(*rule, who).code(), absl::StatusCode::kPermissionDenied) << cell;
          EXPECT_EQ(own.code(), absl::StatusCode::kPermissionDenied) << cell;
          EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied) << cell;
      }
    }
  }
}

TEST(PolicyTest, UnknownRolesAndMethodsGetNothing) {
  Identity nobody = Caller(trellis::v1::ROLE_UNSPECIFIED);
  for (const MethodRule& rule : AllRules()) {
    EXPECT_EQ(CheckRole(rule, nobody).code(), absl::StatusCode::kPermissionDenied) << rule.method;
  }
  EXPECT_EQ(FindRule("GoalService.DropDatabase"), nullptr);
  EXPECT_EQ(FindRule("/trellis.v1.GoalService/GetGoal"), nullptr);
}

TEST(PolicyTest, AdminsReadNoClinicalRecords) {
  Identity admin = Caller(trellis::v1::ROLE_ADMIN);
  for (const char* m : {"GoalService.GetGoal", "MeasurementService.ListMeasurements",
                        "MeasurementService.GetPatientSummary", "ReminderService.GetReminder"}) {
    EXPECT_EQ(CheckRole(*FindRule(m), admin).code(), absl::StatusCode::kPermissionDenied) << m;
  }
}

}  // namespace
}  // namespace trellis::auth
