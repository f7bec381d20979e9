#include "cli/chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace trellis::cli {
namespace {

constexpr double kEpsilon = 1e-9;

struct TimeSpan {
  absl::Time start;
  absl::Time end;
};

TimeSpan ChooseTimeSpan(const ProgressChart& chart) {
  std::vector<absl::Time> times;
  for (const ChartPoint& p : chart.series) times.push_back(p.time);
  if (chart.baseline) times.push_back(chart.baseline->time);
  if (chart.path_from) times.push_back(chart.path_from->time);
  if (chart.path_to) times.push_back(chart.path_to->time);
  if (times.empty()) return {absl::UnixEpoch(), absl::UnixEpoch() + absl::Hours(24)};
  auto [lo, hi] = std::minmax_element(times.begin(), times.end());
  TimeSpan span{*lo, *hi};
  if (span.end - span.start < absl::Hours(1)) {
    span.start -= absl::Hours(12);
    span.end += absl::Hours(12);
  }
  return span;
}

// Where the reliable-change line is drawn: that far from the baseline on the better side.
std::optional<double> ReliableChangeLine(const ProgressChart& chart) {
  if (!chart.baseline || !chart.reliable_change) return std::nullopt;
  return chart.lower_is_better ? chart.baseline->value - *chart.reliable_change
                               : chart.baseline->value + *chart.reliable_change;
}

// The expected path's value at `t`: flat before the start and after the due date.
std::optional<double> PathValue(const ProgressChart& chart, absl::Time t) {
  if (!chart.path_from || !chart.path_to) return std::nullopt;
  const ChartPoint& a = *chart.path_from;
  const ChartPoint& b = *chart.path_to;
  if (t <= a.time || b.time <= a.time) return a.value;
  if (t >= b.time) return b.value;
  double f = absl::FDivDuration(t - a.time, b.time - a.time);
  return a.value + f * (b.value - a.value);
}

std::vector<double> TargetLines(const ProgressChart& chart) {
  std::vector<double> out;
  if (chart.target) out.push_back(*chart.target);
  if (chart.target_low) out.push_back(*chart.target_low);
  if (chart.target_high) out.push_back(*chart.target_high);
  return out;
}

double NiceStep(double raw) {
  if (!(raw > 0)) return 1;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * magnitude >= raw - kEpsilon) return m * magnitude;
  }
  return 10 * magnitude;
}

// Tick values of the axis: multiples of the step inside [low, high], and both ends.
std::vector<double> Ticks(const ValueAxis& axis) {
  std::vector<double> out;
  out.push_back(axis.low);
  for (double v = std::ceil(axis.low / axis.step - kEpsilon) * axis.step; v < axis.high - kEpsilon;
       v += axis.step) {
    if (v > axis.low + kEpsilon) out.push_back(v);
  }
  out.push_back(axis.high);
  return out;
}

std::string Number(double v) {
  if (std::fabs(v - std::round(v)) < kEpsilon) return absl::StrFormat("%.0f", v);
  std::string out = absl::StrFormat("%.2f", v);
  while (out.back() == '0') out.pop_back();
  return out;
}

std::string Date(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

std::string XmlEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Writes `label` into `line` at `at` if those columns and one on each side are free.
bool PlaceLabel(std::string& line, int at, const std::string& label) {
  int n = static_cast<int>(label.size());
  int size = static_cast<int>(line.size());
  at = std::clamp(at, 0, std::max(0, size - n));
  for (int i = std::max(0, at - 1); i < std::min(size, at + n + 1); ++i) {
    if (line[i] != ' ') return false;
  }
  line.replace(at, n, label);
  return true;
}

}  // namespace

