#include "common/clinical/severity.h"

namespace trellis::clinical {

absl::string_view SeverityBandOf(const trellis::v1::Metric& metric, double value) {
  for (const auto& band : metric.bands()) {
    if (value >= band.low() && value <= band.high()) return band.label();
  }
  return "";
}

std::optional<bool> AboveCaseness(const trellis::v1::Metric& metric, double value) {
  if (!metric.has_caseness_threshold()) return std::nullopt;
  return value >= metric.caseness_threshold();
}

}  // namespace trellis::clinical
