#include "common/clinical/metric_kinds.h"

#include "absl/strings/ascii.h"

namespace trellis::clinical {
namespace {

using ::trellis::v1::MetricKind;

constexpr KindTraits kTraits[] = {
    {v1::METRIC_KIND_QUESTIONNAIRE, "questionnaire", "{score}", true, true, true, false, false},
    {v1::METRIC_KIND_RATING, "rating", "", false, false, false, false, true},
    {v1::METRIC_KIND_COUNT_PER_PERIOD, "count per period", "{count}", false, true, true, true,
     true},
    {v1::METRIC_KIND_DURATION_MINUTES, "duration in minutes", "min", true, false, true, false,
     true},
    {v1::METRIC_KIND_HOURS, "hours", "h", true, false, true, false, true},
    {v1::METRIC_KIND_YES_NO, "yes/no", "1", false, true, true, false, true},
};

}  // namespace

const KindTraits* TraitsOf(MetricKind kind) {
  for (const KindTraits& traits : kTraits) {
    if (traits.kind == kind) return &traits;
  }
  return nullptr;
}

std::string NormalizeUnit(MetricKind kind, absl::string_view unit) {
  std::string lower = absl::AsciiStrToLower(unit);
  if (kind == v1::METRIC_KIND_DURATION_MINUTES &&
      (lower == "minute" || lower == "minutes" || lower == "mins")) {
    return "min";
  }
  if (kind == v1::METRIC_KIND_HOURS &&
      (lower == "hour" || lower == "hours" || lower == "hr" || lower == "hrs")) {
    return "h";
  }
  return std::string(unit);
}

}  // namespace trellis::clinical
