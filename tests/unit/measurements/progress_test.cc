// Progress toward a goal on constructed series with an injected `now`: baseline, change, trend
// and projection, on-track, reliable change, response and remission, stalled, and the suggested
// FHIR achievement status.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/progress.h"
#include "services/measurements/domain/proto_time.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Day;
using ::trellis::measurements::testing::Weeks;

const v1::Metric& Phq9() { return *clinical::FindBuiltIn("phq9"); }
const v1::Metric& Gad7() { return *clinical::FindBuiltIn("gad7"); }
const v1::Metric& Mood() { return *clinical::FindBuiltIn("mood"); }

v1::LocalDate Date(int year, int month, int day) {
  v1::LocalDate d;
  d.set_year(year);
  d.set_month(month);
  d.set_day(day);
  return d;
}

// All series start on Monday 2024-01-01; values are observed at noon, once a week.
const absl::Time kStart = Day(2024, 1, 1);
absl::Time Week(double n) { return kStart + Weeks(n) + absl::Hours(12); }

v1::Goal MakeGoal(absl::string_view metric, v1::MeasureDirection direction,
                  std::optional<double> target, std::optional<double> baseline = std::nullopt) {
  v1::Goal goal;
  goal.set_name("patients/p42/goals/g1");
  goal.set_patient("p42");
  v1::Measure* m = goal.mutable_measure();
  m->set_metric(std::string(metric));
  m->set_direction(direction);
  if (target.has_value()) m->set_target(*target);
  if (baseline.has_value()) {
    m->set_baseline(*baseline);
  } else {
    m->set_baseline_from_first_measurement(true);
  }
  *goal.mutable_start_date() = Date(2024, 1, 1);
  *goal.mutable_due_date() = Date(2024, 6, 3);
  return goal;
}

v1::Goal Phq9Goal(double target = 5, std::optional<double> baseline = std::nullopt) {
  return MakeGoal("phq9", v1::MEASURE_DIRECTION_DECREASE, target, baseline);
}

ProgressSeries WeeklySeries(const std::vector<double>& values, int first_week = 0) {
  ProgressSeries series;
  for (size_t i = 0; i < values.size(); ++i) {
    const int week = first_week + static_cast<int>(i);
    series.recent.push_back(
        {Week(week), values[i], absl::StrCat("patients/p42/measurements/m", week)});
  }
  return series;
}

// "now" one hour after the value of week `n`.
absl::Time JustAfterWeek(int n) { return Week(n) + absl::Hours(1); }

ProgressResult Compute(const v1::Goal& goal, const v1::Metric& metric, const ProgressSeries& series,
                       absl::Time now, const ProgressConfig& config = {}) {
  auto result = ProgressCalculator(config).Compute(goal, &metric, series, now);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProgressResult{};
}

bool HasNote(const v1::GoalProgress& p, v1::DataSufficiency code) {
  for (const auto& note : p.notes()) {
    if (note.code() == code) return true;
  }
  return false;
}

// ---- Trend and projection.

TEST(ProgressTrend, APerfectLineLosingOnePointPerWeekHasSlopeMinusOne) {
  const auto r =
      Compute(Phq9Goal(5), Phq9(), WeeklySeries({20, 19, 18, 17, 16, 15}), JustAfterWeek(5));
  const v1::GoalProgress& p = r.progress;
  ASSERT_TRUE(p.has_slope_per_week());
  EXPECT_NEAR(p.slope_per_week(), -1.0, 1e-9);
  EXPECT_EQ(p.trend_points(), 6);
  EXPECT_EQ(p.trend_window().seconds(), 8 * 7 * 24 * 3600);
}

TEST(ProgressTrend, ProjectsTheTargetDateAtTheCurrentSlope) {
  // Latest 15 on 2024-02-05, target 5, one point a week: ten weeks later.
  const auto r =
      Compute(Phq9Goal(5), Phq9(), WeeklySeries({20, 19, 18, 17, 16, 15}), JustAfterWeek(5));
  ASSERT_TRUE(r.progress.has_projected_target_date());
  EXPECT_EQ(r.progress.projected_target_date().year(), 2024);
  EXPECT_EQ(r.progress.projected_target_date().month(), 4);
  EXPECT_EQ(r.progress.projected_target_date().day(), 15);
}

