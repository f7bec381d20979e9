#include "services/measurements/domain/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status/status.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/reliable_change.h"
#include "services/measurements/domain/trend.h"

namespace trellis::measurements {
namespace {

using ::trellis::v1::DataSufficiency;
using ::trellis::v1::GoalAchievementStatus;
using ::trellis::v1::GoalProgress;
using ::trellis::v1::MeasureDirection;
using ::trellis::v1::Metric;

constexpr double kFractionMin = -1.0;
constexpr double kFractionMax = 2.0;

double Weeks(absl::Duration d) { return absl::ToDoubleHours(d) / (24.0 * 7.0); }

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  out.set_seconds(absl::ToInt64Seconds(d));
  return out;
}

std::string DescribeWindow(absl::Duration d) {
  constexpr int64_t kHoursPerWeek = int64_t{24} * 7;
  const int64_t hours = absl::ToInt64Hours(d);
  if (hours % kHoursPerWeek == 0) return absl::StrCat(hours / kHoursPerWeek, " weeks");
  if (hours % 24 == 0) return absl::StrCat(hours / 24, " days");
  return absl::FormatDuration(d);
}

void AddNote(GoalProgress& p, DataSufficiency code, std::string message) {
  auto* note = p.add_notes();
  note->set_code(code);
  note->set_message(std::move(message));
}

v1::DataPoint ToDataPoint(const SeriesPoint& point) {
  v1::DataPoint out;
  out.set_value(point.value);
  *out.mutable_observe_time() = ToProtoTimestamp(point.time);
  out.set_measurement(point.measurement);
  return out;
}

// The goal's target seen as a "distance" q(x) that must go down: the value itself for DECREASE,
// its negation for INCREASE, and the distance from the range (0 inside) for REACH_RANGE. With it,
// reached, fraction, on-track, projection and "toward the target" are one formula each.
class TargetPath {
 public:
  // nullopt when the measure has no usable target (none, or an incomplete/inverted range).
  static std::optional<TargetPath> Of(MeasureDirection direction, const v1::Measure& measure) {
    TargetPath path;
    path.direction_ = direction;
    switch (direction) {
      case v1::MEASURE_DIRECTION_DECREASE:
      case v1::MEASURE_DIRECTION_INCREASE:
        if (!measure.has_target() || !std::isfinite(measure.target())) return std::nullopt;
        path.target_ = measure.target();
        return path;
      case v1::MEASURE_DIRECTION_REACH_RANGE:
        if (!measure.has_target_low() || !measure.has_target_high() ||
            !std::isfinite(measure.target_low()) || !std::isfinite(measure.target_high()) ||
            measure.target_low() > measure.target_high()) {
          return std::nullopt;
        }
        path.low_ = measure.target_low();
        path.high_ = measure.target_high();
        return path;
      default:
        return std::nullopt;
    }
  }

  double Q(double x) const {
    switch (direction_) {
      case v1::MEASURE_DIRECTION_DECREASE:
        return x;
      case v1::MEASURE_DIRECTION_INCREASE:
        return -x;
      default:
        return x < low_ ? low_ - x : (x > high_ ? x - high_ : 0.0);
    }
  }
  double QTarget() const {
    switch (direction_) {
      case v1::MEASURE_DIRECTION_DECREASE:
        return target_;
      case v1::MEASURE_DIRECTION_INCREASE:
        return -target_;
      default:
        return 0.0;
    }
  }
  bool Reached(double x) const { return Q(x) <= QTarget(); }
  bool is_range() const { return direction_ == v1::MEASURE_DIRECTION_REACH_RANGE; }

  // The value the path from `baseline` heads for: the target, or the range bound nearest to the
  // baseline (nullopt when the baseline is inside the range: there is nowhere to go).
  std::optional<double> GoalValue(double baseline) const {
    if (!is_range()) return target_;
    if (baseline < low_) return low_;
    if (baseline > high_) return high_;
    return std::nullopt;
  }

  // The slope of q for a value slope `slope` at value `x` (ranges: the side x is on).
  double QSlope(double slope, double x) const {
    switch (direction_) {
      case v1::MEASURE_DIRECTION_DECREASE:
        return slope;
      case v1::MEASURE_DIRECTION_INCREASE:
        return -slope;
      default:
        return x < low_ ? -slope : (x > high_ ? slope : 0.0);
    }
  }

