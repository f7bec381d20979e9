#include "services/goals/domain/validation.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::Contains;
using testing::Date;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::SmartGoal;
using ::testing::UnorderedElementsAre;
using testing::ViolatedFields;
using trellis::v1::Goal;

std::vector<std::string> CreateViolations(const Goal& goal) {
  absl::Status status = ValidateGoalForCreate(goal);
  if (!status.ok()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(status), "INVALID_FIELD");
  }
  return ViolatedFields(status);
}

std::string Repeat(absl::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(unit.data(), unit.size());
  return out;
}

// --- Text -----------------------------------------------------------------------------------

TEST(GoalValidation, RecognisesWellFormedUtf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x80\x99 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_EQ(CodePointCount("caf\xc3\xa9"), 4u);
}

// --- Create ---------------------------------------------------------------------------------

TEST(GoalValidation, AcceptsACompleteGoal) {
  EXPECT_THAT(CreateViolations(SmartGoal()), IsEmpty());
}

TEST(GoalValidation, RequiresAWellFormedPatient) {
  Goal goal = SmartGoal();
  goal.clear_patient();
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.patient"));
  goal.set_patient("patients/p42");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.patient"));
  goal.set_patient(std::string(65, 'p'));
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.patient"));
}

TEST(GoalValidation, RequiresANonBlankTitle) {
  Goal goal = SmartGoal();
  goal.clear_title();
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.title"));
  goal.set_title("   ");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.title"));
}

TEST(GoalValidation, LimitsTheTitleTo200CodePointsNotBytes) {
  Goal goal = SmartGoal();
  goal.set_title(Repeat("\xc3\xa9", 200));  // 400 bytes, 200 characters
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.set_title(Repeat("a", 201));
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.title"));
}

TEST(GoalValidation, RejectsLineBreaksAndControlCharactersInTheTitle) {
  Goal goal = SmartGoal();
  goal.set_title("two\nlines");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.title"));
  goal.set_title(std::string("nul\0byte", 8));
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.title"));
}

TEST(GoalValidation, LimitsTheDescriptionTo4000CodePoints) {
  Goal goal = SmartGoal();
  goal.set_description(Repeat("x", 4000));
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.set_description(Repeat("x", 4001));
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.description"));
}

TEST(GoalValidation, AllowsLineBreaksButNotOtherControlsInTheDescription) {
  Goal goal = SmartGoal();
  goal.set_description("line one\r\nline two\tindented");
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.set_description("bell\a");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.description"));
}

TEST(GoalValidation, RejectsInvalidUtf8InEveryTextField) {
  Goal goal = SmartGoal();
  goal.set_title("bad \xc3");
  goal.set_description("bad \xed\xa0\x80");
  goal.mutable_addresses(0)->set_text("bad \x80");
  EXPECT_THAT(CreateViolations(goal),
              ElementsAre("goal.title", "goal.description", "goal.addresses[0].text"));
}

TEST(GoalValidation, RejectsUnknownEnumValuesNamingEachField) {
  Goal goal = SmartGoal();
  goal.set_category(static_cast<trellis::v1::GoalCategory>(42));
  goal.set_priority(static_cast<trellis::v1::GoalPriority>(42));
  goal.set_achievement_status(static_cast<trellis::v1::GoalAchievementStatus>(42));
  goal.set_expressed_by(static_cast<trellis::v1::GoalExpressedBy>(42));
  goal.set_agreement(static_cast<trellis::v1::GoalAgreement>(42));
  goal.mutable_measure()->set_direction(static_cast<trellis::v1::MeasureDirection>(42));
  goal.set_lifecycle_status(static_cast<trellis::v1::GoalLifecycleStatus>(42));
  EXPECT_THAT(CreateViolations(goal),
              UnorderedElementsAre("goal.category", "goal.priority", "goal.achievement_status",
                                   "goal.expressed_by", "goal.agreement", "goal.measure.direction",
                                   "goal.lifecycle_status"));
}

TEST(GoalValidation, AllowsUnspecifiedOptionalEnums) {
  Goal goal = SmartGoal();
  goal.clear_category();
  goal.clear_priority();
  goal.clear_expressed_by();
  goal.clear_agreement();
  goal.clear_achievement_status();
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
}

