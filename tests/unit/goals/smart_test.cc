#include "services/goals/domain/smart.h"

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/goals/domain/vague_wording.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using testing::Date;
using ::testing::ElementsAre;
using testing::Gad7;
using ::testing::HasSubstr;
using testing::InputsWith;
using ::testing::IsEmpty;
using testing::Mood;
using testing::PanicAttacksPerWeek;
using testing::Phq9;
using ::testing::Property;
using testing::SmartGoal;
using trellis::v1::Goal;
using trellis::v1::SmartFinding;
using trellis::v1::SmartLetter;
using trellis::v1::SmartVerdict;

constexpr SmartLetter kS = trellis::v1::SMART_LETTER_SPECIFIC;
constexpr SmartLetter kM = trellis::v1::SMART_LETTER_MEASURABLE;
constexpr SmartLetter kA = trellis::v1::SMART_LETTER_ACHIEVABLE;
constexpr SmartLetter kR = trellis::v1::SMART_LETTER_RELEVANT;
constexpr SmartLetter kT = trellis::v1::SMART_LETTER_TIME_BOUND;
constexpr SmartVerdict kOk = trellis::v1::SMART_VERDICT_OK;
constexpr SmartVerdict kWarn = trellis::v1::SMART_VERDICT_WARN;
constexpr SmartVerdict kFail = trellis::v1::SMART_VERDICT_FAIL;

// The findings of one letter.
std::vector<SmartFinding> Letter(const SmartEvaluation& evaluation, SmartLetter letter) {
  std::vector<SmartFinding> out;
  for (const SmartFinding& f : evaluation.findings) {
    if (f.letter() == letter) out.push_back(f);
  }
  return out;
}

::testing::Matcher<const SmartFinding&> IsFinding(SmartVerdict verdict, const std::string& rule) {
  return AllOf(Property(&SmartFinding::verdict, verdict), Property(&SmartFinding::rule, rule));
}

::testing::Matcher<const SmartFinding&> IsOk() { return IsFinding(kOk, "OK"); }

SmartEvaluation Evaluate(const Goal& goal, const SmartInputs& inputs,
                         SmartConfig config = SmartConfig()) {
  return SmartEvaluator(config).Evaluate(goal, inputs);
}

// A goal with nothing but a title, as a client might first write it.
Goal Draft(const std::string& title) {
  Goal goal;
  goal.set_patient("p42");
  goal.set_title(title);
  return goal;
}

// --- Whole evaluations ----------------------------------------------------------------------

TEST(SmartEvaluator, PassesAWellFormedGoalWithOneOkFindingPerLetter) {
  SmartEvaluation evaluation = Evaluate(SmartGoal(), InputsWith(Gad7()));
  EXPECT_TRUE(evaluation.passes);
  ASSERT_EQ(evaluation.findings.size(), 5u);
  std::vector<SmartLetter> letters;
  for (const SmartFinding& f : evaluation.findings) {
    letters.push_back(f.letter());
    EXPECT_THAT(f, IsOk()) << f.DebugString();
    EXPECT_TRUE(f.suggestion().empty());
  }
  EXPECT_THAT(letters, ElementsAre(kS, kM, kA, kR, kT));
  EXPECT_THAT(evaluation.Failures(), IsEmpty());
}

TEST(SmartEvaluator, ReportsEveryLetterInOrderEvenForAnEmptyDraft) {
  SmartEvaluation evaluation = Evaluate(Goal(), InputsWith(MetricInfo()));
  EXPECT_FALSE(evaluation.passes);
  std::vector<SmartLetter> letters;
  for (const SmartFinding& f : evaluation.findings) {
    if (letters.empty() || letters.back() != f.letter()) letters.push_back(f.letter());
    EXPECT_NE(f.verdict(), trellis::v1::SMART_VERDICT_UNSPECIFIED);
    EXPECT_FALSE(f.rule().empty());
    EXPECT_FALSE(f.message().empty());
  }
  EXPECT_THAT(letters, ElementsAre(kS, kM, kA, kR, kT));
}

