#include "services/goals/domain/lifecycle.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/goals/domain/codes.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::ElementsAre;
using testing::ErrorMetadata;
using testing::Gad7;
using ::testing::HasSubstr;
using testing::InputsWith;
using ::testing::IsEmpty;
using testing::SmartGoal;
using trellis::v1::Goal;
using trellis::v1::GoalLifecycleStatus;

constexpr GoalLifecycleStatus kProposed = trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED;
constexpr GoalLifecycleStatus kPlanned = trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED;
constexpr GoalLifecycleStatus kAccepted = trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED;
constexpr GoalLifecycleStatus kActive = trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE;
constexpr GoalLifecycleStatus kOnHold = trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD;
constexpr GoalLifecycleStatus kCompleted = trellis::v1::GOAL_LIFECYCLE_STATUS_COMPLETED;
constexpr GoalLifecycleStatus kCancelled = trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED;
constexpr GoalLifecycleStatus kEnteredInError = trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR;
constexpr GoalLifecycleStatus kRejected = trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED;
constexpr GoalLifecycleStatus kUnspecified = trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED;

const std::vector<GoalLifecycleStatus>& AllStatuses() {
  static const auto* const kAll = new std::vector<GoalLifecycleStatus>{
      kProposed,  kPlanned,   kAccepted,       kActive,  kOnHold,
      kCompleted, kCancelled, kEnteredInError, kRejected};
  return *kAll;
}

// The table of goals.proto (TransitionGoal), written out independently of lifecycle.cc.
const std::map<GoalLifecycleStatus, std::set<GoalLifecycleStatus>>& DocumentedTable() {
  static const auto* const kTable =
      new std::map<GoalLifecycleStatus, std::set<GoalLifecycleStatus>>{
          {kProposed, {kPlanned, kAccepted, kActive, kRejected, kEnteredInError}},
          {kPlanned, {kAccepted, kActive, kCancelled, kEnteredInError}},
          {kAccepted, {kActive, kOnHold, kCancelled, kEnteredInError}},
          {kActive, {kOnHold, kCompleted, kCancelled, kEnteredInError}},
          {kOnHold, {kActive, kCancelled, kEnteredInError}},
          {kCompleted, {kEnteredInError}},
          {kCancelled, {kEnteredInError}},
          {kRejected, {kEnteredInError}},
          {kEnteredInError, {}},
      };
  return *kTable;
}

class LifecycleTransitionTable
    : public ::testing::TestWithParam<std::tuple<GoalLifecycleStatus, GoalLifecycleStatus>> {};

