#include "cli/chart.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Monday 2024-01-01T00:00:00Z.
const absl::Time kStart = absl::FromUnixSeconds(1704067200);

absl::Time Week(int n) { return kStart + absl::Hours(24 * 7 * n); }

// A GAD-7 goal from 15 to 7 in 12 weeks; reliable change is 4 points.
ProgressChart Gad7Chart(std::vector<double> weekly) {
  ProgressChart c;
  c.title = "patients/p1/goals/g1 (gad7)";
  for (size_t i = 0; i < weekly.size(); ++i) {
    c.series.push_back({Week(static_cast<int>(i)), weekly[i]});
  }
  c.baseline = ChartPoint{kStart, 15};
  c.target = 7;
  c.path_from = ChartPoint{kStart, 15};
  c.path_to = ChartPoint{Week(12), 7};
  c.reliable_change = 4;
  c.lower_is_better = true;
  c.range_min = 0;
  c.range_max = 21;
  return c;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

size_t Count(const std::string& text, char c) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), c));
}

TEST(ProgressChartMarks, MarkValuesAReliableChangeAwayFromTheBaseline) {
  ProgressChart c = Gad7Chart({15, 14, 11, 19, 9});
  EXPECT_THAT(MarkReliableChange(c),
              ElementsAre(PointMark::kPlain, PointMark::kPlain, PointMark::kReliablyBetter,
                          PointMark::kReliablyWorse, PointMark::kReliablyBetter));
}

TEST(ProgressChartMarks, FollowTheDirectionOfImprovement) {
  ProgressChart c = Gad7Chart({15, 19, 11});
  c.lower_is_better = false;
  EXPECT_THAT(MarkReliableChange(c), ElementsAre(PointMark::kPlain, PointMark::kReliablyBetter,
                                                 PointMark::kReliablyWorse));
}

TEST(ProgressChartMarks, NeedABaselineAndACriterion) {
  ProgressChart c = Gad7Chart({15, 5});
  c.reliable_change.reset();
  EXPECT_THAT(MarkReliableChange(c), ElementsAre(PointMark::kPlain, PointMark::kPlain));
  c = Gad7Chart({15, 5});
  c.baseline.reset();
  EXPECT_THAT(MarkReliableChange(c), ElementsAre(PointMark::kPlain, PointMark::kPlain));
}

TEST(ProgressChartAxis, CoversEveryValueOnRoundSteps) {
  ValueAxis axis = ChooseValueAxis(Gad7Chart({15, 13, 11, 8}));
  EXPECT_EQ(axis.step, 2);
  EXPECT_EQ(axis.low, 6);
  EXPECT_EQ(axis.high, 16);
}

TEST(ProgressChartAxis, StaysInsideTheMetricsRange) {
  ProgressChart c = Gad7Chart({21, 20, 1, 0});
  ValueAxis axis = ChooseValueAxis(c);
  EXPECT_EQ(axis.low, 0);
  EXPECT_EQ(axis.high, 21);
}

TEST(ProgressChartAxis, OpensUpAFlatSeries) {
  ProgressChart c;
  c.series = {{kStart, 5}, {Week(1), 5}};
  ValueAxis axis = ChooseValueAxis(c);
  EXPECT_LT(axis.low, 5);
  EXPECT_GT(axis.high, 5);
}

