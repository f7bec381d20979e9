#pragma once

// From the answers of the services to the values of a progress chart (chart.h) and the lines
// printed above it: pure conversions, unit-tested with plain messages.
//
// The chart's pieces come from: the series = the patient's measurements of the goal's metric since
// the goal started (ListMeasurements); baseline, target and direction = GoalProgress (the measure
// the service used); the expected path = baseline at 00:00 UTC of the goal's start_date (else its
// create_time) to the target at 00:00 UTC of its due_date, as the service judges on-track; the
// reliable-change size = the metric's threshold, else 1.96 x S_diff from its SD and reliability
// (Jacobson-Truax), in the goal's direction of improvement (the metric's better direction for
// range goals).

#include <optional>
#include <string>
#include <vector>

#include "cli/chart.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::cli {

// When the goal starts: 00:00 UTC of start_date, else create_time; nullopt without either.
std::optional<absl::Time> GoalStart(const trellis::v1::Goal& goal);

// The size of a reliable change for `metric`, nullopt when it defines none.
std::optional<double> ReliableChangeSize(const trellis::v1::Metric& metric);

// `metric` may be null (unknown metric: no range, no marks).
ProgressChart ChartFromProgress(const trellis::v1::GoalProgress& progress,
                                const trellis::v1::Goal& goal, const trellis::v1::Metric* metric,
                                const std::vector<trellis::v1::Measurement>& series);

// The figures of a progress answer as "key: value" lines (what is unset is left out; the notes
// say why).
std::string ProgressSummaryText(const trellis::v1::GoalProgress& progress);

}  // namespace trellis::cli