TEST_P(LifecycleTransitionTable, AllowsExactlyTheDocumentedTransitions) {
  const auto [from, to] = GetParam();
  const std::set<GoalLifecycleStatus>& allowed = DocumentedTable().at(from);
  const bool expected = allowed.count(to) > 0;
  EXPECT_EQ(IsTransitionAllowed(from, to), expected);
  absl::Status status = CheckTransition(from, to);
  if (expected) {
    EXPECT_TRUE(status.ok()) << status;
    return;
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(status), "ILLEGAL_TRANSITION");
  std::vector<std::string> codes;
  for (GoalLifecycleStatus s : AllStatuses()) {
    if (allowed.count(s) > 0) codes.emplace_back(LifecycleStatusCode(s));
  }
  std::map<std::string, std::string> metadata = ErrorMetadata(status);
  EXPECT_EQ(metadata["allowed"], absl::StrJoin(codes, ","));
  EXPECT_EQ(metadata["from"], LifecycleStatusCode(from));
  EXPECT_EQ(metadata["to"], LifecycleStatusCode(to));
  for (const std::string& code : codes) EXPECT_THAT(status.message(), HasSubstr(code));
  if (codes.empty()) {
    EXPECT_THAT(status.message(), HasSubstr("allowed: none"));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPair, LifecycleTransitionTable,
                         ::testing::Combine(::testing::ValuesIn(AllStatuses()),
                                            ::testing::ValuesIn(AllStatuses())),
                         [](const auto& info) {
                           return absl::StrReplaceAll(
                               absl::StrCat(LifecycleStatusCode(std::get<0>(info.param)), "_to_",
                                            LifecycleStatusCode(std::get<1>(info.param))),
                               {{"-", "_"}});
                         });

TEST(LifecycleTransitions, NameTheAllowedTargetsInTheMessage) {
  absl::Status status = CheckTransition(kActive, kProposed);
  EXPECT_EQ(status.message(),
            "cannot move a goal from active to proposed; allowed: on-hold, completed, cancelled, "
            "entered-in-error");
}

TEST(LifecycleTransitions, RefuseStayingInTheSameStatus) {
  for (GoalLifecycleStatus s : AllStatuses()) {
    absl::Status status = CheckTransition(s, s);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(status.message(), HasSubstr("already there"));
  }
}

TEST(LifecycleTransitions, RefuseUnspecifiedStatuses) {
  EXPECT_FALSE(CheckTransition(kUnspecified, kActive).ok());
  EXPECT_FALSE(CheckTransition(kActive, kUnspecified).ok());
  EXPECT_THAT(AllowedTransitions(kUnspecified), IsEmpty());
}

TEST(LifecycleTransitions, TreatEnteredInErrorAsTerminal) {
  EXPECT_THAT(AllowedTransitions(kEnteredInError), IsEmpty());
  EXPECT_EQ(ErrorMetadata(CheckTransition(kEnteredInError, kActive))["allowed"], "");
}

TEST(LifecycleStatuses, CloseOnCompletedCancelledEnteredInErrorAndRejected) {
  const std::set<GoalLifecycleStatus> closed = {kCompleted, kCancelled, kEnteredInError, kRejected};
  for (GoalLifecycleStatus s : AllStatuses()) EXPECT_EQ(IsClosed(s), closed.count(s) > 0) << s;
}

TEST(LifecycleStatuses, StartAsProposedPlannedAcceptedOrActive) {
  const std::set<GoalLifecycleStatus> initial = {kUnspecified, kProposed, kPlanned, kAccepted,
                                                 kActive};
  for (GoalLifecycleStatus s : AllStatuses()) {
    EXPECT_EQ(IsInitialStatus(s), initial.count(s) > 0) << s;
  }
  EXPECT_TRUE(IsInitialStatus(kUnspecified));
}

TEST(LifecycleStatuses, RequireSmartOnlyToBecomeActive) {
  for (GoalLifecycleStatus s : AllStatuses()) EXPECT_EQ(RequiresSmart(s), s == kActive) << s;
}

TEST(LifecycleStatuses, MapToAndFromFhirCodes) {
  for (GoalLifecycleStatus s : AllStatuses()) {
    EXPECT_EQ(LifecycleStatusFromCode(LifecycleStatusCode(s)), s);
  }
  EXPECT_EQ(LifecycleStatusCode(kOnHold), "on-hold");
  EXPECT_EQ(LifecycleStatusCode(kEnteredInError), "entered-in-error");
  EXPECT_FALSE(LifecycleStatusFromCode("bogus").has_value());
}

// --- Activation -----------------------------------------------------------------------------

TEST(LifecycleActivation, AllowsAGoalThatPassesSmart) {
  SmartEvaluation evaluation = SmartEvaluator().Evaluate(SmartGoal(), InputsWith(Gad7()));
  EXPECT_TRUE(CheckActivation(evaluation).ok());
}

TEST(LifecycleActivation, AllowsWarningsButNotFailures) {
  Goal goal = SmartGoal();
  goal.set_title("Feel less anxious on the commute");  // WARN with a concrete measure
  EXPECT_TRUE(CheckActivation(SmartEvaluator().Evaluate(goal, InputsWith(Gad7()))).ok());

  goal.clear_due_date();
  goal.clear_addresses();
  absl::Status status = CheckActivation(SmartEvaluator().Evaluate(goal, InputsWith(Gad7())));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(status), "SMART_CHECK_FAILED");
  auto payload = status.GetPayload(kPreconditionFailureTypeUrl);
  ASSERT_TRUE(payload.has_value());
  google::rpc::PreconditionFailure details;
  ASSERT_TRUE(details.ParseFromString(std::string(*payload)));
  std::vector<std::string> subjects;
  for (const auto& v : details.violations()) {
    EXPECT_EQ(v.type(), "SMART");
    EXPECT_FALSE(v.description().empty());
    subjects.push_back(v.subject());
  }
  EXPECT_THAT(subjects, ElementsAre("R", "T"));
  EXPECT_THAT(status.message(), HasSubstr("T:DUE_DATE_MISSING"));
}

// --- Updates by status ----------------------------------------------------------------------

TEST(LifecycleUpdates, AllowEveryFieldOnOpenGoals) {
  const std::vector<std::string> paths = {"title", "measure.target", "due_date"};
  for (GoalLifecycleStatus s : {kProposed, kPlanned, kAccepted, kActive, kOnHold}) {
    EXPECT_TRUE(CheckUpdateAllowed(s, paths).ok()) << s;
  }
}

TEST(LifecycleUpdates, AllowOnlyReviewFieldsOnCompletedAndCancelledGoals) {
  const std::vector<std::string> review = {"achievement_status", "review_date", "needs_review"};
  for (GoalLifecycleStatus s : {kCompleted, kCancelled}) {
    EXPECT_TRUE(CheckUpdateAllowed(s, review).ok()) << s;
    absl::Status status = CheckUpdateAllowed(s, {"title", "review_date"});
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ReasonOf(status), "RESOURCE_CLOSED");
    EXPECT_THAT(status.message(), HasSubstr("refused: title"));
  }
}

