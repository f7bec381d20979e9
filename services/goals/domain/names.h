#pragma once

// Goal resource names: "patients/{patient}/goals/{goal}". Both ids use the alphabet of
// common/ids (1-64 of [A-Za-z0-9._-]), so a name never needs escaping.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::goals {

// The two ids a goal name is made of.
struct GoalName {
  std::string patient;
  std::string goal;

  // "patients/{patient}/goals/{goal}".
  std::string ToString() const;
  friend bool operator==(const GoalName&, const GoalName&) = default;
};

// "patients/{patient}/goals/{goal_id}". Does not validate: callers pass ids that already passed
// ValidateId (the patient) or came from NewId (the goal).
std::string FormatGoalName(absl::string_view patient, absl::string_view goal_id);

// Parses a goal name. INVALID_ARGUMENT naming `field` (e.g. "name", "goal.parent") when `name` is
// empty, has other segments than patients/{id}/goals/{id}, or either id is malformed.
absl::StatusOr<GoalName> ParseGoalName(absl::string_view field, absl::string_view name);

}  // namespace trellis::goals
