#pragma once

// Progress of a goal toward its target: the heart of GetGoalProgress and GetPatientSummary.
//
// Pure computation over plain inputs: the goal (its measure, start and due dates), the metric,
// a bounded window of the patient's series for that metric, and an injected `now`. The store reads
// the window; the handler writes the suggested achievement status back to the goal.
//
// Rules (all thresholds in ProgressConfig; reference/measures.md for the clinical ones):
//
// Start. The goal starts at 00:00 UTC of start_date, else at its create_time, else with the first
//   point. Points before the start are ignored everywhere.
// Baseline. Measure.baseline (at baseline_time, source GOAL), else the first point at or after the
//   start (source FIRST_MEASUREMENT).
// Target. DECREASE and INCREASE use Measure.target; REACH_RANGE uses [target_low, target_high].
//   An UNSPECIFIED direction falls back to the metric's better direction (LOWER -> DECREASE,
//   HIGHER -> INCREASE); with neither there is no target. Reached: latest <= target (DECREASE),
//   >= target (INCREASE), inside the range (REACH_RANGE).
// Distance to target. Range goals are judged by the distance of a value from the range
//   (0 inside), which must go down; the other goals by the value itself. Every "toward the
//   target" below means that.
// Fraction to target. (latest - baseline) / (target - baseline): 0 at baseline, 1 at the target;
//   for ranges 1 - distance(latest) / distance(baseline). Clamped to [-1, 2]: past those points
//   the number says nothing a chart can use, and a target very close to the baseline would
//   otherwise produce arbitrarily large values. A baseline already on target gives 1 when the
//   latest value is on target and 0 otherwise.
// Trend. Least-squares slope per week of the points inside the trend window ending now (default
//   8 weeks); needs config.min_trend_points points spanning at least config.min_trend_span.
// Projection. The date the target is reached continuing from the latest value at that slope:
//   latest.time + (target - latest) / slope weeks; none when already reached, flat, moving away,
//   or further than config.max_projection ahead.
// On track. The straight line from the baseline at 00:00 UTC of start_date to the target at 00:00
//   UTC of due_date, evaluated now (baseline before the start, target after the due date). On
//   track when the latest value is at or better than that line, with a tolerance of
//   config.on_track_tolerance (10%) of the baseline-to-target distance: scores are whole numbers
//   and a point of noise should not flip the answer.
// Reliable change. Baseline to latest, by the metric's criterion (reliable_change.h), in the
//   goal's direction (REACH_RANGE: the metric's better direction, per the contract). PHQ-9 and
//   GAD-7 thresholds come from config.instruments.
// Response and remission. Metrics declaring them (PHQ-9): response = a drop of at least
//   response_fraction (50%) of the baseline; remission = latest below remission_below (5).
// Meaningful change without a criterion. For metrics with no reliable-change criterion (mood,
//   SUDS, most tenant metrics) a change counts when the fitted trend moves toward (or away from)
//   the target by at least config.meaningful_change (10%) of the baseline-to-target distance,
//   or of the metric's range when there is no target. The fitted change is slope x time span of
//   the points, which a single noisy day cannot swing the way an endpoint difference can.
// Stalled. Decided once the baseline lies at or before the start of the stalled window (default
//   6 weeks before now) and the window holds config.min_points_in_stalled_window (2) values; the
//   target must not be reached. With a reliable-change criterion: stalled when the last reliable
//   improvement happened before the window. Improvements are found walking the series from the
//   baseline, each one measured from the level the previous one reached, so steady progress keeps
//   producing them while a plateau - even after early gains - does not; a steady drop of 5 PHQ-9
//   points in 6 weeks is stalled by this rule until the 6th point arrives, as the contract's
//   definition says. Without a criterion: stalled when the fitted trend over the window moves
//   toward the target by less than config.meaningful_change of the distance (or range).
// Suggested achievement status (FHIR goal-achievement), first match wins:
//   no data                                  -> UNSPECIFIED
//   target reached, held for sustain_duration (>= 2 points, default 4 weeks)  -> SUSTAINING
//   target reached                           -> ACHIEVED
//   no baseline, or only the baseline point  -> IN_PROGRESS (too little data)
//   reliable (or meaningful) worsening from baseline  -> WORSENING
//   stalled                                  -> NO_PROGRESS
//   reliable (or meaningful) improvement     -> IMPROVING
//   no change, stalled window not yet covered -> IN_PROGRESS
//   otherwise                                -> NO_CHANGE
// Needs review: stalled ("the feeling-stuck signal") or WORSENING.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clinical/instruments.h"
#include "google/protobuf/duration.pb.h"
#include "services/measurements/domain/series.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

