#pragma once

// The progress picture of `trellisctl measure progress`: a goal's series over time, its target
// (a line, or two for a range), the expected straight path from the baseline at the start to the
// target at the due date, and marks on the values that differ reliably from the baseline. Pure:
// plain values in, text or SVG out; the same ProgressChart draws in a terminal and as a
// standalone SVG file.

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace trellis::cli {

struct ChartPoint {
  absl::Time time = absl::UnixEpoch();
  double value = 0;
};

enum class PointMark {
  kPlain,           // not reliably different from the baseline (or no criterion)
  kReliablyBetter,  // at least `reliable_change` better than the baseline
  kReliablyWorse,   // at least `reliable_change` worse than the baseline
};

struct ProgressChart {
  std::string title{};               // e.g. "patients/p1/goals/g1 (gad7)"
  std::vector<ChartPoint> series{};  // ascending by time
  std::optional<ChartPoint> baseline{};
  std::optional<double> target{};      // DECREASE and INCREASE goals
  std::optional<double> target_low{};  // REACH_RANGE goals: both bounds
  std::optional<double> target_high{};
  // The expected path: straight from `path_from` (the baseline at the start) to `path_to` (the
  // target at the due date), flat before and after, as the service judges on-track. Both or
  // neither.
  std::optional<ChartPoint> path_from{};
  std::optional<ChartPoint> path_to{};
  // A value differs reliably from the baseline when it is at least this far from it (PHQ-9 6,
  // GAD-7 4; 1.96 * S_diff for a Jacobson-Truax metric). Unset: no marks, no line.
  std::optional<double> reliable_change{};
  // The direction of improvement for the marks.
  bool lower_is_better = true;
  // The metric's range: the value axis never extends past it.
  std::optional<double> range_min{};
  std::optional<double> range_max{};
};

// The mark of each point of `chart.series`, in order. All kPlain without a baseline or a
// reliable-change size.
std::vector<PointMark> MarkReliableChange(const ProgressChart& chart);

// The value axis: [low, high] on round steps (1, 2, 2.5 or 5 times a power of ten) covering every
// value drawn, kept inside the metric's range.
struct ValueAxis {
  double low = 0;
  double high = 1;
  double step = 1;
};
ValueAxis ChooseValueAxis(const ProgressChart& chart);

struct TextChartOptions {
  int width = 72;   // plot columns (at least 16)
  int height = 15;  // plot rows (at least 5)
};

// An ASCII plot: title, value axis with labels, the plot, date labels and a legend of the marks
// used. Glyphs: 'o' value, '*' reliable improvement, '!' reliable deterioration, 'B' baseline,
// '=' target, '.' expected path, '-' reliable-change line, ':' due date.
std::string RenderTextChart(const ProgressChart& chart, TextChartOptions options = {});

// The same picture as a standalone SVG document (width x height pixels).
std::string RenderSvgChart(const ProgressChart& chart, int width = 800, int height = 420);

}  // namespace trellis::cli
