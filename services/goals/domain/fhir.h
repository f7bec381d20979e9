#pragma once

// FHIR R4 export of goals (ExportGoalsFhir): each goal or objective becomes a Goal resource, and
// a patient's goals one Bundle. The output must validate against the R4 specification; the unit
// tests run two independent validators over it (tests/fhir/validate.js).
//
// Mapping (goals.proto ExportGoalsFhir):
//   id                 the goal id (last segment of `name`)
//   meta               versionId = revision, lastUpdated = update_time (when set)
//   lifecycleStatus    goal-status code (UNSPECIFIED, which a stored goal never has, as proposed)
//   achievementStatus  CodeableConcept, system goal-achievement (omitted when UNSPECIFIED)
//   priority           CodeableConcept, system goal-priority (omitted when UNSPECIFIED)
//   category           CodeableConcept, system urn:trellis:fhir:goal-category, code and text
//   description        CodeableConcept; text = title, then a blank line and the description
//   subject            {"reference": "Patient/<patient>"}
//   startDate          start_date
//   target             one element when the goal has a metric or a due date:
//                      measure = the metric's code (LOINC 44261-6 for phq9, 70274-6 for gad7,
//                      else urn:trellis:fhir:metric); detailQuantity (with comparator <= for
//                      DECREASE, >= for INCREASE) or detailRange (REACH_RANGE) only together with
//                      measure (invariant gol-1); dueDate = due_date
//   statusDate         the calendar day of status_time in FhirExportOptions::time_zone
//   statusReason       status_reason
//   expressedBy        Patient/<patient> for CLIENT; a Practitioner reference by display only
//                      for CLINICIAN (goals store no clinician identity)
//   addresses          one Reference per concern, by display (the concern text, else the code's
//                      display, else "system|code"): Goal.addresses is Reference(Condition|...)
//                      and Trellis stores no Condition resources
//   note               baseline, client agreement, needs-review reason, next review date and the
//                      latest GAS rating, one Annotation each
//   extension          for each objective of a goal: goal-relationship with type "milestone"
//                      (http://hl7.org/fhir/goal-relationship-type) and target Goal/<objective>.
//                      FHIR defines milestone as "the target goal is an intermediate milestone
//                      step for the current goal", so the extension sits on the parent goal and
//                      points to each objective.
// Empty values and empty lists are omitted (FHIR JSON forbids empty arrays and strings). Objects
// keep FHIR's element order (resourceType first), hence nlohmann::ordered_json.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

inline constexpr absl::string_view kLoincSystem = "http://loinc.org";
inline constexpr absl::string_view kTrellisMetricSystem = "urn:trellis:fhir:metric";
inline constexpr absl::string_view kGoalRelationshipExtension =
    "http://hl7.org/fhir/StructureDefinition/goal-relationship";
inline constexpr absl::string_view kGoalRelationshipTypeSystem =
    "http://hl7.org/fhir/goal-relationship-type";

enum class FhirBundleType {
  // ExportGoalsFhir's bundle.
  kCollection,
  // For a FHIR search API in front of Trellis: adds total and entry.search.mode = "match".
  kSearchset,
};

struct FhirExportOptions {
  FhirBundleType bundle_type = FhirBundleType::kCollection;
  // Bundle.timestamp; omitted when InfinitePast.
  absl::Time timestamp = absl::InfinitePast();
  // The zone in which status_time becomes Goal.statusDate.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // When set (e.g. "https://fhir.example.org/r4"), each entry gets fullUrl "<base_url>/Goal/<id>".
  std::string base_url;
};

// The CodeableConcept for a metric id: LOINC for the instruments that have a total-score code,
// the Trellis metric system otherwise.
nlohmann::ordered_json MetricConcept(absl::string_view metric);

// One Goal resource. Objectives linked are those listed in goal.objectives().
nlohmann::ordered_json GoalToFhir(const trellis::v1::Goal& goal,
                                  const FhirExportOptions& options = {});

// A Bundle of every goal in `goals`, in the given order. A goal's objectives are those in its
// `objectives` list plus any goal of `goals` whose parent it is (deduplicated), so an export
// links objectives even when the caller built the goals without that output-only list.
nlohmann::ordered_json GoalsToFhirBundle(const std::vector<trellis::v1::Goal>& goals,
                                         const FhirExportOptions& options = {});

// GoalsToFhirBundle as compact JSON text (ExportGoalsFhirResponse.bundle_json). Invalid UTF-8,
// which validation keeps out of stored goals, would be replaced by U+FFFD rather than throw.
std::string GoalsToFhirBundleJson(const std::vector<trellis::v1::Goal>& goals,
                                  const FhirExportOptions& options = {});

}  // namespace trellis::goals
