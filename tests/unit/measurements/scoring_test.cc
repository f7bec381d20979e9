// Scoring of PHQ-9 and GAD-7 submissions: totals, bands at every edge, safety flags, validation
// of answers naming the offending field, and proration.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Answers;
using ::trellis::measurements::testing::Day;
using ::trellis::measurements::testing::HasViolation;
using ::trellis::measurements::testing::ValuesSummingTo;
using ::trellis::measurements::testing::ViolationsToString;

const v1::Metric& Phq9() { return *clinical::FindBuiltIn("phq9"); }
const v1::Metric& Gad7() { return *clinical::FindBuiltIn("gad7"); }

clinical::InstrumentConfig ProrationOn() {
  clinical::InstrumentConfig config;
  config.proration_enabled = true;
  return config;
}

// Answers for every item but those in `skip` (1-based), with the given values per item.
google::protobuf::RepeatedPtrField<v1::ItemAnswer> AnswersWithout(const std::vector<int>& values,
                                                                  const std::vector<int>& skip) {
  google::protobuf::RepeatedPtrField<v1::ItemAnswer> out;
  for (size_t i = 0; i < values.size(); ++i) {
    const int item = static_cast<int>(i) + 1;
    if (std::find(skip.begin(), skip.end(), item) != skip.end()) continue;
    v1::ItemAnswer* a = out.Add();
    a->set_item(item);
    a->set_value(values[i]);
  }
  return out;
}

TEST(Phq9Scoring, BandChangesAtEveryEdge) {
  const std::vector<std::pair<int, std::string>> cases = {{0, "minimal"},
                                                          {4, "minimal"},
                                                          {5, "mild"},
                                                          {9, "mild"},
                                                          {10, "moderate"},
                                                          {14, "moderate"},
                                                          {15, "moderately severe"},
                                                          {19, "moderately severe"},
                                                          {20, "severe"},
                                                          {27, "severe"}};
  for (const auto& [total, band] : cases) {
    SCOPED_TRACE(total);
    auto result = ScoreQuestionnaire(Phq9(), Answers(ValuesSummingTo(total, 9)), {});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->total(), total);
    EXPECT_EQ(result->severity_band(), band);
    EXPECT_FALSE(result->prorated());
    EXPECT_EQ(result->answered_items(), 9);
  }
}

TEST(Gad7Scoring, BandChangesAtEveryEdge) {
  const std::vector<std::pair<int, std::string>> cases = {
      {0, "minimal"},   {4, "minimal"},   {5, "mild"},    {9, "mild"},
      {10, "moderate"}, {14, "moderate"}, {15, "severe"}, {21, "severe"}};
  for (const auto& [total, band] : cases) {
    SCOPED_TRACE(total);
    auto result = ScoreQuestionnaire(Gad7(), Answers(ValuesSummingTo(total, 7)), {});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->total(), total);
    EXPECT_EQ(result->severity_band(), band);
    EXPECT_TRUE(result->safety_flags().empty());
  }
}

TEST(Phq9Scoring, ItemNineAtZeroRaisesNoFlag) {
  auto result = ScoreQuestionnaire(Phq9(), Answers({3, 3, 3, 3, 3, 3, 3, 3, 0}), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total(), 24);
  EXPECT_TRUE(result->safety_flags().empty());
}

TEST(Phq9Scoring, ItemNineAboveZeroRaisesASafetyFlag) {
  for (int value = 1; value <= 3; ++value) {
    SCOPED_TRACE(value);
    auto result = ScoreQuestionnaire(Phq9(), Answers({1, 1, 0, 0, 0, 0, 0, 0, value}), {});
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->safety_flags_size(), 1);
    const v1::SafetyFlag& flag = result->safety_flags(0);
    EXPECT_EQ(flag.kind(), v1::SAFETY_FLAG_KIND_PHQ9_ITEM9);
    EXPECT_EQ(flag.metric(), "phq9");
    EXPECT_EQ(flag.item(), 9);
    EXPECT_EQ(flag.value(), value);
    EXPECT_EQ(flag.state(), v1::SAFETY_FLAG_STATE_OPEN);
    // The flag stands next to the total; the total is still the plain sum.
    EXPECT_EQ(result->total(), 2 + value);
  }
}

TEST(Phq9Scoring, ASafetyFlagIsRaisedEvenWhenTheTotalIsMinimal) {
  auto result = ScoreQuestionnaire(Phq9(), Answers({0, 0, 0, 0, 0, 0, 0, 0, 1}), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->severity_band(), "minimal");
  EXPECT_EQ(result->safety_flags_size(), 1);
}

