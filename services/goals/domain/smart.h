#pragma once

// SMART evaluation of a goal (DESIGN.md §3, issue 3): one or more structured findings per letter
// (S, M, A, R, T, in that order), each OK, WARN or FAIL with a stable rule id, a message and a
// suggested fix. FAIL findings block activation (lifecycle.h CheckActivation); WARN findings do
// not. Drafts in PROPOSED may be incomplete: evaluating them always succeeds and reports what is
// missing.
//
// The rules, with their ids (SmartFinding.rule):
//   S  DESCRIPTION_MISSING (FAIL)  the title is blank.
//      VAGUE_WORDING               a phrase of the vague-wording catalogue (vague_wording.h) in
//                                  the title or description, one finding per phrase with the
//                                  phrase as excerpt and its concrete rewrite as suggestion.
//                                  Absolute aims ("eradicate all anxiety") FAIL; feelings without
//                                  a behaviour ("feel better") FAIL unless the measure is already
//                                  concrete (a metric and a target), then WARN; hedges
//                                  ("eventually", "try to") WARN.
//      TITLE_TOO_SHORT (WARN)      fewer than 3 words and no description.
//   M  METRIC_MISSING, METRIC_UNKNOWN (not in the catalogue), DIRECTION_MISSING, TARGET_MISSING,
//      BASELINE_MISSING (no baseline and no baseline_from_first_measurement): FAIL each.
//      DIRECTION_MISMATCH (FAIL)   the direction is the opposite of the metric's direction of
//                                  improvement (e.g. INCREASE on PHQ-9: a goal to get worse).
//      TARGET_NOT_AN_IMPROVEMENT (WARN)  the baseline already meets the target.
//   A  NOT_ASSESSABLE (WARN)       without a known metric and a target there is nothing to check
//                                  (M has already failed).
//      TARGET_OUT_OF_RANGE, BASELINE_OUT_OF_RANGE (FAIL)  outside the metric's [min, max].
//      TARGET_ABSOLUTE             a symptom scale's floor as the target of a decrease ("zero
//                                  anxiety": GAD-7 = 0) FAILs; the floor or ceiling of any other
//                                  metric with a range WARNs ("10/10 mood every day").
//      CHANGE_TOO_FAST             the change asked for, as a fraction of the metric's range per
//                                  week between the start (start_date, or today when unset) and
//                                  the due date, above SmartConfig::warn_range_fraction_per_week
//                                  WARNs and above fail_range_fraction_per_week FAILs. The
//                                  suggestion names the earliest plausible due date. Needs a
//                                  baseline, a target, a due date and a metric with both bounds,
//                                  and the baseline and target inside them; otherwise not checked.
//   R  NO_CONCERN_OR_PARENT (FAIL) neither `addresses` nor `parent`.
//      PARENT_UNKNOWN              `parent` names no goal of the patient (SmartInputs::parent):
//                                  FAIL, or WARN when a concern is stated anyway.
//   T  DUE_DATE_MISSING, DUE_DATE_PAST (today or earlier), DUE_DATE_BEYOND_HORIZON (later than
//      today + SmartConfig::horizon_days), DUE_DATE_NOT_AFTER_START: FAIL each.
// A letter with no finding gets one OK finding (rule "OK").

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

// What the metric catalogue (MeasurementService.ListInstruments / GetMetric) says about the
// goal's metric. The handler fills it; the evaluator never looks anything up.
struct MetricInfo {
  // False when the catalogue has no such metric (or the goal names none): M fails.
  bool known = false;
  // For messages, e.g. "PHQ-9"; the metric id is used when empty.
  std::string display_name;
  // Inclusive bounds of the metric's values when it has them (PHQ-9: 0 and 27). A custom count
  // may have only a minimum.
  std::optional<double> min;
  std::optional<double> max;
  // Which way is improvement for this metric: DECREASE for symptom scores, INCREASE for minutes
  // practised, UNSPECIFIED when it depends on the goal (e.g. hours slept).
  trellis::v1::MeasureDirection better_direction = trellis::v1::MEASURE_DIRECTION_UNSPECIFIED;
  // A symptom scale (PHQ-9, GAD-7): `min` means no symptoms at all, which a goal cannot promise.
  bool symptom_scale = false;
};

// Whether the goal's `parent` was found.
enum class ParentLookup {
  // Not looked up: a syntactically valid parent is trusted (CreateGoal has already resolved it,
  // answering NOT_FOUND otherwise).
  kNotLookedUp,
  // The parent exists and belongs to the goal's patient.
  kFound,
  // No such goal for the patient (or the draft has no patient to look it up for).
  kNotFound,
};

// Tunables. Defaults are the service's configuration defaults.
struct SmartConfig {
  // A due date later than today + horizon_days fails T: break the goal into objectives instead.
  int horizon_days = 730;
  // Plausibility of the change asked for: |target - baseline| / (max - min) per week of time
  // between start and due date. The defaults let a PHQ-9 goal drop 2.7 points a week without a
  // warning (e.g. 20 -> 8 over 4.5 weeks) and fail only above 6.75 points a week: typical
  // response in treatment trials is a drop of 50% over 8-12 weeks, and a rapid early response
  // rarely exceeds a quarter of the scale's range per week.
  double warn_range_fraction_per_week = 0.10;
  double fail_range_fraction_per_week = 0.25;
  // The zone in which "today" is taken from SmartInputs::now (due dates are calendar days).
  absl::TimeZone time_zone = absl::UTCTimeZone();

  // OK when horizon_days >= 1 and 0 < warn <= fail, both finite.
  absl::Status Validate() const;
};

// Everything besides the goal that the rules need, filled by the caller.
struct SmartInputs {
  // The evaluation instant (injected clock).
  absl::Time now = absl::UnixEpoch();
  MetricInfo metric;
  ParentLookup parent = ParentLookup::kNotLookedUp;
};

// The findings of one evaluation, and whether they allow activation.
struct SmartEvaluation {
  // At least one per letter, in S, M, A, R, T order.
  std::vector<trellis::v1::SmartFinding> findings;
  // True when no finding is FAIL.
  bool passes = true;

  // The FAIL findings, in order.
  std::vector<trellis::v1::SmartFinding> Failures() const;
  // Fills an EvaluateSmartResponse.
  trellis::v1::EvaluateSmartResponse ToResponse() const;
};

// Evaluates goals against the SMART rules above. Immutable and thread-safe once built.
class SmartEvaluator {
 public:
  // Precondition: config.Validate() is OK (the service checks its flags at start-up).
  explicit SmartEvaluator(SmartConfig config = {});

  // Never fails: every problem of the goal is a finding. Reads title, description, measure,
  // start_date, due_date, addresses and parent; the other fields do not matter to SMART.
  // Precondition: the goal passed ValidateGoalDraft (or stricter) validation.
  SmartEvaluation Evaluate(const trellis::v1::Goal& goal, const SmartInputs& inputs) const;

  const SmartConfig& config() const { return config_; }

 private:
  SmartConfig config_;
};

// The one-letter subject of a letter in PreconditionFailure violations: "S", "M", "A", "R", "T".
absl::string_view SmartLetterSubject(trellis::v1::SmartLetter letter);

}  // namespace trellis::goals