TEST(SmartEvaluator, FillsTheEvaluateSmartResponse) {
  SmartEvaluation evaluation = Evaluate(Draft("feel better"), InputsWith(MetricInfo()));
  trellis::v1::EvaluateSmartResponse response = evaluation.ToResponse();
  EXPECT_FALSE(response.passes());
  EXPECT_EQ(static_cast<size_t>(response.findings_size()), evaluation.findings.size());
  EXPECT_FALSE(evaluation.Failures().empty());
  for (const SmartFinding& f : evaluation.Failures()) EXPECT_EQ(f.verdict(), kFail);
}

// --- S ------------------------------------------------------------------------------------

TEST(SmartEvaluator, FlagsVagueWordingAsNotSpecific) {
  SmartEvaluation evaluation = Evaluate(Draft("I just want to feel better"), InputsWith({}));
  std::vector<SmartFinding> s = Letter(evaluation, kS);
  ASSERT_THAT(s, ElementsAre(IsFinding(kFail, "VAGUE_WORDING")));
  EXPECT_EQ(s[0].excerpt(), "feel better");
  EXPECT_THAT(s[0].fields(), ElementsAre("title"));
  EXPECT_FALSE(s[0].suggestion().empty());
  EXPECT_FALSE(evaluation.passes);
}

struct RewriteCase {
  std::string title;
  std::string phrase;
  std::string rewrite;
};

void PrintTo(const RewriteCase& c, std::ostream* os) { *os << '"' << c.title << '"'; }

class SeedRewrite : public ::testing::TestWithParam<RewriteCase> {};

TEST_P(SeedRewrite, SuggestsTheConcreteRewrite) {
  SmartEvaluation evaluation = Evaluate(Draft(GetParam().title), InputsWith({}));
  std::vector<SmartFinding> s = Letter(evaluation, kS);
  ASSERT_EQ(s.size(), 1u) << "one finding, for the longest phrase only";
  EXPECT_EQ(s[0].rule(), "VAGUE_WORDING");
  EXPECT_EQ(s[0].verdict(), kFail);
  EXPECT_EQ(s[0].excerpt(), GetParam().phrase);
  EXPECT_EQ(s[0].suggestion(), GetParam().rewrite);
}

INSTANTIATE_TEST_SUITE_P(
    SmartEvaluator, SeedRewrite,
    ::testing::Values(RewriteCase{"Feel less anxious", "feel less anxious",
                                  "practice breathing exercises for 15 minutes daily"},
                      RewriteCase{"I want to improve my mood", "improve my mood",
                                  "track mood daily, 25% improvement in 3 months"},
                      RewriteCase{"Eradicate all anxiety!", "eradicate all anxiety",
                                  "reduce the frequency of panic attacks"},
                      RewriteCase{"Sleep better, eventually", "sleep better eventually",
                                  "consistent bedtime routine within 8 weeks"}),
    [](const ::testing::TestParamInfo<RewriteCase>& info) {
      std::string name;
      for (char c : info.param.phrase) name.push_back(absl::ascii_isalnum(c) ? c : '_');
      return name;
    });

TEST(SmartEvaluator, FailsAbsoluteAimsEvenWithAConcreteMeasure) {
  Goal goal = SmartGoal();
  goal.set_title("Eradicate all anxiety with daily breathing practice");
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kS),
              ElementsAre(IsFinding(kFail, "VAGUE_WORDING")));
}

TEST(SmartEvaluator, OnlyWarnsAboutAVagueFeelingWhenTheMeasureIsConcrete) {
  Goal goal = SmartGoal();
  goal.set_title("Feel less anxious on the commute");
  SmartEvaluation evaluation = Evaluate(goal, InputsWith(Gad7()));
  EXPECT_THAT(Letter(evaluation, kS), ElementsAre(IsFinding(kWarn, "VAGUE_WORDING")));
  EXPECT_TRUE(evaluation.passes);
}

TEST(SmartEvaluator, OnlyWarnsAboutHedges) {
  Goal goal = SmartGoal();
  goal.set_description("Try to do it eventually.");
  std::vector<SmartFinding> s = Letter(Evaluate(goal, InputsWith(Gad7())), kS);
  ASSERT_THAT(s, ElementsAre(IsFinding(kWarn, "VAGUE_WORDING"), IsFinding(kWarn, "VAGUE_WORDING")));
  EXPECT_EQ(s[0].excerpt(), "try to");
  EXPECT_EQ(s[1].excerpt(), "eventually");
  EXPECT_THAT(s[1].fields(), ElementsAre("description"));
}