TEST(GoalValidation, AcceptsOnlyTheDocumentedInitialStatuses) {
  Goal goal = SmartGoal();
  for (auto status :
       {trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED, trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED,
        trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED, trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED,
        trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE}) {
    goal.set_lifecycle_status(status);
    EXPECT_THAT(CreateViolations(goal), IsEmpty()) << status;
  }
  for (auto status :
       {trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD, trellis::v1::GOAL_LIFECYCLE_STATUS_COMPLETED,
        trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED,
        trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR,
        trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED}) {
    goal.set_lifecycle_status(status);
    EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.lifecycle_status")) << status;
  }
}

TEST(GoalValidation, AcceptsRealCalendarDatesOnly) {
  Goal goal = SmartGoal();
  *goal.mutable_start_date() = Date(2024, 2, 29);  // leap day
  goal.clear_review_date();                        // absent is fine
  EXPECT_THAT(CreateViolations(goal), IsEmpty());

  *goal.mutable_start_date() = Date(2023, 2, 29);
  *goal.mutable_due_date() = Date(2024, 13, 1);
  *goal.mutable_review_date() = Date(2024, 4, 31);
  EXPECT_THAT(CreateViolations(goal),
              ElementsAre("goal.start_date", "goal.due_date", "goal.review_date"));

  *goal.mutable_start_date() = Date(1899, 12, 31);
  *goal.mutable_due_date() = Date(2024, 0, 10);  // partly zero is not "no date"
  *goal.mutable_review_date() = Date(10000, 1, 1);
  EXPECT_THAT(CreateViolations(goal),
              ElementsAre("goal.start_date", "goal.due_date", "goal.review_date"));
}

TEST(GoalValidation, ChecksTheMeasureFormOnly) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_metric("phq 9");
  goal.mutable_measure()->set_baseline(std::nan(""));
  goal.mutable_measure()->set_target(std::numeric_limits<double>::infinity());
  goal.mutable_measure()->mutable_baseline_time()->set_nanos(-1);
  EXPECT_THAT(CreateViolations(goal),
              ElementsAre("goal.measure.metric", "goal.measure.baseline",
                          "goal.measure.baseline_time", "goal.measure.target"));

  // An unknown but well-formed metric, or none at all, is a SMART finding, not an error.
  goal = SmartGoal();
  goal.mutable_measure()->set_metric("minutes_practised");
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.clear_measure();
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
}

TEST(GoalValidation, MatchesTargetFieldsToTheDirection) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_target_low(3);
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.measure.target_low"));

  goal = SmartGoal();
  auto* m = goal.mutable_measure();
  m->set_direction(trellis::v1::MEASURE_DIRECTION_REACH_RANGE);
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.measure.target"));
  m->clear_target();
  m->set_target_low(9);
  m->set_target_high(7);
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.measure.target_low"));
  m->set_target_low(7);
  EXPECT_THAT(CreateViolations(goal), IsEmpty());

  // A draft without a direction may carry either shape, not both.
  m->set_direction(trellis::v1::MEASURE_DIRECTION_UNSPECIFIED);
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  m->set_target(5);
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.measure.target"));
}

TEST(GoalValidation, RequiresTheParentToBeAGoalNameOfTheSamePatient) {
  Goal goal = SmartGoal();
  goal.set_parent("patients/p42/goals/g1");
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.set_parent("patients/p43/goals/g1");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.parent"));
  goal.set_parent("g1");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.parent"));
}

TEST(GoalValidation, ChecksEveryConcern) {
  Goal goal = SmartGoal();
  goal.clear_addresses();
  goal.add_addresses();  // neither text nor code
  auto* coded = goal.add_addresses();
  coded->mutable_code()->set_code("197480006");  // no system
  auto* long_text = goal.add_addresses();
  long_text->set_text(Repeat("a", 501));
  auto* good = goal.add_addresses();
  good->mutable_code()->set_system("http://snomed.info/sct");
  good->mutable_code()->set_code("197480006");
  good->mutable_code()->set_display("Anxiety disorder");
  EXPECT_THAT(
      CreateViolations(goal),
      ElementsAre("goal.addresses[0]", "goal.addresses[1].code.system", "goal.addresses[2].text"));
}