TEST(ProgressTrend, NoProjectionWhenMovingAwayOrFlat) {
  for (const auto& values : {std::vector<double>{10, 11, 12}, std::vector<double>{10, 10, 10}}) {
    const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(values), JustAfterWeek(2));
    EXPECT_FALSE(r.progress.has_projected_target_date());
    EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_MOVING_AWAY_FROM_TARGET));
  }
}

TEST(ProgressTrend, UsesOnlyThePointsInsideTheTrendWindow) {
  // Flat at 20 for six weeks, then one point down per week.
  std::vector<double> values;
  for (int w = 0; w < 12; ++w) values.push_back(w < 6 ? 20 : 20 - (w - 5));
  ProgressConfig config;
  config.trend_window = Weeks(4);
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(values), JustAfterWeek(11), config);
  EXPECT_EQ(r.progress.trend_points(), 4);
  EXPECT_NEAR(r.progress.slope_per_week(), -1.0, 1e-9);
}

TEST(ProgressTrend, NeedsTwoPointsSpanningADay) {
  auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries({15}), JustAfterWeek(0));
  EXPECT_FALSE(r.progress.has_slope_per_week());
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_TOO_FEW_POINTS_FOR_TREND));

  ProgressSeries same_day = WeeklySeries({15});
  same_day.recent.push_back({Week(0) + absl::Hours(2), 12, ""});  // a correction, not a trend
  r = Compute(Phq9Goal(5), Phq9(), same_day, JustAfterWeek(0) + absl::Hours(2));
  EXPECT_FALSE(r.progress.has_slope_per_week());
}

// ---- Baseline, latest, change.

TEST(ProgressBaseline, IsTheFirstMeasurementAtOrAfterTheStart) {
  ProgressSeries series = WeeklySeries({20, 18});
  series.recent.insert(series.recent.begin(), {kStart - absl::Hours(24 * 7), 25, "before"});
  const auto r = Compute(Phq9Goal(5), Phq9(), series, JustAfterWeek(1));
  EXPECT_EQ(r.progress.baseline_source(), v1::BASELINE_SOURCE_FIRST_MEASUREMENT);
  EXPECT_EQ(r.progress.baseline().value(), 20);
  EXPECT_EQ(r.progress.baseline().measurement(), "patients/p42/measurements/m0");
  EXPECT_EQ(ToAbslTime(r.progress.baseline().observe_time()), Week(0));
  EXPECT_EQ(r.progress.latest().value(), 18);
  EXPECT_EQ(r.progress.points_used(), 3);
}

TEST(ProgressBaseline, AnExplicitBaselineWins) {
  const auto r = Compute(Phq9Goal(5, 18), Phq9(), WeeklySeries({15, 14}), JustAfterWeek(1));
  EXPECT_EQ(r.progress.baseline_source(), v1::BASELINE_SOURCE_GOAL);
  EXPECT_EQ(r.progress.baseline().value(), 18);
  EXPECT_TRUE(r.progress.baseline().measurement().empty());
  EXPECT_EQ(r.progress.absolute_change(), -4);
}

TEST(ProgressBaseline, ComesFromTheStoresFirstPointWhenTheWindowIsTruncated) {
  ProgressSeries series = WeeklySeries({16, 15, 14}, 7);
  series.truncated = true;
  series.first_since_start = SeriesPoint{Week(0), 22, "patients/p42/measurements/first"};
  const auto r = Compute(Phq9Goal(5), Phq9(), series, JustAfterWeek(9));
  EXPECT_EQ(r.progress.baseline().value(), 22);
  EXPECT_EQ(r.progress.points_used(), 4);
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_WINDOW_TRUNCATED));
}

TEST(ProgressChange, ReportsAbsolutePercentAndFractionOfTheWay) {
  const auto r =
      Compute(Phq9Goal(5), Phq9(), WeeklySeries({20, 19, 18, 17, 16, 15}), JustAfterWeek(5));
  EXPECT_EQ(r.progress.absolute_change(), -5);
  EXPECT_NEAR(r.progress.percent_change(), -25.0, 1e-9);
  EXPECT_NEAR(r.progress.fraction_to_target(), 1.0 / 3.0, 1e-9);
  EXPECT_FALSE(r.progress.target_reached());
}

