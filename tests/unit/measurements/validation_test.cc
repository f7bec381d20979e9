// DefineMetric rules and the checks a recorded value must pass.

#include <cmath>
#include <limits>
#include <string>

#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/measurement_validation.h"
#include "services/measurements/domain/metric_definition.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/text.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::trellis::measurements::testing::Day;
using ::trellis::measurements::testing::HasViolation;
using ::trellis::measurements::testing::ViolationsToString;

v1::Metric PanicAttacks() {
  v1::Metric m;
  m.set_id("panic_attacks");
  m.set_display_name("Panic attacks per week");
  m.set_kind(v1::METRIC_KIND_COUNT_PER_PERIOD);
  m.set_period(v1::METRIC_PERIOD_WEEK);
  m.set_min_value(0);
  m.set_max_value(50);
  m.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  return m;
}

TEST(MetricDefinition, AcceptsACountPerWeekAndFillsItsDefaults) {
  v1::Metric requested = PanicAttacks();
  requested.set_built_in(true);  // output only: ignored
  requested.set_etag("x");
  auto m = PrepareMetricDefinition(requested);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->unit(), "{count}");
  EXPECT_TRUE(m->integer_values());
  EXPECT_FALSE(m->built_in());
  EXPECT_TRUE(m->etag().empty());
}

TEST(MetricDefinition, CannotShadowABuiltInIdInAnyCase) {
  for (const char* id : {"phq9", "PHQ9", "Mood"}) {
    SCOPED_TRACE(id);
    v1::Metric m = PanicAttacks();
    m.set_id(id);
    auto status = PrepareMetricDefinition(m).status();
    EXPECT_TRUE(HasViolation(status, "metric.id", "built-in")) << ViolationsToString(status);
  }
}

TEST(MetricDefinition, RefusesMalformedIdsAndNames) {
  v1::Metric m = PanicAttacks();
  m.set_id("panic attacks");
  m.set_display_name("");
  m.set_description(std::string(1001, 'd'));
  auto status = PrepareMetricDefinition(m).status();
  EXPECT_TRUE(HasViolation(status, "metric.id")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "metric.display_name", "required"));
  EXPECT_TRUE(HasViolation(status, "metric.description", "1000"));
}

TEST(MetricDefinition, RefusesQuestionnairesAndUnspecifiedKinds) {
  v1::Metric m = PanicAttacks();
  m.set_kind(v1::METRIC_KIND_QUESTIONNAIRE);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.kind", "built in"));
  m.set_kind(v1::METRIC_KIND_UNSPECIFIED);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.kind", "required"));
}

TEST(MetricDefinition, RequiresAFiniteIncreasingRange) {
  v1::Metric m = PanicAttacks();
  m.set_min_value(10);
  m.set_max_value(10);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.max_value", "greater"));
  m.set_max_value(std::numeric_limits<double>::infinity());
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.max_value", "finite"));
  m.set_max_value(std::nan(""));
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.max_value", "finite"));
  m = PanicAttacks();
  m.set_min_value(-5);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.min_value", ">= 0"));
}

TEST(MetricDefinition, RequiresABetterDirectionAndAPeriodForCounts) {
  v1::Metric m = PanicAttacks();
  m.set_better_direction(v1::BETTER_DIRECTION_UNSPECIFIED);
  m.set_period(v1::METRIC_PERIOD_UNSPECIFIED);
  auto status = PrepareMetricDefinition(m).status();
  EXPECT_TRUE(HasViolation(status, "metric.better_direction")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "metric.period", "required"));
}

TEST(MetricDefinition, YesNoGetsTheRangeZeroToOne) {
  v1::Metric m;
  m.set_id("did_exposure");
  m.set_display_name("Did the exposure exercise");
  m.set_kind(v1::METRIC_KIND_YES_NO);
  m.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  auto prepared = PrepareMetricDefinition(m);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->min_value(), 0);
  EXPECT_EQ(prepared->max_value(), 1);
  EXPECT_TRUE(prepared->integer_values());
  EXPECT_EQ(prepared->unit(), "1");
  m.set_max_value(5);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.max_value", "[0, 1]"));
}

