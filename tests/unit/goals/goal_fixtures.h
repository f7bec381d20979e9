#pragma once

// Shared values for the goals domain tests: a fixed "now", catalogue entries as the measurement
// service would report them, goals that pass every SMART letter, and status inspection helpers.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/rpc/error_details.pb.h"
#include "services/goals/domain/smart.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals::testing {

// 2024-03-01 12:00 UTC, a Friday.
inline absl::Time Now() {
  return absl::FromCivil(absl::CivilSecond(2024, 3, 1, 12, 0, 0), absl::UTCTimeZone());
}

inline trellis::v1::LocalDate Date(int year, int month, int day) {
  trellis::v1::LocalDate date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

inline MetricInfo Phq9() {
  MetricInfo info;
  info.known = true;
  info.display_name = "PHQ-9";
  info.min = 0;
  info.max = 27;
  info.better_direction = trellis::v1::MEASURE_DIRECTION_DECREASE;
  info.symptom_scale = true;
  return info;
}

inline MetricInfo Gad7() {
  MetricInfo info = Phq9();
  info.display_name = "GAD-7";
  info.max = 21;
  return info;
}

// A 0-10 self-rating where higher is better (not a symptom scale).
inline MetricInfo Mood() {
  MetricInfo info;
  info.known = true;
  info.display_name = "mood";
  info.min = 0;
  info.max = 10;
  info.better_direction = trellis::v1::MEASURE_DIRECTION_INCREASE;
  return info;
}

// A count with a floor and no ceiling.
inline MetricInfo PanicAttacksPerWeek() {
  MetricInfo info;
  info.known = true;
  info.display_name = "panic attacks per week";
  info.min = 0;
  info.better_direction = trellis::v1::MEASURE_DIRECTION_DECREASE;
  return info;
}

// A goal that passes every letter on Now() with Gad7(): GAD-7 15 -> 7 in 12 weeks.
inline trellis::v1::Goal SmartGoal() {
  trellis::v1::Goal goal;
  goal.set_patient("p42");
  goal.set_title("Practise breathing exercises for 15 minutes daily");
  goal.set_description("Use paced breathing on the commute and log each panic attack.");
  goal.set_category(trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  goal.set_priority(trellis::v1::GOAL_PRIORITY_HIGH);
  auto* m = goal.mutable_measure();
  m->set_metric("gad7");
  m->set_direction(trellis::v1::MEASURE_DIRECTION_DECREASE);
  m->set_baseline(15);
  m->set_target(7);
  *goal.mutable_start_date() = Date(2024, 3, 1);
  *goal.mutable_due_date() = Date(2024, 5, 24);
  goal.add_addresses()->set_text("panic attacks on the commute");
  goal.set_expressed_by(trellis::v1::GOAL_EXPRESSED_BY_CLINICIAN);
  goal.set_agreement(trellis::v1::GOAL_AGREEMENT_AGREED);
  return goal;
}

inline SmartInputs InputsWith(MetricInfo metric) {
  SmartInputs inputs;
  inputs.now = Now();
  inputs.metric = std::move(metric);
  return inputs;
}

inline google::protobuf::Timestamp At(int year, int month, int day, int hour = 9) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(year, month, day, hour, 0, 0), absl::UTCTimeZone())));
  return ts;
}