TEST(GoalValidation, LimitsConcernsToTen) {
  Goal goal = SmartGoal();
  while (goal.addresses_size() < 10) goal.add_addresses()->set_text("another concern");
  EXPECT_THAT(CreateViolations(goal), IsEmpty());
  goal.add_addresses()->set_text("one too many");
  EXPECT_THAT(CreateViolations(goal), ElementsAre("goal.addresses"));
}

TEST(GoalValidation, CollectsEveryViolationOfTheRequestAtOnce) {
  trellis::v1::CreateGoalRequest request;
  *request.mutable_goal() = SmartGoal();
  request.mutable_goal()->clear_patient();
  request.mutable_goal()->set_title(Repeat("t", 201));
  *request.mutable_goal()->mutable_due_date() = Date(2024, 2, 30);
  request.set_request_id("not a valid id");
  absl::Status status = ValidateCreateGoalRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(status),
              UnorderedElementsAre("goal.patient", "goal.title", "goal.due_date", "request_id"));
}

TEST(GoalValidation, IgnoresOutputOnlyFieldsOnCreate) {
  Goal goal = SmartGoal();
  goal.set_name("anything at all");
  goal.set_etag("\"7\"");
  goal.set_revision(9);
  goal.add_objectives("not even a name");
  goal.set_status_reason("ignored");
  goal.set_needs_review_reason("ignored");
  goal.mutable_create_time()->set_seconds(1);
  EXPECT_THAT(CreateViolations(goal), IsEmpty());

  Goal stored = NewGoalFromRequest(goal);
  EXPECT_TRUE(stored.name().empty());
  EXPECT_TRUE(stored.etag().empty());
  EXPECT_EQ(stored.revision(), 0);
  EXPECT_EQ(stored.objectives_size(), 0);
  EXPECT_TRUE(stored.status_reason().empty());
  EXPECT_TRUE(stored.needs_review_reason().empty());
  EXPECT_FALSE(stored.has_create_time());
  EXPECT_EQ(stored.title(), goal.title());
  EXPECT_EQ(stored.lifecycle_status(), trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
}

TEST(GoalValidation, KeepsARequestedInitialStatus) {
  Goal goal = SmartGoal();
  goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  EXPECT_EQ(NewGoalFromRequest(goal).lifecycle_status(), trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
}

TEST(GoalValidation, AcceptsIncompleteDraftsForSmartEvaluation) {
  trellis::v1::EvaluateSmartRequest request;
  request.mutable_goal()->set_parent("patients/someone-else/goals/g1");
  EXPECT_TRUE(ValidateEvaluateSmartRequest(request).ok());

  *request.mutable_goal()->mutable_due_date() = Date(2024, 2, 30);
  request.mutable_goal()->set_parent("goals/g1");
  request.mutable_goal()->set_title(Repeat("t", 201));
  EXPECT_THAT(ViolatedFields(ValidateEvaluateSmartRequest(request)),
              ElementsAre("goal.title", "goal.due_date", "goal.parent"));
}

// --- Other requests -------------------------------------------------------------------------

TEST(GoalValidation, ValidatesGetGoalName) {
  trellis::v1::GetGoalRequest request;
  request.set_name("patients/p42/goals/g1");
  ASSERT_TRUE(ValidateGetGoalRequest(request).ok());
  EXPECT_EQ(ValidateGetGoalRequest(request)->goal, "g1");
  request.set_name("p42/g1");
  EXPECT_THAT(ViolatedFields(ValidateGetGoalRequest(request).status()), ElementsAre("name"));
}

TEST(GoalValidation, ValidatesEveryFieldOfATransition) {
  trellis::v1::TransitionGoalRequest request;
  request.set_name("patients/p42/goals/g1");
  request.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.set_reason("Agreed in session 3");
  request.set_etag("e1");
  EXPECT_TRUE(ValidateTransitionGoalRequest(request).ok());

  request.set_name("");
  request.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED);
  request.set_reason(" ");
  request.clear_etag();
  request.set_open_objectives(static_cast<trellis::v1::OpenObjectivesAction>(9));
  request.set_request_id("bad id");
  EXPECT_THAT(
      ViolatedFields(ValidateTransitionGoalRequest(request).status()),
      ElementsAre("name", "lifecycle_status", "reason", "etag", "open_objectives", "request_id"));

  request.set_name("patients/p42/goals/g1");
  request.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.set_reason(Repeat("r", 1001));
  request.set_etag("e1");
  request.clear_open_objectives();
  request.clear_request_id();
  EXPECT_THAT(ViolatedFields(ValidateTransitionGoalRequest(request).status()),
              ElementsAre("reason"));
}

TEST(GoalValidation, DefaultsCapsAndRejectsPageSizes) {
  EXPECT_EQ(*NormalizePageSize("page_size", 0), 50);
  EXPECT_EQ(*NormalizePageSize("page_size", 1), 1);
  EXPECT_EQ(*NormalizePageSize("page_size", 500), 500);
  EXPECT_EQ(*NormalizePageSize("page_size", 501), 500);
  EXPECT_EQ(*NormalizePageSize("page_size", std::numeric_limits<int32_t>::max()), 500);
  absl::StatusOr<int32_t> negative = NormalizePageSize("page_size", -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(negative.status()), ElementsAre("page_size"));
}

TEST(GoalValidation, ListsEveryStatusButEnteredInErrorByDefault) {
  trellis::v1::ListGoalsRequest request;
  request.set_patient("p42");
  absl::StatusOr<ListGoalsQuery> query = ValidateListGoalsRequest(request);
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->page_size, 50);
  EXPECT_EQ(query->statuses.size(), 8u);
  EXPECT_THAT(query->statuses,
              ::testing::Not(Contains(trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR)));

  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR);
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  query = ValidateListGoalsRequest(request);
  ASSERT_TRUE(query.ok());
  EXPECT_THAT(query->statuses, ElementsAre(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE,
                                           trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR));
}