std::vector<PointMark> MarkReliableChange(const ProgressChart& chart) {
  std::vector<PointMark> marks(chart.series.size(), PointMark::kPlain);
  if (!chart.baseline || !chart.reliable_change || !(*chart.reliable_change > 0)) return marks;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    double better = chart.lower_is_better ? chart.baseline->value - chart.series[i].value
                                          : chart.series[i].value - chart.baseline->value;
    if (better >= *chart.reliable_change - kEpsilon) {
      marks[i] = PointMark::kReliablyBetter;
    } else if (-better >= *chart.reliable_change - kEpsilon) {
      marks[i] = PointMark::kReliablyWorse;
    }
  }
  return marks;
}

ValueAxis ChooseValueAxis(const ProgressChart& chart) {
  std::vector<double> values;
  for (const ChartPoint& p : chart.series) values.push_back(p.value);
  if (chart.baseline) values.push_back(chart.baseline->value);
  for (double v : TargetLines(chart)) values.push_back(v);
  if (chart.path_from) values.push_back(chart.path_from->value);
  if (chart.path_to) values.push_back(chart.path_to->value);
  if (auto rc = ReliableChangeLine(chart)) values.push_back(*rc);
  double lo = 0;
  double hi = 1;
  if (!values.empty()) {
    auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
    lo = *min_it;
    hi = *max_it;
  }
  if (hi - lo < kEpsilon) {
    lo -= 1;
    hi += 1;
  }
  ValueAxis axis;
  axis.step = NiceStep((hi - lo) / 5);
  axis.low = std::floor(lo / axis.step + kEpsilon) * axis.step;
  axis.high = std::ceil(hi / axis.step - kEpsilon) * axis.step;
  if (chart.range_min && axis.low < *chart.range_min) axis.low = *chart.range_min;
  if (chart.range_max && axis.high > *chart.range_max) axis.high = *chart.range_max;
  if (axis.high - axis.low < kEpsilon) axis.high = axis.low + axis.step;
  return axis;
}

