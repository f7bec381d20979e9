#include "services/goals/domain/update_mask.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using testing::Date;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::SmartGoal;
using testing::ViolatedFields;
using trellis::v1::Goal;

google::protobuf::FieldMask Mask(std::vector<std::string> paths) {
  google::protobuf::FieldMask mask;
  for (std::string& path : paths) mask.add_paths(std::move(path));
  return mask;
}

// The violation descriptions of a rejected mask (all of them name "update_mask").
std::vector<std::string> MaskProblems(const google::protobuf::FieldMask& mask) {
  absl::StatusOr<std::vector<std::string>> paths = ValidateUpdateMask(mask);
  std::vector<std::string> problems;
  if (paths.ok()) return problems;
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kInvalidArgument);
  for (const auto& [field, description] : FieldViolationsOf(paths.status())) {
    EXPECT_EQ(field, "update_mask");
    problems.push_back(description);
  }
  return problems;
}

Goal StoredGoal() {
  Goal goal = SmartGoal();
  goal.set_name("patients/p42/goals/g1");
  goal.set_etag("e1");
  goal.set_revision(3);
  goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  return goal;
}

GoalUpdate MustApply(const Goal& current, const Goal& patch, std::vector<std::string> paths) {
  absl::StatusOr<std::vector<std::string>> canonical = ValidateUpdateMask(Mask(std::move(paths)));
  EXPECT_TRUE(canonical.ok()) << canonical.status();
  absl::StatusOr<GoalUpdate> update = ApplyUpdate(current, patch, *canonical);
  EXPECT_TRUE(update.ok()) << update.status();
  return update.ok() ? *std::move(update) : GoalUpdate{};
}

TEST(GoalUpdateMask, RequiresANonEmptyMask) {
  EXPECT_THAT(MaskProblems(Mask({})), ElementsAre(HasSubstr("is required")));
}

TEST(GoalUpdateMask, RejectsTheWildcard) {
  EXPECT_THAT(MaskProblems(Mask({"*"})), ElementsAre(HasSubstr("not accepted")));
}

TEST(GoalUpdateMask, RejectsUnknownFields) {
  EXPECT_THAT(MaskProblems(Mask({"colour"})), ElementsAre(HasSubstr("not a field")));
  EXPECT_THAT(MaskProblems(Mask({"dueDate"})), ElementsAre(HasSubstr("not a field")));
  EXPECT_THAT(MaskProblems(Mask({"measure.unit"})), ElementsAre(HasSubstr("not a field")));
  EXPECT_THAT(MaskProblems(Mask({""})), ElementsAre(HasSubstr("empty path")));
}

TEST(GoalUpdateMask, RejectsPartsOfNonMeasureFields) {
  EXPECT_THAT(MaskProblems(Mask({"due_date.year"})), ElementsAre(HasSubstr("names a part")));
  EXPECT_THAT(MaskProblems(Mask({"addresses.text"})), ElementsAre(HasSubstr("names a part")));
}

TEST(GoalUpdateMask, RejectsImmutableFields) {
  EXPECT_THAT(MaskProblems(Mask({"patient"})), ElementsAre(HasSubstr("immutable")));
  EXPECT_THAT(MaskProblems(Mask({"parent"})), ElementsAre(HasSubstr("immutable")));
}

TEST(GoalUpdateMask, SendsLifecycleChangesToTransitionGoal) {
  EXPECT_THAT(MaskProblems(Mask({"lifecycle_status"})), ElementsAre(HasSubstr("TransitionGoal")));
}

TEST(GoalUpdateMask, RejectsEveryOutputOnlyField) {
  for (const char* path :
       {"name", "objectives", "needs_review_reason", "status_reason", "status_time",
        "achievement_status_time", "latest_attainment", "revision", "etag", "create_time",
        "update_time", "create_time.seconds"}) {
    EXPECT_THAT(MaskProblems(Mask({path})), ElementsAre(HasSubstr("output only"))) << path;
  }
}