TEST(SmartEvaluator, ReportsAPhraseOnceAcrossTitleAndDescription) {
  Goal goal = Draft("Feel better");
  goal.set_description("I really want to feel better soon.");
  EXPECT_EQ(Letter(Evaluate(goal, InputsWith({})), kS).size(), 1u);
}

TEST(SmartEvaluator, FailsAGoalWithoutATitle) {
  EXPECT_THAT(Letter(Evaluate(Draft("  "), InputsWith({})), kS),
              ElementsAre(IsFinding(kFail, "DESCRIPTION_MISSING")));
}

TEST(SmartEvaluator, WarnsAboutATitleTooShortToSayWhatWillBeDone) {
  std::vector<SmartFinding> s = Letter(Evaluate(Draft("Anxiety"), InputsWith({})), kS);
  EXPECT_THAT(s, ElementsAre(IsFinding(kWarn, "TITLE_TOO_SHORT")));
}

// --- M ------------------------------------------------------------------------------------

TEST(SmartEvaluator, FailsAGoalWithoutAMetric) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->clear_metric();
  std::vector<SmartFinding> m = Letter(Evaluate(goal, InputsWith({})), kM);
  ASSERT_THAT(m, ElementsAre(IsFinding(kFail, "METRIC_MISSING")));
  EXPECT_THAT(m[0].fields(), ElementsAre("measure.metric"));
}

TEST(SmartEvaluator, FailsAMetricTheCatalogueDoesNotKnow) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_metric("wellbeing_index");
  SmartEvaluation evaluation = Evaluate(goal, InputsWith(MetricInfo()));
  std::vector<SmartFinding> m = Letter(evaluation, kM);
  ASSERT_THAT(m, ElementsAre(IsFinding(kFail, "METRIC_UNKNOWN")));
  EXPECT_EQ(m[0].excerpt(), "wellbeing_index");
  EXPECT_THAT(Letter(evaluation, kA), ElementsAre(IsFinding(kWarn, "NOT_ASSESSABLE")));
}

TEST(SmartEvaluator, FailsAMissingDirectionTargetAndBaseline) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->clear_direction();
  goal.mutable_measure()->clear_target();
  goal.mutable_measure()->clear_baseline();
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kM),
              ElementsAre(IsFinding(kFail, "DIRECTION_MISSING"), IsFinding(kFail, "TARGET_MISSING"),
                          IsFinding(kFail, "BASELINE_MISSING")));
}

TEST(SmartEvaluator, NeedsBothEndsOfARange) {
  Goal goal = SmartGoal();
  auto* m = goal.mutable_measure();
  m->set_direction(trellis::v1::MEASURE_DIRECTION_REACH_RANGE);
  m->clear_target();
  m->set_target_low(3);
  std::vector<SmartFinding> findings = Letter(Evaluate(goal, InputsWith(Gad7())), kM);
  ASSERT_THAT(findings, ElementsAre(IsFinding(kFail, "TARGET_MISSING")));
  EXPECT_THAT(findings[0].fields(), ElementsAre("measure.target_low", "measure.target_high"));
}

TEST(SmartEvaluator, AcceptsAPlanToCaptureTheBaseline) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->clear_baseline();
  goal.mutable_measure()->set_baseline_from_first_measurement(true);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kM), ElementsAre(IsOk()));
}

TEST(SmartEvaluator, FailsADirectionThatAsksForWorsening) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_INCREASE);
  goal.mutable_measure()->set_target(18);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kM),
              ElementsAre(IsFinding(kFail, "DIRECTION_MISMATCH")));
}

TEST(SmartEvaluator, WarnsWhenTheBaselineAlreadyMeetsTheTarget) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_baseline(5);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kM),
              ElementsAre(IsFinding(kWarn, "TARGET_NOT_AN_IMPROVEMENT")));
}

// --- A ------------------------------------------------------------------------------------

TEST(SmartEvaluator, FailsATargetOutsideTheInstrumentsRange) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_metric("phq9");
  goal.mutable_measure()->set_baseline(20);
  goal.mutable_measure()->set_target(-3);
  std::vector<SmartFinding> a = Letter(Evaluate(goal, InputsWith(Phq9())), kA);
  ASSERT_THAT(a, Contains(IsFinding(kFail, "TARGET_OUT_OF_RANGE")));
  EXPECT_THAT(a[0].message(), HasSubstr("0 to 27"));
  EXPECT_THAT(a[0].fields(), ElementsAre("measure.target"));
}