TEST(GoalValidation, RejectsBadListFiltersNamingEach) {
  trellis::v1::ListGoalsRequest request;
  request.set_patient("p 42");
  request.set_parent("patients/p43/goals/g1");
  request.set_top_level_only(true);
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED);
  request.mutable_lifecycle_statuses()->Add(77);
  request.set_category(static_cast<trellis::v1::GoalCategory>(77));
  request.set_page_size(-5);
  request.set_page_token(Repeat("t", 1025));
  EXPECT_THAT(ViolatedFields(ValidateListGoalsRequest(request).status()),
              ElementsAre("patient", "parent", "top_level_only", "lifecycle_statuses[1]",
                          "lifecycle_statuses[2]", "category", "page_size", "page_token"));
}

TEST(GoalValidation, ListQueryMatchesItsFiltersAndFingerprintsThem) {
  trellis::v1::ListGoalsRequest request;
  request.set_patient("p42");
  request.set_parent("patients/p42/goals/g1");
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  request.set_category(trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  request.set_needs_review(true);
  absl::StatusOr<ListGoalsQuery> query = ValidateListGoalsRequest(request);
  ASSERT_TRUE(query.ok()) << query.status();

  Goal goal = SmartGoal();
  goal.set_parent("patients/p42/goals/g1");
  goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  goal.set_needs_review(true);
  EXPECT_TRUE(query->Matches(goal));
  goal.set_needs_review(false);
  EXPECT_FALSE(query->Matches(goal));
  goal.set_needs_review(true);
  goal.set_category(trellis::v1::GOAL_CATEGORY_OTHER);
  EXPECT_FALSE(query->Matches(goal));
  goal.set_category(trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD);
  EXPECT_FALSE(query->Matches(goal));
  goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  goal.set_parent("patients/p42/goals/g2");
  EXPECT_FALSE(query->Matches(goal));

  const std::string fingerprint = query->FilterFingerprint();
  request.clear_needs_review();
  EXPECT_NE(ValidateListGoalsRequest(request)->FilterFingerprint(), fingerprint);
  request.set_needs_review(true);
  request.set_page_size(10);
  request.set_page_token("abc");
  EXPECT_EQ(ValidateListGoalsRequest(request)->FilterFingerprint(), fingerprint);
}

TEST(GoalValidation, ValidatesRevisionListing) {
  trellis::v1::ListGoalRevisionsRequest request;
  request.set_name("patients/p42/goals/g1");
  request.set_page_size(900);
  ASSERT_TRUE(ValidateListGoalRevisionsRequest(request).ok());
  EXPECT_EQ(ValidateListGoalRevisionsRequest(request)->page_size, 500);
  request.set_name("patients/p42");
  request.set_page_size(-1);
  EXPECT_THAT(ViolatedFields(ValidateListGoalRevisionsRequest(request).status()),
              ElementsAre("name", "page_size"));
}

TEST(GoalValidation, ValidatesAttainmentRatings) {
  const absl::CivilDay today(2024, 3, 1);
  trellis::v1::RateGoalAttainmentRequest request;
  request.set_name("patients/p42/goals/g1");
  request.set_rating(-2);
  *request.mutable_review_date() = Date(2024, 3, 2);  // tomorrow is tolerated (time zones)
  request.set_weight(100);
  EXPECT_TRUE(ValidateRateGoalAttainmentRequest(request, today).ok());

  request.set_rating(3);
  *request.mutable_review_date() = Date(2024, 3, 3);
  request.set_weight(0);
  request.set_note(Repeat("n", 2001));
  EXPECT_THAT(ViolatedFields(ValidateRateGoalAttainmentRequest(request, today).status()),
              ElementsAre("rating", "review_date", "weight", "note"));

  request.set_rating(2);
  request.clear_review_date();
  request.set_weight(std::nan(""));
  request.clear_note();
  EXPECT_THAT(ViolatedFields(ValidateRateGoalAttainmentRequest(request, today).status()),
              ElementsAre("review_date", "weight"));
}

TEST(GoalValidation, ValidatesAttainmentScoreRequests) {
  trellis::v1::GetAttainmentScoreRequest request;
  request.set_patient("p42");
  (*request.mutable_weights())["patients/p42/goals/g1"] = 2;
  request.set_rho(0);
  request.add_goals("patients/p42/goals/g1");
  EXPECT_TRUE(ValidateGetAttainmentScoreRequest(request).ok());

  (*request.mutable_weights())["patients/p43/goals/g1"] = 2;
  (*request.mutable_weights())["patients/p42/goals/g2"] = 101;
  request.set_rho(1);
  request.add_goals("g3");
  EXPECT_THAT(ViolatedFields(ValidateGetAttainmentScoreRequest(request)),
              ElementsAre("weights[patients/p42/goals/g2]", "weights[patients/p43/goals/g1]", "rho",
                          "goals[1]"));
}

TEST(GoalValidation, ValidatesExportRequests) {
  trellis::v1::ExportGoalsFhirRequest request;
  request.set_patient("p42");
  EXPECT_TRUE(ValidateExportGoalsFhirRequest(request).ok());
  request.add_lifecycle_statuses(trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED);
  request.clear_patient();
  EXPECT_THAT(ViolatedFields(ValidateExportGoalsFhirRequest(request)),
              ElementsAre("patient", "lifecycle_statuses[0]"));
}

TEST(GoalValidation, ValidatesAchievementWriteBacks) {
  trellis::v1::SetAchievementStatusRequest request;
  request.set_name("patients/p42/goals/g1");
  request.set_achievement_status(trellis::v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING);
  request.mutable_evaluate_time()->set_seconds(1709294400);
  request.set_request_id("outbox-1");
  const absl::Time now = absl::FromUnixSeconds(1709294400);
  EXPECT_TRUE(ValidateSetAchievementStatusRequest(request, now).ok());
  // Clock skew between replicas is tolerated; a time further ahead would make every real
  // write-back until then look stale.
  request.mutable_evaluate_time()->set_seconds(1709294400 + 300);
  EXPECT_TRUE(ValidateSetAchievementStatusRequest(request, now).ok());
  request.mutable_evaluate_time()->set_seconds(1709294400 + 301);
  EXPECT_THAT(ViolatedFields(ValidateSetAchievementStatusRequest(request, now).status()),
              ElementsAre("evaluate_time"));

  request.clear_achievement_status();
  request.clear_evaluate_time();
  request.clear_request_id();
  request.set_needs_review_reason(Repeat("r", 501));
  EXPECT_THAT(
      ViolatedFields(ValidateSetAchievementStatusRequest(request, now).status()),
      ElementsAre("achievement_status", "needs_review_reason", "evaluate_time", "request_id"));
}

}  // namespace
}  // namespace trellis::goals
