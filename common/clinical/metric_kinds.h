#pragma once

// What each MetricKind means for the values and unit of a metric. The catalog's built-ins and the
// DefineMetric rules both read this table, so a kind means the same thing everywhere:
//
//   kind               unit (UCUM)         values                         examples
//   QUESTIONNAIRE      {score}             whole numbers (item totals)    PHQ-9, GAD-7 (built in
//   only) RATING             tenant's choice     range of the scale             mood 0-10, SUDS
//   0-100 COUNT_PER_PERIOD   {count} (default)   whole numbers >= 0, + period   panic attacks per
//   week DURATION_MINUTES   min                 >= 0, fractions allowed        minutes of practice
//   HOURS              h                   >= 0, fractions allowed        hours slept
//   YES_NO             1 (default)         0 (no) or 1 (yes)              did the exposure exercise
//
// Minutes and hours fix their unit because the unit is the kind: "h" on a minutes metric would
// make every exported FHIR quantity wrong by a factor of 60.

#include <string>

#include "absl/strings/string_view.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::clinical {

struct KindTraits {
  trellis::v1::MetricKind kind;
  // Lower-case name for messages ("count per period").
  absl::string_view name;
  // The UCUM unit used when a definition leaves the unit empty; "" when the tenant must choose.
  absl::string_view default_unit;
  // The unit must be default_unit (after NormalizeUnit).
  bool unit_fixed;
  // Values must be whole numbers.
  bool integer_values;
  // The range may not go below 0.
  bool non_negative;
  // Metric.period is required (and only allowed for this kind).
  bool needs_period;
  // Tenants may define metrics of this kind (questionnaires are built in only).
  bool tenant_definable;
};

// The traits of `kind`, or nullptr for UNSPECIFIED and unknown values.
const KindTraits* TraitsOf(trellis::v1::MetricKind kind);

// Maps common spellings of fixed units to their UCUM code for `kind` ("minutes" -> "min",
// "hours" -> "h"); returns `unit` unchanged otherwise.
std::string NormalizeUnit(trellis::v1::MetricKind kind, absl::string_view unit);

}  // namespace trellis::clinical