TEST(GoalUpdateMask, ReportsEveryBadPathAtOnce) {
  absl::StatusOr<std::vector<std::string>> paths =
      ValidateUpdateMask(Mask({"title", "name", "patient", "colour"}));
  ASSERT_FALSE(paths.ok());
  EXPECT_THAT(ViolatedFields(paths.status()),
              ElementsAre("update_mask", "update_mask", "update_mask"));
}

TEST(GoalUpdateMask, AcceptsEveryWritableFieldAndMeasureSubfield) {
  absl::StatusOr<std::vector<std::string>> paths =
      ValidateUpdateMask(Mask({"needs_review",
                               "review_date",
                               "agreement",
                               "expressed_by",
                               "addresses",
                               "due_date",
                               "start_date",
                               "measure.target_high",
                               "measure.target_low",
                               "measure.target",
                               "measure.baseline_from_first_measurement",
                               "measure.baseline_time",
                               "measure.baseline",
                               "measure.direction",
                               "measure.metric",
                               "achievement_status",
                               "priority",
                               "category",
                               "description",
                               "title"}));
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths,
              ElementsAre("title", "description", "category", "priority", "achievement_status",
                          "measure.metric", "measure.direction", "measure.baseline",
                          "measure.baseline_time", "measure.baseline_from_first_measurement",
                          "measure.target", "measure.target_low", "measure.target_high",
                          "start_date", "due_date", "addresses", "expressed_by", "agreement",
                          "review_date", "needs_review"));
}

TEST(GoalUpdateMask, CanonicalisesDuplicatesAndCoveredPaths) {
  absl::StatusOr<std::vector<std::string>> paths =
      ValidateUpdateMask(Mask({"due_date", "measure.target", "title", "measure", "due_date"}));
  ASSERT_TRUE(paths.ok());
  EXPECT_THAT(*paths, ElementsAre("title", "measure", "due_date"));
}

TEST(GoalUpdateMask, ValidatesTheRequestAndOnlyTheMaskedValues) {
  trellis::v1::UpdateGoalRequest request;
  request.mutable_goal()->set_name("patients/p42/goals/g1");
  request.mutable_goal()->set_description(std::string(5000, 'x'));  // not masked: ignored
  request.mutable_goal()->set_title("");                            // masked: required
  *request.mutable_goal()->mutable_due_date() = Date(2024, 2, 30);  // masked: invalid
  request.mutable_goal()->mutable_measure()->set_target(std::nan(""));
  *request.mutable_update_mask() = Mask({"title", "due_date", "measure.target"});
  request.set_etag("e1");
  absl::StatusOr<ValidatedUpdate> update = ValidateUpdateGoalRequest(request);
  ASSERT_FALSE(update.ok());
  EXPECT_THAT(ViolatedFields(update.status()),
              ElementsAre("goal.title", "goal.measure.target", "goal.due_date"));

  request.mutable_goal()->set_name("g1");
  request.clear_update_mask();
  request.clear_etag();
  request.set_reason(std::string(1001, 'r'));
  EXPECT_THAT(ViolatedFields(ValidateUpdateGoalRequest(request).status()),
              ElementsAre("goal.name", "update_mask", "etag", "reason"));
}

TEST(GoalUpdateMask, ReturnsTheNameAndCanonicalPaths) {
  trellis::v1::UpdateGoalRequest request;
  request.mutable_goal()->set_name("patients/p42/goals/g1");
  request.mutable_goal()->set_title("New title for the goal");
  *request.mutable_update_mask() = Mask({"needs_review", "title"});
  request.set_etag("e1");
  absl::StatusOr<ValidatedUpdate> update = ValidateUpdateGoalRequest(request);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->name.goal, "g1");
  EXPECT_THAT(update->paths, ElementsAre("title", "needs_review"));
}