TEST(SmartEvaluator, FailsABaselineOutsideTheInstrumentsRange) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_baseline(25);  // GAD-7 tops out at 21
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kA),
              Contains(IsFinding(kFail, "BASELINE_OUT_OF_RANGE")));
}

TEST(SmartEvaluator, DoesNotJudgeThePaceOfAChangeFromOutsideTheRange) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_baseline(2.4e35);  // found by fuzz/request: overflowed the pace
  *goal.mutable_due_date() = Date(2024, 3, 8);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kA),
              ElementsAre(IsFinding(kFail, "BASELINE_OUT_OF_RANGE")));
  goal.mutable_measure()->set_baseline(15);
  goal.mutable_measure()->set_target(-1e300);
  EXPECT_THAT(
      Letter(Evaluate(goal, InputsWith(Gad7())), kA),
      ElementsAre(IsFinding(kFail, "TARGET_OUT_OF_RANGE"), IsFinding(kFail, "TARGET_ABSOLUTE")));
}

TEST(SmartEvaluator, FailsZeroOnASymptomScaleAsAnImpossibleAbsolute) {
  Goal goal = SmartGoal();
  goal.set_title("Zero anxiety: GAD-7 of 0 by the end of May");
  goal.mutable_measure()->set_target(0);
  SmartEvaluation evaluation = Evaluate(goal, InputsWith(Gad7()));
  EXPECT_THAT(Letter(evaluation, kA), ElementsAre(IsFinding(kFail, "TARGET_ABSOLUTE")));
  EXPECT_THAT(Letter(evaluation, kS), ElementsAre(IsFinding(kFail, "VAGUE_WORDING")));
  EXPECT_FALSE(evaluation.passes);

  goal.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_REACH_RANGE);
  goal.mutable_measure()->clear_target();
  goal.mutable_measure()->set_target_low(0);
  goal.mutable_measure()->set_target_high(0);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kA),
              ElementsAre(IsFinding(kFail, "TARGET_ABSOLUTE")));
}

TEST(SmartEvaluator, OnlyWarnsAboutTheTopOfARatingScale) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_metric("mood");
  goal.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_INCREASE);
  goal.mutable_measure()->set_baseline(4);
  goal.mutable_measure()->set_target(10);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Mood())), kA),
              ElementsAre(IsFinding(kWarn, "TARGET_ABSOLUTE")));
}

TEST(SmartEvaluator, AcceptsZeroForACountWithoutACeiling) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_metric("panic_attacks_per_week");
  goal.mutable_measure()->set_baseline(6);
  goal.mutable_measure()->set_target(0);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(PanicAttacksPerWeek())), kA), ElementsAre(IsOk()));
}

TEST(SmartEvaluator, WarnsAboutAFastChangeAndSuggestsALaterDueDate) {
  Goal goal = SmartGoal();                       // GAD-7 15 -> 7 from 2024-03-01
  *goal.mutable_due_date() = Date(2024, 3, 22);  // 3 weeks: 38% of the range, 12.7% a week
  std::vector<SmartFinding> a = Letter(Evaluate(goal, InputsWith(Gad7())), kA);
  ASSERT_THAT(a, ElementsAre(IsFinding(kWarn, "CHANGE_TOO_FAST")));
  // 8/21 of the range at 10% a week takes 26.7 days: due no earlier than 2024-03-28.
  EXPECT_THAT(a[0].suggestion(), HasSubstr("2024-03-28"));
  // What 3 weeks allow at 10% a week: 15 - 0.1 * 3 * 21 = 8.7.
  EXPECT_THAT(a[0].suggestion(), HasSubstr("8.7 by 2024-03-22"));
  EXPECT_THAT(a[0].fields(), ElementsAre("measure.target", "due_date"));
}

