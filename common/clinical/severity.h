#pragma once

// Reading a value against a metric's clinical cut-offs: severity band and caseness. Used for
// questionnaire results, the patient summary and the goal service's "symptom scale" checks.

#include <optional>

#include "absl/strings/string_view.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::clinical {

// The label of the band containing `value` (bands are inclusive on both ends), or "" when the
// metric has no bands or the value falls between or outside them. The view points into `metric`.
absl::string_view SeverityBandOf(const trellis::v1::Metric& metric, double value);

// Whether `value` is at or above the metric's caseness threshold; nullopt when it declares none.
std::optional<bool> AboveCaseness(const trellis::v1::Metric& metric, double value);

}  // namespace trellis::clinical