TEST(MetricDefinition, MinutesAndHoursUseTheirUcumUnit) {
  v1::Metric m;
  m.set_id("practice_minutes");
  m.set_display_name("Minutes of breathing practice");
  m.set_kind(v1::METRIC_KIND_DURATION_MINUTES);
  m.set_unit("minutes");
  m.set_max_value(600);
  m.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  auto prepared = PrepareMetricDefinition(m);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->unit(), "min");
  m.set_unit("h");
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.unit", "\"min\""));
  m.set_unit("per day!!");  // a space
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.unit", "UCUM"));
}

TEST(MetricDefinition, ChecksJacobsonTruaxInputs) {
  v1::Metric m;
  m.set_id("sleep_quality");
  m.set_display_name("Sleep quality");
  m.set_kind(v1::METRIC_KIND_RATING);
  m.set_unit("{rating}");
  m.set_max_value(20);
  m.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  m.set_standard_deviation(4);
  EXPECT_TRUE(
      HasViolation(PrepareMetricDefinition(m).status(), "metric.reliability", "go together"));
  m.set_reliability(1.0);
  EXPECT_TRUE(
      HasViolation(PrepareMetricDefinition(m).status(), "metric.reliability", "between 0 and 1"));
  m.set_reliability(0.91);
  m.set_standard_deviation(0);
  EXPECT_TRUE(
      HasViolation(PrepareMetricDefinition(m).status(), "metric.standard_deviation", "> 0"));
  m.set_standard_deviation(4);
  EXPECT_TRUE(PrepareMetricDefinition(m).ok());
  m.set_reliable_change_threshold(3);
  EXPECT_TRUE(
      HasViolation(PrepareMetricDefinition(m).status(), "metric.standard_deviation", "either"));
}

TEST(MetricDefinition, ChecksBandsAscendingInsideTheRange) {
  v1::Metric m = PanicAttacks();
  auto* a = m.add_bands();
  a->set_low(0);
  a->set_high(5);
  a->set_label("few");
  auto* b = m.add_bands();
  b->set_low(5);
  b->set_high(60);
  b->set_label("many");
  auto status = PrepareMetricDefinition(m).status();
  EXPECT_TRUE(HasViolation(status, "metric.bands[1].low", "overlap")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "metric.bands[1].low", "inside"));
}

TEST(MetricDefinition, ResponseAndRemissionOnlyForLowerIsBetter) {
  v1::Metric m = PanicAttacks();
  m.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  m.set_response_fraction(0.5);
  EXPECT_TRUE(HasViolation(PrepareMetricDefinition(m).status(), "metric.response_fraction",
                           "lower is better"));
}

TEST(MetricDefinition, SameDefinitionIgnoresOutputOnlyFields) {
  auto a = PrepareMetricDefinition(PanicAttacks());
  ASSERT_TRUE(a.ok());
  v1::Metric stored = *a;
  stored.set_etag("e1");
  *stored.mutable_create_time() = ToProtoTimestamp(Day(2024, 1, 1));
  EXPECT_TRUE(SameMetricDefinition(*a, stored));
  stored.set_max_value(40);
  EXPECT_FALSE(SameMetricDefinition(*a, stored));
}

v1::Metric Prepared(const v1::Metric& m) {
  auto prepared = PrepareMetricDefinition(m);
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  return *prepared;
}

