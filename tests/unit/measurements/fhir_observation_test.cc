// FHIR R4 Observation export of measurements.

#include <string>
#include <vector>

#include "common/clinical/instruments.h"
#include "gtest/gtest.h"
#include "services/measurements/domain/fhir_observation.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "tests/unit/measurements/test_util.h"

namespace trellis::measurements {
namespace {

using ::nlohmann::json;
using ::trellis::measurements::testing::Answers;
using ::trellis::measurements::testing::Day;

v1::Measurement Phq9Submission(const std::vector<int>& values) {
  v1::Measurement m;
  m.set_name("patients/p42/measurements/abc123");
  m.set_patient("p42");
  m.set_metric("phq9");
  auto scored = ScoreQuestionnaire(*clinical::FindBuiltIn("phq9"), Answers(values), {});
  EXPECT_TRUE(scored.ok()) << scored.status();
  m.set_value(scored->total());
  *m.mutable_questionnaire() = *scored;
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10) + absl::Hours(12));
  *m.mutable_create_time() =
      ToProtoTimestamp(Day(2024, 3, 10) + absl::Hours(12) + absl::Milliseconds(250));
  m.set_note("first session");
  return m;
}

const json* ComponentWithCode(const json& obs, const std::string& code) {
  for (const json& c : obs["component"]) {
    if (c["code"]["coding"][0]["code"] == code) return &c;
  }
  return nullptr;
}

TEST(FhirObservation, Phq9TotalIsAFinalSurveyObservationCodedWithLoinc) {
  const json obs = ToFhirObservation(Phq9Submission({2, 2, 2, 2, 2, 1, 1, 1, 1}),
                                     *clinical::FindBuiltIn("phq9"));
  EXPECT_EQ(obs["resourceType"], "Observation");
  EXPECT_EQ(obs["id"], "abc123");
  EXPECT_EQ(obs["identifier"][0]["value"], "patients/p42/measurements/abc123");
  EXPECT_EQ(obs["status"], "final");
  EXPECT_EQ(obs["category"][0]["coding"][0]["system"],
            "http://terminology.hl7.org/CodeSystem/observation-category");
  EXPECT_EQ(obs["category"][0]["coding"][0]["code"], "survey");
  EXPECT_EQ(obs["code"]["coding"][0]["system"], "http://loinc.org");
  EXPECT_EQ(obs["code"]["coding"][0]["code"], "44261-6");
  EXPECT_EQ(obs["subject"]["reference"], "Patient/p42");
  EXPECT_EQ(obs["effectiveDateTime"], "2024-03-10T12:00:00Z");
  EXPECT_EQ(obs["issued"], "2024-03-10T12:00:00.25Z");
  EXPECT_EQ(obs["valueQuantity"]["value"], 14);
  EXPECT_TRUE(obs["valueQuantity"]["value"].is_number_integer());
  EXPECT_EQ(obs["valueQuantity"]["unit"], "{score}");
  EXPECT_EQ(obs["valueQuantity"]["code"], "{score}");
  EXPECT_EQ(obs["valueQuantity"]["system"], "http://unitsofmeasure.org");
  EXPECT_EQ(obs["interpretation"][0]["text"], "moderate");
  EXPECT_EQ(obs["note"][0]["text"], "first session");
}

TEST(FhirObservation, Phq9ItemNineIsAComponentWithItsLoincAnswer) {
  const json obs = ToFhirObservation(Phq9Submission({1, 1, 1, 1, 1, 1, 1, 1, 2}),
                                     *clinical::FindBuiltIn("phq9"));
  ASSERT_EQ(obs["component"].size(), 9u);
  const json* item9 = ComponentWithCode(obs, "44260-8");
  ASSERT_NE(item9, nullptr);
  EXPECT_EQ((*item9)["code"]["coding"][0]["system"], "http://loinc.org");
  EXPECT_EQ((*item9)["valueCodeableConcept"]["coding"][0]["code"], "LA6570-1");
  EXPECT_EQ((*item9)["valueCodeableConcept"]["coding"][0]["display"], "More than half the days");
}

TEST(FhirObservation, Gad7TotalUses70274Dash6) {
  v1::Measurement m;
  m.set_patient("p42");
  m.set_metric("gad7");
  m.set_value(9);
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10));
  const json obs = ToFhirObservation(m, *clinical::FindBuiltIn("gad7"));
  EXPECT_EQ(obs["code"]["coding"][0]["code"], "70274-6");
  EXPECT_EQ(obs["category"][0]["coding"][0]["code"], "survey");
  EXPECT_FALSE(obs.contains("id"));  // not stored yet: no id
  EXPECT_FALSE(obs.contains("component"));
}

