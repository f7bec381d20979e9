#include "services/goals/domain/names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::ElementsAre;
using testing::ViolatedFields;

TEST(GoalNames, FormatAndParseRoundTrip) {
  const std::string name = FormatGoalName("p42", "g7");
  EXPECT_EQ(name, "patients/p42/goals/g7");
  absl::StatusOr<GoalName> parsed = ParseGoalName("name", name);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->patient, "p42");
  EXPECT_EQ(parsed->goal, "g7");
  EXPECT_EQ(parsed->ToString(), name);
}

TEST(GoalNames, AcceptsTheWholeIdAlphabet) {
  EXPECT_TRUE(ParseGoalName("name", "patients/A-z.0_9/goals/abc-DEF.1_2").ok());
}

class MalformedGoalName : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedGoalName, IsRejectedNamingTheField) {
  absl::StatusOr<GoalName> parsed = ParseGoalName("goal.parent", GetParam());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(parsed.status()), ElementsAre("goal.parent"));
  EXPECT_EQ(ReasonOf(parsed.status()), "INVALID_FIELD");
}

INSTANTIATE_TEST_SUITE_P(GoalNames, MalformedGoalName,
                         ::testing::Values("", "patients/p1", "patients/p1/goals",
                                           "patients/p1/goals/", "patients//goals/g1",
                                           "patients/p 1/goals/g1", "users/p1/goals/g1",
                                           "patients/p1/reminders/g1",
                                           "patients/p1/goals/g1/revisions/1",
                                           "/patients/p1/goals/g1", "patients/p1/goals/g{1}",
                                           "patients/p1/goals/" + std::string(65, 'a')));

}  // namespace
}  // namespace trellis::goals
