#include "services/goals/domain/attainment.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis::goals {

absl::StatusOr<double> AttainmentTScore(absl::Span<const AttainmentTerm> terms, double rho) {
  FieldViolations violations;
  if (terms.empty()) violations.Add("terms", "needs at least one rated goal");
  for (size_t i = 0; i < terms.size(); ++i) {
    if (terms[i].rating < -2 || terms[i].rating > 2) {
      violations.Add(absl::StrCat("terms[", i, "].rating"), "must be an integer from -2 to +2");
    }
    if (!std::isfinite(terms[i].weight) || terms[i].weight <= 0) {
      violations.Add(absl::StrCat("terms[", i, "].weight"), "must be a finite number above 0");
    }
  }
  if (!std::isfinite(rho) || rho < 0 || rho >= 1) violations.Add("rho", "must be in [0, 1)");
  if (!violations.empty()) return violations.ToStatus();

  // The score is the same for weights all scaled by one factor, so they are taken relative to the
  // largest: the sums then stay clear of underflow (a weight of 1e-300 squared is 0, which made the
  // denominator 0 and the score infinite or NaN; found by fuzz/request).
  double max_weight = 0;
  for (const AttainmentTerm& term : terms) max_weight = std::max(max_weight, term.weight);
  double weighted_sum = 0;
  double weight_sum = 0;
  double squared_weight_sum = 0;
  for (const AttainmentTerm& term : terms) {
    const double weight = term.weight / max_weight;
    weighted_sum += weight * term.rating;
    weight_sum += weight;
    squared_weight_sum += weight * weight;
  }
  // Positive: squared_weight_sum >= 1 (the largest weight is 1) and rho < 1.
  const double denominator =
      std::sqrt((1 - rho) * squared_weight_sum + rho * weight_sum * weight_sum);
  return 50.0 + 10.0 * weighted_sum / denominator;
}

}  // namespace trellis::goals
