#include "services/measurements/domain/fhir_observation.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clinical/instruments.h"
#include "common/clinical/severity.h"
#include "services/measurements/domain/proto_time.h"

namespace trellis::measurements {
namespace {

using ::nlohmann::json;
using ::trellis::v1::Measurement;
using ::trellis::v1::Metric;

std::string FhirDateTime(const google::protobuf::Timestamp& timestamp) {
  // %E*S prints fractional seconds only when there are some, as FHIR's dateTime allows.
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", ToAbslTime(timestamp), absl::UTCTimeZone());
}

absl::string_view LastSegment(absl::string_view name) {
  const size_t slash = name.rfind('/');
  return slash == absl::string_view::npos ? name : name.substr(slash + 1);
}

json Coding(absl::string_view system, absl::string_view code) {
  return json{{"system", std::string(system)}, {"code", std::string(code)}};
}

json CategoryOf(const Metric& metric) {
  const absl::string_view code = ObservationCategoryOf(metric);
  json coding = Coding(kObservationCategorySystem, code);
  // The official displays of the observation-category codes used here.
  coding["display"] = code == "survey" ? "Survey" : code == "therapy" ? "Therapy" : "Activity";
  return json::array({json{{"coding", json::array({coding})}}});
}

json CodeOf(const Metric& metric) {
  if (metric.kind() == v1::METRIC_KIND_QUESTIONNAIRE && !metric.loinc_code().empty()) {
    return json{{"coding", json::array({Coding(clinical::kLoincSystem, metric.loinc_code())})},
                {"text", absl::StrCat(metric.display_name(), " total score")}};
  }
  json coding = Coding(kFhirMetricSystem, metric.id());
  coding["display"] = metric.display_name();
  return json{{"coding", json::array({coding})}, {"text", metric.display_name()}};
}

json QuantityOf(const Measurement& m, const Metric& metric) {
  json quantity;
  if (metric.integer_values()) {
    quantity["value"] = static_cast<int64_t>(std::llround(m.value()));
  } else {
    quantity["value"] = m.value();
  }
  quantity["unit"] = metric.unit();
  quantity["system"] = std::string(kUcumSystem);
  quantity["code"] = metric.unit();
  return quantity;
}

json ComponentsOf(const Measurement& m, const Metric& metric) {
  json components = json::array();
  for (const v1::ItemAnswer& answer : m.questionnaire().answers()) {
    const v1::QuestionnaireItem* item = clinical::FindItem(metric, answer.item());
    if (item == nullptr || item->loinc_code().empty()) continue;
    const v1::AnswerOption* option = nullptr;
    for (const auto& o : item->options()) {
      if (o.value() == answer.value()) option = &o;
    }
    json component;
    component["code"] =
        json{{"coding", json::array({Coding(clinical::kLoincSystem, item->loinc_code())})},
             {"text", item->text()}};
    if (option != nullptr && !option->loinc_answer_code().empty()) {
      json coding = Coding(clinical::kLoincSystem, option->loinc_answer_code());
      coding["display"] = option->text();  // LOINC's display of these answer codes, verbatim
      component["valueCodeableConcept"] =
          json{{"coding", json::array({coding})}, {"text", option->text()}};
    } else {
      component["valueInteger"] = answer.value();
    }
    components.push_back(std::move(component));
  }
  return components;
}

}  // namespace

absl::string_view ObservationCategoryOf(const Metric& metric) {
  switch (metric.kind()) {
    case v1::METRIC_KIND_DURATION_MINUTES:
    case v1::METRIC_KIND_YES_NO:
      return "therapy";
    case v1::METRIC_KIND_HOURS:
      return "activity";
    default:
      return "survey";
  }
}

json ToFhirObservation(const Measurement& m, const Metric& metric) {
  json obs;
  obs["resourceType"] = "Observation";
  if (!m.name().empty()) {
    obs["id"] = std::string(LastSegment(m.name()));
    obs["identifier"] =
        json::array({json{{"system", std::string(kFhirMeasurementSystem)}, {"value", m.name()}}});
  }
  obs["status"] = "final";
  obs["category"] = CategoryOf(metric);
  obs["code"] = CodeOf(metric);
  obs["subject"] = json{{"reference", absl::StrCat("Patient/", m.patient())}};
  obs["effectiveDateTime"] = FhirDateTime(m.observe_time());
  if (m.has_create_time()) obs["issued"] = FhirDateTime(m.create_time());
  if (std::isfinite(m.value())) {
    obs["valueQuantity"] = QuantityOf(m, metric);
  } else {
    obs["dataAbsentReason"] = json{
        {"coding", json::array({Coding("http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                       "error")})}};
  }
  const absl::string_view band = clinical::SeverityBandOf(metric, m.value());
  if (!band.empty()) obs["interpretation"] = json::array({json{{"text", std::string(band)}}});

  json notes = json::array();
  if (!m.note().empty()) notes.push_back(json{{"text", m.note()}});
  if (m.has_questionnaire()) {
    const v1::QuestionnaireResult& q = m.questionnaire();
    if (q.prorated()) {
      int scored = 0;
      for (const auto& item : metric.items()) scored += item.scored() ? 1 : 0;
      notes.push_back(json{{"text", absl::StrCat("Total prorated from ", q.answered_items(), " of ",
                                                 scored, " scored items.")}});
    }
    json components = ComponentsOf(m, metric);
    if (!components.empty()) obs["component"] = std::move(components);
  }
  if (!notes.empty()) obs["note"] = std::move(notes);
  return obs;
}

json ToFhirBundle(std::vector<json> resources) {
  json entries = json::array();
  for (json& resource : resources) entries.push_back(json{{"resource", std::move(resource)}});
  return json{{"resourceType", "Bundle"}, {"type", "collection"}, {"entry", std::move(entries)}};
}

}  // namespace trellis::measurements
