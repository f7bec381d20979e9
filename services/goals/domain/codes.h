#pragma once

// FHIR codes of the goal enums. The proto enums mirror FHIR value sets one to one; this file is
// the single place that spells the codes, so the lifecycle messages, the FHIR export and any
// client-facing text agree.

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

inline constexpr absl::string_view kGoalStatusSystem = "http://hl7.org/fhir/goal-status";
inline constexpr absl::string_view kGoalAchievementSystem =
    "http://terminology.hl7.org/CodeSystem/goal-achievement";
inline constexpr absl::string_view kGoalPrioritySystem =
    "http://terminology.hl7.org/CodeSystem/goal-priority";
// Trellis' own code system for GoalCategory (documented on the enum in goals.proto).
inline constexpr absl::string_view kGoalCategorySystem = "urn:trellis:fhir:goal-category";

// FHIR goal-status code ("on-hold"); empty for UNSPECIFIED and unknown values.
absl::string_view LifecycleStatusCode(trellis::v1::GoalLifecycleStatus status);
// The inverse of LifecycleStatusCode; nullopt for anything that is not one of the nine codes.
std::optional<trellis::v1::GoalLifecycleStatus> LifecycleStatusFromCode(absl::string_view code);

// FHIR goal-achievement code ("in-progress") and its display ("In Progress"); empty for
// UNSPECIFIED and unknown values.
absl::string_view AchievementStatusCode(trellis::v1::GoalAchievementStatus status);
absl::string_view AchievementStatusDisplay(trellis::v1::GoalAchievementStatus status);

// FHIR goal-priority code ("high-priority") and display ("High Priority"); empty for
// UNSPECIFIED and unknown values.
absl::string_view PriorityCode(trellis::v1::GoalPriority priority);
absl::string_view PriorityDisplay(trellis::v1::GoalPriority priority);

// Trellis goal-category code ("symptom-management") and its words ("symptom management"); empty
// for UNSPECIFIED and unknown values.
absl::string_view CategoryCode(trellis::v1::GoalCategory category);
absl::string_view CategoryText(trellis::v1::GoalCategory category);

}  // namespace trellis::goals
