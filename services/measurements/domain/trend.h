#pragma once

// Least-squares trend of a series.

#include <optional>

#include "absl/types/span.h"
#include "services/measurements/domain/series.h"

namespace trellis::measurements {

// The ordinary least-squares slope of value over time, in value units per week; nullopt with
// fewer than 2 points or when all points share one instant (no time span to fit).
std::optional<double> SlopePerWeek(absl::Span<const SeriesPoint> points);

}  // namespace trellis::measurements
