// The built-in instrument catalog (common/clinical): what ListInstruments shows, what scoring and
// the goal service's SMART checks rely on.

#include <set>
#include <string>

#include "common/clinical/instruments.h"
#include "common/clinical/metric_kinds.h"
#include "common/clinical/severity.h"
#include "common/status/status.h"
#include "gtest/gtest.h"

namespace trellis::clinical {
namespace {

TEST(BuiltInCatalog, ListsPhq9Gad7MoodAndSudsInThatOrder) {
  const auto& metrics = BuiltIns();
  ASSERT_EQ(metrics.size(), 4u);
  EXPECT_EQ(metrics[0].id(), "phq9");
  EXPECT_EQ(metrics[1].id(), "gad7");
  EXPECT_EQ(metrics[2].id(), "mood");
  EXPECT_EQ(metrics[3].id(), "suds");
  for (const auto& m : metrics) {
    EXPECT_TRUE(m.built_in()) << m.id();
    EXPECT_LT(m.min_value(), m.max_value()) << m.id();
    EXPECT_FALSE(m.unit().empty()) << m.id();
  }
}

TEST(BuiltInCatalog, Phq9HasNineScoredItemsAndAnUnscoredDifficultyItem) {
  const v1::Metric* phq9 = FindBuiltIn("phq9");
  ASSERT_NE(phq9, nullptr);
  ASSERT_EQ(phq9->items_size(), 10);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(phq9->items(i).number(), i + 1);
    EXPECT_TRUE(phq9->items(i).scored());
    ASSERT_EQ(phq9->items(i).options_size(), 4);
  }
  EXPECT_EQ(phq9->items(0).text(), "Little interest or pleasure in doing things");
  EXPECT_EQ(phq9->items(8).text(),
            "Thoughts that you would be better off dead or of hurting yourself in some way");
  EXPECT_FALSE(phq9->items(9).scored());
  EXPECT_EQ(phq9->items(9).number(), 10);
}

TEST(BuiltInCatalog, Phq9AnswersCarryTheLoincAnswerCodesInScoreOrder) {
  const v1::Metric* phq9 = FindBuiltIn("phq9");
  ASSERT_NE(phq9, nullptr);
  const auto& options = phq9->items(0).options();
  const char* codes[] = {"LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"};
  const char* texts[] = {"Not at all", "Several days", "More than half the days",
                         "Nearly every day"};
  for (int v = 0; v < 4; ++v) {
    EXPECT_EQ(options[v].value(), v);
    EXPECT_EQ(options[v].loinc_answer_code(), codes[v]);
    EXPECT_EQ(options[v].text(), texts[v]);
  }
}

TEST(BuiltInCatalog, OnlyPhq9ItemNineCarriesASafetyRule) {
  const v1::Metric* phq9 = FindBuiltIn("phq9");
  ASSERT_NE(phq9, nullptr);
  for (const auto& item : phq9->items()) {
    EXPECT_EQ(item.has_safety_flag_above(), item.number() == 9) << item.number();
  }
  EXPECT_EQ(FindItem(*phq9, 9)->safety_flag_above(), 0);
  EXPECT_EQ(FindItem(*phq9, 9)->loinc_code(), "44260-8");
  for (const auto& item : FindBuiltIn("gad7")->items()) EXPECT_FALSE(item.has_safety_flag_above());
}

TEST(BuiltInCatalog, Phq9CarriesItsLoincCodesBandsAndThresholds) {
  const v1::Metric& m = *FindBuiltIn("phq9");
  EXPECT_EQ(m.kind(), v1::METRIC_KIND_QUESTIONNAIRE);
  EXPECT_EQ(m.loinc_panel_code(), "44249-1");
  EXPECT_EQ(m.loinc_code(), "44261-6");
  EXPECT_EQ(m.unit(), "{score}");
  EXPECT_EQ(m.min_value(), 0);
  EXPECT_EQ(m.max_value(), 27);
  EXPECT_EQ(m.better_direction(), v1::BETTER_DIRECTION_LOWER);
  EXPECT_TRUE(m.integer_values());
  EXPECT_EQ(m.reliable_change_threshold(), 6);
  EXPECT_EQ(m.caseness_threshold(), 10);
  EXPECT_EQ(m.response_fraction(), 0.5);
  EXPECT_EQ(m.remission_below(), 5);
  EXPECT_EQ(m.max_missing_items(), 0);
  ASSERT_EQ(m.bands_size(), 5);
  EXPECT_EQ(m.bands(3).label(), "moderately severe");
}

TEST(BuiltInCatalog, Gad7UsesThePanelAndTotalCodesTheRightWayRound) {
  const v1::Metric& m = *FindBuiltIn("gad7");
  EXPECT_EQ(m.loinc_panel_code(), "69737-5");
  EXPECT_EQ(m.loinc_code(), "70274-6");
  EXPECT_EQ(m.items_size(), 7);
  EXPECT_EQ(m.max_value(), 21);
  EXPECT_EQ(m.reliable_change_threshold(), 4);
  EXPECT_EQ(m.caseness_threshold(), 8);
  EXPECT_FALSE(m.has_response_fraction());
  ASSERT_EQ(m.bands_size(), 4);
  EXPECT_EQ(m.bands(3).low(), 15);
  EXPECT_EQ(m.bands(3).high(), 21);
}

TEST(BuiltInCatalog, MoodIsHigherBetterAndSudsLowerBetter) {
  const v1::Metric& mood = *FindBuiltIn("mood");
  EXPECT_EQ(mood.kind(), v1::METRIC_KIND_RATING);
  EXPECT_EQ(mood.min_value(), 0);
  EXPECT_EQ(mood.max_value(), 10);
  EXPECT_EQ(mood.better_direction(), v1::BETTER_DIRECTION_HIGHER);
  const v1::Metric& suds = *FindBuiltIn("suds");
  EXPECT_EQ(suds.max_value(), 100);
  EXPECT_EQ(suds.better_direction(), v1::BETTER_DIRECTION_LOWER);
}

TEST(BuiltInCatalog, FindsByExactIdOnly) {
  EXPECT_NE(FindBuiltIn("gad7"), nullptr);
  EXPECT_EQ(FindBuiltIn("GAD7"), nullptr);
  EXPECT_EQ(FindBuiltIn("phq-9"), nullptr);
  EXPECT_EQ(FindBuiltIn(""), nullptr);
}

TEST(BuiltInCatalog, ReservesBuiltInIdsInAnyLetterCase) {
  EXPECT_TRUE(IsReservedId("phq9"));
  EXPECT_TRUE(IsReservedId("PHQ9"));
  EXPECT_TRUE(IsReservedId("Suds"));
  EXPECT_FALSE(IsReservedId("panic_attacks"));
}

TEST(InstrumentConfig, AppliesTenantThresholdsToTheQuestionnairesOnly) {
  InstrumentConfig config;
  config.phq9_reliable_change = 5;
  config.gad7_caseness = 10;
  config.proration_enabled = true;
  const auto metrics = ConfiguredBuiltIns(config);
  EXPECT_EQ(metrics[0].reliable_change_threshold(), 5);
  EXPECT_EQ(metrics[0].max_missing_items(), 2);
  EXPECT_EQ(metrics[1].caseness_threshold(), 10);
  EXPECT_EQ(metrics[1].max_missing_items(), 1);
  EXPECT_FALSE(metrics[2].has_reliable_change_threshold());
  EXPECT_EQ(metrics[2].max_missing_items(), 0);
  // The shared catalog itself is untouched.
  EXPECT_EQ(FindBuiltIn("phq9")->reliable_change_threshold(), 6);
}

TEST(InstrumentConfig, ProrationIsOffByDefault) {
  const auto metrics = ConfiguredBuiltIns(InstrumentConfig{});
  EXPECT_EQ(metrics[0].max_missing_items(), 0);
  EXPECT_EQ(metrics[1].max_missing_items(), 0);
}

TEST(InstrumentConfig, RefusesSettingsOutsideTheInstrumentRangeNamingEachOne) {
  EXPECT_TRUE(ValidateInstrumentConfig(InstrumentConfig{}).ok());
  InstrumentConfig bad;
  bad.gad7_reliable_change = 0;
  EXPECT_EQ(ValidateInstrumentConfig(bad).code(), absl::StatusCode::kInvalidArgument);
  bad.phq9_max_missing_items = 9;
  const auto violations = FieldViolationsOf(ValidateInstrumentConfig(bad));
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].first, "gad7_reliable_change");
  EXPECT_EQ(violations[1].first, "phq9_max_missing_items");
  EXPECT_EQ(violations[1].second, "must be in [0, 8], got 9");
}

