#include "services/goals/domain/attainment.h"

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::ElementsAre;
using testing::ViolatedFields;

std::vector<AttainmentTerm> Equal(std::vector<int> ratings) {
  std::vector<AttainmentTerm> terms;
  for (int rating : ratings) terms.push_back({rating, 1.0});
  return terms;
}

struct Vector {
  std::vector<int> ratings;
  double t_score;
};

void PrintTo(const Vector& v, std::ostream* os) {
  *os << "(" << absl::StrJoin(v.ratings, ", ") << ") -> " << v.t_score;
}

class AttainmentReferenceVector : public ::testing::TestWithParam<Vector> {};

// shared/reference/measures.md, equal weights, rho = 0.3.
TEST_P(AttainmentReferenceVector, MatchesTheReferenceTScore) {
  absl::StatusOr<double> t = AttainmentTScore(Equal(GetParam().ratings));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NEAR(*t, GetParam().t_score, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(AttainmentScore, AttainmentReferenceVector,
                         ::testing::Values(Vector{{0, 0, 0}, 50.0000}, Vector{{1, 1, 0}, 59.1287},
                                           Vector{{-1, -1, -1}, 36.3069}, Vector{{2}, 70.0000},
                                           Vector{{0, 1, 2, 1, 0}, 62.0605}));

TEST(AttainmentScore, WeighsEachGoal) {
  // (+2, 0) weighted (2, 1): 50 + 10 * 4 / sqrt(0.7 * 5 + 0.3 * 9) = 66.0644.
  absl::StatusOr<double> t = AttainmentTScore({{2, 2.0}, {0, 1.0}});
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(*t, 66.0644, 1e-4);
  // Scaling every weight by the same factor changes nothing.
  EXPECT_NEAR(*AttainmentTScore({{2, 20.0}, {0, 10.0}}), *t, 1e-9);
}

TEST(AttainmentScore, StaysFiniteForTheSmallestWeights) {
  // Found by fuzz/request: a valid weight of 2.9e-309 squared to 0 and the score was -inf.
  absl::StatusOr<double> t = AttainmentTScore({{-2, 2.9e-309}});
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(*t, 30.0, 1e-9);  // one goal at -2: 50 + 10 * -2 / 1
  EXPECT_NEAR(*AttainmentTScore({{2, 1e-300}, {0, 1e-300}}), *AttainmentTScore(Equal({2, 0})),
              1e-9);
  EXPECT_NEAR(*AttainmentTScore({{2, 100.0}, {0, 1e-300}}), 50 + 10 * 2 / std::sqrt(1.0), 1e-9);
}

TEST(AttainmentScore, UsesTheGivenCorrelation) {
  // rho = 0: 50 + 10 * 2 / sqrt(3).
  EXPECT_NEAR(*AttainmentTScore(Equal({1, 1, 0}), 0.0), 50 + 20 / std::sqrt(3.0), 1e-9);
  EXPECT_NEAR(*AttainmentTScore(Equal({1, 1, 0})), *AttainmentTScore(Equal({1, 1, 0}), 0.3), 1e-12);
  EXPECT_GT(*AttainmentTScore(Equal({1, 1, 0}), 0.0), *AttainmentTScore(Equal({1, 1, 0}), 0.9));
}

TEST(AttainmentScore, IsSymmetricAroundFifty) {
  EXPECT_NEAR(*AttainmentTScore(Equal({-2, -1})) - 50, 50 - *AttainmentTScore(Equal({2, 1})), 1e-9);
}

TEST(AttainmentScore, NeedsAtLeastOneGoal) {
  absl::StatusOr<double> t = AttainmentTScore({});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(t.status()), ElementsAre("terms"));
}

TEST(AttainmentScore, RejectsEveryBadInputAtOnce) {
  absl::StatusOr<double> t =
      AttainmentTScore({{3, 1.0}, {-3, 0.0}, {0, std::nan("")}, {1, -1.0}}, 1.0);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(ViolatedFields(t.status()),
              ElementsAre("terms[0].rating", "terms[1].rating", "terms[1].weight",
                          "terms[2].weight", "terms[3].weight", "rho"));
}

TEST(AttainmentScore, AcceptsCorrelationsFromZeroUpToButNotIncludingOne) {
  EXPECT_TRUE(AttainmentTScore(Equal({1}), 0.0).ok());
  EXPECT_TRUE(AttainmentTScore(Equal({1}), 0.999).ok());
  EXPECT_FALSE(AttainmentTScore(Equal({1}), 1.0).ok());
  EXPECT_FALSE(AttainmentTScore(Equal({1}), -0.1).ok());
  EXPECT_FALSE(AttainmentTScore(Equal({1}), std::nan("")).ok());
}

}  // namespace
}  // namespace trellis::goals
