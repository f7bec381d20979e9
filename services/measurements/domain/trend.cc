#include "services/measurements/domain/trend.h"

#include <vector>

namespace trellis::measurements {

std::optional<double> SlopePerWeek(absl::Span<const SeriesPoint> points) {
  if (points.size() < 2) return std::nullopt;
  // Time in weeks relative to the first point keeps the x values small, so the sums below do not
  // lose the fraction of a week to a 1.7e9-second epoch offset.
  const absl::Time origin = points.front().time;
  const double n = static_cast<double>(points.size());
  // x of each point computed once (a time difference is a library call, not an inline op).
  std::vector<double> xs;
  xs.reserve(points.size());
  double mean_x = 0;
  double mean_y = 0;
  for (const SeriesPoint& p : points) {
    xs.push_back(absl::ToDoubleHours(p.time - origin) / (24.0 * 7.0));
    mean_x += xs.back();
    mean_y += p.value;
  }
  mean_x /= n;
  mean_y /= n;
  double sxx = 0;
  double sxy = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const double dx = xs[i] - mean_x;
    sxx += dx * dx;
    sxy += dx * (points[i].value - mean_y);
  }
  if (sxx <= 0) return std::nullopt;
  return sxy / sxx;
}

}  // namespace trellis::measurements