TEST(SeverityBands, ReadsBandAndCasenessOfAValue) {
  const v1::Metric& phq9 = *FindBuiltIn("phq9");
  EXPECT_EQ(SeverityBandOf(phq9, 12), "moderate");
  EXPECT_EQ(SeverityBandOf(phq9, 30), "");
  EXPECT_EQ(SeverityBandOf(*FindBuiltIn("mood"), 5), "");
  EXPECT_EQ(AboveCaseness(phq9, 10), true);
  EXPECT_EQ(AboveCaseness(phq9, 9), false);
  EXPECT_EQ(AboveCaseness(*FindBuiltIn("gad7"), 8), true);
  EXPECT_FALSE(AboveCaseness(*FindBuiltIn("mood"), 8).has_value());
}

TEST(MetricKinds, DocumentUnitsAndValueRulesOfEveryTenantKind) {
  EXPECT_EQ(TraitsOf(v1::METRIC_KIND_UNSPECIFIED), nullptr);
  EXPECT_FALSE(TraitsOf(v1::METRIC_KIND_QUESTIONNAIRE)->tenant_definable);
  EXPECT_TRUE(TraitsOf(v1::METRIC_KIND_COUNT_PER_PERIOD)->needs_period);
  EXPECT_TRUE(TraitsOf(v1::METRIC_KIND_COUNT_PER_PERIOD)->integer_values);
  EXPECT_EQ(TraitsOf(v1::METRIC_KIND_DURATION_MINUTES)->default_unit, "min");
  EXPECT_TRUE(TraitsOf(v1::METRIC_KIND_DURATION_MINUTES)->unit_fixed);
  EXPECT_EQ(TraitsOf(v1::METRIC_KIND_HOURS)->default_unit, "h");
  EXPECT_EQ(TraitsOf(v1::METRIC_KIND_YES_NO)->default_unit, "1");
  EXPECT_EQ(NormalizeUnit(v1::METRIC_KIND_DURATION_MINUTES, "Minutes"), "min");
  EXPECT_EQ(NormalizeUnit(v1::METRIC_KIND_HOURS, "hrs"), "h");
  EXPECT_EQ(NormalizeUnit(v1::METRIC_KIND_RATING, "minutes"), "minutes");
}

}  // namespace
}  // namespace trellis::clinical