TEST(ProgressChange, FractionToTargetIsClampedToMinusOneAndTwo) {
  auto r = Compute(Phq9Goal(19), Phq9(), WeeklySeries({20, 10}), JustAfterWeek(1));
  EXPECT_EQ(r.progress.fraction_to_target(), 2.0);
  r = Compute(Phq9Goal(19), Phq9(), WeeklySeries({20, 27}), JustAfterWeek(1));
  EXPECT_EQ(r.progress.fraction_to_target(), -1.0);
}

TEST(ProgressChange, PercentChangeIsUnsetFromAZeroBaseline) {
  const auto r = Compute(MakeGoal("mood", v1::MEASURE_DIRECTION_INCREASE, 7), Mood(),
                         WeeklySeries({0, 3}), JustAfterWeek(1));
  EXPECT_EQ(r.progress.absolute_change(), 3);
  EXPECT_FALSE(r.progress.has_percent_change());
}

TEST(ProgressChange, AnUnspecifiedDirectionFollowsTheMetric) {
  const auto r = Compute(MakeGoal("phq9", v1::MEASURE_DIRECTION_UNSPECIFIED, 5), Phq9(),
                         WeeklySeries({20, 4}), JustAfterWeek(1));
  EXPECT_EQ(r.progress.measure().direction(), v1::MEASURE_DIRECTION_DECREASE);
  EXPECT_TRUE(r.progress.target_reached());
}

// ---- On track.

v1::Goal TwelveWeekGoal() {
  v1::Goal goal = Phq9Goal(6, 18);  // 18 -> 6 in 12 weeks: one point a week
  *goal.mutable_due_date() = Date(2024, 3, 25);
  return goal;
}

TEST(ProgressOnTrack, ComparesTheLatestValueWithTheStraightPathNow) {
  const absl::Time now = Day(2024, 2, 12);  // six weeks in: the path is at 12
  ProgressSeries series;
  series.recent.push_back({Day(2024, 2, 11) + absl::Hours(12), 13, ""});
  auto r = Compute(TwelveWeekGoal(), Phq9(), series, now);
  EXPECT_NEAR(r.progress.expected_value_now(), 12.0, 1e-9);
  ASSERT_TRUE(r.progress.has_on_track());
  EXPECT_TRUE(r.progress.on_track());  // 13 is within the tolerance of 1.2

  series.recent[0].value = 14;
  r = Compute(TwelveWeekGoal(), Phq9(), series, now);
  EXPECT_FALSE(r.progress.on_track());

  series.recent[0].value = 9;  // ahead of the path
  r = Compute(TwelveWeekGoal(), Phq9(), series, now);
  EXPECT_TRUE(r.progress.on_track());
}

TEST(ProgressOnTrack, AfterTheDueDateThePathIsTheTarget) {
  ProgressSeries series;
  series.recent.push_back({Day(2024, 4, 1), 8, ""});
  const auto r = Compute(TwelveWeekGoal(), Phq9(), series, Day(2024, 4, 2));
  EXPECT_EQ(r.progress.expected_value_now(), 6);
  EXPECT_FALSE(r.progress.on_track());
}

TEST(ProgressOnTrack, IsUnsetWithoutDates) {
  v1::Goal goal = TwelveWeekGoal();
  goal.clear_due_date();
  const auto r = Compute(goal, Phq9(), WeeklySeries({18, 16}), JustAfterWeek(1));
  EXPECT_FALSE(r.progress.has_on_track());
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_NO_DUE_DATE));
}

// ---- Reliable change, response, remission.