TEST(RecordedValue, MustBeFiniteAndInsideTheRange) {
  const v1::Metric& mood = *clinical::FindBuiltIn("mood");
  EXPECT_TRUE(ValidateValue(mood, 7, "measurement.value").ok());
  EXPECT_TRUE(ValidateValue(mood, 0, "measurement.value").ok());
  EXPECT_TRUE(ValidateValue(mood, 10, "measurement.value").ok());
  EXPECT_TRUE(HasViolation(ValidateValue(mood, 11, "measurement.value"), "measurement.value",
                           "between 0 and 10"));
  EXPECT_TRUE(HasViolation(ValidateValue(mood, std::nan(""), "measurement.value"),
                           "measurement.value", "finite"));
  EXPECT_TRUE(HasViolation(
      ValidateValue(mood, std::numeric_limits<double>::infinity(), "measurement.value"),
      "measurement.value", "finite"));
  EXPECT_TRUE(
      HasViolation(ValidateValue(mood, 6.5, "measurement.value"), "measurement.value", "whole"));
}

TEST(RecordedValue, YesNoIsZeroOrOneAndCountsAreWholeAndNotNegative) {
  v1::Metric yes_no;
  yes_no.set_id("did_it");
  yes_no.set_display_name("Did it");
  yes_no.set_kind(v1::METRIC_KIND_YES_NO);
  yes_no.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  const v1::Metric yn = Prepared(yes_no);
  EXPECT_TRUE(ValidateValue(yn, 1, "v").ok());
  EXPECT_TRUE(HasViolation(ValidateValue(yn, 0.5, "v"), "v", "0 (no) or 1 (yes)"));
  const v1::Metric counts = Prepared(PanicAttacks());
  EXPECT_TRUE(HasViolation(ValidateValue(counts, 2.5, "v"), "v", "whole"));
  EXPECT_TRUE(HasViolation(ValidateValue(counts, -1, "v"), "v", "negative"));
}

TEST(RecordedValue, ObserveTimeMayNotBeFarInTheFutureNorBefore2000) {
  const absl::Time now = Day(2024, 3, 10);
  const RecordingLimits limits;
  EXPECT_TRUE(ValidateObserveTime(ToProtoTimestamp(now + absl::Minutes(5)), now, limits, "t").ok());
  EXPECT_TRUE(
      HasViolation(ValidateObserveTime(ToProtoTimestamp(now + absl::Minutes(5) + absl::Seconds(1)),
                                       now, limits, "t"),
                   "t", "future"));
  EXPECT_TRUE(ValidateObserveTime(ToProtoTimestamp(Day(2000, 1, 1)), now, limits, "t").ok());
  EXPECT_TRUE(
      HasViolation(ValidateObserveTime(ToProtoTimestamp(Day(1999, 12, 31)), now, limits, "t"), "t",
                   "2000-01-01"));
  google::protobuf::Timestamp bad;
  bad.set_nanos(-1);
  EXPECT_TRUE(HasViolation(ValidateObserveTime(bad, now, limits, "t"), "t", "valid"));

  RecordingLimits strict;
  strict.max_future_skew = absl::Seconds(30);
  EXPECT_FALSE(
      ValidateObserveTime(ToProtoTimestamp(now + absl::Minutes(1)), now, strict, "t").ok());
}

TEST(RecordedValue, NoteIsAtMost2000CharactersOfValidUtf8) {
  std::string accented;
  for (int i = 0; i < 2000; ++i) accented += "\xC3\xA9";  // é: 2 bytes, 1 character
  EXPECT_TRUE(ValidateNote(accented, "note").ok());
  EXPECT_TRUE(HasViolation(ValidateNote(accented + "x", "note"), "note", "2000"));
  EXPECT_TRUE(HasViolation(ValidateNote("bad \xC3", "note"), "note", "UTF-8"));
}

