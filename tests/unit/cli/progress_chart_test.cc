#include "cli/progress_chart.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kStart = absl::FromUnixSeconds(1704067200);  // 2024-01-01T00:00:00Z

v1::LocalDate Date(int y, int m, int d) {
  v1::LocalDate out;
  out.set_year(y);
  out.set_month(m);
  out.set_day(d);
  return out;
}

google::protobuf::Timestamp At(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

v1::Goal Gad7Goal() {
  v1::Goal g;
  g.set_name("patients/p1/goals/g1");
  g.set_patient("p1");
  g.set_title("Less worry");
  *g.mutable_start_date() = Date(2024, 1, 1);
  *g.mutable_due_date() = Date(2024, 3, 25);
  g.mutable_create_time()->set_seconds(1700000000);
  return g;
}

v1::Metric Gad7() {
  v1::Metric m;
  m.set_id("gad7");
  m.set_min_value(0);
  m.set_max_value(21);
  m.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  m.set_reliable_change_threshold(4);
  return m;
}

v1::GoalProgress Gad7Progress() {
  v1::GoalProgress p;
  p.set_goal("patients/p1/goals/g1");
  p.set_metric("gad7");
  p.mutable_measure()->set_metric("gad7");
  p.mutable_measure()->set_direction(v1::MEASURE_DIRECTION_DECREASE);
  p.mutable_measure()->set_baseline(15);
  p.mutable_measure()->set_target(7);
  p.mutable_baseline()->set_value(15);
  p.set_baseline_source(v1::BASELINE_SOURCE_GOAL);
  p.mutable_latest()->set_value(10);
  *p.mutable_latest()->mutable_observe_time() = At(kStart + absl::Hours(24 * 28));
  p.set_absolute_change(-5);
  p.set_percent_change(-33.333);
  p.set_fraction_to_target(0.625);
  p.set_on_track(true);
  p.set_expected_value_now(12.33);
  p.set_reliable_change(v1::RELIABLE_CHANGE_IMPROVED);
  p.set_reliable_change_method(v1::RELIABLE_CHANGE_METHOD_THRESHOLD);
  p.set_suggested_achievement_status(v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
  auto* note = p.add_notes();
  note->set_code(v1::DATA_SUFFICIENCY_TOO_SHORT_FOR_STALLED);
  note->set_message("the series is shorter than the stalled window");
  return p;
}

std::vector<v1::Measurement> Series(std::vector<double> weekly) {
  std::vector<v1::Measurement> out;
  for (size_t i = 0; i < weekly.size(); ++i) {
    v1::Measurement m;
    m.set_value(weekly[i]);
    *m.mutable_observe_time() = At(kStart + absl::Hours(24 * 7 * static_cast<int>(i)));
    out.push_back(m);
  }
  return out;
}

TEST(ChartFromProgress, DrawsThePathFromTheStartDateToTheDueDate) {
  v1::Metric metric = Gad7();
  ProgressChart c = ChartFromProgress(Gad7Progress(), Gad7Goal(), &metric, Series({15, 12, 10}));
  EXPECT_EQ(c.title, "patients/p1/goals/g1: Less worry (gad7)");
  ASSERT_EQ(c.series.size(), 3u);
  EXPECT_EQ(c.series[2].value, 10);
  // A baseline given on the goal has no time: it sits at the goal's start.
  ASSERT_TRUE(c.baseline.has_value());
  EXPECT_EQ(c.baseline->time, kStart);
  EXPECT_EQ(c.baseline->value, 15);
  EXPECT_EQ(c.target, 7);
  ASSERT_TRUE(c.path_from && c.path_to);
  EXPECT_EQ(c.path_from->time, kStart);
  EXPECT_EQ(c.path_from->value, 15);
  EXPECT_EQ(c.path_to->time, kStart + absl::Hours(24 * 84));
  EXPECT_EQ(c.path_to->value, 7);
  EXPECT_EQ(c.reliable_change, 4);
  EXPECT_TRUE(c.lower_is_better);
  EXPECT_EQ(c.range_min, 0);
  EXPECT_EQ(c.range_max, 21);
}

TEST(ChartFromProgress, StartsAtTheCreateTimeWithoutAStartDate) {
  v1::Goal goal = Gad7Goal();
  goal.clear_start_date();
  EXPECT_EQ(GoalStart(goal), absl::FromUnixSeconds(1700000000));
  goal.clear_create_time();
  EXPECT_EQ(GoalStart(goal), std::nullopt);
}

TEST(ChartFromProgress, ARangeGoalsPathLeadsToTheNearestBound) {
  v1::GoalProgress p = Gad7Progress();
  p.mutable_measure()->set_direction(v1::MEASURE_DIRECTION_REACH_RANGE);
  p.mutable_measure()->clear_target();
  p.mutable_measure()->set_target_low(7);
  p.mutable_measure()->set_target_high(9);
  p.mutable_baseline()->set_value(5);
  v1::Metric sleep;
  sleep.set_min_value(0);
  sleep.set_max_value(24);
  sleep.set_better_direction(v1::BETTER_DIRECTION_NEITHER);
  ProgressChart c = ChartFromProgress(p, Gad7Goal(), &sleep, Series({5, 6}));
  EXPECT_FALSE(c.target.has_value());
  EXPECT_EQ(c.target_low, 7);
  EXPECT_EQ(c.target_high, 9);
  ASSERT_TRUE(c.path_to.has_value());
  EXPECT_EQ(c.path_to->value, 7);
  // Neither direction is better for the metric: no reliable-change marks.
  EXPECT_FALSE(c.reliable_change.has_value());
}

TEST(ChartFromProgress, NoPathWithoutADueDateOrABaseline) {
  v1::Metric metric = Gad7();
  v1::Goal goal = Gad7Goal();
  goal.clear_due_date();
  EXPECT_FALSE(ChartFromProgress(Gad7Progress(), goal, &metric, {}).path_to.has_value());
  v1::GoalProgress p = Gad7Progress();
  p.clear_baseline();
  ProgressChart c = ChartFromProgress(p, Gad7Goal(), &metric, {});
  EXPECT_FALSE(c.path_to.has_value());
  EXPECT_FALSE(c.baseline.has_value());
  // An unknown metric: no range, no marks.
  ProgressChart unknown = ChartFromProgress(Gad7Progress(), Gad7Goal(), nullptr, {});
  EXPECT_FALSE(unknown.range_max.has_value());
  EXPECT_FALSE(unknown.reliable_change.has_value());
}

TEST(ReliableChangeSize, IsTheThresholdElseJacobsonTruax) {
  EXPECT_EQ(ReliableChangeSize(Gad7()), 4);
  v1::Metric jt;
  jt.set_standard_deviation(5);
  jt.set_reliability(0.8);
  EXPECT_NEAR(*ReliableChangeSize(jt), 1.96 * 5 * std::sqrt(2.0) * std::sqrt(0.2), 1e-9);
  EXPECT_EQ(ReliableChangeSize(v1::Metric()), std::nullopt);
}

TEST(ProgressSummaryText, ShowsTheFiguresAndTheNotes) {
  std::string text = ProgressSummaryText(Gad7Progress());
  EXPECT_THAT(text, HasSubstr("baseline:         15 (goal)"));
  EXPECT_THAT(text, HasSubstr("latest:           10 at 2024-01-29T00:00:00Z"));
  EXPECT_THAT(text, HasSubstr("target:           decrease to 7"));
  EXPECT_THAT(text, HasSubstr("change:           -5 (-33.33%)"));
  EXPECT_THAT(text, HasSubstr("way to target:    62.5%"));
  EXPECT_THAT(text, HasSubstr("on track:         yes (expected now: 12.33)"));
  EXPECT_THAT(text, HasSubstr("reliable change:  improved (threshold)"));
  EXPECT_THAT(text, HasSubstr("stalled:          no"));
  EXPECT_THAT(text, HasSubstr("suggested status: improving"));
  EXPECT_THAT(text, HasSubstr("note: the series is shorter than the stalled window"));
  EXPECT_THAT(text, Not(HasSubstr("trend:")));  // no slope in the answer
}

}  // namespace
}  // namespace trellis::cli