 private:
  MeasureDirection direction_ = v1::MEASURE_DIRECTION_UNSPECIFIED;
  double target_ = 0;
  double low_ = 0;
  double high_ = 0;
};

enum class Movement { kImproved, kWorsened, kNoChange };

// The FHIR goal-achievement code of `status` (for messages and revisions people read).
absl::string_view FhirAchievementCode(GoalAchievementStatus status) {
  switch (status) {
    case v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS:
      return "in-progress";
    case v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING:
      return "improving";
    case v1::GOAL_ACHIEVEMENT_STATUS_WORSENING:
      return "worsening";
    case v1::GOAL_ACHIEVEMENT_STATUS_NO_CHANGE:
      return "no-change";
    case v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED:
      return "achieved";
    case v1::GOAL_ACHIEVEMENT_STATUS_SUSTAINING:
      return "sustaining";
    case v1::GOAL_ACHIEVEMENT_STATUS_NOT_ACHIEVED:
      return "not-achieved";
    case v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS:
      return "no-progress";
    case v1::GOAL_ACHIEVEMENT_STATUS_NOT_ATTAINABLE:
      return "not-attainable";
    default:
      return "unspecified";
  }
}

// The goal's direction, falling back to the metric's better direction when unspecified.
MeasureDirection EffectiveDirection(const v1::Measure& measure, const Metric& metric) {
  if (measure.direction() != v1::MEASURE_DIRECTION_UNSPECIFIED) return measure.direction();
  if (metric.better_direction() == v1::BETTER_DIRECTION_LOWER) {
    return v1::MEASURE_DIRECTION_DECREASE;
  }
  if (metric.better_direction() == v1::BETTER_DIRECTION_HIGHER) {
    return v1::MEASURE_DIRECTION_INCREASE;
  }
  return v1::MEASURE_DIRECTION_UNSPECIFIED;
}

// The direction the contract's reliable_change field is judged in: the goal's for DECREASE and
// INCREASE, the metric's better direction for REACH_RANGE.
std::optional<Better> ReportedBetter(MeasureDirection direction, const Metric& metric) {
  if (direction == v1::MEASURE_DIRECTION_DECREASE) return Better::kLower;
  if (direction == v1::MEASURE_DIRECTION_INCREASE) return Better::kHigher;
  if (metric.better_direction() == v1::BETTER_DIRECTION_LOWER) return Better::kLower;
  if (metric.better_direction() == v1::BETTER_DIRECTION_HIGHER) return Better::kHigher;
  return std::nullopt;
}

// Fitted change of q over `points` (slope x span, in q units; negative = toward the target), or
// nullopt when no slope can be fitted.
std::optional<double> FittedQChange(const TargetPath& path, absl::Span<const SeriesPoint> points,
                                    absl::Duration min_span) {
  if (points.size() < 2 || points.back().time - points.front().time < min_span) {
    return std::nullopt;
  }
  std::vector<SeriesPoint> q;
  q.reserve(points.size());
  for (const SeriesPoint& p : points) q.push_back({p.time, path.Q(p.value), ""});
  std::optional<double> slope = SlopePerWeek(q);
  if (!slope.has_value()) return std::nullopt;
  return *slope * Weeks(points.back().time - points.front().time);
}

}  // namespace

