#include "services/measurements/domain/trend.h"

namespace trellis::measurements {

std::optional<double> SlopePerWeek(absl::Span<const SeriesPoint> points) {
  if (points.size() < 2) return std::nullopt;
  // Time in weeks relative to the first point keeps the x values small, so the sums below do not
  // lose the fraction of a week to a 1.7e9-second epoch offset.
  const absl::Time origin = points.front().time;
  const double n = static_cast<double>(points.size());
  double mean_x = 0;
  double mean_y = 0;
  for (const SeriesPoint& p : points) {
    mean_x += absl::ToDoubleHours(p.time - origin) / (24.0 * 7.0);
    mean_y += p.value;
  }
  mean_x /= n;
  mean_y /= n;
  double sxx = 0;
  double sxy = 0;
  for (const SeriesPoint& p : points) {
    const double dx = absl::ToDoubleHours(p.time - origin) / (24.0 * 7.0) - mean_x;
    sxx += dx * dx;
    sxy += dx * (p.value - mean_y);
  }
  if (sxx <= 0) return std::nullopt;
  return sxy / sxx;
}

}  // namespace trellis::measurements