TEST(FhirObservation, OtherMetricsUseTheTrellisCodeSystem) {
  v1::Measurement m;
  m.set_patient("p42");
  m.set_metric("mood");
  m.set_value(7);
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10));
  const json obs = ToFhirObservation(m, *clinical::FindBuiltIn("mood"));
  EXPECT_EQ(obs["code"]["coding"][0]["system"], "urn:trellis:fhir:metric");
  EXPECT_EQ(obs["code"]["coding"][0]["code"], "mood");
  EXPECT_EQ(obs["valueQuantity"]["unit"], "{rating}");
  EXPECT_FALSE(obs.contains("interpretation"));
  EXPECT_FALSE(obs.contains("note"));
}

TEST(FhirObservation, CategoryFollowsTheMetricKind) {
  v1::Metric m;
  m.set_kind(v1::METRIC_KIND_DURATION_MINUTES);
  EXPECT_EQ(ObservationCategoryOf(m), "therapy");
  m.set_kind(v1::METRIC_KIND_YES_NO);
  EXPECT_EQ(ObservationCategoryOf(m), "therapy");
  m.set_kind(v1::METRIC_KIND_HOURS);
  EXPECT_EQ(ObservationCategoryOf(m), "activity");
  m.set_kind(v1::METRIC_KIND_COUNT_PER_PERIOD);
  EXPECT_EQ(ObservationCategoryOf(m), "survey");
}

TEST(FhirObservation, DecimalValuesStayDecimal) {
  v1::Metric hours;
  hours.set_id("sleep_hours");
  hours.set_display_name("Hours slept");
  hours.set_kind(v1::METRIC_KIND_HOURS);
  hours.set_unit("h");
  v1::Measurement m;
  m.set_patient("p42");
  m.set_metric("sleep_hours");
  m.set_value(7.5);
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10));
  const json obs = ToFhirObservation(m, hours);
  EXPECT_EQ(obs["valueQuantity"]["value"], 7.5);
  EXPECT_EQ(obs["valueQuantity"]["code"], "h");
  EXPECT_EQ(obs["category"][0]["coding"][0]["code"], "activity");
}

TEST(FhirObservation, AProratedTotalSaysSo) {
  clinical::InstrumentConfig config;
  config.proration_enabled = true;
  auto answers = Answers({2, 2, 2, 1, 1, 1, 1, 0, 0});
  answers.DeleteSubrange(7, 1);  // item 8 unanswered
  auto scored = ScoreQuestionnaire(*clinical::FindBuiltIn("phq9"), answers, config);
  ASSERT_TRUE(scored.ok()) << scored.status();
  v1::Measurement m;
  m.set_patient("p42");
  m.set_metric("phq9");
  m.set_value(scored->total());
  *m.mutable_questionnaire() = *scored;
  *m.mutable_observe_time() = ToProtoTimestamp(Day(2024, 3, 10));
  const json obs = ToFhirObservation(m, *clinical::FindBuiltIn("phq9"));
  EXPECT_EQ(obs["note"][0]["text"], "Total prorated from 8 of 9 scored items.");
  EXPECT_EQ(obs["component"].size(), 8u);
}

TEST(FhirBundle, IsACollectionOfTheObservationsInOrder) {
  std::vector<json> observations;
  observations.push_back(ToFhirObservation(Phq9Submission({0, 0, 0, 0, 0, 0, 0, 0, 0}),
                                           *clinical::FindBuiltIn("phq9")));
  observations.push_back(ToFhirObservation(Phq9Submission({1, 0, 0, 0, 0, 0, 0, 0, 0}),
                                           *clinical::FindBuiltIn("phq9")));
  const json bundle = ToFhirBundle(std::move(observations));
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  EXPECT_EQ(bundle["type"], "collection");
  ASSERT_EQ(bundle["entry"].size(), 2u);
  EXPECT_EQ(bundle["entry"][1]["resource"]["valueQuantity"]["value"], 1);
  EXPECT_EQ(ToFhirBundle({})["entry"].size(), 0u);
}

}  // namespace
}  // namespace trellis::measurements
