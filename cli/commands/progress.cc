// trellisctl measure progress: GetGoalProgress, drawn.

#include <fstream>

#include "absl/strings/str_cat.h"
#include "cli/chart.h"
#include "cli/commands/invocation.h"
#include "cli/progress_chart.h"
#include "cli/proto_input.h"
#include "cli/proto_output.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;

// At most this many measurements are read for the chart (ten pages of 1000).
constexpr int kMaxSeriesPages = 10;

google::protobuf::Timestamp TimestampOf(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

// The goal, its metric and its series for the chart; an exit status when a call failed.
struct ChartInputs {
  v1::Goal goal;
  std::optional<v1::Metric> metric;
  std::vector<v1::Measurement> series;
};

std::optional<int> ReadChartInputs(Invocation& inv, const v1::GoalProgress& progress,
                                   ChartInputs* in) {
  v1::GetGoalRequest get_goal;
  get_goal.set_name(progress.goal());
  if (grpc::Status s = inv.Call(&v1::GoalService::Stub::GetGoal, get_goal, &in->goal); !s.ok()) {
    return inv.RpcError(s);
  }
  if (progress.metric().empty()) return std::nullopt;
  v1::GetMetricRequest get_metric;
  get_metric.set_id(progress.metric());
  v1::Metric metric;
  if (grpc::Status s = inv.Call(&v1::MeasurementService::Stub::GetMetric, get_metric, &metric);
      !s.ok()) {
    return inv.RpcError(s);
  }
  in->metric = metric;
  v1::ListMeasurementsRequest list;
  list.set_patient(in->goal.patient());
  list.set_metric(progress.metric());
  list.set_order(v1::TIME_ORDER_OLDEST_FIRST);
  list.set_page_size(1000);
  if (std::optional<absl::Time> start = GoalStart(in->goal)) {
    *list.mutable_observe_interval()->mutable_start_time() = TimestampOf(*start);
  }
  for (int page = 0; page < kMaxSeriesPages; ++page) {
    v1::ListMeasurementsResponse resp;
    if (grpc::Status s = inv.Call(&v1::MeasurementService::Stub::ListMeasurements, list, &resp);
        !s.ok()) {
      return inv.RpcError(s);
    }
    for (const v1::Measurement& m : resp.measurements()) in->series.push_back(m);
    if (resp.next_page_token().empty()) break;
    list.set_page_token(resp.next_page_token());
  }
  return std::nullopt;
}

int RunProgress(Invocation& inv) {
  v1::GetGoalProgressRequest request;
  if (auto built = inv.BuildRequest(request); !built.ok()) return inv.UsageError(built.status());
  absl::StatusOr<std::optional<int64_t>> width = inv.args().GetInt("width");
  absl::StatusOr<std::optional<int64_t>> height = inv.args().GetInt("height");
  if (!width.ok()) return inv.UsageError(width.status());
  if (!height.ok()) return inv.UsageError(height.status());
  std::string svg_path = inv.args().GetOr("svg");

  v1::GoalProgress progress;
  grpc::Status status =
      inv.Call(&v1::MeasurementService::Stub::GetGoalProgress, request, &progress);
  if (!status.ok()) return inv.RpcError(status);
  if (inv.json() && svg_path.empty()) {
    inv.Print(progress);
    return kExitOk;
  }

  ChartInputs in;
  if (std::optional<int> failed = ReadChartInputs(inv, progress, &in)) return *failed;
  ProgressChart chart =
      ChartFromProgress(progress, in.goal, in.metric ? &*in.metric : nullptr, in.series);
  if (!svg_path.empty()) {
    std::ofstream svg(svg_path, std::ios::binary | std::ios::trunc);
    svg << RenderSvgChart(chart);
    svg.close();
    if (!svg) {
      return inv.UsageError(
          absl::InvalidArgumentError(absl::StrCat("--svg: cannot write '", svg_path, "'")));
    }
  }
  if (inv.json()) {
    inv.Print(progress);
    return kExitOk;
  }
  TextChartOptions options;
  if (width->has_value()) options.width = static_cast<int>(**width);
  if (height->has_value()) options.height = static_cast<int>(**height);
  inv.out() << ProgressSummaryText(progress) << "\n" << RenderTextChart(chart, options);
  if (!svg_path.empty()) inv.out() << "chart written to " << svg_path << "\n";
  return kExitOk;
}

}  // namespace

Command ProgressCommand() {
  const google::protobuf::Descriptor* d = v1::GetGoalProgressRequest::descriptor();
  std::vector<Flag> flags{FieldFlag(d, "goal", "goal", "The goal: patients/P/goals/G."),
                          FieldFlag(d, "trend_window", "trend_window",
                                    "Trend window, 1d to 365d (default: the service's, 8 weeks)."),
                          {.name = "svg",
                           .value_name = "FILE",
                           .help = "Also write the chart as a standalone SVG file."},
                          {.name = "width",
                           .value_name = "N",
                           .help = "Plot columns in the terminal.",
                           .default_value = "72"},
                          {.name = "height",
                           .value_name = "N",
                           .help = "Plot rows in the terminal.",
                           .default_value = "15"}};
  for (Flag& f : JsonInputFlags()) flags.push_back(std::move(f));
  return {.name = "progress",
          .summary =
              "Progress of a goal toward its target, drawn in the terminal "
              "(GetGoalProgress).",
          .description =
              "Prints the figures (baseline, latest, change, trend, projection, on-track, "
              "reliable change, stalled, suggested status) and a chart of the series over time "
              "since the goal started: the target line, the expected straight path from the "
              "baseline to the target at the due date, and marks on the values that are a "
              "reliable change from the baseline. --svg writes the same chart to a file. "
              "--output json prints the GoalProgress message only.\n\n"
              "  trellisctl measure progress patients/p1/goals/g1 --svg progress.svg",
          .positional = "goal",
          .flags = flags,
          .run = Run(Needs::kToken, RunProgress)};
}

}  // namespace trellis::cli