TEST(ProgressReliableChange, Phq9UsesTheIntegerThreshold) {
  auto r = Compute(Phq9Goal(5, 18), Phq9(), WeeklySeries({12}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_EQ(r.progress.reliable_change_method(), v1::RELIABLE_CHANGE_METHOD_THRESHOLD);
  EXPECT_FALSE(r.progress.has_reliable_change_index());
  r = Compute(Phq9Goal(5, 18), Phq9(), WeeklySeries({13}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
  r = Compute(Phq9Goal(5, 8), Phq9(), WeeklySeries({14}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_DETERIORATED);
}

TEST(ProgressReliableChange, Gad7ThresholdComesFromTheConfig) {
  const v1::Goal goal = MakeGoal("gad7", v1::MEASURE_DIRECTION_DECREASE, 4, 12);
  auto r = Compute(goal, Gad7(), WeeklySeries({9}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
  ProgressConfig config;
  config.instruments.gad7_reliable_change = 3;
  r = Compute(goal, Gad7(), WeeklySeries({9}), JustAfterWeek(0), config);
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);
}

TEST(ProgressReliableChange, UsesJacobsonTruaxForMetricsDeclaringSdAndReliability) {
  v1::Metric worry;
  worry.set_id("worry");
  worry.set_kind(v1::METRIC_KIND_RATING);
  worry.set_min_value(0);
  worry.set_max_value(40);
  worry.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  worry.set_standard_deviation(5.0);
  worry.set_reliability(0.84);
  const v1::Goal goal = MakeGoal("worry", v1::MEASURE_DIRECTION_DECREASE, 5, 16);
  auto r = Compute(goal, worry, WeeklySeries({10}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change_method(), v1::RELIABLE_CHANGE_METHOD_JACOBSON_TRUAX);
  EXPECT_NEAR(r.progress.reliable_change_index(), -2.1213, 1e-4);
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);
  r = Compute(goal, worry, WeeklySeries({11}), JustAfterWeek(0));
  EXPECT_NEAR(r.progress.reliable_change_index(), -1.7678, 1e-4);
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE);
}

TEST(ProgressReliableChange, IsNotApplicableWithoutACriterion) {
  const auto r = Compute(MakeGoal("mood", v1::MEASURE_DIRECTION_INCREASE, 8, 3), Mood(),
                         WeeklySeries({9}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_NOT_APPLICABLE);
  EXPECT_EQ(r.progress.reliable_change_method(), v1::RELIABLE_CHANGE_METHOD_NONE);
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_NO_RELIABLE_CHANGE_CRITERION));
}

TEST(Phq9Response, IsADropOfAtLeastHalfTheBaseline) {
  auto r = Compute(Phq9Goal(5, 18), Phq9(), WeeklySeries({9}), JustAfterWeek(0));
  EXPECT_TRUE(r.progress.response());
  r = Compute(Phq9Goal(5, 18), Phq9(), WeeklySeries({10}), JustAfterWeek(0));
  ASSERT_TRUE(r.progress.has_response());
  EXPECT_FALSE(r.progress.response());
}

TEST(Phq9Remission, IsALatestScoreBelowFive) {
  auto r = Compute(Phq9Goal(3, 18), Phq9(), WeeklySeries({4}), JustAfterWeek(0));
  EXPECT_TRUE(r.progress.remission());
  r = Compute(Phq9Goal(3, 18), Phq9(), WeeklySeries({5}), JustAfterWeek(0));
  ASSERT_TRUE(r.progress.has_remission());
  EXPECT_FALSE(r.progress.remission());
  r = Compute(MakeGoal("mood", v1::MEASURE_DIRECTION_INCREASE, 8, 3), Mood(), WeeklySeries({4}),
              JustAfterWeek(0));
  EXPECT_FALSE(r.progress.has_response());
  EXPECT_FALSE(r.progress.has_remission());
}

// ---- Stalled.

const std::vector<double> kFlatPhq9 = {15, 15, 14, 15, 15, 14, 15};  // weeks 0..6

TEST(ProgressStalled, AFlatPhq9TurnsStalledOnceTheWindowIsCovered) {
  // Four weeks in: too early to tell.
  const std::vector<double> first_weeks(kFlatPhq9.begin(), kFlatPhq9.begin() + 5);
  auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(first_weeks), JustAfterWeek(4));
  EXPECT_FALSE(r.progress.stalled());
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_TOO_SHORT_FOR_STALLED));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS);
  EXPECT_FALSE(r.needs_review);

  // Six weeks in, still no reliable improvement.
  r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(kFlatPhq9), JustAfterWeek(6));
  EXPECT_TRUE(r.progress.stalled());
  EXPECT_EQ(r.progress.stalled_window().seconds(), 6 * 7 * 24 * 3600);
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
  EXPECT_TRUE(r.needs_review);
  EXPECT_EQ(r.needs_review_reason, "no reliable improvement in 6 weeks");
}

