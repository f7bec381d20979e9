#include "services/goals/domain/validation.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/ids/ids.h"
#include "services/goals/domain/dates.h"

namespace trellis::goals {
namespace {

using trellis::v1::Goal;
using trellis::v1::GoalLifecycleStatus;
using trellis::v1::Measure;

// What characters a free-text field may hold, beyond being valid UTF-8.
enum class TextKind {
  // One line: no C0 control characters and no DEL.
  kLine,
  // Prose: tab, line feed and carriage return are allowed; other control characters are not.
  kProse,
  // Opaque tokens (etags, page tokens): anything that is valid UTF-8.
  kOpaque,
};

bool HasForbiddenControl(absl::string_view text, TextKind kind) {
  if (kind == TextKind::kOpaque) return false;
  for (unsigned char c : text) {
    if (c == 0x7f) return true;
    if (c >= 0x20) continue;
    if (kind == TextKind::kProse && (c == '\t' || c == '\n' || c == '\r')) continue;
    return true;
  }
  return false;
}

// Adds at most one violation for `text`: the first problem found, in the order a person fixes
// them (missing, encoding, length, characters).
void CheckText(FieldViolations* violations, absl::string_view field, absl::string_view text,
               size_t max_length, bool required, TextKind kind) {
  if (required && absl::StripAsciiWhitespace(text).empty()) {
    violations->Add(field, "is required");
    return;
  }
  if (!IsValidUtf8(text)) {
    violations->Add(field, "must be valid UTF-8");
    return;
  }
  if (size_t length = CodePointCount(text); length > max_length) {
    violations->Add(field,
                    absl::StrCat("must be at most ", max_length, " characters (has ", length, ")"));
    return;
  }
  if (HasForbiddenControl(text, kind)) {
    violations->Add(field, kind == TextKind::kLine
                               ? "must not contain control characters or line breaks"
                               : "must not contain control characters other than tab and line "
                                 "breaks");
  }
}

void CheckId(FieldViolations* violations, absl::string_view field, absl::string_view value,
             bool required) {
  if (value.empty() && !required) return;
  violations->Merge(ValidateId(field, value));
}

void CheckFinite(FieldViolations* violations, absl::string_view field, bool has, double value) {
  if (has && !std::isfinite(value)) violations->Add(field, "must be a finite number");
}

template <typename IsValidFn>
void CheckEnum(FieldViolations* violations, absl::string_view field, int value, IsValidFn is_valid,
               bool required) {
  if (!is_valid(value)) {
    violations->Add(field, absl::StrCat("unknown value ", value));
  } else if (required && value == 0) {
    violations->Add(field, "is required");
  }
}

void CheckMeasureField(const Measure& measure, absl::string_view field,
                       FieldViolations* violations) {
  const std::string path = absl::StrCat("goal.measure.", field);
  if (field == "metric") {
    CheckId(violations, path, measure.metric(), /*required=*/false);
  } else if (field == "direction") {
    CheckEnum(violations, path, measure.direction(), trellis::v1::MeasureDirection_IsValid,
              /*required=*/false);
  } else if (field == "baseline") {
    CheckFinite(violations, path, measure.has_baseline(), measure.baseline());
  } else if (field == "baseline_time") {
    if (measure.has_baseline_time() && !IsValidTimestamp(measure.baseline_time())) {
      violations->Add(path, "must be a valid timestamp");
    }
  } else if (field == "target") {
    CheckFinite(violations, path, measure.has_target(), measure.target());
  } else if (field == "target_low") {
    CheckFinite(violations, path, measure.has_target_low(), measure.target_low());
  } else if (field == "target_high") {
    CheckFinite(violations, path, measure.has_target_high(), measure.target_high());
  }
  // baseline_from_first_measurement: any bool is valid.
}

void CheckConcerns(const Goal& goal, FieldViolations* violations) {
  if (static_cast<size_t>(goal.addresses_size()) > kMaxConcerns) {
    violations->Add("goal.addresses", absl::StrCat("must have at most ", kMaxConcerns,
                                                   " entries (has ", goal.addresses_size(), ")"));
    return;
  }
  for (int i = 0; i < goal.addresses_size(); ++i) {
    const trellis::v1::Concern& concern = goal.addresses(i);
    const std::string prefix = absl::StrCat("goal.addresses[", i, "]");
    const bool has_code =
        concern.has_code() && (!concern.code().code().empty() || !concern.code().system().empty() ||
                               !concern.code().display().empty());
    if (absl::StripAsciiWhitespace(concern.text()).empty() && !has_code) {
      violations->Add(prefix, "needs a text or a code");
      continue;
    }
    CheckText(violations, absl::StrCat(prefix, ".text"), concern.text(), kMaxConcernTextLength,
              /*required=*/false, TextKind::kProse);
    if (has_code) {
      const trellis::v1::Coding& code = concern.code();
      CheckText(violations, absl::StrCat(prefix, ".code.code"), code.code(), kMaxCodingCodeLength,
                /*required=*/true, TextKind::kLine);
      CheckText(violations, absl::StrCat(prefix, ".code.system"), code.system(),
                kMaxCodingSystemLength, /*required=*/true, TextKind::kLine);
      CheckText(violations, absl::StrCat(prefix, ".code.display"), code.display(),
                kMaxCodingDisplayLength, /*required=*/false, TextKind::kLine);
    }
  }
}

void CheckTopLevelField(const Goal& goal, absl::string_view field, FieldViolations* violations) {
  const std::string path = absl::StrCat("goal.", field);
  if (field == "title") {
    CheckText(violations, path, goal.title(), kMaxTitleLength, /*required=*/true, TextKind::kLine);
  } else if (field == "description") {
    CheckText(violations, path, goal.description(), kMaxDescriptionLength, /*required=*/false,
              TextKind::kProse);
  } else if (field == "category") {
    CheckEnum(violations, path, goal.category(), trellis::v1::GoalCategory_IsValid, false);
  } else if (field == "priority") {
    CheckEnum(violations, path, goal.priority(), trellis::v1::GoalPriority_IsValid, false);
  } else if (field == "achievement_status") {
    CheckEnum(violations, path, goal.achievement_status(),
              trellis::v1::GoalAchievementStatus_IsValid, false);
  } else if (field == "measure") {
    for (const std::string& sub : MeasureFields()) {
      CheckMeasureField(goal.measure(), sub, violations);
    }
  } else if (field == "start_date") {
    violations->Merge(ValidateOptionalDate(path, goal.start_date()));
  } else if (field == "due_date") {
    violations->Merge(ValidateOptionalDate(path, goal.due_date()));
  } else if (field == "review_date") {
    violations->Merge(ValidateOptionalDate(path, goal.review_date()));
  } else if (field == "addresses") {
    CheckConcerns(goal, violations);
  } else if (field == "expressed_by") {
    CheckEnum(violations, path, goal.expressed_by(), trellis::v1::GoalExpressedBy_IsValid, false);
  } else if (field == "agreement") {
    CheckEnum(violations, path, goal.agreement(), trellis::v1::GoalAgreement_IsValid, false);
  }
  // needs_review: any bool is valid.
}

bool IsInitialStatus(int status) {
  switch (status) {
    case trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED:
    case trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED:
    case trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED:
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED:
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE:
      return true;
    default:
      return false;
  }
}

enum class GoalMode { kCreate, kDraft };

void CheckGoal(const Goal& goal, GoalMode mode, FieldViolations* violations) {
  const bool create = mode == GoalMode::kCreate;
  CheckId(violations, "goal.patient", goal.patient(), /*required=*/create);
  if (create) {
    CheckGoalFieldValues(goal, WritableGoalFields(), violations);
  } else {
    // A draft may lack a title; everything else is checked as on create.
    if (!goal.title().empty()) {
      CheckText(violations, "goal.title", goal.title(), kMaxTitleLength, false, TextKind::kLine);
    }
    for (const std::string& field : WritableGoalFields()) {
      if (field != "title") CheckTopLevelField(goal, field, violations);
    }
  }
  CheckMeasureConsistency(goal.measure(), violations);

  if (create) {
    if (!trellis::v1::GoalLifecycleStatus_IsValid(goal.lifecycle_status())) {
      violations->Add("goal.lifecycle_status",
                      absl::StrCat("unknown value ", goal.lifecycle_status()));
    } else if (!IsInitialStatus(goal.lifecycle_status())) {
      violations->Add("goal.lifecycle_status",
                      "a goal is created as proposed, planned, accepted or active");
    }
  }

  if (!goal.parent().empty()) {
    absl::StatusOr<GoalName> parent = ParseGoalName("goal.parent", goal.parent());
    if (!parent.ok()) {
      violations->Merge(parent.status());
    } else if (create && parent->patient != goal.patient()) {
      violations->Add("goal.parent", "must name a goal of the same patient");
    }
  }
}

void CheckStatusList(const google::protobuf::RepeatedField<int>& statuses, absl::string_view field,
                     FieldViolations* violations) {
  for (int i = 0; i < statuses.size(); ++i) {
    CheckEnum(violations, absl::StrCat(field, "[", i, "]"), statuses.Get(i),
              trellis::v1::GoalLifecycleStatus_IsValid, /*required=*/true);
  }
}

void CheckPageToken(absl::string_view token, FieldViolations* violations) {
  CheckText(violations, "page_token", token, kMaxPageTokenLength, false, TextKind::kOpaque);
}

void CheckEtag(absl::string_view etag, FieldViolations* violations) {
  CheckText(violations, "etag", etag, kMaxEtagLength, /*required=*/true, TextKind::kOpaque);
}

// Parses `name` into `*out`, adding its violation otherwise.
void CheckName(absl::string_view field, absl::string_view name, GoalName* out,
               FieldViolations* violations) {
  absl::StatusOr<GoalName> parsed = ParseGoalName(field, name);
  if (parsed.ok()) {
    *out = *std::move(parsed);
  } else {
    violations->Merge(parsed.status());
  }
}

void CheckWeight(absl::string_view field, double weight, FieldViolations* violations) {
  if (!std::isfinite(weight) || weight <= 0 || weight > kMaxAttainmentWeight) {
    violations->Add(field, absl::StrCat("must be a number in (0, ", kMaxAttainmentWeight, "]"));
  }
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += extra + 1;
  }
  return true;
}

size_t CodePointCount(absl::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
}

const std::vector<std::string>& WritableGoalFields() {
  static const auto* const kFields = new std::vector<std::string>{
      "title",     "description", "category",    "priority",  "achievement_status",
      "measure",   "start_date",  "due_date",    "addresses", "expressed_by",
      "agreement", "review_date", "needs_review"};
  return *kFields;
}

const std::vector<std::string>& MeasureFields() {
  static const auto* const kFields = new std::vector<std::string>{
      "metric", "direction",  "baseline",   "baseline_time", "baseline_from_first_measurement",
      "target", "target_low", "target_high"};
  return *kFields;
}

void CheckGoalFieldValues(const Goal& goal, absl::Span<const std::string> paths,
                          FieldViolations* violations) {
  for (const std::string& path : paths) {
    if (absl::string_view sub = path; absl::ConsumePrefix(&sub, "measure.")) {
      CheckMeasureField(goal.measure(), sub, violations);
    } else {
      CheckTopLevelField(goal, path, violations);
    }
  }
}

void CheckMeasureConsistency(const Measure& measure, FieldViolations* violations) {
  const bool has_range = measure.has_target_low() || measure.has_target_high();
  switch (measure.direction()) {
    case trellis::v1::MEASURE_DIRECTION_DECREASE:
    case trellis::v1::MEASURE_DIRECTION_INCREASE:
      if (measure.has_target_low()) {
        violations->Add("goal.measure.target_low", "is only for direction REACH_RANGE; use target");
      }
      if (measure.has_target_high()) {
        violations->Add("goal.measure.target_high",
                        "is only for direction REACH_RANGE; use target");
      }
      break;
    case trellis::v1::MEASURE_DIRECTION_REACH_RANGE:
      if (measure.has_target()) {
        violations->Add("goal.measure.target",
                        "must be unset for direction REACH_RANGE; use target_low and target_high");
      }
      break;
    default:
      // No direction yet (a draft): either shape is fine, both at once is ambiguous.
      if (measure.has_target() && has_range) {
        violations->Add("goal.measure.target",
                        "set either target (DECREASE/INCREASE) or target_low and target_high "
                        "(REACH_RANGE), not both");
      }
      break;
  }
  if (measure.has_target_low() && measure.has_target_high() &&
      std::isfinite(measure.target_low()) && std::isfinite(measure.target_high()) &&
      measure.target_low() > measure.target_high()) {
    violations->Add("goal.measure.target_low", "must not be greater than target_high");
  }
}

absl::Status ValidateGoalForCreate(const Goal& goal) {
  FieldViolations violations;
  CheckGoal(goal, GoalMode::kCreate, &violations);
  return violations.ToStatus();
}

absl::Status ValidateGoalDraft(const Goal& goal) {
  FieldViolations violations;
  CheckGoal(goal, GoalMode::kDraft, &violations);
  return violations.ToStatus();
}

Goal NewGoalFromRequest(const Goal& requested) {
  Goal goal = requested;
  goal.clear_name();
  goal.clear_objectives();
  goal.clear_needs_review_reason();
  goal.clear_status_reason();
  goal.clear_status_time();
  goal.clear_achievement_status_time();
  goal.clear_latest_attainment();
  goal.clear_revision();
  goal.clear_etag();
  goal.clear_create_time();
  goal.clear_update_time();
  if (goal.lifecycle_status() == trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED) {
    goal.set_lifecycle_status(trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  }
  return goal;
}

absl::Status ValidateCreateGoalRequest(const trellis::v1::CreateGoalRequest& request) {
  FieldViolations violations;
  CheckGoal(request.goal(), GoalMode::kCreate, &violations);
  CheckId(&violations, "request_id", request.request_id(), /*required=*/false);
  return violations.ToStatus();
}

absl::Status ValidateEvaluateSmartRequest(const trellis::v1::EvaluateSmartRequest& request) {
  return ValidateGoalDraft(request.goal());
}

absl::StatusOr<GoalName> ValidateGetGoalRequest(const trellis::v1::GetGoalRequest& request) {
  return ParseGoalName("name", request.name());
}

absl::StatusOr<GoalName> ValidateTransitionGoalRequest(
    const trellis::v1::TransitionGoalRequest& request) {
  FieldViolations violations;
  GoalName name;
  CheckName("name", request.name(), &name, &violations);
  CheckEnum(&violations, "lifecycle_status", request.lifecycle_status(),
            trellis::v1::GoalLifecycleStatus_IsValid, /*required=*/true);
  CheckText(&violations, "reason", request.reason(), kMaxReasonLength, /*required=*/true,
            TextKind::kProse);
  CheckEtag(request.etag(), &violations);
  CheckEnum(&violations, "open_objectives", request.open_objectives(),
            trellis::v1::OpenObjectivesAction_IsValid, /*required=*/false);
  CheckId(&violations, "request_id", request.request_id(), /*required=*/false);
  if (!violations.empty()) return violations.ToStatus();
  return name;
}

absl::StatusOr<int32_t> NormalizePageSize(absl::string_view field, int32_t page_size) {
  if (page_size < 0) return InvalidField(field, "must not be negative");
  if (page_size == 0) return kDefaultPageSize;
  return std::min(page_size, kMaxPageSize);
}

std::vector<GoalLifecycleStatus> EffectiveStatusFilter(
    const google::protobuf::RepeatedField<int>& requested) {
  std::set<int> chosen(requested.begin(), requested.end());
  if (chosen.empty()) {
    for (int s = trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED;
         s <= trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED; ++s) {
      if (s != trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR) chosen.insert(s);
    }
  }
  std::vector<GoalLifecycleStatus> out;
  out.reserve(chosen.size());
  for (int s : chosen) out.push_back(static_cast<GoalLifecycleStatus>(s));
  return out;
}

bool ListGoalsQuery::Matches(const Goal& goal) const {
  if (parent.has_value() && goal.parent() != parent->ToString()) return false;
  if (top_level_only && !goal.parent().empty()) return false;
  if (std::find(statuses.begin(), statuses.end(), goal.lifecycle_status()) == statuses.end()) {
    return false;
  }
  if (category != trellis::v1::GOAL_CATEGORY_UNSPECIFIED && goal.category() != category) {
    return false;
  }
  if (needs_review.has_value() && goal.needs_review() != *needs_review) return false;
  return true;
}

std::string ListGoalsQuery::FilterFingerprint() const {
  std::vector<int> status_values(statuses.begin(), statuses.end());
  return absl::StrCat("patient=", patient, ";parent=", parent ? parent->ToString() : "",
                      ";top=", top_level_only ? 1 : 0,
                      ";status=", absl::StrJoin(status_values, ","),
                      ";category=", static_cast<int>(category),
                      ";review=", needs_review.has_value() ? (*needs_review ? "1" : "0") : "any");
}

absl::StatusOr<ListGoalsQuery> ValidateListGoalsRequest(
    const trellis::v1::ListGoalsRequest& request) {
  FieldViolations violations;
  ListGoalsQuery query;
  CheckId(&violations, "patient", request.patient(), /*required=*/true);
  query.patient = request.patient();
  if (!request.parent().empty()) {
    GoalName parent;
    FieldViolations parent_violations;
    CheckName("parent", request.parent(), &parent, &parent_violations);
    if (parent_violations.empty() && parent.patient != request.patient()) {
      parent_violations.Add("parent", "must name a goal of the same patient");
    }
    if (parent_violations.empty()) query.parent = parent;
    violations.Merge(parent_violations.ToStatus());
    if (request.top_level_only()) {
      violations.Add("top_level_only", "cannot be combined with parent");
    }
  }
  query.top_level_only = request.top_level_only();
  CheckStatusList(request.lifecycle_statuses(), "lifecycle_statuses", &violations);
  CheckEnum(&violations, "category", request.category(), trellis::v1::GoalCategory_IsValid,
            /*required=*/false);
  query.category = static_cast<trellis::v1::GoalCategory>(request.category());
  if (request.has_needs_review()) query.needs_review = request.needs_review();
  absl::StatusOr<int32_t> page_size = NormalizePageSize("page_size", request.page_size());
  if (page_size.ok()) {
    query.page_size = *page_size;
  } else {
    violations.Merge(page_size.status());
  }
  CheckPageToken(request.page_token(), &violations);
  query.page_token = request.page_token();
  if (!violations.empty()) return violations.ToStatus();
  query.statuses = EffectiveStatusFilter(request.lifecycle_statuses());
  return query;
}

absl::StatusOr<ListRevisionsQuery> ValidateListGoalRevisionsRequest(
    const trellis::v1::ListGoalRevisionsRequest& request) {
  FieldViolations violations;
  ListRevisionsQuery query;
  CheckName("name", request.name(), &query.goal, &violations);
  absl::StatusOr<int32_t> page_size = NormalizePageSize("page_size", request.page_size());
  if (page_size.ok()) {
    query.page_size = *page_size;
  } else {
    violations.Merge(page_size.status());
  }
  CheckPageToken(request.page_token(), &violations);
  query.page_token = request.page_token();
  if (!violations.empty()) return violations.ToStatus();
  return query;
}

absl::StatusOr<GoalName> ValidateRateGoalAttainmentRequest(
    const trellis::v1::RateGoalAttainmentRequest& request, absl::CivilDay today) {
  FieldViolations violations;
  GoalName name;
  CheckName("name", request.name(), &name, &violations);
  if (request.rating() < kMinAttainmentRating || request.rating() > kMaxAttainmentRating) {
    violations.Add("rating", "must be an integer from -2 to +2");
  }
  if (!request.has_review_date() || !IsSet(request.review_date())) {
    violations.Add("review_date", "is required");
  } else if (!IsValidDate(request.review_date())) {
    violations.Merge(ValidateOptionalDate("review_date", request.review_date()));
  } else if (ToCivilDay(request.review_date()) > today + 1) {
    violations.Add("review_date", "must not be more than one day in the future");
  }
  if (request.has_weight()) CheckWeight("weight", request.weight(), &violations);
  CheckText(&violations, "note", request.note(), kMaxRatingNoteLength, false, TextKind::kProse);
  CheckId(&violations, "request_id", request.request_id(), /*required=*/false);
  if (!violations.empty()) return violations.ToStatus();
  return name;
}

absl::Status ValidateGetAttainmentScoreRequest(
    const trellis::v1::GetAttainmentScoreRequest& request) {
  FieldViolations violations;
  CheckId(&violations, "patient", request.patient(), /*required=*/true);
  auto check_goal_of_patient = [&](const std::string& field, const std::string& value) {
    GoalName name;
    FieldViolations name_violations;
    CheckName(field, value, &name, &name_violations);
    if (name_violations.empty() && name.patient != request.patient()) {
      name_violations.Add(field, "must name a goal of the patient");
    }
    violations.Merge(name_violations.ToStatus());
  };
  // Map iteration order is unspecified; sort the keys so violations come out stably.
  std::vector<std::string> keys;
  for (const auto& [key, weight] : request.weights()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    const std::string field = absl::StrCat("weights[", key, "]");
    check_goal_of_patient(field, key);
    CheckWeight(field, request.weights().at(key), &violations);
  }
  if (request.has_rho() &&
      (!std::isfinite(request.rho()) || request.rho() < 0 || request.rho() >= 1)) {
    violations.Add("rho", "must be in [0, 1)");
  }
  for (int i = 0; i < request.goals_size(); ++i) {
    check_goal_of_patient(absl::StrCat("goals[", i, "]"), request.goals(i));
  }
  return violations.ToStatus();
}

absl::Status ValidateExportGoalsFhirRequest(const trellis::v1::ExportGoalsFhirRequest& request) {
  FieldViolations violations;
  CheckId(&violations, "patient", request.patient(), /*required=*/true);
  CheckStatusList(request.lifecycle_statuses(), "lifecycle_statuses", &violations);
  return violations.ToStatus();
}

absl::StatusOr<GoalName> ValidateSetAchievementStatusRequest(
    const trellis::v1::SetAchievementStatusRequest& request, absl::Time now) {
  FieldViolations violations;
  GoalName name;
  CheckName("name", request.name(), &name, &violations);
  CheckEnum(&violations, "achievement_status", request.achievement_status(),
            trellis::v1::GoalAchievementStatus_IsValid, /*required=*/true);
  CheckText(&violations, "needs_review_reason", request.needs_review_reason(),
            kMaxNeedsReviewReasonLength, false, TextKind::kLine);
  if (!request.has_evaluate_time() || !IsSet(request.evaluate_time())) {
    violations.Add("evaluate_time", "is required");
  } else if (!IsValidTimestamp(request.evaluate_time())) {
    violations.Add("evaluate_time", "must be a valid timestamp");
  } else if (ToTime(request.evaluate_time()) > now + kMaxEvaluateTimeSkew) {
    violations.Add("evaluate_time", "must not be more than 5 minutes in the future");
  }
  CheckText(&violations, "reason", request.reason(), kMaxReasonLength, false, TextKind::kProse);
  CheckId(&violations, "request_id", request.request_id(), /*required=*/true);
  if (!violations.empty()) return violations.ToStatus();
  return name;
}

}  // namespace trellis::goals
