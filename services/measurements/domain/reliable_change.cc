#include "services/measurements/domain/reliable_change.h"

#include <cmath>
#include <cstdint>

namespace trellis::measurements {
namespace {

// Two-tailed 95%: |RC| above this is unlikely (p < .05) to be measurement error alone.
constexpr double kJacobsonTruaxCritical = 1.96;

bool HasThreshold(const v1::Metric& m) {
  return m.has_reliable_change_threshold() && std::isfinite(m.reliable_change_threshold()) &&
         m.reliable_change_threshold() > 0;
}

bool HasJacobsonTruax(const v1::Metric& m) {
  return m.has_standard_deviation() && m.has_reliability() &&
         std::isfinite(m.standard_deviation()) && m.standard_deviation() > 0 &&
         m.reliability() > 0 && m.reliability() < 1;
}

v1::ReliableChange Classify(bool reliable, double delta, Better better) {
  if (!reliable) return v1::RELIABLE_CHANGE_NO_RELIABLE_CHANGE;
  const bool toward_better = better == Better::kLower ? delta < 0 : delta > 0;
  return toward_better ? v1::RELIABLE_CHANGE_IMPROVED : v1::RELIABLE_CHANGE_DETERIORATED;
}

}  // namespace

double JacobsonTruaxIndex(double before, double after, double sd, double reliability) {
  const double s_diff = sd * std::sqrt(2.0) * std::sqrt(1.0 - reliability);
  return (after - before) / s_diff;
}

bool HasReliableChangeCriterion(const v1::Metric& metric) {
  return HasThreshold(metric) || HasJacobsonTruax(metric);
}

ReliableChangeAssessment AssessReliableChange(const v1::Metric& metric, double before, double after,
                                              Better better) {
  ReliableChangeAssessment out;
  if (HasThreshold(metric)) {
    out.method = v1::RELIABLE_CHANGE_METHOD_THRESHOLD;
    const double threshold = metric.reliable_change_threshold();
    if (metric.integer_values()) {
      // Scores are whole numbers: compare whole-number differences with the smallest whole
      // number of points that meets the threshold (a threshold of 6 means a change of 6 or more).
      const int64_t delta = std::llround(after) - std::llround(before);
      const int64_t needed = static_cast<int64_t>(std::ceil(threshold));
      const int64_t magnitude = delta < 0 ? -delta : delta;
      out.change = Classify(magnitude >= needed, static_cast<double>(delta), better);
    } else {
      // Decimal inputs (7.3 - 5.1 = 2.1999...) must not miss a threshold of 2.2 by a rounding
      // error far below any unit a person could enter.
      const double delta = after - before;
      out.change = Classify(std::fabs(delta) >= threshold - 1e-9, delta, better);
    }
    return out;
  }
  if (HasJacobsonTruax(metric)) {
    out.method = v1::RELIABLE_CHANGE_METHOD_JACOBSON_TRUAX;
    const double rc =
        JacobsonTruaxIndex(before, after, metric.standard_deviation(), metric.reliability());
    out.index = rc;
    out.change = Classify(std::fabs(rc) > kJacobsonTruaxCritical, after - before, better);
    return out;
  }
  return out;
}

}  // namespace trellis::measurements
