#pragma once

// Measurements as FHIR R4 Observation resources (ExportObservationsFhir), as JSON.
//
// Mapping (valid plain R4; checked with tests/fhir/validate.js):
//   id              the measurement id (last segment of its name)
//   identifier      system "urn:trellis:fhir:measurement", value = the measurement name
//   status          "final" (measurements are immutable once written)
//   category        observation-category: "survey" for questionnaires, ratings and counts
//                   (self-report instruments); "therapy" for minutes of practice and yes/no
//                   homework; "activity" for hours (sleep, activity trackers)
//   code            questionnaires: LOINC of the total (PHQ-9 44261-6, GAD-7 70274-6); others:
//                   system "urn:trellis:fhir:metric", code = metric id, display = its name.
//                   LOINC codings carry no display (LOINC's long names differ from ours and
//                   validators with a terminology server reject a wrong display); `text` has ours
//   subject         {"reference": "Patient/<patient>"}
//   effectiveDateTime  observe_time (UTC, "Z"); issued = create_time when set
//   valueQuantity   value, unit = code = the metric's UCUM unit ("{score}" for totals), system
//                   http://unitsofmeasure.org; whole numbers for integer metrics
//   interpretation  the severity band as text ("moderate"), when the metric has bands
//   component       one per answered questionnaire item: the item's LOINC code (PHQ-9 item 9 is
//                   44260-8) with the LOINC answer (LA6568-5...) as valueCodeableConcept. Items
//                   are components rather than hasMember Observations: they were answered
//                   together on one form and mean nothing apart from it, and a reader finds
//                   the safety item on the same resource as the total
//   note            the measurement's note; a prorated total says so in a second note
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

inline constexpr absl::string_view kFhirMetricSystem = "urn:trellis:fhir:metric";
inline constexpr absl::string_view kFhirMeasurementSystem = "urn:trellis:fhir:measurement";
inline constexpr absl::string_view kObservationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/observation-category";
inline constexpr absl::string_view kUcumSystem = "http://unitsofmeasure.org";

// The observation-category code for `metric` ("survey", "therapy" or "activity").
absl::string_view ObservationCategoryOf(const trellis::v1::Metric& metric);

// One Observation for a stored `measurement` of `metric` (the definition of measurement.metric).
nlohmann::json ToFhirObservation(const trellis::v1::Measurement& measurement,
                                 const trellis::v1::Metric& metric);

// A Bundle of type "collection" with one entry per resource, in order.
nlohmann::json ToFhirBundle(std::vector<nlohmann::json> resources);

}  // namespace trellis::measurements