TEST(SmartEvaluator, FailsAnImplausiblyFastChange) {
  Goal goal = SmartGoal();
  goal.mutable_measure()->set_target(5);
  *goal.mutable_due_date() = Date(2024, 3, 8);  // 10 points of 21 in one week
  SmartEvaluation evaluation = Evaluate(goal, InputsWith(Gad7()));
  EXPECT_THAT(Letter(evaluation, kA), ElementsAre(IsFinding(kFail, "CHANGE_TOO_FAST")));
  EXPECT_FALSE(evaluation.passes);
}

TEST(SmartEvaluator, MeasuresTheRateFromTodayWhenThereIsNoStartDate) {
  Goal goal = SmartGoal();
  goal.clear_start_date();
  goal.mutable_measure()->set_target(5);
  *goal.mutable_due_date() = Date(2024, 3, 8);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kA),
              ElementsAre(IsFinding(kFail, "CHANGE_TOO_FAST")));
}

TEST(SmartEvaluator, UsesTheConfiguredPlausibilityThresholds) {
  SmartConfig strict;
  strict.warn_range_fraction_per_week = 0.02;
  strict.fail_range_fraction_per_week = 0.03;
  // SmartGoal asks for 8/21 of the range in 12 weeks: 3.2% a week.
  EXPECT_THAT(Letter(Evaluate(SmartGoal(), InputsWith(Gad7()), strict), kA),
              ElementsAre(IsFinding(kFail, "CHANGE_TOO_FAST")));
  strict.fail_range_fraction_per_week = 0.05;
  EXPECT_THAT(Letter(Evaluate(SmartGoal(), InputsWith(Gad7()), strict), kA),
              ElementsAre(IsFinding(kWarn, "CHANGE_TOO_FAST")));
}

// --- R ------------------------------------------------------------------------------------

TEST(SmartEvaluator, AcceptsAGoalThatAddressesAConcern) {
  EXPECT_THAT(Letter(Evaluate(SmartGoal(), InputsWith(Gad7())), kR), ElementsAre(IsOk()));
}

TEST(SmartEvaluator, AcceptsAnObjectiveThatRollsUpToItsParent) {
  Goal goal = SmartGoal();
  goal.clear_addresses();
  goal.set_parent("patients/p42/goals/g1");
  SmartInputs inputs = InputsWith(Gad7());
  for (ParentLookup lookup : {ParentLookup::kFound, ParentLookup::kNotLookedUp}) {
    inputs.parent = lookup;
    EXPECT_THAT(Letter(Evaluate(goal, inputs), kR), ElementsAre(IsOk()));
  }
}

TEST(SmartEvaluator, FailsAGoalWithNeitherConcernNorParent) {
  Goal goal = SmartGoal();
  goal.clear_addresses();
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kR),
              ElementsAre(IsFinding(kFail, "NO_CONCERN_OR_PARENT")));
}

TEST(SmartEvaluator, FlagsAParentThatDoesNotExist) {
  Goal goal = SmartGoal();
  goal.set_parent("patients/p42/goals/missing");
  SmartInputs inputs = InputsWith(Gad7());
  inputs.parent = ParentLookup::kNotFound;
  EXPECT_THAT(Letter(Evaluate(goal, inputs), kR), ElementsAre(IsFinding(kWarn, "PARENT_UNKNOWN")));
  goal.clear_addresses();
  EXPECT_THAT(Letter(Evaluate(goal, inputs), kR), ElementsAre(IsFinding(kFail, "PARENT_UNKNOWN")));
}

// --- T ------------------------------------------------------------------------------------

TEST(SmartEvaluator, FailsAGoalWithoutADueDate) {
  Goal goal = SmartGoal();
  goal.clear_due_date();
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT),
              ElementsAre(IsFinding(kFail, "DUE_DATE_MISSING")));
}

TEST(SmartEvaluator, FailsADueDateThatIsNotInTheFuture) {
  Goal goal = SmartGoal();
  goal.clear_start_date();
  for (auto due : {Date(2024, 2, 1), Date(2024, 3, 1)}) {  // today is 2024-03-01
    *goal.mutable_due_date() = due;
    EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT),
                ElementsAre(IsFinding(kFail, "DUE_DATE_PAST")));
  }
}

