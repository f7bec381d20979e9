#include "services/goals/domain/fhir.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/goals/goal_fixtures.h"

namespace trellis::goals {
namespace {

using ::testing::ElementsAre;
using json = nlohmann::ordered_json;
using testing::ExportScenario;
using trellis::v1::Goal;

// The resource of entry `i` of the scenario bundle (g1, o1, o2, g2, g3).
json Entry(const json& bundle, size_t i) { return bundle.at("entry").at(i).at("resource"); }

json ScenarioBundle(const FhirExportOptions& options = {}) {
  return json::parse(GoalsToFhirBundleJson(ExportScenario(), options));
}

json Coding(const json& concept_json) { return concept_json.at("coding").at(0); }

TEST(FhirExport, BuildsACollectionBundleWithOneGoalPerEntry) {
  json bundle = ScenarioBundle();
  EXPECT_EQ(bundle["resourceType"], "Bundle");
  EXPECT_EQ(bundle["type"], "collection");
  EXPECT_FALSE(bundle.contains("total"));
  ASSERT_EQ(bundle["entry"].size(), 5u);
  std::vector<std::string> ids;
  for (const json& entry : bundle["entry"]) {
    EXPECT_EQ(entry["resource"]["resourceType"], "Goal");
    EXPECT_FALSE(entry.contains("fullUrl"));
    ids.push_back(entry["resource"]["id"].get<std::string>());
  }
  EXPECT_THAT(ids, ElementsAre("g1", "o1", "o2", "g2", "g3"));
}

TEST(FhirExport, MapsIdentitySubjectAndStatuses) {
  json g1 = Entry(ScenarioBundle(), 0);
  EXPECT_EQ(g1["id"], "g1");
  EXPECT_EQ(g1["meta"]["versionId"], "4");
  EXPECT_EQ(g1["meta"]["lastUpdated"], "2024-03-20T09:00:00.000Z");
  EXPECT_EQ(g1["subject"]["reference"], "Patient/p42");
  EXPECT_EQ(g1["lifecycleStatus"], "active");
  EXPECT_EQ(Coding(g1["achievementStatus"])["system"],
            "http://terminology.hl7.org/CodeSystem/goal-achievement");
  EXPECT_EQ(Coding(g1["achievementStatus"])["code"], "improving");
  EXPECT_EQ(Coding(g1["priority"])["system"],
            "http://terminology.hl7.org/CodeSystem/goal-priority");
  EXPECT_EQ(Coding(g1["priority"])["code"], "high-priority");
  EXPECT_EQ(g1["statusReason"], "Agreed in session 2");
  EXPECT_EQ(g1["statusDate"], "2024-03-01");
  EXPECT_EQ(g1["startDate"], "2024-03-01");
}

TEST(FhirExport, MapsEveryLifecycleStatusToItsFhirCode) {
  const std::vector<std::pair<trellis::v1::GoalLifecycleStatus, std::string>> cases = {
      {trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED, "proposed"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED, "planned"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED, "accepted"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE, "active"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD, "on-hold"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_COMPLETED, "completed"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED, "cancelled"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR, "entered-in-error"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED, "rejected"},
      {trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED, "proposed"}};
  Goal goal = testing::SmartGoal();
  for (const auto& [status, code] : cases) {
    goal.set_lifecycle_status(status);
    EXPECT_EQ(GoalToFhir(goal)["lifecycleStatus"], code);
  }
}

TEST(FhirExport, TakesTheStatusDateInTheConfiguredZone) {
  FhirExportOptions options;
  options.time_zone = absl::FixedTimeZone(2 * 3600);  // 23:00 UTC is the next day at UTC+2
  EXPECT_EQ(Entry(ScenarioBundle(options), 0)["statusDate"], "2024-03-02");
}

TEST(FhirExport, MapsCategoryWithTheTrellisCodeSystem) {
  json category = Entry(ScenarioBundle(), 0)["category"];
  ASSERT_EQ(category.size(), 1u);
  EXPECT_EQ(Coding(category[0])["system"], "urn:trellis:fhir:goal-category");
  EXPECT_EQ(Coding(category[0])["code"], "symptom-management");
  EXPECT_EQ(category[0]["text"], "symptom management");
  EXPECT_EQ(Coding(Entry(ScenarioBundle(), 2)["category"][0])["code"], "behavioural-change");
}

TEST(FhirExport, PutsTitleAndDescriptionIntoTheDescriptionText) {
  json bundle = ScenarioBundle();
  EXPECT_EQ(Entry(bundle, 3)["description"]["text"],
            "Bring PHQ-9 below 10 by June\n\nBehavioural activation: two planned activities a "
            "week.");
  EXPECT_EQ(Entry(bundle, 4)["description"]["text"], "Feel less anxious");
}

TEST(FhirExport, CodesPhq9AndGad7TargetsWithLoinc) {
  json bundle = ScenarioBundle();
  json gad7 = Entry(bundle, 0)["target"][0];
  EXPECT_EQ(Coding(gad7["measure"])["system"], "http://loinc.org");
  EXPECT_EQ(Coding(gad7["measure"])["code"], "70274-6");
  EXPECT_EQ(gad7["detailQuantity"]["value"], 7.0);
  EXPECT_EQ(gad7["detailQuantity"]["comparator"], "<=");
  EXPECT_EQ(gad7["detailQuantity"]["code"], "{score}");
  EXPECT_EQ(gad7["detailQuantity"]["system"], "http://unitsofmeasure.org");
  EXPECT_EQ(gad7["dueDate"], "2024-05-24");

  json phq9 = Entry(bundle, 3)["target"][0];
  EXPECT_EQ(Coding(phq9["measure"])["code"], "44261-6");
  EXPECT_EQ(phq9["detailQuantity"]["value"], 9.0);
}

TEST(FhirExport, CodesOtherMetricsWithTheTrellisSystem) {
  json bundle = ScenarioBundle();
  json panic = Entry(bundle, 1)["target"][0];
  EXPECT_EQ(Coding(panic["measure"])["system"], "urn:trellis:fhir:metric");
  EXPECT_EQ(Coding(panic["measure"])["code"], "panic_attacks_per_week");
  EXPECT_FALSE(panic["detailQuantity"].contains("unit"));

  Goal goal = testing::SmartGoal();
  goal.mutable_measure()->set_direction(trellis::v1::MEASURE_DIRECTION_INCREASE);
  goal.mutable_measure()->set_metric("minutes_practised");
  goal.mutable_measure()->set_target(90);
  EXPECT_EQ(GoalToFhir(goal)["target"][0]["detailQuantity"]["comparator"], ">=");
}

TEST(FhirExport, WritesARangeTargetAsDetailRange) {
  json sleep = Entry(ScenarioBundle(), 2)["target"][0];
  EXPECT_EQ(sleep["detailRange"]["low"]["value"], 7.0);
  EXPECT_EQ(sleep["detailRange"]["high"]["value"], 9.0);
  EXPECT_FALSE(sleep.contains("detailQuantity"));
  EXPECT_EQ(sleep["dueDate"], "2024-05-03");
}

TEST(FhirExport, NeverWritesATargetDetailWithoutAMeasure) {
  // g3 has a target value but no metric yet: gol-1 forbids detail without measure.
  json draft = Entry(ScenarioBundle(), 4);
  ASSERT_EQ(draft["target"].size(), 1u);
  EXPECT_FALSE(draft["target"][0].contains("measure"));
  EXPECT_FALSE(draft["target"][0].contains("detailQuantity"));
  EXPECT_EQ(draft["target"][0]["dueDate"], "2024-06-28");

  Goal bare = testing::SmartGoal();
  bare.clear_measure();
  bare.clear_due_date();
  EXPECT_FALSE(GoalToFhir(bare).contains("target"));
}

TEST(FhirExport, LinksObjectivesAsMilestonesOfTheirGoal) {
  json g1 = Entry(ScenarioBundle(), 0);
  ASSERT_EQ(g1["extension"].size(), 2u);
  std::vector<std::string> targets;
  for (const json& extension : g1["extension"]) {
    EXPECT_EQ(extension["url"], "http://hl7.org/fhir/StructureDefinition/goal-relationship");
    EXPECT_EQ(extension["extension"][0]["url"], "type");
    json type = Coding(extension["extension"][0]["valueCodeableConcept"]);
    EXPECT_EQ(type["system"], "http://hl7.org/fhir/goal-relationship-type");
    EXPECT_EQ(type["code"], "milestone");
    EXPECT_EQ(extension["extension"][1]["url"], "target");
    targets.push_back(extension["extension"][1]["valueReference"]["reference"].get<std::string>());
  }
  EXPECT_THAT(targets, ElementsAre("Goal/o1", "Goal/o2"));
  EXPECT_FALSE(Entry(ScenarioBundle(), 1).contains("extension"));
}

TEST(FhirExport, LinksObjectivesFoundInTheExportEvenWithoutTheParentsList) {
  std::vector<Goal> goals = ExportScenario();
  goals[0].clear_objectives();
  json g1 = GoalsToFhirBundle(goals)["entry"][0]["resource"];
  EXPECT_EQ(g1["extension"].size(), 2u);
}

TEST(FhirExport, MapsExpressedByAddressesAndNotes) {
  json bundle = ScenarioBundle();
  json g1 = Entry(bundle, 0);
  EXPECT_EQ(g1["expressedBy"]["type"], "Practitioner");
  EXPECT_EQ(Entry(bundle, 1)["expressedBy"]["reference"], "Patient/p42");
  ASSERT_EQ(g1["addresses"].size(), 2u);
  EXPECT_EQ(g1["addresses"][0]["display"], "panic attacks on the commute");
  EXPECT_EQ(g1["addresses"][1]["display"], "Panic disorder");
  std::vector<std::string> notes;
  for (const json& note : g1["note"]) notes.push_back(note["text"].get<std::string>());
  EXPECT_THAT(notes, ElementsAre("Baseline gad7 value: 15 (observed 2024-02-27T09:00:00.000Z)",
                                 "Client agreement: agreed.", "Next review: 2024-04-05.",
                                 "Goal Attainment Scaling rating +1 at the review of 2024-03-15: "
                                 "Better than expected on the commute"));
  json o2_notes = Entry(bundle, 2)["note"];
  EXPECT_EQ(o2_notes[0]["text"],
            "Baseline: the first sleep_hours measurement on or after the start date.");
  EXPECT_EQ(o2_notes[2]["text"], "Needs review: no reliable improvement in 6 weeks");
}

TEST(FhirExport, OmitsEmptyValues) {
  Goal goal;
  goal.set_name("patients/p42/goals/g9");
  goal.set_patient("p42");
  goal.set_title("Walk 20 minutes on 3 days a week");
  json r = GoalToFhir(goal);
  for (const char* key :
       {"achievementStatus", "priority", "category", "target", "note", "addresses", "extension",
        "statusDate", "statusReason", "expressedBy", "startDate", "meta"}) {
    EXPECT_FALSE(r.contains(key)) << key;
  }
}

TEST(FhirExport, AnEmptyExportHasNoEntries) {
  json bundle = GoalsToFhirBundle({});
  EXPECT_EQ(bundle["type"], "collection");
  EXPECT_FALSE(bundle.contains("entry"));
}

TEST(FhirExport, BuildsASearchsetWithTotalsFullUrlsAndTimestamp) {
  FhirExportOptions options;
  options.bundle_type = FhirBundleType::kSearchset;
  options.base_url = "https://fhir.example.org/r4/";
  options.timestamp = testing::Now();
  json bundle = ScenarioBundle(options);
  EXPECT_EQ(bundle["type"], "searchset");
  EXPECT_EQ(bundle["total"], 5);
  EXPECT_EQ(bundle["timestamp"], "2024-03-01T12:00:00.000Z");
  EXPECT_EQ(bundle["entry"][0]["fullUrl"], "https://fhir.example.org/r4/Goal/g1");
  EXPECT_EQ(bundle["entry"][0]["search"]["mode"], "match");
}

TEST(FhirExport, ReplacesInvalidUtf8InsteadOfThrowing) {
  Goal goal = testing::SmartGoal();
  goal.set_title("bad \xc3");
  EXPECT_NO_THROW(GoalsToFhirBundleJson({goal}));
}

}  // namespace
}  // namespace trellis::goals
