#pragma once

// Reliable change: is a difference between two scores real change or measurement noise?
//
// Two methods, picked by what the metric declares (reference/measures.md):
//   THRESHOLD       Metric.reliable_change_threshold (PHQ-9 6, GAD-7 4 by default). For integer
//                   metrics the comparison is on integer score differences, never on a floating
//                   point index: |x2 - x1| >= threshold. Boundary cases would otherwise flip.
//   JACOBSON_TRUAX  Metric.standard_deviation (SD) and reliability (r):
//                   RC = (x2 - x1) / (SD * sqrt(2) * sqrt(1 - r)); reliable when |RC| > 1.96.
// A metric with neither has no criterion (NOT_APPLICABLE, method NONE).

#include <optional>

#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

// Which way is better for the comparison (the goal's direction, or the metric's).
enum class Better { kLower, kHigher };

struct ReliableChangeAssessment {
  trellis::v1::ReliableChange change = trellis::v1::RELIABLE_CHANGE_NOT_APPLICABLE;
  trellis::v1::ReliableChangeMethod method = trellis::v1::RELIABLE_CHANGE_METHOD_NONE;
  // The Jacobson-Truax RC (signed as x2 - x1) when that method was used.
  std::optional<double> index;
};

// The Jacobson-Truax reliable change index for a change from `before` to `after`. Requires
// sd > 0 and 0 < reliability < 1.
double JacobsonTruaxIndex(double before, double after, double sd, double reliability);

// True when `metric` declares a usable criterion (a positive threshold, or SD > 0 and 0 < r < 1).
bool HasReliableChangeCriterion(const trellis::v1::Metric& metric);

// Classifies the change from `before` to `after` as IMPROVED / DETERIORATED (reliable, in the
// `better` direction or against it) or NO_RELIABLE_CHANGE; NOT_APPLICABLE with method NONE when
// the metric has no criterion. The threshold wins when a metric declares both.
ReliableChangeAssessment AssessReliableChange(const trellis::v1::Metric& metric, double before,
                                              double after, Better better);

}  // namespace trellis::measurements
