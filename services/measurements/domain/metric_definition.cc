#include "services/measurements/domain/metric_definition.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clinical/instruments.h"
#include "common/clinical/metric_kinds.h"
#include "common/ids/ids.h"
#include "common/status/status.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/measurements/domain/text.h"

namespace trellis::measurements {
namespace {

using ::trellis::v1::Metric;

bool IsWhole(double v) { return std::isfinite(v) && std::floor(v) == v; }

bool IsUcumLike(absl::string_view unit) {
  for (char c : unit) {
    // UCUM codes are printable ASCII without spaces; braces hold annotations ("{count}").
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

void ClearOutputOnly(Metric& m) {
  m.set_built_in(false);
  m.set_max_missing_items(0);
  m.clear_etag();
  m.clear_create_time();
  m.clear_update_time();
}

void CheckId(const Metric& m, FieldViolations& v) {
  if (absl::Status s = ValidateId("metric.id", m.id()); !s.ok()) {
    v.Merge(s);
  } else if (clinical::IsReservedId(m.id())) {
    v.Add("metric.id", absl::StrCat("\"", m.id(), "\" is a built-in instrument id"));
  }
}

void CheckText(const Metric& m, FieldViolations& v) {
  if (std::string p = TextProblem(m.display_name(), 1, kMaxDisplayNameChars); !p.empty()) {
    v.Add("metric.display_name", p);
  }
  if (std::string p = TextProblem(m.description(), 0, kMaxDescriptionChars); !p.empty()) {
    v.Add("metric.description", p);
  }
}

void CheckUnit(const Metric& m, const clinical::KindTraits* traits, FieldViolations& v) {
  if (m.unit().empty()) {
    v.Add("metric.unit", "is required");
  } else if (m.unit().size() > kMaxUnitChars) {
    v.Add("metric.unit", absl::StrCat("must be at most ", kMaxUnitChars, " characters"));
  } else if (!IsUcumLike(m.unit())) {
    v.Add("metric.unit", "must be a UCUM unit: printable ASCII without spaces, e.g. \"{count}\"");
  } else if (traits != nullptr && traits->unit_fixed && m.unit() != traits->default_unit) {
    v.Add("metric.unit",
          absl::StrCat("must be \"", traits->default_unit, "\" for ", traits->name, " metrics"));
  }
}

// Returns whether the range is usable for the checks that depend on it.
bool CheckRange(const Metric& m, const clinical::KindTraits* traits, FieldViolations& v) {
  const double lo = m.min_value();
  const double hi = m.max_value();
  bool ok = true;
  if (!std::isfinite(lo) || std::fabs(lo) > kMaxAbsRangeValue) {
    v.Add("metric.min_value", "must be a finite number with magnitude <= 1e9");
    ok = false;
  }
  if (!std::isfinite(hi) || std::fabs(hi) > kMaxAbsRangeValue) {
    v.Add("metric.max_value", "must be a finite number with magnitude <= 1e9");
    ok = false;
  }
  if (!ok) return false;
  if (m.kind() == v1::METRIC_KIND_YES_NO) {
    if (lo != 0 || hi != 1) {
      v.Add("metric.max_value", "yes/no metrics have the range [0, 1]");
      return false;
    }
    return true;
  }
  if (lo >= hi) {
    v.Add("metric.max_value", "must be greater than min_value");
    return false;
  }
  if (traits != nullptr && traits->non_negative && lo < 0) {
    v.Add("metric.min_value", absl::StrCat("must be >= 0 for ", traits->name, " metrics"));
    ok = false;
  }
  if (m.integer_values() && (!IsWhole(lo) || !IsWhole(hi))) {
    v.Add("metric.min_value", "must be whole numbers when values are integers");
    ok = false;
  }
  return ok;
}

void CheckBands(const Metric& m, bool range_ok, FieldViolations& v) {
  if (static_cast<size_t>(m.bands_size()) > kMaxBands) {
    v.Add("metric.bands", absl::StrCat("at most ", kMaxBands, " bands"));
    return;
  }
  for (int i = 0; i < m.bands_size(); ++i) {
    const auto& band = m.bands(i);
    const std::string path = absl::StrCat("metric.bands[", i, "]");
    if (std::string p = TextProblem(band.label(), 1, kMaxBandLabelChars); !p.empty()) {
      v.Add(absl::StrCat(path, ".label"), p);
    }
    if (!std::isfinite(band.low()) || !std::isfinite(band.high()) || band.low() > band.high()) {
      v.Add(absl::StrCat(path, ".high"), "must be finite with low <= high");
      continue;
    }
    if (range_ok && (band.low() < m.min_value() || band.high() > m.max_value())) {
      v.Add(absl::StrCat(path, ".low"), "must lie inside [min_value, max_value]");
    }
    if (i > 0 && band.low() <= m.bands(i - 1).high()) {
      v.Add(absl::StrCat(path, ".low"), "bands must be ascending and must not overlap");
    }
  }
}

void CheckChangeCriteria(const Metric& m, bool range_ok, FieldViolations& v) {
  const double width = m.max_value() - m.min_value();
  if (m.has_reliable_change_threshold()) {
    const double t = m.reliable_change_threshold();
    if (!std::isfinite(t) || t <= 0 || (range_ok && t > width)) {
      v.Add("metric.reliable_change_threshold", "must be > 0 and at most max_value - min_value");
    }
    if (m.has_standard_deviation() || m.has_reliability()) {
      v.Add("metric.standard_deviation",
            "give either reliable_change_threshold or standard_deviation with reliability");
    }
  }
  if (m.has_standard_deviation() != m.has_reliability()) {
    v.Add(m.has_standard_deviation() ? "metric.reliability" : "metric.standard_deviation",
          "standard_deviation and reliability go together (Jacobson-Truax)");
  }
  if (m.has_standard_deviation() &&
      (!std::isfinite(m.standard_deviation()) || m.standard_deviation() <= 0)) {
    v.Add("metric.standard_deviation", "must be > 0");
  }
  if (m.has_reliability() &&
      (!std::isfinite(m.reliability()) || m.reliability() <= 0 || m.reliability() >= 1)) {
    v.Add("metric.reliability", "must be strictly between 0 and 1");
  }
  if (m.has_caseness_threshold() && (!std::isfinite(m.caseness_threshold()) ||
                                     (range_ok && (m.caseness_threshold() < m.min_value() ||
                                                   m.caseness_threshold() > m.max_value())))) {
    v.Add("metric.caseness_threshold", "must lie inside [min_value, max_value]");
  }
  const bool lower_better = m.better_direction() == v1::BETTER_DIRECTION_LOWER;
  if (m.has_response_fraction()) {
    if (!lower_better) {
      v.Add("metric.response_fraction", "only for metrics where lower is better");
    } else if (!std::isfinite(m.response_fraction()) || m.response_fraction() <= 0 ||
               m.response_fraction() > 1) {
      v.Add("metric.response_fraction", "must be in (0, 1]");
    }
  }
  if (m.has_remission_below()) {
    if (!lower_better) {
      v.Add("metric.remission_below", "only for metrics where lower is better");
    } else if (!std::isfinite(m.remission_below()) ||
               (range_ok &&
                (m.remission_below() <= m.min_value() || m.remission_below() > m.max_value()))) {
      v.Add("metric.remission_below", "must lie inside (min_value, max_value]");
    }
  }
}

}  // namespace

absl::StatusOr<Metric> PrepareMetricDefinition(const Metric& requested) {
  Metric m = requested;
  ClearOutputOnly(m);
  FieldViolations v;

  const clinical::KindTraits* traits = clinical::TraitsOf(m.kind());
  if (traits == nullptr) {
    v.Add("metric.kind",
          "is required: RATING, COUNT_PER_PERIOD, DURATION_MINUTES, HOURS or YES_NO");
  } else if (!traits->tenant_definable) {
    v.Add("metric.kind", "questionnaires are built in and cannot be defined");
    traits = nullptr;
  }
  if (traits != nullptr) {
    if (m.unit().empty()) m.set_unit(std::string(traits->default_unit));
    m.set_unit(clinical::NormalizeUnit(m.kind(), m.unit()));
    if (traits->integer_values) m.set_integer_values(true);
    if (m.kind() == v1::METRIC_KIND_YES_NO && m.min_value() == 0 && m.max_value() == 0) {
      m.set_max_value(1);
    }
  }

  CheckId(m, v);
  CheckText(m, v);
  CheckUnit(m, traits, v);
  const bool range_ok = CheckRange(m, traits, v);

  switch (m.better_direction()) {
    case v1::BETTER_DIRECTION_LOWER:
    case v1::BETTER_DIRECTION_HIGHER:
    case v1::BETTER_DIRECTION_NEITHER:
      break;
    default:
      v.Add("metric.better_direction", "is required: LOWER, HIGHER or NEITHER");
  }

  const bool needs_period = traits != nullptr && traits->needs_period;
  const bool period_known = m.period() == v1::METRIC_PERIOD_DAY ||
                            m.period() == v1::METRIC_PERIOD_WEEK ||
                            m.period() == v1::METRIC_PERIOD_MONTH;
  if (needs_period && !period_known) {
    v.Add("metric.period", "is required for count per period metrics: DAY, WEEK or MONTH");
  } else if (!needs_period && m.period() != v1::METRIC_PERIOD_UNSPECIFIED && traits != nullptr) {
    v.Add("metric.period", "is only for count per period metrics");
  }

  if (m.items_size() > 0) v.Add("metric.items", "only built-in questionnaires have items");
  CheckBands(m, range_ok, v);
  CheckChangeCriteria(m, range_ok, v);

  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return m;
}

bool SameMetricDefinition(const Metric& a, const Metric& b) {
  Metric x = a;
  Metric y = b;
  ClearOutputOnly(x);
  ClearOutputOnly(y);
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

}  // namespace trellis::measurements
