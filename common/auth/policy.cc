#include "common/auth/policy.h"

#include <array>

#include "absl/container/flat_hash_map.h"

#include "common/status/status.h"

namespace trellis::auth {
namespace {

constexpr Grant N = Grant::kNone;
constexpr Grant O = Grant::kOwn;
constexpr Grant T = Grant::kTenant;

// Columns: clinician, client, service, admin.
//
// `service` is the role of tokens the services mint for their calls to each other: the peer
// lookups made while serving a user (a goal's metric, a reminder's goal, a goal's target for
// progress) and the background work (outbox effects, the dispatch stream). It gets exactly those
// methods. `admin` configures a tenant (metrics, settings) and reads its audit trail; it does not
// read clinical records.
constexpr std::array<MethodRule, 40> kRules{{
    // GoalService
    {"GoalService.CreateGoal", T, O, N, N, "clients may only propose (status PROPOSED)"},
    {"GoalService.GetGoal", T, O, T, N, ""},
    {"GoalService.ListGoals", T, O, T, N, ""},
    {"GoalService.UpdateGoal", T, O, N, N,
     "clients may change only their proposed goals, or agree to an active one"},
    {"GoalService.TransitionGoal", T, N, N, N, ""},
    {"GoalService.ListGoalRevisions", T, O, N, N, ""},
    {"GoalService.EvaluateSmart", T, O, N, N, ""},
    {"GoalService.RateGoalAttainment", T, N, N, N, ""},
    {"GoalService.GetAttainmentScore", T, O, N, N, ""},
    {"GoalService.ExportGoalsFhir", T, O, N, N, ""},
    {"GoalService.SetAchievementStatus", T, N, T, N, ""},
    // MeasurementService
    {"MeasurementService.ListInstruments", T, T, T, T, ""},
    {"MeasurementService.GetMetric", T, T, T, T, ""},
    {"MeasurementService.DefineMetric", T, N, N, T, ""},
    {"MeasurementService.RecordMeasurement", T, O, T, N,
     "only the service role records the value of a reminder occurrence"},
    {"MeasurementService.SubmitQuestionnaire", T, O, T, N,
     "only the service role records the answers of a reminder occurrence"},
    {"MeasurementService.BatchRecordMeasurements", T, O, T, N, ""},
    {"MeasurementService.ListMeasurements", T, O, N, N, ""},
    {"MeasurementService.GetGoalProgress", T, O, N, N, ""},
    {"MeasurementService.GetPatientSummary", T, O, N, N, ""},
    // The service role reads the log too: the integrating platform (DESIGN.md §3) follows it to
    // route flags to whoever is on call; acknowledging stays a clinician's act.
    {"MeasurementService.ListSafetyFlags", T, O, T, N,
     "clients list their own flags only (the patient is required)"},
    {"MeasurementService.AcknowledgeSafetyFlag", T, N, N, N, ""},
    {"MeasurementService.ExportObservationsFhir", T, O, N, N, ""},
    {"MeasurementService.GetMeasurementSettings", T, N, T, T, ""},
    {"MeasurementService.UpdateMeasurementSettings", N, N, N, T, ""},
    // ReminderService
    {"ReminderService.CreateReminder", T, N, N, N, ""},
    {"ReminderService.GetReminder", T, O, N, N, ""},
    {"ReminderService.ListReminders", T, O, N, N, ""},
    {"ReminderService.UpdateReminder", T, N, N, N, ""},
    {"ReminderService.DeleteReminder", T, N, N, N, ""},
    {"ReminderService.PauseReminder", T, N, N, N, ""},
    {"ReminderService.ResumeReminder", T, N, N, N, ""},
    {"ReminderService.PreviewSchedule", T, T, N, N, ""},
    {"ReminderService.StreamDueReminders", N, N, T, N, ""},
    {"ReminderService.AckDelivery", N, N, T, N, ""},
    {"ReminderService.AckDeliveries", N, N, T, N, ""},
    {"ReminderService.RecordCompletion", T, O, T, N, ""},
    {"ReminderService.GetAdherence", T, O, N, N, ""},
    {"ReminderService.EndGoalReminders", N, N, T, N, ""},
    // AuditService (hosted by every binary)
    {"AuditService.ListAuditEvents", N, N, N, T, ""},
}};

absl::Status Denied() {
  return WithReason(absl::PermissionDeniedError("the caller's role may not call this method"),
                    "PERMISSION_DENIED");
}

}  // namespace

absl::Span<const MethodRule> AllRules() { return kRules; }

const MethodRule* FindRule(absl::string_view method) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<std::string_view, const MethodRule*>();
    for (const MethodRule& rule : kRules) m->emplace(rule.method, &rule);
    return m;
  }();
  auto it = index->find(std::string_view(method.data(), method.size()));
  return it == index->end() ? nullptr : it->second;
}

Grant GrantOf(const MethodRule& rule, const Identity& who) {
  switch (who.role) {
    case trellis::v1::ROLE_CLINICIAN:
      return rule.clinician;
    case trellis::v1::ROLE_CLIENT:
      return rule.client;
    case trellis::v1::ROLE_SERVICE:
      return rule.service;
    case trellis::v1::ROLE_ADMIN:
      return rule.admin;
    default:
      return Grant::kNone;
  }
}

absl::Status CheckRole(const MethodRule& rule, const Identity& who) {
  return GrantOf(rule, who) == Grant::kNone ? Denied() : absl::OkStatus();
}

absl::Status CheckScope(const MethodRule& rule, const Identity& who, absl::string_view patient) {
  switch (GrantOf(rule, who)) {
    case Grant::kNone:
      return Denied();
    case Grant::kOwn:
      // A client acts only on the patient it is; naming anyone else looks like a missing record.
      if (!patient.empty() && patient != who.patient) return NotFoundError("not found");
      return absl::OkStatus();
    case Grant::kTenant:
      return absl::OkStatus();
  }
  return Denied();
}

}  // namespace trellis::auth