TEST(Phq9Scoring, DifficultyItemIsOptionalAndNotScored) {
  auto answers = Answers({1, 1, 1, 1, 1, 1, 1, 1, 0});
  v1::ItemAnswer* difficulty = answers.Add();
  difficulty->set_item(10);
  difficulty->set_value(3);
  auto result = ScoreQuestionnaire(Phq9(), answers, {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total(), 8);
  EXPECT_EQ(result->answered_items(), 9);
  EXPECT_EQ(result->answers_size(), 10);
}

TEST(QuestionnaireScoring, ReturnsAnswersOrderedByItemNumber) {
  google::protobuf::RepeatedPtrField<v1::ItemAnswer> answers;
  for (int item = 7; item >= 1; --item) {
    v1::ItemAnswer* a = answers.Add();
    a->set_item(item);
    a->set_value(item % 4);
  }
  auto result = ScoreQuestionnaire(Gad7(), answers, {});
  ASSERT_TRUE(result.ok()) << result.status();
  for (int i = 0; i < 7; ++i) EXPECT_EQ(result->answers(i).item(), i + 1);
}

TEST(QuestionnaireScoring, MissingItemIsNamedOnAnswers) {
  auto status =
      ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 1, 1, 1, 1, 0}, {4}), {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(status, "answers", "item 4 is missing")) << ViolationsToString(status);
  EXPECT_EQ(ReasonOf(status), "INVALID_FIELD");
}

TEST(QuestionnaireScoring, DuplicateItemNamesTheRepeatedAnswer) {
  auto answers = Answers({1, 1, 1, 1, 1, 1, 1});
  answers.Mutable(3)->set_item(2);  // answers[3] repeats item 2; item 4 is then missing
  auto status = ScoreQuestionnaire(Gad7(), answers, {}).status();
  EXPECT_TRUE(HasViolation(status, "answers[3].item", "more than once"))
      << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "answers", "item 4 is missing"));
}

TEST(QuestionnaireScoring, OutOfRangeValueNamesTheAnswer) {
  for (int bad : {4, -1, 100}) {
    SCOPED_TRACE(bad);
    auto answers = Answers({0, 1, 2, 3, 0, 1, 2});
    answers.Mutable(3)->set_value(bad);
    auto status = ScoreQuestionnaire(Gad7(), answers, {}).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(HasViolation(status, "answers[3].value", "0, 1, 2, 3"))
        << ViolationsToString(status);
  }
}

TEST(QuestionnaireScoring, UnknownItemNumberNamesTheAnswer) {
  auto answers = Answers({0, 0, 0, 0, 0, 0});
  v1::ItemAnswer* a = answers.Add();
  a->set_item(8);  // the GAD-7 has no item 8
  a->set_value(0);
  auto status = ScoreQuestionnaire(Gad7(), answers, {}).status();
  EXPECT_TRUE(HasViolation(status, "answers[6].item", "no item 8")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "answers", "item 7 is missing"));
}

TEST(QuestionnaireScoring, RefusesMoreAnswersThanTheFormHasItems) {
  auto answers = Answers(std::vector<int>(11, 0));
  auto status = ScoreQuestionnaire(Phq9(), answers, {}).status();
  EXPECT_TRUE(HasViolation(status, "answers", "10 items")) << ViolationsToString(status);
}

TEST(QuestionnaireScoring, ReportsEveryViolationAtOnce) {
  auto answers = Answers({0, 5, 0, 0, 0, 0, 0, 0, 0});
  answers.Mutable(4)->set_item(2);
  auto status = ScoreQuestionnaire(Phq9(), answers, {}).status();
  EXPECT_TRUE(HasViolation(status, "answers[1].value"));
  EXPECT_TRUE(HasViolation(status, "answers[4].item"));
  EXPECT_TRUE(HasViolation(status, "answers", "item 5 is missing"));
}

TEST(QuestionnaireScoring, RefusesAMetricThatIsNotAQuestionnaire) {
  auto status = ScoreQuestionnaire(*clinical::FindBuiltIn("mood"), Answers({1}), {}).status();
  EXPECT_TRUE(HasViolation(status, "instrument", "not a questionnaire"));
}

TEST(QuestionnaireProration, MissingItemsAreRefusedWhenProrationIsOff) {
  auto status =
      ScoreQuestionnaire(Phq9(), AnswersWithout({2, 2, 2, 2, 2, 2, 2, 2, 0}, {3}), {}).status();
  EXPECT_TRUE(HasViolation(status, "answers", "item 3 is missing")) << ViolationsToString(status);
}

TEST(QuestionnaireProration, ScalesTheMeanOfTheAnsweredItemsWhenOn) {
  // 8 answered PHQ-9 items summing to 10: 10 * 9 / 8 = 11.25 -> 11.
  auto result =
      ScoreQuestionnaire(Phq9(), AnswersWithout({2, 2, 2, 1, 1, 1, 1, 0, 0}, {8}), ProrationOn());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->prorated());
  EXPECT_EQ(result->answered_items(), 8);
  EXPECT_EQ(result->total(), 11);
  EXPECT_EQ(result->severity_band(), "moderate");
}

