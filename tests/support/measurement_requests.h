#pragma once

// Requests the measurement integration tests and the benchmarks build over and over: a PHQ-9
// goal that passes SMART, a tenant metric, PHQ-9 answers with a given total. Header-only values (no
// I/O).

#include <algorithm>
#include <string>

#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::testing {

inline trellis::v1::LocalDate Date(int year, int month, int day) {
  trellis::v1::LocalDate date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

// A tenant metric: minutes of breathing practice (id "minutes_practised", 0-600, higher better).
inline trellis::v1::DefineMetricRequest PracticeMinutesMetric() {
  trellis::v1::DefineMetricRequest def;
  auto* m = def.mutable_metric();
  m->set_id("minutes_practised");
  m->set_display_name("Minutes of breathing practice");
  m->set_kind(trellis::v1::METRIC_KIND_DURATION_MINUTES);
  m->set_min_value(0);
  m->set_max_value(600);
  m->set_better_direction(trellis::v1::BETTER_DIRECTION_HIGHER);
  return def;
}

// An ACTIVE PHQ-9 goal (18 -> 9, 2026-01-05 to 2026-04-06) that passes SMART on the
// ServiceFixture's default clock (2026-01-05).
inline trellis::v1::Goal Phq9Goal(const std::string& patient = "p1") {
  trellis::v1::Goal g;
  g.set_patient(patient);
  g.set_title("Reduce PHQ-9 score from 18 to 9");
  g.set_description(
      "Practice breathing exercises for 15 minutes daily and complete a PHQ-9 every week");
  g.set_category(trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  g.set_priority(trellis::v1::GOAL_PRIORITY_HIGH);
  g.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  auto* m = g.mutable_measure();
  m->set_metric("phq9");
  m->set_direction(trellis::v1::MEASURE_DIRECTION_DECREASE);
  m->set_baseline(18);
  m->set_target(9);
  *g.mutable_start_date() = Date(2026, 1, 5);
  *g.mutable_due_date() = Date(2026, 4, 6);
  g.add_addresses()->set_text("depressed mood");
  g.set_expressed_by(trellis::v1::GOAL_EXPRESSED_BY_CLIENT);
  g.set_agreement(trellis::v1::GOAL_AGREEMENT_AGREED);
  return g;
}

// PHQ-9 answers (items 1..9) summing to `total` (at most 24 + item9) with item 9 = `item9`.
inline trellis::v1::SubmitQuestionnaireRequest Phq9(const std::string& patient, int total,
                                                    int item9 = 0,
                                                    const std::string& request_id = "") {
  trellis::v1::SubmitQuestionnaireRequest req;
  req.set_patient(patient);
  req.set_instrument("phq9");
  req.set_request_id(request_id);
  int left = total - item9;
  for (int item = 1; item <= 8; ++item) {
    int v = std::min(3, left);
    left -= v;
    auto* a = req.add_answers();
    a->set_item(item);
    a->set_value(v);
  }
  auto* a = req.add_answers();
  a->set_item(9);
  a->set_value(item9);
  return req;
}

}  // namespace trellis::testing