// A patient's plan as the store would return it: an active GAD-7 goal (g1) with two objectives
// (o1: panic attacks per week, o2: hours of sleep in a range), a cancelled PHQ-9 goal (g2) and a
// proposed draft with a target but no metric yet (g3).
inline std::vector<trellis::v1::Goal> ExportScenario() {
  using trellis::v1::Goal;
  Goal g1 = SmartGoal();
  g1.set_name("patients/p42/goals/g1");
  g1.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  g1.set_achievement_status(trellis::v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
  g1.set_status_reason("Agreed in session 2");
  *g1.mutable_status_time() = At(2024, 3, 1, 23);
  *g1.mutable_create_time() = At(2024, 2, 27);
  *g1.mutable_update_time() = At(2024, 3, 20);
  *g1.mutable_measure()->mutable_baseline_time() = At(2024, 2, 27);
  g1.set_revision(4);
  g1.set_etag("e4");
  g1.add_objectives("patients/p42/goals/o1");
  g1.add_objectives("patients/p42/goals/o2");
  *g1.mutable_review_date() = Date(2024, 4, 5);
  auto* coded = g1.add_addresses();
  coded->mutable_code()->set_system("http://snomed.info/sct");
  coded->mutable_code()->set_code("371631005");
  coded->mutable_code()->set_display("Panic disorder");
  auto* rating = g1.mutable_latest_attainment();
  rating->set_name("patients/p42/goals/g1/ratings/r1");
  rating->set_goal(g1.name());
  rating->set_rating(1);
  *rating->mutable_review_date() = Date(2024, 3, 15);
  rating->set_note("Better than expected on the commute");

  Goal o1;
  o1.set_name("patients/p42/goals/o1");
  o1.set_patient("p42");
  o1.set_parent("patients/p42/goals/g1");
  o1.set_title("Fewer than 2 panic attacks a week by mid-April");
  o1.set_category(trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  o1.set_priority(trellis::v1::GOAL_PRIORITY_MEDIUM);
  o1.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  o1.set_achievement_status(trellis::v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS);
  o1.mutable_measure()->set_metric("panic_attacks_per_week");
  o1.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_DECREASE);
  o1.mutable_measure()->set_baseline(6);
  o1.mutable_measure()->set_target(2);
  *o1.mutable_start_date() = Date(2024, 3, 1);
  *o1.mutable_due_date() = Date(2024, 4, 12);
  o1.set_expressed_by(trellis::v1::GOAL_EXPRESSED_BY_CLIENT);
  o1.set_agreement(trellis::v1::GOAL_AGREEMENT_AGREED);
  *o1.mutable_status_time() = At(2024, 3, 2);
  o1.set_revision(2);

  Goal o2;
  o2.set_name("patients/p42/goals/o2");
  o2.set_patient("p42");
  o2.set_parent("patients/p42/goals/g1");
  o2.set_title("Sleep 7 to 9 hours on weeknights");
  o2.set_category(trellis::v1::GOAL_CATEGORY_BEHAVIOURAL_CHANGE);
  o2.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  o2.mutable_measure()->set_metric("sleep_hours");
  o2.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_REACH_RANGE);
  o2.mutable_measure()->set_baseline_from_first_measurement(true);
  o2.mutable_measure()->set_target_low(7);
  o2.mutable_measure()->set_target_high(9);
  *o2.mutable_due_date() = Date(2024, 5, 3);
  o2.set_agreement(trellis::v1::GOAL_AGREEMENT_PENDING);
  o2.set_needs_review(true);
  o2.set_needs_review_reason("no reliable improvement in 6 weeks");
  o2.set_revision(1);

  Goal g2;
  g2.set_name("patients/p42/goals/g2");
  g2.set_patient("p42");
  g2.set_title("Bring PHQ-9 below 10 by June");
  g2.set_description("Behavioural activation: two planned activities a week.");
  g2.set_category(trellis::v1::GOAL_CATEGORY_EMOTIONAL_REGULATION);
  g2.set_priority(trellis::v1::GOAL_PRIORITY_LOW);
  g2.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED);
  g2.set_achievement_status(trellis::v1::GOAL_ACHIEVEMENT_STATUS_NOT_ACHIEVED);
  g2.set_status_reason("Client chose to focus on anxiety first");
  *g2.mutable_status_time() = At(2024, 3, 10);
  g2.mutable_measure()->set_metric("phq9");
  g2.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_DECREASE);
  g2.mutable_measure()->set_baseline(16);
  g2.mutable_measure()->set_target(9);
  *g2.mutable_start_date() = Date(2024, 2, 1);
  *g2.mutable_due_date() = Date(2024, 6, 1);
  g2.add_addresses()->set_text("low mood since the winter");
  g2.set_expressed_by(trellis::v1::GOAL_EXPRESSED_BY_CLINICIAN);
  g2.set_revision(3);

  Goal g3;
  g3.set_name("patients/p42/goals/g3");
  g3.set_patient("p42");
  g3.set_title("Feel less anxious");
  g3.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  g3.mutable_measure()->set_target(5);  // no metric yet: no target.detail (gol-1)
  *g3.mutable_due_date() = Date(2024, 6, 28);
  g3.set_expressed_by(trellis::v1::GOAL_EXPRESSED_BY_CLIENT);
  g3.set_agreement(trellis::v1::GOAL_AGREEMENT_PENDING);
  g3.set_revision(1);

  return {g1, o1, o2, g2, g3};
}

// The field paths of the BadRequest violations carried by `status`, in order.
inline std::vector<std::string> ViolatedFields(const absl::Status& status) {
  std::vector<std::string> fields;
  for (const auto& [field, description] : FieldViolationsOf(status)) fields.push_back(field);
  return fields;
}

// The ErrorInfo metadata carried by `status`.
inline std::map<std::string, std::string> ErrorMetadata(const absl::Status& status) {
  std::map<std::string, std::string> out;
  if (auto payload = status.GetPayload(kErrorInfoTypeUrl); payload.has_value()) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(*payload))) {
      for (const auto& [key, value] : info.metadata()) out[key] = value;
    }
  }
  return out;
}

}  // namespace trellis::goals::testing