TEST(QuestionnaireProration, RoundsHalfUp) {
  // 4 over 8 items: 4 * 9 / 8 = 4.5 -> 5, which moves the band from minimal to mild.
  auto result =
      ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 0, 0, 0, 0, 0}, {5}), ProrationOn());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total(), 5);
  EXPECT_EQ(result->severity_band(), "mild");
}

TEST(QuestionnaireProration, RefusesMoreMissingItemsThanAllowed) {
  auto status = ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 1, 1, 1, 1, 0}, {1, 2, 3}),
                                   ProrationOn())
                    .status();
  EXPECT_TRUE(HasViolation(status, "answers", "at most 2 items may be missing"))
      << ViolationsToString(status);

  auto gad7_ok =
      ScoreQuestionnaire(Gad7(), AnswersWithout({1, 1, 1, 1, 1, 1, 1}, {7}), ProrationOn());
  ASSERT_TRUE(gad7_ok.ok());
  EXPECT_EQ(gad7_ok->total(), 7);  // 6 * 7 / 6
  EXPECT_FALSE(
      ScoreQuestionnaire(Gad7(), AnswersWithout({1, 1, 1, 1, 1, 1, 1}, {6, 7}), ProrationOn())
          .ok());
}

TEST(QuestionnaireProration, NeverProratesTheSafetyItem) {
  auto status =
      ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 1, 1, 1, 1, 0}, {9}), ProrationOn())
          .status();
  EXPECT_TRUE(HasViolation(status, "answers", "item 9 is missing (the safety item"))
      << ViolationsToString(status);
}

TEST(QuestionnaireProration, UsesTheTenantsMissingItemLimit) {
  clinical::InstrumentConfig config = ProrationOn();
  config.phq9_max_missing_items = 1;
  EXPECT_FALSE(
      ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 1, 1, 1, 1, 0}, {1, 2}), config).ok());
  EXPECT_TRUE(
      ScoreQuestionnaire(Phq9(), AnswersWithout({1, 1, 1, 1, 1, 1, 1, 1, 0}, {1}), config).ok());
}

v1::SubmitQuestionnaireRequest Submission() {
  v1::SubmitQuestionnaireRequest request;
  request.set_patient("p42");
  request.set_instrument("phq9");
  *request.mutable_answers() = Answers({2, 2, 2, 2, 2, 2, 1, 1, 1});
  *request.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10));
  request.set_note("after a hard week");
  request.set_goal("patients/p42/goals/g1");
  return request;
}

TEST(QuestionnaireSubmission, BuildsTheMeasurementOfTheTotalWithItsFlags) {
  const absl::Time now = Day(2024, 3, 10) + absl::Hours(1);
  auto m = PrepareSubmission(Submission(), Phq9(), {}, v1::ROLE_CLIENT, now);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->patient(), "p42");
  EXPECT_EQ(m->metric(), "phq9");
  EXPECT_EQ(m->value(), 15);
  EXPECT_EQ(m->source(), v1::MEASUREMENT_SOURCE_CLIENT);
  EXPECT_EQ(m->goal(), "patients/p42/goals/g1");
  EXPECT_EQ(m->questionnaire().severity_band(), "moderately severe");
  ASSERT_EQ(m->questionnaire().safety_flags_size(), 1);
  EXPECT_EQ(m->questionnaire().safety_flags(0).value(), 1);
}

TEST(QuestionnaireSubmission, UnsetObserveTimeMeansNow) {
  auto request = Submission();
  request.clear_observe_time();
  const absl::Time now = Day(2024, 3, 10);
  auto m = PrepareSubmission(request, Phq9(), {}, v1::ROLE_CLINICIAN, now);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToAbslTime(m->observe_time()), now);
  EXPECT_EQ(m->source(), v1::MEASUREMENT_SOURCE_CLINICIAN);
}

TEST(QuestionnaireSubmission, ReportsRequestFieldsAndAnswersTogether) {
  auto request = Submission();
  request.set_patient("");
  request.set_note(std::string(2001, 'x'));
  *request.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 11));
  request.mutable_answers(0)->set_value(7);
  auto status = PrepareSubmission(request, Phq9(), {}, v1::ROLE_SERVICE, Day(2024, 3, 10)).status();
  EXPECT_TRUE(HasViolation(status, "patient")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "note", "2000"));
  EXPECT_TRUE(HasViolation(status, "observe_time", "future"));
  EXPECT_TRUE(HasViolation(status, "answers[0].value"));
  EXPECT_TRUE(HasViolation(status, "source", "required"));
}

}  // namespace
}  // namespace trellis::measurements