TEST(SmartEvaluator, FailsADueDateBeyondTheConfiguredHorizon) {
  Goal goal = SmartGoal();
  *goal.mutable_due_date() = Date(2026, 3, 1);  // today + 730 days
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT), ElementsAre(IsOk()));
  *goal.mutable_due_date() = Date(2026, 3, 2);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT),
              ElementsAre(IsFinding(kFail, "DUE_DATE_BEYOND_HORIZON")));
  SmartConfig one_year;
  one_year.horizon_days = 365;
  *goal.mutable_due_date() = Date(2025, 3, 2);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7()), one_year), kT),
              ElementsAre(IsFinding(kFail, "DUE_DATE_BEYOND_HORIZON")));
}

TEST(SmartEvaluator, FailsADueDateNotAfterTheStartDate) {
  Goal goal = SmartGoal();
  *goal.mutable_start_date() = Date(2024, 6, 1);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT),
              ElementsAre(IsFinding(kFail, "DUE_DATE_NOT_AFTER_START")));
}

TEST(SmartEvaluator, TakesTodayInTheConfiguredTimeZone) {
  Goal goal = SmartGoal();
  goal.clear_start_date();
  goal.mutable_measure()->set_baseline_from_first_measurement(true);
  goal.mutable_measure()->clear_baseline();
  *goal.mutable_due_date() = Date(2024, 3, 2);
  // Now is 2024-03-01 12:00 UTC, already 2024-03-02 02:00 at UTC+14.
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7())), kT), ElementsAre(IsOk()));
  SmartConfig kiritimati;
  kiritimati.time_zone = absl::FixedTimeZone(14 * 3600);
  EXPECT_THAT(Letter(Evaluate(goal, InputsWith(Gad7()), kiritimati), kT),
              ElementsAre(IsFinding(kFail, "DUE_DATE_PAST")));
}

TEST(SmartEvaluator, ValidatesItsConfiguration) {
  EXPECT_TRUE(SmartConfig().Validate().ok());
  SmartConfig config;
  config.horizon_days = 0;
  EXPECT_FALSE(config.Validate().ok());
  config = SmartConfig();
  config.fail_range_fraction_per_week = 0.05;  // below warn
  EXPECT_FALSE(config.Validate().ok());
}

// --- Vague wording catalogue ----------------------------------------------------------------

std::vector<std::string> Phrases(absl::string_view text) {
  std::vector<std::string> out;
  for (const VagueMatch& match : FindVagueWording(text)) out.emplace_back(match.phrase->phrase);
  return out;
}

TEST(SmartVagueWording, PrefersTheLongestPhrase) {
  EXPECT_THAT(Phrases("I will sleep better eventually"), ElementsAre("sleep better eventually"));
  EXPECT_THAT(Phrases("always be happy"), ElementsAre("always be happy"));
}

TEST(SmartVagueWording, IgnoresCasePunctuationAndSpacing) {
  EXPECT_THAT(Phrases("FEEL-LESS   anxious!!"), ElementsAre("feel less anxious"));
}

TEST(SmartVagueWording, MatchesWholeWordsOnly) {
  EXPECT_THAT(Phrases("maybe happy"), IsEmpty());
  EXPECT_THAT(Phrases("trying to walk"), IsEmpty());
  EXPECT_THAT(Phrases("asaps"), IsEmpty());
}

TEST(SmartVagueWording, ReportsPhrasesInOrderOfAppearance) {
  EXPECT_THAT(Phrases("Eventually I want to feel better, a bit"),
              ElementsAre("eventually", "feel better", "a bit"));
}

TEST(SmartVagueWording, HasALowerCaseRewriteForEveryPhrase) {
  std::set<std::string> seen;
  size_t previous_length = SIZE_MAX;
  for (const VaguePhrase& phrase : VaguePhraseCatalogue()) {
    EXPECT_TRUE(seen.insert(std::string(phrase.phrase)).second) << phrase.phrase;
    EXPECT_EQ(absl::AsciiStrToLower(phrase.phrase), phrase.phrase);
    EXPECT_FALSE(phrase.rewrite.empty()) << phrase.phrase;
    EXPECT_LE(phrase.phrase.size(), previous_length);
    previous_length = phrase.phrase.size();
    // Every phrase finds itself.
    EXPECT_THAT(Phrases(phrase.phrase), ElementsAre(std::string(phrase.phrase)));
  }
  EXPECT_GE(seen.size(), 40u);
}

}  // namespace
}  // namespace trellis::goals
