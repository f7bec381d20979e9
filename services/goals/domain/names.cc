#include "services/goals/domain/names.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ids/ids.h"
#include "common/status/status.h"

namespace trellis::goals {

std::string GoalName::ToString() const { return FormatGoalName(patient, goal); }

std::string FormatGoalName(absl::string_view patient, absl::string_view goal_id) {
  return absl::StrCat("patients/", patient, "/goals/", goal_id);
}

absl::StatusOr<GoalName> ParseGoalName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidField(field, "is required");
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "patients" || parts[2] != "goals") {
    return InvalidField(field, "must have the form patients/{patient}/goals/{goal}");
  }
  if (!ValidateId(field, parts[1]).ok() || !ValidateId(field, parts[3]).ok()) {
    return InvalidField(field,
                        "must have the form patients/{patient}/goals/{goal} with ids of "
                        "1-64 characters of [A-Za-z0-9._-]");
  }
  return GoalName{std::string(parts[1]), std::string(parts[3])};
}

}  // namespace trellis::goals