absl::Status ValidateTrendWindow(const google::protobuf::Duration& window,
                                 absl::string_view field) {
  const absl::Duration d = absl::Seconds(window.seconds()) + absl::Nanoseconds(window.nanos());
  if (d < absl::Hours(24) || d > absl::Hours(24 * 365)) {
    return InvalidField(field, "must be between 1 day and 365 days");
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgressResult> ProgressCalculator::Compute(const v1::Goal& goal,
                                                           const Metric* metric_in,
                                                           const ProgressSeries& series,
                                                           absl::Time now) const {
  ProgressResult result;
  GoalProgress& p = result.progress;
  p.set_goal(goal.name());
  *p.mutable_compute_time() = ToProtoTimestamp(now);
  *p.mutable_trend_window() = ToProtoDuration(config_.trend_window);
  *p.mutable_stalled_window() = ToProtoDuration(config_.stalled_window);
  p.set_suggested_achievement_status(v1::GOAL_ACHIEVEMENT_STATUS_UNSPECIFIED);
  p.set_reliable_change(v1::RELIABLE_CHANGE_NOT_APPLICABLE);
  p.set_reliable_change_method(v1::RELIABLE_CHANGE_METHOD_NONE);

  const v1::Measure& measure = goal.measure();
  if (!goal.has_measure() || measure.metric().empty()) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_MEASURE, "the goal has no measure");
    return result;
  }
  p.set_metric(measure.metric());
  *p.mutable_measure() = measure;
  if (metric_in == nullptr) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_MEASURE,
            absl::StrCat("metric \"", measure.metric(), "\" is not defined"));
    return result;
  }
  if (metric_in->id() != measure.metric()) {
    return absl::InternalError("progress: metric definition does not match the goal's measure");
  }
  for (size_t i = 0; i < series.recent.size(); ++i) {
    if (!std::isfinite(series.recent[i].value) ||
        (i > 0 && series.recent[i].time < series.recent[i - 1].time)) {
      return absl::InternalError("progress: series not sorted by time or not finite");
    }
  }
  if (series.first_since_start.has_value() && !std::isfinite(series.first_since_start->value)) {
    return absl::InternalError("progress: series not finite");
  }

  Metric metric = *metric_in;
  clinical::ApplyInstrumentConfig(config_.instruments, &metric);
  const MeasureDirection direction = EffectiveDirection(measure, metric);
  p.mutable_measure()->set_direction(direction);
  p.set_points_used(
      static_cast<int32_t>(series.recent.size() + (series.first_since_start.has_value() ? 1 : 0)));
  if (series.truncated) {
    AddNote(p, v1::DATA_SUFFICIENCY_WINDOW_TRUNCATED,
            absl::StrCat("only the latest ", series.recent.size(), " measurements were read"));
  }

  // ---- Start, points since start, baseline, latest.
  absl::Time start = absl::InfinitePast();
  const std::optional<absl::Time> start_day = StartOfDayUtc(goal.start_date());
  if (start_day.has_value()) {
    start = *start_day;
  } else if (goal.has_create_time()) {
    start = ToAbslTime(goal.create_time());
  }
  const auto first_in_recent =
      std::lower_bound(series.recent.begin(), series.recent.end(), start,
                       [](const SeriesPoint& point, absl::Time t) { return point.time < t; });
  const absl::Span<const SeriesPoint> points =
      absl::MakeConstSpan(series.recent).subspan(first_in_recent - series.recent.begin());

  // A goal baseline without baseline_time counts as observed at the start (InfinitePast if none).
  std::optional<SeriesPoint> baseline;
  if (measure.has_baseline() && std::isfinite(measure.baseline())) {
    baseline =
        SeriesPoint{measure.has_baseline_time() ? ToAbslTime(measure.baseline_time()) : start,
                    measure.baseline(), ""};
    v1::DataPoint* dp = p.mutable_baseline();
    dp->set_value(measure.baseline());
    if (measure.has_baseline_time()) *dp->mutable_observe_time() = measure.baseline_time();
    p.set_baseline_source(v1::BASELINE_SOURCE_GOAL);
  } else {
    if (series.first_since_start.has_value() && series.first_since_start->time >= start) {
      baseline = series.first_since_start;
    }
    if (!points.empty() && (!baseline.has_value() || points.front().time < baseline->time)) {
      baseline = points.front();
    }
    if (baseline.has_value()) {
      *p.mutable_baseline() = ToDataPoint(*baseline);
      p.set_baseline_source(v1::BASELINE_SOURCE_FIRST_MEASUREMENT);
    }
  }
  const bool baseline_is_first_point = p.baseline_source() == v1::BASELINE_SOURCE_FIRST_MEASUREMENT;

  std::optional<SeriesPoint> latest;
  if (!points.empty()) latest = points.back();
  if (latest.has_value()) {
    *p.mutable_latest() = ToDataPoint(*latest);
  } else {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_DATA,
            absl::StrCat("no measurements of \"", measure.metric(), "\" since the goal started"));
  }
  if (!baseline.has_value()) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_BASELINE,
            "no baseline on the goal and no measurement since it started");
  }

  // ---- Target and change.
  const std::optional<TargetPath> path = TargetPath::Of(direction, measure);
  if (!path.has_value()) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_TARGET,
            direction == v1::MEASURE_DIRECTION_UNSPECIFIED
                ? "the goal has no direction and the metric has no better direction"
                : "the goal has no target (or no complete target range)");
  }
  const bool reached = path.has_value() && latest.has_value() && path->Reached(latest->value);
  p.set_target_reached(reached);

  if (baseline.has_value() && latest.has_value()) {
    p.set_absolute_change(latest->value - baseline->value);
    if (baseline->value != 0) {
      p.set_percent_change(100.0 * (latest->value - baseline->value) / std::fabs(baseline->value));
    }
    if (path.has_value()) {
      const double span = path->Q(baseline->value) - path->QTarget();
      double fraction;
      if (span > 0) {
        fraction = (path->Q(baseline->value) - path->Q(latest->value)) / span;
      } else {
        fraction = reached ? 1.0 : 0.0;  // the baseline was already on target
      }
      p.set_fraction_to_target(std::clamp(fraction, kFractionMin, kFractionMax));
    }
  }

  // ---- Trend and projection.
  const absl::Time trend_start = now - config_.trend_window;
  const auto trend_begin =
      std::lower_bound(points.begin(), points.end(), trend_start,
                       [](const SeriesPoint& point, absl::Time t) { return point.time < t; });
  const absl::Span<const SeriesPoint> trend_points = points.subspan(trend_begin - points.begin());
  p.set_trend_points(static_cast<int32_t>(trend_points.size()));
  std::optional<double> slope;
  if (static_cast<int>(trend_points.size()) >= std::max(2, config_.min_trend_points) &&
      trend_points.back().time - trend_points.front().time >= config_.min_trend_span) {
    slope = SlopePerWeek(trend_points);
  }
  if (slope.has_value()) {
    p.set_slope_per_week(*slope);
  } else {
    AddNote(p, v1::DATA_SUFFICIENCY_TOO_FEW_POINTS_FOR_TREND,
            absl::StrCat("fewer than ", std::max(2, config_.min_trend_points),
                         " measurements spanning ", DescribeWindow(config_.min_trend_span),
                         " or more in the last ", DescribeWindow(config_.trend_window)));
  }
  if (slope.has_value() && path.has_value() && latest.has_value() && !reached) {
    const double gap = path->Q(latest->value) - path->QTarget();  // > 0: not reached
    const double q_slope = path->QSlope(*slope, latest->value);
    const double weeks = q_slope < 0 ? gap / -q_slope : 0;
    if (q_slope < 0 && weeks <= Weeks(config_.max_projection)) {
      const absl::Time when = latest->time + absl::Hours(weeks * 24.0 * 7.0);
      *p.mutable_projected_target_date() = ToLocalDateUtc(when);
    } else {
      AddNote(p, v1::DATA_SUFFICIENCY_MOVING_AWAY_FROM_TARGET,
              q_slope < 0 ? "at the current trend the target is more than " +
                                DescribeWindow(config_.max_projection) + " away"
                          : "the trend is flat or moves away from the target");
    }
  }

  // ---- On track.
  const std::optional<absl::Time> due_day = StartOfDayUtc(goal.due_date());
  if (!start_day.has_value() || !due_day.has_value()) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_DUE_DATE, "on-track needs the goal's start and due dates");
  } else if (baseline.has_value() && latest.has_value() && path.has_value()) {
    const std::optional<double> goal_value = path->GoalValue(baseline->value);
    if (!goal_value.has_value()) {
      p.set_on_track(reached);  // started inside the range: on track while it stays there
    } else {
      double f = 1.0;
      if (*due_day > *start_day) {
        f = std::clamp(absl::FDivDuration(now - *start_day, *due_day - *start_day), 0.0, 1.0);
      }
      const double expected = baseline->value + (*goal_value - baseline->value) * f;
      const double tolerance =
          config_.on_track_tolerance * std::fabs(path->Q(baseline->value) - path->QTarget());
      p.set_expected_value_now(expected);
      p.set_on_track(path->Q(latest->value) <= path->Q(expected) + tolerance);
    }
  }

  // ---- Reliable change, response, remission.
  const bool has_criterion = HasReliableChangeCriterion(metric);
  if (!has_criterion) {
    AddNote(p, v1::DATA_SUFFICIENCY_NO_RELIABLE_CHANGE_CRITERION,
            absl::StrCat("\"", metric.id(),
                         "\" declares no reliable-change threshold nor SD and reliability"));
  }
  if (baseline.has_value() && latest.has_value()) {
    if (const std::optional<Better> better = ReportedBetter(direction, metric); better) {
      const ReliableChangeAssessment rc =
          AssessReliableChange(metric, baseline->value, latest->value, *better);
      p.set_reliable_change(rc.change);
      p.set_reliable_change_method(rc.method);
      if (rc.index.has_value()) p.set_reliable_change_index(*rc.index);
    }
    if (metric.has_response_fraction()) {
      p.set_response(baseline->value > 0 &&
                     baseline->value - latest->value >=
                         metric.response_fraction() * baseline->value - 1e-9);
    }
  }
  if (latest.has_value() && metric.has_remission_below()) {
    p.set_remission(latest->value < metric.remission_below());
  }

  // Movement between two values toward the target: by the reliable-change criterion when there
  // is one, else by the meaningful-change rule on `fitted` (or the endpoint difference).
  const double meaningful =
      config_.meaningful_change * ((path.has_value() && baseline.has_value() &&
                                    std::fabs(path->Q(baseline->value) - path->QTarget()) > 0)
                                       ? std::fabs(path->Q(baseline->value) - path->QTarget())
                                       : metric.max_value() - metric.min_value());
  auto movement = [&](double before, double after, std::optional<double> fitted) {
    if (has_criterion) {
      const v1::ReliableChange change =
          AssessReliableChange(metric, path->Q(before), path->Q(after), Better::kLower).change;
      if (change == v1::RELIABLE_CHANGE_IMPROVED) return Movement::kImproved;
      if (change == v1::RELIABLE_CHANGE_DETERIORATED) return Movement::kWorsened;
      return Movement::kNoChange;
    }
    const double dq = fitted.has_value() ? *fitted : path->Q(after) - path->Q(before);
    if (dq <= -meaningful) return Movement::kImproved;
    if (dq >= meaningful) return Movement::kWorsened;
    return Movement::kNoChange;
  };

  // ---- Stalled.
  bool stall_decidable = false;
  bool stalled = false;
  if (latest.has_value() && path.has_value() && !reached) {
    const absl::Time window_start = now - config_.stalled_window;
    const auto in_window_begin =
        std::upper_bound(points.begin(), points.end(), window_start,
                         [](absl::Time t, const SeriesPoint& point) { return t < point.time; });
    const int in_window = static_cast<int>(points.end() - in_window_begin);
    if (!baseline.has_value() || baseline->time > window_start) {
      AddNote(p, v1::DATA_SUFFICIENCY_TOO_SHORT_FOR_STALLED,
              absl::StrCat("the series is shorter than the stalled window (",
                           DescribeWindow(config_.stalled_window), ")"));
    } else if (in_window < std::max(1, config_.min_points_in_stalled_window)) {
      AddNote(p, v1::DATA_SUFFICIENCY_TOO_SHORT_FOR_STALLED,
              absl::StrCat("fewer than ", config_.min_points_in_stalled_window,
                           " measurements in the last ", DescribeWindow(config_.stalled_window)));
    } else if (has_criterion) {
      stall_decidable = true;
      // The last reliable improvement, each measured from the level the previous one reached:
      // steady progress keeps producing them, a plateau (even after early gains) does not.
      double level = baseline->value;
      absl::Time last_improvement = baseline->time;
      if (series.truncated && !points.empty()) {
        // What happened in the unread gap is unknown; do not call it stalled on that account.
        last_improvement = std::max(last_improvement, points.front().time);
      }
      for (const SeriesPoint& point : points) {
        if (point.time < baseline->time) continue;
        if (AssessReliableChange(metric, path->Q(level), path->Q(point.value), Better::kLower)
                .change == v1::RELIABLE_CHANGE_IMPROVED) {
          level = point.value;
          last_improvement = point.time;
        }
      }
      stalled = last_improvement <= window_start;
    } else {
      stall_decidable = true;
      const absl::Span<const SeriesPoint> window = points.subspan(in_window_begin - points.begin());
      const std::optional<double> fitted = FittedQChange(*path, window, config_.min_trend_span);
      const double change = fitted.has_value()
                                ? *fitted
                                : path->Q(window.back().value) - path->Q(window.front().value);
      stalled = change > -meaningful;
    }
  }
  p.set_stalled(stalled);

  // ---- Suggested achievement status.
  GoalAchievementStatus status = v1::GOAL_ACHIEVEMENT_STATUS_UNSPECIFIED;
  if (latest.has_value()) {
    if (reached) {
      // The run of values on target that ends with the latest one.
      auto run_start = points.end();
      while (run_start != points.begin() && path->Reached((run_start - 1)->value)) --run_start;
      const bool held = points.end() - run_start >= 2 &&
                        latest->time - run_start->time >= config_.sustain_duration;
      status = held ? v1::GOAL_ACHIEVEMENT_STATUS_SUSTAINING : v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED;
    } else if (!baseline.has_value() || !path.has_value() ||
               (baseline_is_first_point && points.size() < 2)) {
      status = v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS;
    } else {
      std::optional<double> fitted;
      if (slope.has_value()) fitted = FittedQChange(*path, trend_points, config_.min_trend_span);
      const Movement m = movement(baseline->value, latest->value, fitted);
      if (m == Movement::kWorsened) {
        status = v1::GOAL_ACHIEVEMENT_STATUS_WORSENING;
      } else if (stalled) {
        status = v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS;
      } else if (m == Movement::kImproved) {
        status = v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING;
      } else if (!stall_decidable) {
        status = v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS;
      } else {
        status = v1::GOAL_ACHIEVEMENT_STATUS_NO_CHANGE;
      }
    }
  }
  p.set_suggested_achievement_status(status);

  if (stalled) {
    result.needs_review = true;
    result.needs_review_reason = absl::StrCat(
        has_criterion ? "no reliable improvement in " : "no meaningful improvement in ",
        DescribeWindow(config_.stalled_window));
  } else if (status == v1::GOAL_ACHIEVEMENT_STATUS_WORSENING) {
    result.needs_review = true;
    result.needs_review_reason =
        has_criterion ? "reliable deterioration since baseline" : "worsening trend since baseline";
  }
  return result;
}

