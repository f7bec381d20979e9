#include "cli/progress_chart.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "cli/proto_output.h"
#include "cli/table.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;

std::optional<absl::Time> StartOfDay(const v1::LocalDate& d) {
  if (d.year() == 0) return std::nullopt;
  return absl::FromCivil(absl::CivilDay(d.year(), d.month(), d.day()), absl::UTCTimeZone());
}

// The direction of improvement for the marks; nullopt when neither way is better.
std::optional<bool> LowerIsBetter(const v1::Measure& measure, const v1::Metric* metric) {
  switch (measure.direction()) {
    case v1::MEASURE_DIRECTION_DECREASE:
      return true;
    case v1::MEASURE_DIRECTION_INCREASE:
      return false;
    default:
      break;
  }
  if (metric == nullptr) return std::nullopt;
  if (metric->better_direction() == v1::BETTER_DIRECTION_LOWER) return true;
  if (metric->better_direction() == v1::BETTER_DIRECTION_HIGHER) return false;
  return std::nullopt;
}

}  // namespace

std::optional<absl::Time> GoalStart(const v1::Goal& goal) {
  if (auto start = StartOfDay(goal.start_date())) return start;
  if (goal.has_create_time()) return FromTimestamp(goal.create_time());
  return std::nullopt;
}

std::optional<double> ReliableChangeSize(const v1::Metric& metric) {
  if (metric.has_reliable_change_threshold()) return metric.reliable_change_threshold();
  if (metric.has_standard_deviation() && metric.has_reliability() &&
      metric.standard_deviation() > 0 && metric.reliability() > 0 && metric.reliability() < 1) {
    return 1.96 * metric.standard_deviation() * std::sqrt(2.0) *
           std::sqrt(1.0 - metric.reliability());
  }
  return std::nullopt;
}

ProgressChart ChartFromProgress(const v1::GoalProgress& progress, const v1::Goal& goal,
                                const v1::Metric* metric,
                                const std::vector<v1::Measurement>& series) {
  ProgressChart chart;
  chart.title = absl::StrCat(progress.goal().empty() ? goal.name() : progress.goal());
  if (!goal.title().empty()) absl::StrAppend(&chart.title, ": ", goal.title());
  if (!progress.metric().empty()) absl::StrAppend(&chart.title, " (", progress.metric(), ")");
  for (const v1::Measurement& m : series) {
    chart.series.push_back({FromTimestamp(m.observe_time()), m.value()});
  }
  std::optional<absl::Time> start = GoalStart(goal);
  std::optional<absl::Time> due = StartOfDay(goal.due_date());
  if (progress.has_baseline()) {
    absl::Time when =
        progress.baseline().has_observe_time()
            ? FromTimestamp(progress.baseline().observe_time())
            : start.value_or(chart.series.empty() ? absl::UnixEpoch() : chart.series.front().time);
    chart.baseline = ChartPoint{when, progress.baseline().value()};
  }
  const v1::Measure& measure = progress.measure();
  std::optional<double> path_target;
  if (measure.direction() == v1::MEASURE_DIRECTION_REACH_RANGE) {
    if (measure.has_target_low() && measure.has_target_high()) {
      chart.target_low = measure.target_low();
      chart.target_high = measure.target_high();
      if (chart.baseline) {
        double b = chart.baseline->value;
        if (b < measure.target_low()) path_target = measure.target_low();
        if (b > measure.target_high()) path_target = measure.target_high();
      }
    }
  } else if (measure.has_target()) {
    chart.target = measure.target();
    path_target = measure.target();
  }
  if (chart.baseline && path_target && start && due && *due > *start) {
    chart.path_from = ChartPoint{*start, chart.baseline->value};
    chart.path_to = ChartPoint{*due, *path_target};
  }
  std::optional<bool> lower = LowerIsBetter(measure, metric);
  if (metric != nullptr) {
    chart.range_min = metric->min_value();
    chart.range_max = metric->max_value();
    if (lower.has_value()) chart.reliable_change = ReliableChangeSize(*metric);
  }
  chart.lower_is_better = lower.value_or(true);
  return chart;
}

std::string ProgressSummaryText(const v1::GoalProgress& p) {
  std::vector<std::pair<std::string, std::string>> kv;
  auto add = [&kv](std::string key, std::string value) {
    if (!value.empty()) kv.emplace_back(std::move(key), std::move(value));
  };
  add("goal", p.goal());
  add("metric", p.metric());
  if (p.has_baseline()) {
    std::string b = FormatDouble(p.baseline().value());
    if (p.baseline().has_observe_time())
      absl::StrAppend(&b, " at ", FieldText(p, "baseline.observe_time"));
    absl::StrAppend(&b, " (", FieldText(p, "baseline_source"), ")");
    add("baseline", b);
  }
  if (p.has_latest()) {
    add("latest", absl::StrCat(FormatDouble(p.latest().value()), " at ",
                               FieldText(p, "latest.observe_time")));
  }
  if (p.measure().has_target()) {
    add("target", absl::StrCat(FieldText(p, "measure.direction"), " to ",
                               FormatDouble(p.measure().target())));
  } else if (p.measure().has_target_low() && p.measure().has_target_high()) {
    add("target", absl::StrCat("within ", FormatDouble(p.measure().target_low()), "..",
                               FormatDouble(p.measure().target_high())));
  }
  if (p.has_absolute_change()) {
    std::string c = FormatDouble(p.absolute_change());
    if (p.has_percent_change()) absl::StrAppend(&c, " (", FormatDouble(p.percent_change()), "%)");
    add("change", c);
  }
  if (p.has_fraction_to_target()) {
    add("way to target", absl::StrCat(FormatDouble(100 * p.fraction_to_target()), "%",
                                      p.target_reached() ? " (reached)" : ""));
  }
  if (p.has_slope_per_week()) {
    add("trend", absl::StrCat(FormatDouble(p.slope_per_week()), " per week over ",
                              FieldText(p, "trend_window"), " (", p.trend_points(), " points)"));
  }
  add("projected", FieldText(p, "projected_target_date"));
  if (p.has_on_track()) {
    std::string t = p.on_track() ? "yes" : "no";
    if (p.has_expected_value_now()) {
      absl::StrAppend(&t, " (expected now: ", FormatDouble(p.expected_value_now()), ")");
    }
    add("on track", t);
  }
  std::string rc = FieldText(p, "reliable_change");
  if (!rc.empty() && p.reliable_change_method() != v1::RELIABLE_CHANGE_METHOD_UNSPECIFIED) {
    absl::StrAppend(&rc, " (", FieldText(p, "reliable_change_method"), ")");
  }
  add("reliable change", rc);
  if (p.has_response()) add("response", p.response() ? "yes" : "no");
  if (p.has_remission()) add("remission", p.remission() ? "yes" : "no");
  add("stalled", p.stalled() ? "yes (needs review)" : "no");
  add("suggested status", FieldText(p, "suggested_achievement_status"));
  std::string out = RenderKeyValues(kv);
  for (const v1::DataSufficiencyNote& n : p.notes())
    absl::StrAppend(&out, "note: ", n.message(), "\n");
  return out;
}

}  // namespace trellis::cli
