#pragma once

// The rules of DefineMetric: what a tenant's own metric must look like before it is stored.
// Metrics are immutable once defined (their history depends on them), so everything a later
// measurement, progress computation or FHIR export relies on is checked here, once.

#include <cstddef>

#include "absl/status/statusor.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

inline constexpr size_t kMaxDisplayNameChars = 100;
inline constexpr size_t kMaxDescriptionChars = 1000;
inline constexpr size_t kMaxUnitChars = 32;
inline constexpr size_t kMaxBands = 20;
inline constexpr size_t kMaxBandLabelChars = 100;
// Range limit: keeps slopes, projections and percentages far from overflow and precision loss;
// no clinical metric comes near it.
inline constexpr double kMaxAbsRangeValue = 1e9;

// Validates `requested` (DefineMetricRequest.metric) and returns the metric to store: output-only
// fields cleared (built_in false, max_missing_items 0, etag, times), a missing unit filled with the
// kind's default ("{count}", "min", "h", "1"), unit spellings normalized ("minutes" -> "min"),
// integer_values forced on for counts and yes/no, and an unset yes/no range set to [0, 1].
//
// Rules (every violation is reported, as INVALID_ARGUMENT with BadRequest paths "metric.<field>"):
//   id            1-64 of [A-Za-z0-9._-], not a built-in id in any letter case ("PHQ9")
//   display_name  1-100 characters; description <= 1000 (valid UTF-8)
//   kind          RATING, COUNT_PER_PERIOD, DURATION_MINUTES, HOURS or YES_NO (not QUESTIONNAIRE)
//   unit          1-32 printable ASCII characters without spaces (a UCUM code or {annotation});
//                 "min" for DURATION_MINUTES and "h" for HOURS
//   range         finite, min_value < max_value, |value| <= 1e9; >= 0 for counts, minutes, hours;
//                 exactly [0, 1] for YES_NO; whole numbers when integer_values
//   better_direction  LOWER, HIGHER or NEITHER
//   period        required for COUNT_PER_PERIOD, unset otherwise
//   items         none (questionnaires are built in)
//   bands         <= 20, each low <= high inside the range, labels 1-100 characters, ascending
//                 and non-overlapping
//   reliable change: either reliable_change_threshold (> 0, <= the range width) or
//                 standard_deviation (> 0) with reliability (0 < r < 1) - both or neither - never
//                 the threshold and SD/reliability together (which would win is not obvious)
//   caseness_threshold inside the range; response_fraction in (0, 1] and remission_below inside
//                 (min_value, max_value] only for LOWER-is-better metrics ("a drop from baseline")
absl::StatusOr<trellis::v1::Metric> PrepareMetricDefinition(const trellis::v1::Metric& requested);

// True when two prepared definitions are the same (output-only fields ignored): DefineMetric
// returns the stored metric for a retry of the same definition and ALREADY_EXISTS otherwise.
bool SameMetricDefinition(const trellis::v1::Metric& a, const trellis::v1::Metric& b);

}  // namespace trellis::measurements