TEST(ProgressStalled, TheWindowIsConfigurable) {
  ProgressConfig config;
  config.stalled_window = Weeks(4);
  const std::vector<double> first_weeks(kFlatPhq9.begin(), kFlatPhq9.begin() + 5);
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(first_weeks), JustAfterWeek(4), config);
  EXPECT_TRUE(r.progress.stalled());
  EXPECT_EQ(r.needs_review_reason, "no reliable improvement in 4 weeks");
}

TEST(ProgressStalled, SteadyImprovementIsNotStalled) {
  // Intake PHQ-9 18 falling to 9 over 10 weeks.
  v1::Goal goal = Phq9Goal(5);
  *goal.mutable_due_date() = Date(2024, 4, 22);  // 16 weeks
  const auto r = Compute(goal, Phq9(), WeeklySeries({18, 17, 16, 15, 14, 14, 13, 12, 11, 10, 9}),
                         JustAfterWeek(10));
  const v1::GoalProgress& p = r.progress;
  EXPECT_FALSE(p.stalled());
  EXPECT_EQ(p.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);
  EXPECT_TRUE(p.response());
  EXPECT_FALSE(p.remission());
  EXPECT_TRUE(p.on_track());
  EXPECT_EQ(p.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
  EXPECT_FALSE(r.needs_review);
}

TEST(ProgressStalled, APlateauAfterEarlyGainsIsStalled) {
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries({20, 14, 14, 13, 14, 14, 13, 14}),
                         JustAfterWeek(7));
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_IMPROVED);  // from baseline
  EXPECT_TRUE(r.progress.stalled());  // but nothing reliable in the last six weeks
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
}

TEST(ProgressStalled, NeedsEnoughMeasurementsInsideTheWindow) {
  ProgressSeries series = WeeklySeries({15, 15});
  series.recent.push_back({Week(7), 15, ""});
  const auto r = Compute(Phq9Goal(5), Phq9(), series, JustAfterWeek(7));
  EXPECT_FALSE(r.progress.stalled());
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_TOO_SHORT_FOR_STALLED));
}

TEST(ProgressStalled, AGoalOnTargetIsNeverStalled) {
  const auto r = Compute(Phq9Goal(16), Phq9(), WeeklySeries(kFlatPhq9), JustAfterWeek(6));
  EXPECT_TRUE(r.progress.target_reached());
  EXPECT_FALSE(r.progress.stalled());
}

TEST(ProgressStalled, AFlatMoodWithoutACriterionIsStalledByItsTrend) {
  const v1::Goal goal = MakeGoal("mood", v1::MEASURE_DIRECTION_INCREASE, 8);
  const auto r = Compute(goal, Mood(), WeeklySeries({5, 5, 5, 5, 5, 5, 5}), JustAfterWeek(6));
  EXPECT_TRUE(r.progress.stalled());
  EXPECT_EQ(r.needs_review_reason, "no meaningful improvement in 6 weeks");
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
}

TEST(ProgressStalled, ARisingMoodIsImprovingAndNotStalled) {
  const v1::Goal goal = MakeGoal("mood", v1::MEASURE_DIRECTION_INCREASE, 8);
  const auto r = Compute(goal, Mood(), WeeklySeries({4, 4, 5, 5, 6, 6, 7}), JustAfterWeek(6));
  EXPECT_FALSE(r.progress.stalled());
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
}

// ---- Suggested achievement status.

