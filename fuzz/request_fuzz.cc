// Fuzz target: the request validators of the goal, measurement and reminder services. The first
// byte chooses a message type (kMessages, modulo its size); the rest is parsed as that message,
// as gRPC would, and handed to the pure function the service's handler calls first. What a
// validator accepts then goes through the step the handler takes next (NewGoalFromRequest and the
// FHIR export, ApplyUpdate, the SMART rules, AttainmentTScore, ApplySettingsUpdate, the schedule
// preview), which relies on the validation.
//
// Contracts checked: every refusal is INVALID_ARGUMENT naming at least one field; the follow-up
// step of an accepted request does not fail where its precondition says it cannot.

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/clinical/instruments.h"
#include "common/status/status.h"
#include "fuzz/fuzz_target.h"
#include "google/protobuf/stubs/logging.h"
#include "nlohmann/json.hpp"
#include "services/goals/domain/attainment.h"
#include "services/goals/domain/fhir.h"
#include "services/goals/domain/smart.h"
#include "services/goals/domain/update_mask.h"
#include "services/goals/domain/validation.h"
#include "services/measurements/domain/fhir_observation.h"
#include "services/measurements/domain/measurement_validation.h"
#include "services/measurements/domain/metric_definition.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "services/measurements/domain/tenant_settings.h"
#include "services/reminders/domain/delivery_policy.h"
#include "services/reminders/domain/occurrence_id.h"
#include "services/reminders/domain/schedule.h"
#include "services/reminders/reminder_convert.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::fuzz {
namespace {

// The clock of every time-dependent rule: 2024-06-10T06:13:20Z.
const absl::Time kNow = absl::FromUnixSeconds(1718000000);
const absl::CivilDay kToday(2024, 6, 10);

// Every violation of `status` is under `prefix` (ScheduleOptions::field_prefix).
void CheckRefusalUnder(const absl::Status& status, absl::string_view prefix) {
  CheckRefusal(status);
  for (const auto& [field, description] : FieldViolationsOf(status)) {
    TRELLIS_FUZZ_CHECK(absl::StartsWith(field, prefix));
  }
}

// The FHIR export always yields a JSON Bundle, whatever the goal holds (fhir.h: invalid UTF-8 is
// replaced, never thrown).
void CheckFhirExport(const v1::Goal& goal) {
  const std::string json = goals::GoalsToFhirBundleJson({goal});
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  TRELLIS_FUZZ_CHECK(parsed.is_object() && parsed.value("resourceType", "") == "Bundle");
}

// A goal as the store holds it, for UpdateGoal and the list filters.
v1::Goal StoredGoal() {
  v1::Goal goal;
  goal.set_name("patients/p1/goals/g1");
  goal.set_patient("p1");
  goal.set_title("Reduce PHQ-9 below 10 by September");
  goal.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  goal.mutable_measure()->set_metric("phq9");
  goal.mutable_measure()->set_direction(v1::MEASURE_DIRECTION_DECREASE);
  goal.mutable_measure()->set_baseline(18);
  goal.mutable_measure()->set_target(9);
  goal.mutable_due_date()->set_year(2024);
  goal.mutable_due_date()->set_month(9);
  goal.mutable_due_date()->set_day(30);
  goal.add_addresses()->set_text("low mood");
  goal.set_revision(3);
  goal.set_etag("r3");
  return goal;
}

// What the metric catalogue says of the PHQ-9 (metric_catalog.h fills this from GetMetric).
goals::SmartInputs Phq9Inputs() {
  goals::SmartInputs inputs;
  inputs.now = kNow;
  inputs.metric.known = true;
  inputs.metric.display_name = "PHQ-9";
  inputs.metric.min = 0;
  inputs.metric.max = 27;
  inputs.metric.better_direction = v1::MEASURE_DIRECTION_DECREASE;
  inputs.metric.symptom_scale = true;
  return inputs;
}

void EvaluateSmart(const v1::Goal& goal) {
  static const goals::SmartEvaluator* evaluator = new goals::SmartEvaluator();
  const goals::SmartEvaluation evaluation = evaluator->Evaluate(goal, Phq9Inputs());
  TRELLIS_FUZZ_CHECK(evaluation.findings.size() >= 5);  // at least one per letter
}

// --- Goals -----------------------------------------------------------------------------------

void CreateGoal(const v1::CreateGoalRequest& request) {
  if (absl::Status s = goals::ValidateCreateGoalRequest(request); !s.ok()) {
    return CheckRefusal(s);
  }
  v1::Goal goal = goals::NewGoalFromRequest(request.goal());
  TRELLIS_FUZZ_CHECK(goal.lifecycle_status() != v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED);
  TRELLIS_FUZZ_CHECK(goals::ValidateGoalDraft(goal).ok());  // create is the stricter check
  EvaluateSmart(goal);
  goal.set_name(absl::StrCat("patients/", goal.patient(), "/goals/g1"));
  CheckFhirExport(goal);
}

void UpdateGoal(const v1::UpdateGoalRequest& request) {
  absl::StatusOr<goals::ValidatedUpdate> update = goals::ValidateUpdateGoalRequest(request);
  if (!update.ok()) return CheckRefusal(update.status());
  TRELLIS_FUZZ_CHECK(!update->paths.empty());
  absl::StatusOr<goals::GoalUpdate> applied =
      goals::ApplyUpdate(StoredGoal(), request.goal(), update->paths);
  if (!applied.ok()) return CheckRefusalUnder(applied.status(), "goal.measure.");
  EvaluateSmart(applied->goal);
  CheckFhirExport(applied->goal);
}

void ListGoals(const v1::ListGoalsRequest& request) {
  absl::StatusOr<goals::ListGoalsQuery> query = goals::ValidateListGoalsRequest(request);
  if (!query.ok()) return CheckRefusal(query.status());
  TRELLIS_FUZZ_CHECK(!query->statuses.empty());
  TRELLIS_FUZZ_CHECK(query->page_size >= 1 && query->page_size <= goals::kMaxPageSize);
  (void)query->Matches(StoredGoal());
  (void)query->FilterFingerprint();
}

void GetAttainmentScore(const v1::GetAttainmentScoreRequest& request) {
  if (absl::Status s = goals::ValidateGetAttainmentScoreRequest(request); !s.ok()) {
    return CheckRefusal(s);
  }
  // The handler rates each weighted goal with its stored rating (-2..+2); a validated request
  // must always give a score.
  std::vector<goals::AttainmentTerm> terms;
  for (const auto& [goal, weight] : request.weights()) {
    terms.push_back({static_cast<int>(terms.size() % 5) - 2, weight});
  }
  if (terms.empty()) terms.push_back({0, 1.0});
  absl::StatusOr<double> score = request.has_rho() ? goals::AttainmentTScore(terms, request.rho())
                                                   : goals::AttainmentTScore(terms);
  TRELLIS_FUZZ_CHECK(score.ok() && std::isfinite(*score));
}

void EvaluateSmartDraft(const v1::EvaluateSmartRequest& request) {
  if (absl::Status s = goals::ValidateEvaluateSmartRequest(request); !s.ok()) {
    return CheckRefusal(s);
  }
  EvaluateSmart(request.goal());
}

template <typename Result>
void CheckValidation(const absl::StatusOr<Result>& result) {
  if (!result.ok()) CheckRefusal(result.status());
}

void CheckValidation(const absl::Status& status) {
  if (!status.ok()) CheckRefusal(status);
}

// --- Measurements ----------------------------------------------------------------------------

// Tenant metrics the requests may name besides the built-ins (DefineMetric's output).
const std::vector<v1::Metric>& TenantMetrics() {
  static const std::vector<v1::Metric>* metrics = [] {
    auto* out = new std::vector<v1::Metric>();
    v1::Metric sleep;
    sleep.set_id("sleep_hours");
    sleep.set_display_name("Sleep");
    sleep.set_kind(v1::METRIC_KIND_HOURS);
    sleep.set_min_value(0);
    sleep.set_max_value(24);
    sleep.set_better_direction(v1::BETTER_DIRECTION_NEITHER);
    v1::Metric exercised;
    exercised.set_id("exercised");
    exercised.set_display_name("Exercised today");
    exercised.set_kind(v1::METRIC_KIND_YES_NO);
    exercised.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
    for (const v1::Metric& m : {sleep, exercised}) {
      absl::StatusOr<v1::Metric> prepared = measurements::PrepareMetricDefinition(m);
      TRELLIS_FUZZ_CHECK(prepared.ok());
      out->push_back(*prepared);
    }
    return out;
  }();
  return *metrics;
}

const v1::Metric* ResolveMetric(absl::string_view id) {
  if (const v1::Metric* m = clinical::FindBuiltIn(id)) return m;
  for (const v1::Metric& m : TenantMetrics()) {
    if (m.id() == id) return &m;
  }
  return nullptr;
}

void RecordMeasurement(const v1::RecordMeasurementRequest& request) {
  const v1::Metric* metric = ResolveMetric(request.measurement().metric());
  if (metric == nullptr) return;  // the handler's "measurement.metric" NOT_FOUND/INVALID_ARGUMENT
  for (v1::Role role : {v1::ROLE_CLIENT, v1::ROLE_CLINICIAN, v1::ROLE_SERVICE}) {
    absl::StatusOr<v1::Measurement> m =
        measurements::PrepareMeasurement(request.measurement(), *metric, role, kNow);
    if (!m.ok()) {
      CheckRefusalUnder(m.status(), "measurement.");
      continue;
    }
    TRELLIS_FUZZ_CHECK(std::isfinite(m->value()));
    TRELLIS_FUZZ_CHECK(m->value() >= metric->min_value() && m->value() <= metric->max_value());
    TRELLIS_FUZZ_CHECK(m->has_observe_time());
    (void)measurements::ToFhirObservation(*m, *metric).dump();
  }
}

void SubmitQuestionnaire(const v1::SubmitQuestionnaireRequest& request) {
  const v1::Metric* instrument = clinical::FindBuiltIn(request.instrument());
  if (instrument == nullptr) return;  // the handler refuses an unknown instrument itself
  const clinical::InstrumentConfig config;
  absl::StatusOr<v1::Measurement> m =
      measurements::PrepareSubmission(request, *instrument, config, v1::ROLE_CLIENT, kNow);
  if (!m.ok()) return CheckRefusal(m.status());
  TRELLIS_FUZZ_CHECK(m->value() >= instrument->min_value() &&
                     m->value() <= instrument->max_value());
  (void)measurements::ToFhirObservation(*m, *instrument).dump();
}

void DefineMetric(const v1::DefineMetricRequest& request) {
  absl::StatusOr<v1::Metric> prepared = measurements::PrepareMetricDefinition(request.metric());
  if (!prepared.ok()) return CheckRefusalUnder(prepared.status(), "metric.");
  // A retry sends back what was stored: it must prepare to the same definition.
  absl::StatusOr<v1::Metric> again = measurements::PrepareMetricDefinition(*prepared);
  TRELLIS_FUZZ_CHECK(again.ok());
  TRELLIS_FUZZ_CHECK(measurements::SameMetricDefinition(*prepared, *again));
}

void UpdateSettings(const v1::UpdateMeasurementSettingsRequest& request) {
  absl::StatusOr<std::vector<std::string>> paths =
      measurements::ValidateSettingsMask(request.update_mask());
  if (!paths.ok()) return CheckRefusal(paths.status());
  const clinical::InstrumentConfig defaults;
  absl::StatusOr<v1::MeasurementSettings> updated = measurements::ApplySettingsUpdate(
      defaults, measurements::DefaultSettings(defaults), request.settings(), *paths);
  if (!updated.ok()) return CheckRefusalUnder(updated.status(), "settings.");
  TRELLIS_FUZZ_CHECK(
      clinical::ValidateInstrumentConfig(measurements::InstrumentConfigFor(defaults, *updated))
          .ok());
}

// --- Reminders -------------------------------------------------------------------------------

std::optional<reminders::ReminderSchedule> CheckSchedule(const v1::Schedule& schedule,
                                                         const std::string& prefix) {
  reminders::ScheduleOptions options;
  options.field_prefix = prefix;
  absl::StatusOr<reminders::ReminderSchedule> s =
      reminders::ReminderSchedule::FromRequest(reminders::SpecOf(schedule), kNow, options);
  if (!s.ok()) {
    CheckRefusalUnder(s.status(), prefix);
    return std::nullopt;
  }
  TRELLIS_FUZZ_CHECK(s->NextOccurrence(kNow).has_value());
  return *std::move(s);
}

void CreateReminder(const v1::CreateReminderRequest& request) {
  (void)CheckSchedule(request.reminder().schedule(), "reminder.schedule");
}

void UpdateReminder(const v1::UpdateReminderRequest& request) {
  if (request.reminder().has_schedule()) {
    (void)CheckSchedule(request.reminder().schedule(), "reminder.schedule");
  }
}

void PreviewSchedule(const v1::PreviewScheduleRequest& request) {
  std::optional<reminders::ReminderSchedule> schedule =
      CheckSchedule(request.schedule(), "schedule");
  if (!schedule.has_value()) return;
  absl::Time from = kNow;
  if (request.has_start_time() && measurements::IsValidTimestamp(request.start_time())) {
    from = reminders::ToTime(request.start_time());  // the handler refuses any other start_time
  }
  absl::StatusOr<reminders::SchedulePreview> preview = schedule->Preview(from, request.count());
  if (!preview.ok()) return CheckRefusal(preview.status());
  for (size_t i = 1; i < preview->occurrences.size(); ++i) {
    TRELLIS_FUZZ_CHECK(preview->occurrences[i - 1].time < preview->occurrences[i].time);
  }
}

void RecordCompletion(const v1::RecordCompletionRequest& request) {
  if (!request.occurrence_id().empty()) {
    absl::StatusOr<reminders::OccurrenceRef> ref =
        reminders::ParseOccurrenceId(request.occurrence_id(), "occurrence_id");
    if (ref.ok()) {
      // Ids are a pure function of the reminder and the instant: parsing inverts minting.
      TRELLIS_FUZZ_CHECK(reminders::OccurrenceId(ref->reminder_name, ref->scheduled_time) ==
                         request.occurrence_id());
    } else {
      CheckRefusal(ref.status());
    }
  }
  if (request.has_snooze_duration()) {
    const absl::Duration snooze = absl::Seconds(request.snooze_duration().seconds()) +
                                  absl::Nanoseconds(request.snooze_duration().nanos());
    CheckValidation(reminders::ValidateSnoozeDuration(snooze));
    CheckValidation(reminders::SnoozeUntil(kNow, snooze));
  }
}

void AckDeliveries(const v1::AckDeliveriesRequest& request) {
  for (const std::string& id : request.delivery_ids()) {
    absl::StatusOr<reminders::DeliveryRef> ref = reminders::ParseDeliveryId(id, "delivery_ids");
    if (!ref.ok()) {
      CheckRefusal(ref.status());
      continue;
    }
    TRELLIS_FUZZ_CHECK(
        (ref->snooze ? reminders::SnoozeDeliveryId(ref->occurrence_id) : ref->occurrence_id) == id);
  }
}

// --- Dispatch --------------------------------------------------------------------------------

// Parses `bytes` as `Request` and runs `check` on it; unparsable bytes are gRPC's to refuse.
template <typename Request, void (*check)(const Request&)>
void Run(absl::string_view bytes) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  check(request);
}