std::string RenderTextChart(const ProgressChart& chart, TextChartOptions options) {
  const int width = std::max(16, options.width);
  const int height = std::max(5, options.height);
  const TimeSpan span = ChooseTimeSpan(chart);
  const ValueAxis axis = ChooseValueAxis(chart);
  std::vector<std::string> grid(height, std::string(width, ' '));

  auto col = [&](absl::Time t) {
    double f = absl::FDivDuration(t - span.start, span.end - span.start);
    return std::clamp(static_cast<int>(std::lround(f * (width - 1))), 0, width - 1);
  };
  auto row = [&](double v) {
    double f = (axis.high - v) / (axis.high - axis.low);
    return std::clamp(static_cast<int>(std::lround(f * (height - 1))), 0, height - 1);
  };
  auto time_at = [&](int c) { return span.start + (span.end - span.start) * c / (width - 1); };

  std::vector<std::string> legend;
  if (chart.path_to) {
    int c = col(chart.path_to->time);
    for (std::string& line : grid) line[c] = ':';
  }
  if (chart.path_from && chart.path_to) {
    for (int c = 0; c < width; ++c) grid[row(*PathValue(chart, time_at(c)))][c] = '.';
    legend.push_back(". expected path");
  }
  if (auto rc = ReliableChangeLine(chart)) {
    grid[row(*rc)].assign(width, '-');
    legend.push_back("- reliable change from baseline");
  }
  for (double v : TargetLines(chart)) grid[row(v)].assign(width, '=');
  if (!TargetLines(chart).empty()) legend.insert(legend.begin(), "= target");
  if (chart.path_to) legend.push_back(": due date");

  std::vector<PointMark> marks = MarkReliableChange(chart);
  bool better = false;
  bool worse = false;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    char glyph = 'o';
    if (marks[i] == PointMark::kReliablyBetter) {
      glyph = '*';
      better = true;
    } else if (marks[i] == PointMark::kReliablyWorse) {
      glyph = '!';
      worse = true;
    }
    grid[row(chart.series[i].value)][col(chart.series[i].time)] = glyph;
  }
  if (chart.baseline) {
    grid[row(chart.baseline->value)][col(chart.baseline->time)] = 'B';
  }
  std::vector<std::string> marks_legend;
  if (!chart.series.empty()) marks_legend.push_back("o value");
  if (better) marks_legend.push_back("* reliable improvement");
  if (worse) marks_legend.push_back("! reliable deterioration");
  if (chart.baseline) marks_legend.push_back("B baseline");
  legend.insert(legend.begin(), marks_legend.begin(), marks_legend.end());

  // Value labels on the rows of the ticks.
  std::vector<std::string> labels(height);
  for (double v : Ticks(axis)) labels[row(v)] = Number(v);
  size_t label_width = 0;
  for (const std::string& l : labels) label_width = std::max(label_width, l.size());

  std::string out;
  if (!chart.title.empty()) absl::StrAppend(&out, chart.title, "\n");
  for (int r = 0; r < height; ++r) {
    std::string line = absl::StrCat(std::string(label_width - labels[r].size(), ' '), labels[r],
                                    labels[r].empty() ? " |" : " +", grid[r]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  std::string pad(label_width + 2, ' ');
  absl::StrAppend(&out, std::string(label_width + 1, ' '), "+", std::string(width, '-'), "\n");
  std::string dates(width, ' ');
  PlaceLabel(dates, 0, Date(span.start));
  PlaceLabel(dates, width - 10, Date(span.end));
  if (chart.path_to) PlaceLabel(dates, col(chart.path_to->time) - 5, Date(chart.path_to->time));
  PlaceLabel(dates, width / 2 - 5, Date(time_at(width / 2)));
  while (!dates.empty() && dates.back() == ' ') dates.pop_back();
  absl::StrAppend(&out, pad, dates, "\n");
  // The legend, wrapped to the plot's width.
  std::string line;
  for (const std::string& entry : legend) {
    if (!line.empty() && line.size() + 3 + entry.size() > static_cast<size_t>(width)) {
      absl::StrAppend(&out, pad, line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : "   ", entry);
  }
  if (!line.empty()) absl::StrAppend(&out, pad, line, "\n");
  return out;
}

std::string RenderSvgChart(const ProgressChart& chart, int width, int height) {
  const TimeSpan span = ChooseTimeSpan(chart);
  const ValueAxis axis = ChooseValueAxis(chart);
  const double left = 56;
  const double right = width - 24.0;
  const double top = 44;
  const double bottom = height - 64.0;
  auto x = [&](absl::Time t) {
    return left + (right - left) * absl::FDivDuration(t - span.start, span.end - span.start);
  };
  auto y = [&](double v) {
    return bottom - (bottom - top) * (v - axis.low) / (axis.high - axis.low);
  };

  std::string out;
  absl::StrAppendFormat(&out,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
                        width, height, width, height);
  absl::StrAppendFormat(&out, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
                        height);
  absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"24\" font-size=\"15\">%s</text>\n", left,
                        XmlEscape(chart.title));

  // Value grid and labels.
  for (double v : Ticks(axis)) {
    absl::StrAppendFormat(&out,
                          "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#e0e0e0\"/>\n",
                          left, y(v), right, y(v));
    absl::StrAppendFormat(
        &out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n", left - 6,
        y(v) + 4, Number(v));
  }
  // Date labels: five evenly spaced.
  for (int i = 0; i <= 4; ++i) {
    absl::Time t = span.start + (span.end - span.start) * i / 4;
    absl::StrAppendFormat(&out,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%s"
                          "</text>\n",
                          x(t), bottom + 18, Date(t));
  }
  absl::StrAppendFormat(&out,
                        "<path d=\"M%.1f %.1f V%.1f H%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
                        left, top, bottom, right);

  if (chart.target_low && chart.target_high) {
    double y1 = y(std::max(*chart.target_low, *chart.target_high));
    double y2 = y(std::min(*chart.target_low, *chart.target_high));
    absl::StrAppendFormat(&out,
                          "<rect class=\"target-range\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                          "height=\"%.1f\" fill=\"#2e7d32\" fill-opacity=\"0.12\"/>\n",
                          left, y1, right - left, y2 - y1);
  }
  for (double v : TargetLines(chart)) {
    absl::StrAppendFormat(&out,
                          "<line class=\"target\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#2e7d32\" stroke-width=\"2\" stroke-dasharray=\"8 4\"/>\n",
                          left, y(v), right, y(v));
  }
  if (auto rc = ReliableChangeLine(chart)) {
    absl::StrAppendFormat(&out,
                          "<line class=\"reliable-change\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\" stroke=\"#ef6c00\" stroke-dasharray=\"2 4\"/>\n",
                          left, y(*rc), right, y(*rc));
  }
  if (chart.path_from && chart.path_to) {
    std::vector<std::string> pts;
    for (absl::Time t : {span.start, chart.path_from->time, chart.path_to->time, span.end}) {
      pts.push_back(absl::StrFormat("%.1f,%.1f", x(t), y(*PathValue(chart, t))));
    }
    absl::StrAppendFormat(&out,
                          "<polyline class=\"expected-path\" points=\"%s\" fill=\"none\" "
                          "stroke=\"#757575\" stroke-width=\"1.5\" stroke-dasharray=\"4 4\"/>\n",
                          absl::StrJoin(pts, " "));
  }
  if (chart.path_to) {
    double due = x(chart.path_to->time);
    absl::StrAppendFormat(
        &out,
        "<line class=\"due\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
        "stroke=\"#9e9e9e\" stroke-dasharray=\"1 3\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">due</text>\n",
        due, top, due, bottom, due - 4, top + 12);
  }
  if (!chart.series.empty()) {
    std::vector<std::string> pts;
    for (const ChartPoint& p : chart.series) {
      pts.push_back(absl::StrFormat("%.1f,%.1f", x(p.time), y(p.value)));
    }
    absl::StrAppendFormat(&out,
                          "<polyline class=\"series\" points=\"%s\" fill=\"none\" "
                          "stroke=\"#1565c0\" stroke-width=\"2\"/>\n",
                          absl::StrJoin(pts, " "));
  }
  std::vector<PointMark> marks = MarkReliableChange(chart);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const char* cls = "value";
    const char* fill = "#1565c0";
    if (marks[i] == PointMark::kReliablyBetter) {
      cls = "value reliably-better";
      fill = "#2e7d32";
    } else if (marks[i] == PointMark::kReliablyWorse) {
      cls = "value reliably-worse";
      fill = "#c62828";
    }
    absl::StrAppendFormat(&out,
                          "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\">"
                          "<title>%s: %s</title></circle>\n",
                          cls, x(chart.series[i].time), y(chart.series[i].value),
                          marks[i] == PointMark::kPlain ? 4 : 6, fill, Date(chart.series[i].time),
                          Number(chart.series[i].value));
  }
  if (chart.baseline) {
    absl::StrAppendFormat(&out,
                          "<circle class=\"baseline\" cx=\"%.1f\" cy=\"%.1f\" r=\"7\" "
                          "fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>\n",
                          x(chart.baseline->time), y(chart.baseline->value));
  }

  // Legend.
  struct Entry {
    const char* color;
    const char* label;
  };
  std::vector<Entry> legend{{"#1565c0", "value"}};
  if (chart.reliable_change) {
    legend.push_back({"#2e7d32", "reliable improvement"});
    legend.push_back({"#c62828", "reliable deterioration"});
    legend.push_back({"#ef6c00", "reliable-change line"});
  }
  if (!TargetLines(chart).empty()) legend.push_back({"#2e7d32", "target"});
  if (chart.path_from && chart.path_to) legend.push_back({"#757575", "expected path"});
  double lx = left;
  for (const Entry& e : legend) {
    absl::StrAppendFormat(&out,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          lx, height - 26.0, e.color, lx + 14, height - 17.0, e.label);
    lx += 24 + 7.0 * static_cast<double>(std::string(e.label).size());
  }
  out += "</svg>\n";
  return out;
}

}  // namespace trellis::cli