struct ProgressConfig {
  // Trend (slope) window ending now; a request may override it (ValidateTrendWindow).
  absl::Duration trend_window = absl::Hours(24 * 7 * 8);
  // Fewer points than this in the trend window: no slope.
  int min_trend_points = 2;
  // Points spanning less time than this: no slope (two entries on one day are a correction, not
  // a trend, and would give an absurd per-week slope).
  absl::Duration min_trend_span = absl::Hours(24);
  // Stalled: no improvement within this window (the "feeling stuck" signal).
  absl::Duration stalled_window = absl::Hours(24 * 7 * 6);
  // Points needed inside the stalled window, besides the reference, to decide stalled.
  int min_points_in_stalled_window = 2;
  // Meaningful change for metrics without a reliable-change criterion, as a fraction of the
  // baseline-to-target distance (or of the metric's range without a target).
  double meaningful_change = 0.10;
  // On-track tolerance as a fraction of the baseline-to-target distance.
  double on_track_tolerance = 0.10;
  // ACHIEVED becomes SUSTAINING when every value has met the target for this long.
  absl::Duration sustain_duration = absl::Hours(24 * 7 * 4);
  // Projections further ahead than this are not reported (the trend is as good as flat).
  absl::Duration max_projection = absl::Hours(24 * 365 * 5);
  // Tenant settings of the built-in questionnaires (reliable change thresholds: PHQ-9 6, GAD-7 4).
  clinical::InstrumentConfig instruments;
};

// The series input: a bounded window, never the whole history.
struct ProgressSeries {
  // The most recent points of the metric for the patient, ascending by time (the store's bounded
  // read). Points before the goal's start are allowed and ignored.
  std::vector<SeriesPoint> recent;
  // The first point at or after the goal's start, when `recent` may not reach back that far (the
  // store reads it separately when the goal has no explicit baseline and `truncated` is true).
  std::optional<SeriesPoint> first_since_start;
  // Older points exist than those in `recent` (reported as WINDOW_TRUNCATED).
  bool truncated = false;
};

struct ProgressResult {
  trellis::v1::GoalProgress progress;
  // Whether the goal should be marked needs_review, and why (<= 500 characters, no values: it is
  // stored on the goal and may be logged).
  bool needs_review = false;
  std::string needs_review_reason;
};

// INVALID_ARGUMENT naming `field` unless 1 day <= window <= 365 days (GetGoalProgressRequest).
absl::Status ValidateTrendWindow(const google::protobuf::Duration& window,
                                 absl::string_view field = "trend_window");

class ProgressCalculator {
 public:
  explicit ProgressCalculator(ProgressConfig config) : config_(std::move(config)) {}

  // Progress of `goal` at `now`. `metric` is the definition of goal.measure.metric (nullptr when
  // the goal has no measure or the metric is not defined: the result then carries a NO_MEASURE
  // note; that is not an error). Missing pieces are not errors either: they leave fields unset
  // and add a note. Errors: INTERNAL when `series.recent` is not sorted by time or holds a
  // non-finite value, or `metric` is not the goal's metric (caller bugs, not client input).
  absl::StatusOr<ProgressResult> Compute(const trellis::v1::Goal& goal,
                                         const trellis::v1::Metric* metric,
                                         const ProgressSeries& series, absl::Time now) const;

  const ProgressConfig& config() const { return config_; }

 private:
  ProgressConfig config_;
};

// The cached form of a result (the measurement service's progress cache): needs_review, its
// reason and the serialized GoalProgress. Decode returns false for anything Encode did not write.
std::string EncodeProgressResult(const ProgressResult& result);
bool DecodeProgressResult(absl::string_view payload, ProgressResult* result);

// The write-back for GoalService.SetAchievementStatus (name, achievement_status, needs_review
// only when it should be set, needs_review_reason, evaluate_time = compute_time, reason); the
// caller adds request_id (its outbox entry id). Send it when the suggestion differs from the
// goal's current achievement_status: re-sending an unchanged suggestion would re-raise
// needs_review after a clinician has cleared it.
trellis::v1::SetAchievementStatusRequest AchievementWriteBack(const ProgressResult& result);

}  // namespace trellis::measurements