template <typename Request, typename Result, Result (*validate)(const Request&)>
void Validate(const Request& request) {
  CheckValidation(validate(request));
}

void RateGoalAttainment(const v1::RateGoalAttainmentRequest& request) {
  CheckValidation(goals::ValidateRateGoalAttainmentRequest(request, kToday));
}

void SetAchievementStatus(const v1::SetAchievementStatusRequest& request) {
  CheckValidation(goals::ValidateSetAchievementStatusRequest(request, kNow));
}

void ExportGoal(const v1::Goal& goal) { CheckFhirExport(goal); }

using Runner = void (*)(absl::string_view);

// The message types, by the input's first byte (its value modulo the size). Append only: the
// seed corpus (fuzz/make_seeds.py) is written against these indices.
constexpr std::array<Runner, 21> kMessages = {
    Run<v1::CreateGoalRequest, CreateGoal>,
    Run<v1::UpdateGoalRequest, UpdateGoal>,
    Run<v1::GetGoalRequest, Validate<v1::GetGoalRequest, absl::StatusOr<goals::GoalName>,
                                     goals::ValidateGetGoalRequest>>,
    Run<v1::ListGoalsRequest, ListGoals>,
    Run<v1::TransitionGoalRequest,
        Validate<v1::TransitionGoalRequest, absl::StatusOr<goals::GoalName>,
                 goals::ValidateTransitionGoalRequest>>,
    Run<v1::ListGoalRevisionsRequest,
        Validate<v1::ListGoalRevisionsRequest, absl::StatusOr<goals::ListRevisionsQuery>,
                 goals::ValidateListGoalRevisionsRequest>>,
    Run<v1::EvaluateSmartRequest, EvaluateSmartDraft>,
    Run<v1::RateGoalAttainmentRequest, RateGoalAttainment>,
    Run<v1::GetAttainmentScoreRequest, GetAttainmentScore>,
    Run<v1::ExportGoalsFhirRequest,
        Validate<v1::ExportGoalsFhirRequest, absl::Status, goals::ValidateExportGoalsFhirRequest>>,
    Run<v1::SetAchievementStatusRequest, SetAchievementStatus>,
    Run<v1::Goal, ExportGoal>,
    Run<v1::RecordMeasurementRequest, RecordMeasurement>,
    Run<v1::SubmitQuestionnaireRequest, SubmitQuestionnaire>,
    Run<v1::DefineMetricRequest, DefineMetric>,
    Run<v1::UpdateMeasurementSettingsRequest, UpdateSettings>,
    Run<v1::CreateReminderRequest, CreateReminder>,
    Run<v1::UpdateReminderRequest, UpdateReminder>,
    Run<v1::PreviewScheduleRequest, PreviewSchedule>,
    Run<v1::RecordCompletionRequest, RecordCompletion>,
    Run<v1::AckDeliveriesRequest, AckDeliveries>,
};

}  // namespace

int FuzzRequest(const uint8_t* data, size_t size) {
  // Parse failures (e.g. invalid UTF-8 in a string field) are logged by protobuf; at fuzzing rates
  // that is only noise and time.
  static const bool kProtobufQuiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)kProtobufQuiet;
  if (size == 0) return 0;
  const absl::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);
  kMessages[data[0] % kMessages.size()](message);
  return 0;
}

}  // namespace trellis::fuzz

TRELLIS_FUZZ_ENTRY_POINT(trellis::fuzz::FuzzRequest)