TEST(ProgressAchievement, ReachingTheTargetIsAchieved) {
  const auto r = Compute(Phq9Goal(10), Phq9(), WeeklySeries({14, 12, 11, 9}), JustAfterWeek(3));
  EXPECT_TRUE(r.progress.target_reached());
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED);
  EXPECT_FALSE(r.progress.has_projected_target_date());
  EXPECT_FALSE(HasNote(r.progress, v1::DATA_SUFFICIENCY_MOVING_AWAY_FROM_TARGET));
}

TEST(ProgressAchievement, HoldingTheTargetForFourWeeksIsSustaining) {
  auto r = Compute(Phq9Goal(10), Phq9(), WeeklySeries({14, 9, 9, 8, 9, 9}), JustAfterWeek(5));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_SUSTAINING);
  r = Compute(Phq9Goal(10), Phq9(), WeeklySeries({14, 12, 9, 9, 8}), JustAfterWeek(4));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED);
}

TEST(ProgressAchievement, ReliableDeteriorationIsWorseningAndNeedsReview) {
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries({10, 12, 16}), JustAfterWeek(2));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_WORSENING);
  EXPECT_TRUE(r.needs_review);
  EXPECT_EQ(r.needs_review_reason, "reliable deterioration since baseline");
}

TEST(ProgressAchievement, LostGainsWithRecentImprovementAreNoChange) {
  const auto r =
      Compute(Phq9Goal(5), Phq9(), WeeklySeries({15, 15, 15, 15, 15, 9, 11, 13}), JustAfterWeek(7));
  EXPECT_FALSE(r.progress.stalled());
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_CHANGE);
}

TEST(ProgressAchievement, ASingleMeasurementIsInProgress) {
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries({15}), JustAfterWeek(0));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS);
}

TEST(ProgressAchievement, NoDataSuggestsNothing) {
  const auto r = Compute(Phq9Goal(5), Phq9(), ProgressSeries{}, JustAfterWeek(0));
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_UNSPECIFIED);
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_NO_DATA));
  EXPECT_TRUE(HasNote(r.progress, v1::DATA_SUFFICIENCY_NO_BASELINE));
  EXPECT_FALSE(r.progress.has_latest());
}

// ---- Range goals.

v1::Metric HoursSlept() {
  v1::Metric m;
  m.set_id("sleep_hours");
  m.set_kind(v1::METRIC_KIND_HOURS);
  m.set_unit("h");
  m.set_min_value(0);
  m.set_max_value(24);
  m.set_better_direction(v1::BETTER_DIRECTION_NEITHER);
  return m;
}

v1::Goal SleepGoal() {
  v1::Goal goal = MakeGoal("sleep_hours", v1::MEASURE_DIRECTION_REACH_RANGE, std::nullopt, 5);
  goal.mutable_measure()->set_target_low(7);
  goal.mutable_measure()->set_target_high(9);
  return goal;
}

TEST(ProgressRange, MovesTowardTheNearestBound) {
  const auto r =
      Compute(SleepGoal(), HoursSlept(), WeeklySeries({5, 5.5, 6, 6.5}), JustAfterWeek(3));
  EXPECT_NEAR(r.progress.fraction_to_target(), 0.75, 1e-9);
  EXPECT_FALSE(r.progress.target_reached());
  EXPECT_NEAR(r.progress.slope_per_week(), 0.5, 1e-9);
  ASSERT_TRUE(r.progress.has_projected_target_date());
  EXPECT_EQ(r.progress.projected_target_date().day(), 29);  // one more week: 2024-01-29
  EXPECT_EQ(r.progress.reliable_change(), v1::RELIABLE_CHANGE_NOT_APPLICABLE);
}

TEST(ProgressRange, InsideTheRangeIsReached) {
  const auto r = Compute(SleepGoal(), HoursSlept(), WeeklySeries({5, 6, 7.5}), JustAfterWeek(2));
  EXPECT_TRUE(r.progress.target_reached());
  EXPECT_EQ(r.progress.fraction_to_target(), 1.0);
  EXPECT_EQ(r.progress.suggested_achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED);
}

// ---- Inputs.