TEST(ProgressChartText, DrawsTargetPathMarksAndBaseline) {
  // Axis 6..16 in 11 rows: one row per point, row = 16 - value.
  ProgressChart c = Gad7Chart({15, 14, 12, 10, 9});
  std::string text = RenderTextChart(c, {.width = 49, .height = 11});
  std::vector<std::string> lines = Lines(text);
  ASSERT_GE(lines.size(), 14u) << text;
  EXPECT_EQ(lines[0], "patients/p1/goals/g1 (gad7)");
  // The plot rows come after the title; each starts with a label column and an axis.
  auto plot_row = [&](int value) { return lines[1 + 16 - value]; };
  EXPECT_THAT(plot_row(16), StartsWith("16 +"));
  EXPECT_THAT(plot_row(7), StartsWith("   |" + std::string(49, '=')));
  // Baseline at the start, 14 and 12 plain (less than 4 below 15), 10 and 9 reliably better.
  EXPECT_EQ(plot_row(15)[4], 'B');
  EXPECT_EQ(plot_row(14)[4 + 4], 'o');  // week 1: column 49 * 1/12 = 4
  EXPECT_EQ(plot_row(12)[4 + 8], 'o');
  EXPECT_EQ(plot_row(10)[4 + 12], '*');
  EXPECT_EQ(plot_row(9)[4 + 16], '*');
  EXPECT_EQ(Count(text, '*'), 2u + 1u);  // the two marks, and the legend's
  // The reliable-change line 4 below the baseline, the expected path, the due date.
  EXPECT_THAT(plot_row(11), HasSubstr("-----"));
  EXPECT_GT(Count(text, '.'), 10u);
  EXPECT_EQ(plot_row(16).back(), ':');
  EXPECT_THAT(text, HasSubstr("2024-01-01"));
  EXPECT_THAT(text, HasSubstr("2024-03-25"));
  EXPECT_THAT(text, HasSubstr("* reliable improvement"));
  EXPECT_THAT(text, HasSubstr("= target"));
  EXPECT_THAT(text, HasSubstr(". expected path"));
  EXPECT_THAT(text, Not(HasSubstr("! reliable deterioration")));
}

TEST(ProgressChartText, KeepsEveryLineWithinTheLabelsAndTheWidthGiven) {
  ProgressChart c = Gad7Chart({15, 14, 12, 19, 9});
  std::string text = RenderTextChart(c, {.width = 40, .height = 11});
  std::vector<std::string> lines = Lines(text);
  // Value labels and the axis take the first columns; the plot and the legend the rest.
  size_t plot_start = lines[1].find_first_of("+|") + 1;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), plot_start + 40) << lines[i];
  }
  EXPECT_THAT(text, HasSubstr("! reliable deterioration"));
}

TEST(ProgressChartText, DrawsBothBoundsOfARangeTarget) {
  ProgressChart c;
  c.series = {{kStart, 5}, {Week(1), 6}, {Week(2), 7.5}};
  c.target_low = 7;
  c.target_high = 9;
  std::string text = RenderTextChart(c, {.width = 30, .height = 9});
  int target_rows = 0;
  for (const std::string& line : Lines(text)) {
    if (line.find(std::string(30, '=')) != std::string::npos) ++target_rows;
  }
  EXPECT_EQ(target_rows, 2) << text;
}

TEST(ProgressChartText, DrawsSomethingForAGoalWithoutData) {
  ProgressChart c;
  c.title = "no data yet";
  std::string text = RenderTextChart(c);
  EXPECT_THAT(text, StartsWith("no data yet\n"));
  EXPECT_THAT(text, HasSubstr("+---"));
}

TEST(ProgressChartSvg, IsAStandaloneDocumentWithTheSamePieces) {
  ProgressChart c = Gad7Chart({15, 14, 12, 10, 9});
  c.title = "Worry < 8 & sleep";
  std::string svg = RenderSvgChart(c);
  EXPECT_THAT(svg, StartsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_THAT(svg, HasSubstr("Worry &lt; 8 &amp; sleep"));
  auto occurrences = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = svg.find(what); at != std::string::npos; at = svg.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("<circle class=\"value"), 5u);
  EXPECT_EQ(occurrences("reliably-better"), 2u);
  EXPECT_EQ(occurrences("class=\"target\""), 1u);
  EXPECT_EQ(occurrences("class=\"expected-path\""), 1u);
  EXPECT_EQ(occurrences("class=\"reliable-change\""), 1u);
  EXPECT_EQ(occurrences("class=\"baseline\""), 1u);
  EXPECT_EQ(occurrences("class=\"series\""), 1u);
}

}  // namespace
}  // namespace trellis::cli