TEST(Utf8, CountsCodePointsAndRejectsMalformedSequences) {
  EXPECT_EQ(CodePointCount(""), 0u);
  EXPECT_EQ(CodePointCount("abc"), 3u);
  EXPECT_EQ(CodePointCount("\xE2\x80\x94"), 1u);                 // em dash
  EXPECT_EQ(CodePointCount("\xF0\x9F\x98\x80"), 1u);             // emoji
  EXPECT_FALSE(CodePointCount("\xC0\xAF").has_value());          // overlong '/'
  EXPECT_FALSE(CodePointCount("\xED\xA0\x80").has_value());      // surrogate
  EXPECT_FALSE(CodePointCount("\xF4\x90\x80\x80").has_value());  // above U+10FFFF
  EXPECT_FALSE(CodePointCount("\x80").has_value());
}

v1::Measurement MoodValue() {
  v1::Measurement m;
  m.set_patient("p42");
  m.set_metric("mood");
  m.set_value(6);
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 9));
  return m;
}

TEST(PrepareMeasurement, FillsNowAndTheCallersSourceAndDropsOutputOnlyFields) {
  v1::Measurement requested = MoodValue();
  requested.clear_observe_time();
  requested.set_name("patients/p42/measurements/forged");
  const absl::Time now = Day(2024, 3, 10);
  auto m = PrepareMeasurement(requested, *clinical::FindBuiltIn("mood"), v1::ROLE_CLIENT, now);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToAbslTime(m->observe_time()), now);
  EXPECT_EQ(m->source(), v1::MEASUREMENT_SOURCE_CLIENT);
  EXPECT_TRUE(m->name().empty());
}

TEST(PrepareMeasurement, RefusesQuestionnairesSoTheSafetyItemCannotBeBypassed) {
  v1::Measurement requested = MoodValue();
  requested.set_metric("phq9");
  requested.set_value(5);
  auto status = PrepareMeasurement(requested, *clinical::FindBuiltIn("phq9"), v1::ROLE_CLINICIAN,
                                   Day(2024, 3, 10))
                    .status();
  EXPECT_TRUE(HasViolation(status, "measurement.metric", "SubmitQuestionnaire"))
      << ViolationsToString(status);
}

TEST(PrepareMeasurement, NamesEveryBadFieldWithItsRequestPath) {
  v1::Measurement requested = MoodValue();
  requested.set_value(12);
  *requested.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 11));
  requested.set_note("\xFF");
  requested.set_goal("patients/p7/goals/g1");
  auto status = PrepareMeasurement(requested, *clinical::FindBuiltIn("mood"), v1::ROLE_SERVICE,
                                   Day(2024, 3, 10))
                    .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HasViolation(status, "measurement.value")) << ViolationsToString(status);
  EXPECT_TRUE(HasViolation(status, "measurement.observe_time", "future"));
  EXPECT_TRUE(HasViolation(status, "measurement.note", "UTF-8"));
  EXPECT_TRUE(HasViolation(status, "measurement.goal", "same patient"));
  EXPECT_TRUE(HasViolation(status, "measurement.source", "required"));
}

TEST(PrepareMeasurement, AClientCannotRecordAsAClinician) {
  v1::Measurement requested = MoodValue();
  requested.set_source(v1::MEASUREMENT_SOURCE_CLINICIAN);
  auto status = PrepareMeasurement(requested, *clinical::FindBuiltIn("mood"), v1::ROLE_CLIENT,
                                   Day(2024, 3, 10))
                    .status();
  EXPECT_TRUE(HasViolation(status, "measurement.source", "client"));
  requested.set_source(v1::MEASUREMENT_SOURCE_DEVICE);
  EXPECT_TRUE(PrepareMeasurement(requested, *clinical::FindBuiltIn("mood"), v1::ROLE_CLIENT,
                                 Day(2024, 3, 10))
                  .ok());
}

TEST(PrepareMeasurement, AMismatchedMetricDefinitionIsAnInternalError) {
  auto status = PrepareMeasurement(MoodValue(), *clinical::FindBuiltIn("suds"), v1::ROLE_CLINICIAN,
                                   Day(2024, 3, 10))
                    .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace trellis::measurements