TEST(GoalUpdateMask, ChangesOnlyTheMaskedFieldsAndListsThem) {
  const Goal current = StoredGoal();
  Goal patch;
  patch.set_title("Practise paced breathing for 20 minutes daily");
  patch.set_description("this is not in the mask");
  *patch.mutable_due_date() = Date(2024, 6, 7);
  patch.set_priority(trellis::v1::GOAL_PRIORITY_HIGH);  // masked, same value as stored
  GoalUpdate update = MustApply(current, patch, {"title", "due_date", "priority"});
  EXPECT_EQ(update.goal.title(), patch.title());
  EXPECT_EQ(update.goal.description(), current.description());
  EXPECT_EQ(update.goal.due_date().day(), 7);
  EXPECT_THAT(update.changed_fields, ElementsAre("title", "due_date"));
  // Output-only fields stay as stored; the store moves them on.
  EXPECT_EQ(update.goal.etag(), "e1");
  EXPECT_EQ(update.goal.revision(), 3);
  EXPECT_EQ(update.goal.name(), current.name());
}

TEST(GoalUpdateMask, ReportsNoChangeWhenEveryMaskedValueIsTheSame) {
  const Goal current = StoredGoal();
  GoalUpdate update = MustApply(current, current, {"title", "measure", "addresses"});
  EXPECT_FALSE(update.changed());
  EXPECT_THAT(update.changed_fields, IsEmpty());
}

TEST(GoalUpdateMask, ClearsAMaskedFieldAbsentFromTheRequest) {
  const Goal current = StoredGoal();
  GoalUpdate update = MustApply(current, Goal(), {"due_date", "measure.target", "addresses"});
  EXPECT_FALSE(update.goal.has_due_date());
  EXPECT_FALSE(update.goal.measure().has_target());
  EXPECT_EQ(update.goal.measure().metric(), "gad7");
  EXPECT_EQ(update.goal.addresses_size(), 0);
  EXPECT_THAT(update.changed_fields, ElementsAre("measure.target", "due_date", "addresses"));
}

TEST(GoalUpdateMask, ReplacesTheWholeMeasureAndReportsEachChangedSubfield) {
  const Goal current = StoredGoal();
  Goal patch;
  patch.mutable_measure()->set_metric("gad7");
  patch.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_DECREASE);
  patch.mutable_measure()->set_baseline_from_first_measurement(true);
  patch.mutable_measure()->set_target(5);
  GoalUpdate update = MustApply(current, patch, {"measure"});
  EXPECT_FALSE(update.goal.measure().has_baseline());
  EXPECT_EQ(update.goal.measure().target(), 5);
  EXPECT_THAT(
      update.changed_fields,
      ElementsAre("measure.baseline", "measure.baseline_from_first_measurement", "measure.target"));
}

TEST(GoalUpdateMask, ReplacesTheConcernList) {
  const Goal current = StoredGoal();
  Goal patch;
  patch.add_addresses()->set_text("avoiding the supermarket");
  GoalUpdate update = MustApply(current, patch, {"addresses"});
  ASSERT_EQ(update.goal.addresses_size(), 1);
  EXPECT_EQ(update.goal.addresses(0).text(), "avoiding the supermarket");
}

TEST(GoalUpdateMask, ClearingNeedsReviewClearsItsReason) {
  Goal current = StoredGoal();
  current.set_needs_review(true);
  current.set_needs_review_reason("no reliable improvement in 6 weeks");
  GoalUpdate update = MustApply(current, Goal(), {"needs_review"});
  EXPECT_FALSE(update.goal.needs_review());
  EXPECT_TRUE(update.goal.needs_review_reason().empty());
  EXPECT_THAT(update.changed_fields, ElementsAre("needs_review", "needs_review_reason"));
}

TEST(GoalUpdateMask, RejectsAMergedMeasureThatNoLongerFitsItsDirection) {
  const Goal current = StoredGoal();  // DECREASE with target 7
  Goal patch;
  patch.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_REACH_RANGE);
  absl::StatusOr<GoalUpdate> update = ApplyUpdate(current, patch, {"measure.direction"});
  ASSERT_FALSE(update.ok());
  EXPECT_EQ(update.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(update.status()), ElementsAre("goal.measure.target"));
}

}  // namespace
}  // namespace trellis::goals