TEST(LifecycleUpdates, AllowNothingOnRejectedAndEnteredInErrorGoals) {
  for (GoalLifecycleStatus s : {kRejected, kEnteredInError}) {
    absl::Status status = CheckUpdateAllowed(s, {"needs_review"});
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ReasonOf(status), "RESOURCE_CLOSED");
  }
}

TEST(LifecycleUpdates, RefuseAnUpdateThatBreaksSmartOnAnActiveGoal) {
  SmartEvaluator evaluator;
  Goal before = SmartGoal();
  Goal after = before;
  after.clear_due_date();
  SmartEvaluation old_eval = evaluator.Evaluate(before, InputsWith(Gad7()));
  SmartEvaluation new_eval = evaluator.Evaluate(after, InputsWith(Gad7()));
  for (GoalLifecycleStatus s : {kActive, kOnHold}) {
    absl::Status status = CheckUpdateKeepsSmart(s, old_eval, new_eval);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ReasonOf(status), "SMART_CHECK_FAILED");
  }
  EXPECT_TRUE(CheckUpdateKeepsSmart(kProposed, old_eval, new_eval).ok());
  // A failure the goal already had does not block unrelated edits.
  EXPECT_TRUE(CheckUpdateKeepsSmart(kActive, new_eval, new_eval).ok());
}

// --- Objectives -----------------------------------------------------------------------------

Goal StoredGoal(const std::string& id, GoalLifecycleStatus status, const std::string& parent = "") {
  Goal goal = SmartGoal();
  goal.set_name(absl::StrCat("patients/p42/goals/", id));
  goal.set_lifecycle_status(status);
  goal.set_parent(parent);
  return goal;
}

TEST(LifecycleObjectives, AttachOnlyToOpenTopLevelGoalsOfTheSamePatient) {
  EXPECT_TRUE(CheckParentAcceptsObjective(StoredGoal("g1", kActive), "p42").ok());

  absl::Status other_patient = CheckParentAcceptsObjective(StoredGoal("g1", kActive), "p43");
  EXPECT_EQ(other_patient.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(testing::ViolatedFields(other_patient), ElementsAre("goal.parent"));

  absl::Status nested =
      CheckParentAcceptsObjective(StoredGoal("o1", kActive, "patients/p42/goals/g1"), "p42");
  EXPECT_EQ(nested.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(testing::ViolatedFields(nested), ElementsAre("goal.parent"));

  absl::Status closed = CheckParentAcceptsObjective(StoredGoal("g1", kCompleted), "p42");
  EXPECT_EQ(closed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(closed), "RESOURCE_CLOSED");
}

std::vector<Goal> Objectives() {
  return {StoredGoal("o1", kActive, "patients/p42/goals/g1"),
          StoredGoal("o2", kCompleted, "patients/p42/goals/g1"),
          StoredGoal("o3", kProposed, "patients/p42/goals/g1")};
}

TEST(LifecycleObjectives, LeaveObjectivesAloneWhenTheGoalStaysOpen) {
  auto result =
      ObjectivesToCancel(kOnHold, trellis::v1::OPEN_OBJECTIVES_ACTION_REFUSE, Objectives());
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(*result, IsEmpty());
}

TEST(LifecycleObjectives, RefuseToCloseAGoalWithOpenObjectivesNamingThem) {
  for (auto action : {trellis::v1::OPEN_OBJECTIVES_ACTION_REFUSE,
                      trellis::v1::OPEN_OBJECTIVES_ACTION_UNSPECIFIED}) {
    auto result = ObjectivesToCancel(kCompleted, action, Objectives());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ReasonOf(result.status()), "OPEN_OBJECTIVES");
    EXPECT_EQ(ErrorMetadata(result.status())["objectives"],
              "patients/p42/goals/o1,patients/p42/goals/o3");
    EXPECT_THAT(result.status().message(), HasSubstr("patients/p42/goals/o3"));
  }
}

TEST(LifecycleObjectives, CancelOnlyTheOpenObjectivesWhenAsked) {
  for (GoalLifecycleStatus to : {kCompleted, kCancelled, kEnteredInError, kRejected}) {
    auto result = ObjectivesToCancel(to, trellis::v1::OPEN_OBJECTIVES_ACTION_CANCEL, Objectives());
    ASSERT_TRUE(result.ok()) << to;
    EXPECT_THAT(*result, ElementsAre("patients/p42/goals/o1", "patients/p42/goals/o3"));
  }
}

TEST(LifecycleObjectives, CloseFreelyWhenEveryObjectiveIsClosed) {
  std::vector<Goal> closed = {StoredGoal("o2", kCompleted, "patients/p42/goals/g1")};
  auto result = ObjectivesToCancel(kCompleted, trellis::v1::OPEN_OBJECTIVES_ACTION_REFUSE, closed);
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(*result, IsEmpty());
}

}  // namespace
}  // namespace trellis::goals
