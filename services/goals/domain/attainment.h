#pragma once

// Goal Attainment Scaling (Kiresuk & Sherman 1968; shared/reference/measures.md): the T-score
// over a patient's rated goals,
//
//   T = 50 + 10 * sum(w_i * x_i) / sqrt((1 - rho) * sum(w_i^2) + rho * (sum(w_i))^2)
//
// with ratings x_i in -2..+2, weights w_i (default 1) and the assumed inter-goal correlation rho
// (default 0.3). T = 50 when every goal reaches its expected outcome; the spread is 10 per
// standard deviation of the weighted sum under rho.

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace trellis::goals {

inline constexpr double kDefaultAttainmentRho = 0.3;

// One rated goal.
struct AttainmentTerm {
  // -2 (much less than expected) .. +2 (much more than expected).
  int rating = 0;
  // > 0 and finite.
  double weight = 1.0;
};

// The GAS T-score of `terms` for inter-goal correlation `rho`. INVALID_ARGUMENT (FieldViolations,
// all problems at once) naming "terms" when empty, "terms[i].rating" outside -2..+2,
// "terms[i].weight" not finite or <= 0, and "rho" outside [0, 1) or not finite. The handler
// checks the request's own fields (weights, rho) first with request paths
// (ValidateGetAttainmentScoreRequest); these names then only show up for bad stored data.
absl::StatusOr<double> AttainmentTScore(absl::Span<const AttainmentTerm> terms,
                                        double rho = kDefaultAttainmentRho);

}  // namespace trellis::goals
