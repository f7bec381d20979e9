#include "services/goals/domain/fhir.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "services/goals/domain/codes.h"
#include "services/goals/domain/dates.h"
#include "services/goals/domain/names.h"

namespace trellis::goals {
namespace {

using json = nlohmann::ordered_json;
using trellis::v1::Goal;
using trellis::v1::Measure;

constexpr absl::string_view kUcumSystem = "http://unitsofmeasure.org";

// Instruments whose total score has a LOINC code (shared/reference/measures.md).
struct LoincScore {
  absl::string_view metric;
  absl::string_view code;
  absl::string_view display;
};
constexpr LoincScore kLoincScores[] = {
    {"phq9", "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"},
    {"gad7", "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"},
};

const LoincScore* FindLoinc(absl::string_view metric) {
  for (const LoincScore& score : kLoincScores) {
    if (score.metric == metric) return &score;
  }
  return nullptr;
}

std::string S(absl::string_view v) { return std::string(v); }

json Concept(absl::string_view system, absl::string_view code, absl::string_view display) {
  json coding = {{"system", S(system)}, {"code", S(code)}};
  if (!display.empty()) coding["display"] = S(display);
  return json{{"coding", json::array({coding})}};
}

std::string Instant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string GoalId(const Goal& goal) {
  absl::StatusOr<GoalName> name = ParseGoalName("name", goal.name());
  return name.ok() ? name->goal : "";
}

// A quantity of the goal's metric: scores carry the UCUM unit {score}; other metrics no unit,
// since the catalogue's units are free text.
json Quantity(double value, absl::string_view metric, absl::string_view comparator = "") {
  json q = {{"value", value}};
  if (!comparator.empty()) q["comparator"] = S(comparator);
  if (FindLoinc(metric) != nullptr) {
    q["unit"] = "{score}";
    q["system"] = S(kUcumSystem);
    q["code"] = "{score}";
  }
  return q;
}

json Target(const Goal& goal) {
  const Measure& m = goal.measure();
  json target = json::object();
  if (!m.metric().empty()) {
    target["measure"] = MetricConcept(m.metric());
    // detail[x] only with measure (gol-1), so inside this branch.
    switch (m.direction()) {
      case trellis::v1::MEASURE_DIRECTION_DECREASE:
      case trellis::v1::MEASURE_DIRECTION_INCREASE:
        if (m.has_target()) {
          target["detailQuantity"] =
              Quantity(m.target(), m.metric(),
                       m.direction() == trellis::v1::MEASURE_DIRECTION_DECREASE ? "<=" : ">=");
        }
        break;
      case trellis::v1::MEASURE_DIRECTION_REACH_RANGE: {
        json range = json::object();
        if (m.has_target_low()) range["low"] = Quantity(m.target_low(), m.metric());
        if (m.has_target_high()) range["high"] = Quantity(m.target_high(), m.metric());
        if (!range.empty()) target["detailRange"] = std::move(range);
        break;
      }
      default:
        // Without a direction a bare target would read as "exactly", which is not what a draft
        // means; it is left out.
        break;
    }
  }
  if (IsSet(goal.due_date()) && IsValidDate(goal.due_date())) {
    target["dueDate"] = FormatDate(goal.due_date());
  }
  return target;
}

std::string ConcernDisplay(const trellis::v1::Concern& concern) {
  if (!concern.text().empty()) return concern.text();
  if (!concern.code().display().empty()) return concern.code().display();
  if (!concern.code().code().empty()) {
    return absl::StrCat(concern.code().system(), "|", concern.code().code());
  }
  return "";
}

std::string RatingText(int rating) {
  return rating > 0 ? absl::StrCat("+", rating) : absl::StrCat(rating);
}

json Notes(const Goal& goal) {
  json notes = json::array();
  auto add = [&notes](std::string text) { notes.push_back(json{{"text", std::move(text)}}); };
  const Measure& m = goal.measure();
  if (m.has_baseline()) {
    std::string text = absl::StrCat("Baseline ", m.metric().empty() ? "" : m.metric(),
                                    m.metric().empty() ? "" : " ", "value: ", m.baseline());
    if (m.has_baseline_time() && IsSet(m.baseline_time()) && IsValidTimestamp(m.baseline_time())) {
      absl::StrAppend(&text, " (observed ", Instant(ToTime(m.baseline_time())), ")");
    }
    add(std::move(text));
  } else if (m.baseline_from_first_measurement()) {
    add(absl::StrCat("Baseline: the first ", m.metric(),
                     " measurement on or after the start "
                     "date."));
  }
  switch (goal.agreement()) {
    case trellis::v1::GOAL_AGREEMENT_AGREED:
      add("Client agreement: agreed.");
      break;
    case trellis::v1::GOAL_AGREEMENT_NOT_AGREED:
      add("Client agreement: not agreed.");
      break;
    case trellis::v1::GOAL_AGREEMENT_PENDING:
      add("Client agreement: pending.");
      break;
    default:
      break;
  }
  if (goal.needs_review()) {
    add(goal.needs_review_reason().empty()
            ? std::string("Needs review.")
            : absl::StrCat("Needs review: ", goal.needs_review_reason()));
  }
  if (IsSet(goal.review_date()) && IsValidDate(goal.review_date())) {
    add(absl::StrCat("Next review: ", FormatDate(goal.review_date()), "."));
  }
  if (goal.has_latest_attainment() && IsValidDate(goal.latest_attainment().review_date())) {
    const trellis::v1::AttainmentRating& rating = goal.latest_attainment();
    std::string text = absl::StrCat("Goal Attainment Scaling rating ", RatingText(rating.rating()),
                                    " at the review of ", FormatDate(rating.review_date()));
    if (!rating.note().empty()) absl::StrAppend(&text, ": ", rating.note());
    add(std::move(text));
  }
  return notes;
}

json Milestone(const GoalName& objective) {
  const std::string reference = absl::StrCat("Goal/", objective.goal);
  json type = Concept(kGoalRelationshipTypeSystem, "milestone", "Milestone");
  return json{
      {"url", S(kGoalRelationshipExtension)},
      {"extension",
       json::array({json{{"url", "type"}, {"valueCodeableConcept", type}},
                    json{{"url", "target"}, {"valueReference", {{"reference", reference}}}}})}};
}

json GoalResource(const Goal& goal, const std::vector<std::string>& objectives,
                  const FhirExportOptions& options) {
  json r = {{"resourceType", "Goal"}};
  if (std::string id = GoalId(goal); !id.empty()) r["id"] = id;

  json meta = json::object();
  if (goal.revision() > 0) meta["versionId"] = absl::StrCat(goal.revision());
  if (goal.has_update_time() && IsSet(goal.update_time()) && IsValidTimestamp(goal.update_time())) {
    meta["lastUpdated"] = Instant(ToTime(goal.update_time()));
  }
  if (!meta.empty()) r["meta"] = std::move(meta);

  json extensions = json::array();
  for (const std::string& objective : objectives) {
    // Stored names are valid; anything else cannot be referenced and is left out.
    if (absl::StatusOr<GoalName> name = ParseGoalName("objective", objective); name.ok()) {
      extensions.push_back(Milestone(*name));
    }
  }
  if (!extensions.empty()) r["extension"] = std::move(extensions);

  absl::string_view status = LifecycleStatusCode(goal.lifecycle_status());
  r["lifecycleStatus"] = S(status.empty() ? "proposed" : status);
  if (absl::string_view code = AchievementStatusCode(goal.achievement_status()); !code.empty()) {
    json cc =
        Concept(kGoalAchievementSystem, code, AchievementStatusDisplay(goal.achievement_status()));
    r["achievementStatus"] = std::move(cc);
  }
  if (absl::string_view code = CategoryCode(goal.category()); !code.empty()) {
    json cc = Concept(kGoalCategorySystem, code, CategoryText(goal.category()));
    cc["text"] = S(CategoryText(goal.category()));
    r["category"] = json::array({std::move(cc)});
  }
  if (absl::string_view code = PriorityCode(goal.priority()); !code.empty()) {
    r["priority"] = Concept(kGoalPrioritySystem, code, PriorityDisplay(goal.priority()));
  }
  std::string text = goal.title();
  if (!goal.description().empty()) absl::StrAppend(&text, "\n\n", goal.description());
  r["description"] = {{"text", text.empty() ? std::string("(untitled goal)") : text}};
  r["subject"] = {{"reference", absl::StrCat("Patient/", goal.patient())}};
  if (IsSet(goal.start_date()) && IsValidDate(goal.start_date())) {
    r["startDate"] = FormatDate(goal.start_date());
  }
  if (json target = Target(goal); !target.empty()) r["target"] = json::array({target});
  if (goal.has_status_time() && IsSet(goal.status_time()) && IsValidTimestamp(goal.status_time())) {
    const absl::CivilDay day = absl::ToCivilDay(ToTime(goal.status_time()), options.time_zone);
    r["statusDate"] = FormatDate(ToLocalDate(day));
  }
  if (!goal.status_reason().empty()) r["statusReason"] = goal.status_reason();
  switch (goal.expressed_by()) {
    case trellis::v1::GOAL_EXPRESSED_BY_CLIENT:
      r["expressedBy"] = {{"reference", absl::StrCat("Patient/", goal.patient())}};
      break;
    case trellis::v1::GOAL_EXPRESSED_BY_CLINICIAN:
      r["expressedBy"] = {{"type", "Practitioner"}, {"display", "Clinician"}};
      break;
    default:
      break;
  }
  json addresses = json::array();
  for (const trellis::v1::Concern& concern : goal.addresses()) {
    if (std::string display = ConcernDisplay(concern); !display.empty()) {
      addresses.push_back({{"display", display}});
    }
  }
  if (!addresses.empty()) r["addresses"] = std::move(addresses);
  if (json notes = Notes(goal); !notes.empty()) r["note"] = std::move(notes);
  return r;
}

void AddUnique(std::vector<std::string>* list, const std::string& value) {
  if (std::find(list->begin(), list->end(), value) == list->end()) list->push_back(value);
}

}  // namespace

json MetricConcept(absl::string_view metric) {
  if (const LoincScore* loinc = FindLoinc(metric); loinc != nullptr) {
    json cc = Concept(kLoincSystem, loinc->code, loinc->display);
    cc["text"] = metric == "phq9" ? "PHQ-9 total score" : "GAD-7 total score";
    return cc;
  }
  json cc = Concept(kTrellisMetricSystem, metric, "");
  cc["text"] = S(metric);
  return cc;
}

json GoalToFhir(const Goal& goal, const FhirExportOptions& options) {
  std::vector<std::string> objectives(goal.objectives().begin(), goal.objectives().end());
  return GoalResource(goal, objectives, options);
}

json GoalsToFhirBundle(const std::vector<Goal>& goals, const FhirExportOptions& options) {
  std::map<std::string, std::vector<std::string>> objectives_of;
  for (const Goal& goal : goals) {
    for (const std::string& objective : goal.objectives()) {
      AddUnique(&objectives_of[goal.name()], objective);
    }
  }
  for (const Goal& goal : goals) {
    if (!goal.parent().empty()) AddUnique(&objectives_of[goal.parent()], goal.name());
  }

  const bool searchset = options.bundle_type == FhirBundleType::kSearchset;
  json bundle = {{"resourceType", "Bundle"}, {"type", searchset ? "searchset" : "collection"}};
  if (options.timestamp != absl::InfinitePast()) bundle["timestamp"] = Instant(options.timestamp);
  if (searchset) bundle["total"] = goals.size();
  json entries = json::array();
  for (const Goal& goal : goals) {
    json entry = json::object();
    json resource = GoalResource(goal, objectives_of[goal.name()], options);
    if (!options.base_url.empty() && resource.contains("id")) {
      entry["fullUrl"] = absl::StrCat(absl::StripSuffix(options.base_url, "/"), "/Goal/",
                                      resource["id"].get<std::string>());
    }
    entry["resource"] = std::move(resource);
    if (searchset) entry["search"] = {{"mode", "match"}};
    entries.push_back(std::move(entry));
  }
  if (!entries.empty()) bundle["entry"] = std::move(entries);
  return bundle;
}

std::string GoalsToFhirBundleJson(const std::vector<Goal>& goals,
                                  const FhirExportOptions& options) {
  return GoalsToFhirBundle(goals, options).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace trellis::goals