v1::SetAchievementStatusRequest AchievementWriteBack(const ProgressResult& result) {
  v1::SetAchievementStatusRequest request;
  request.set_name(result.progress.goal());
  request.set_achievement_status(result.progress.suggested_achievement_status());
  if (result.needs_review) {
    request.set_needs_review(true);
    request.set_needs_review_reason(result.needs_review_reason);
  }
  *request.mutable_evaluate_time() = result.progress.compute_time();
  request.set_reason(
      absl::StrCat("progress of ", result.progress.metric(), " suggests ",
                   FhirAchievementCode(result.progress.suggested_achievement_status())));
  return request;
}

std::string EncodeProgressResult(const ProgressResult& result) {
  std::string out = absl::StrCat(result.needs_review ? "1" : "0",
                                 result.needs_review_reason.size(), ":",
                                 result.needs_review_reason);
  result.progress.AppendToString(&out);
  return out;
}

bool DecodeProgressResult(absl::string_view payload, ProgressResult* result) {
  if (payload.empty() || (payload[0] != '0' && payload[0] != '1')) return false;
  size_t colon = payload.find(':');
  size_t length = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(payload.substr(1, colon - 1), &length) ||
      length > payload.size() - colon - 1) {
    return false;
  }
  ProgressResult out;
  out.needs_review = payload[0] == '1';
  out.needs_review_reason = std::string(payload.substr(colon + 1, length));
  absl::string_view bytes = payload.substr(colon + 1 + length);
  if (!out.progress.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  *result = std::move(out);
  return true;
}

}  // namespace trellis::measurements