TEST(ProgressInputs, AGoalWithoutAMeasureIsANoteNotAnError) {
  v1::Goal goal = Phq9Goal(5);
  goal.clear_measure();
  auto r = ProgressCalculator({}).Compute(goal, nullptr, {}, JustAfterWeek(0));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(HasNote(r->progress, v1::DATA_SUFFICIENCY_NO_MEASURE));
  r = ProgressCalculator({}).Compute(Phq9Goal(5), nullptr, {}, JustAfterWeek(0));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(HasNote(r->progress, v1::DATA_SUFFICIENCY_NO_MEASURE));
}

TEST(ProgressInputs, AnUnsortedSeriesOrTheWrongMetricIsAnInternalError) {
  ProgressSeries series = WeeklySeries({10, 12});
  std::swap(series.recent[0], series.recent[1]);
  EXPECT_EQ(ProgressCalculator({}).Compute(Phq9Goal(5), &Phq9(), series, Week(3)).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ProgressCalculator({})
                .Compute(Phq9Goal(5), &Gad7(), WeeklySeries({1}), Week(3))
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

TEST(ProgressInputs, TrendWindowOverridesMustBeOneDayToAYear) {
  google::protobuf::Duration d;
  d.set_seconds(24 * 3600);
  EXPECT_TRUE(ValidateTrendWindow(d).ok());
  d.set_seconds(365 * 24 * 3600);
  EXPECT_TRUE(ValidateTrendWindow(d).ok());
  d.set_seconds(23 * 3600);
  EXPECT_EQ(ValidateTrendWindow(d).code(), absl::StatusCode::kInvalidArgument);
  d.set_seconds(366 * 24 * 3600);
  EXPECT_EQ(ValidateTrendWindow(d).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AchievementWriteBack, CarriesTheSuggestionAndTheReviewFlag) {
  const auto r = Compute(Phq9Goal(5), Phq9(), WeeklySeries(kFlatPhq9), JustAfterWeek(6));
  const v1::SetAchievementStatusRequest request = AchievementWriteBack(r);
  EXPECT_EQ(request.name(), "patients/p42/goals/g1");
  EXPECT_EQ(request.achievement_status(), v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS);
  ASSERT_TRUE(request.has_needs_review());
  EXPECT_TRUE(request.needs_review());
  EXPECT_EQ(request.needs_review_reason(), "no reliable improvement in 6 weeks");
  EXPECT_EQ(ToAbslTime(request.evaluate_time()), JustAfterWeek(6));
  EXPECT_EQ(request.reason(), "progress of phq9 suggests no-progress");

  const auto improving = Compute(Phq9Goal(5), Phq9(), WeeklySeries({18, 12}), JustAfterWeek(1));
  EXPECT_FALSE(AchievementWriteBack(improving).has_needs_review());
}

TEST(ProgressResultCache, EncodeDecodeRoundTripsAndRejectsDamage) {
  ProgressResult r;
  r.needs_review = true;
  r.needs_review_reason = "no reliable improvement in 6 weeks: 1:2";
  r.progress.set_goal("patients/p1/goals/g1");
  r.progress.set_points_used(12);
  r.progress.mutable_latest()->set_value(7.5);
  std::string payload = EncodeProgressResult(r);
  ProgressResult back;
  ASSERT_TRUE(DecodeProgressResult(payload, &back));
  EXPECT_TRUE(back.needs_review);
  EXPECT_EQ(back.needs_review_reason, r.needs_review_reason);
  EXPECT_EQ(back.progress.SerializeAsString(), r.progress.SerializeAsString());

  ProgressResult plain;
  ASSERT_TRUE(DecodeProgressResult(EncodeProgressResult(ProgressResult{}), &plain));
  EXPECT_FALSE(plain.needs_review);
  EXPECT_TRUE(plain.needs_review_reason.empty());

  for (const std::string& bad : {std::string(), std::string("2"), std::string("1x:"),
                                 std::string("199:short"), payload.substr(0, 3),
                                 payload + "\xff\xff\xff"}) {
    ProgressResult untouched;
    untouched.needs_review_reason = "kept";
    EXPECT_FALSE(DecodeProgressResult(bad, &untouched)) << bad;
    EXPECT_EQ(untouched.needs_review_reason, "kept");
  }
}

}  // namespace
}  // namespace trellis::measurements
