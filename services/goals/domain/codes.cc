#include "services/goals/domain/codes.h"

namespace trellis::goals {

using trellis::v1::GoalAchievementStatus;
using trellis::v1::GoalCategory;
using trellis::v1::GoalLifecycleStatus;
using trellis::v1::GoalPriority;

absl::string_view LifecycleStatusCode(GoalLifecycleStatus status) {
  switch (status) {
    case trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED:
      return "proposed";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED:
      return "planned";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED:
      return "accepted";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE:
      return "active";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD:
      return "on-hold";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_COMPLETED:
      return "completed";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED:
      return "cancelled";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR:
      return "entered-in-error";
    case trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED:
      return "rejected";
    default:
      return "";
  }
}

std::optional<GoalLifecycleStatus> LifecycleStatusFromCode(absl::string_view code) {
  for (int value = trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED;
       value <= trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED; ++value) {
    auto status = static_cast<GoalLifecycleStatus>(value);
    if (LifecycleStatusCode(status) == code) return status;
  }
  return std::nullopt;
}

absl::string_view AchievementStatusCode(GoalAchievementStatus status) {
  switch (status) {
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS:
      return "in-progress";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING:
      return "improving";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_WORSENING:
      return "worsening";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NO_CHANGE:
      return "no-change";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED:
      return "achieved";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_SUSTAINING:
      return "sustaining";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NOT_ACHIEVED:
      return "not-achieved";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS:
      return "no-progress";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NOT_ATTAINABLE:
      return "not-attainable";
    default:
      return "";
  }
}

absl::string_view AchievementStatusDisplay(GoalAchievementStatus status) {
  switch (status) {
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_IN_PROGRESS:
      return "In Progress";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_IMPROVING:
      return "Improving";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_WORSENING:
      return "Worsening";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NO_CHANGE:
      return "No Change";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_ACHIEVED:
      return "Achieved";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_SUSTAINING:
      return "Sustaining";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NOT_ACHIEVED:
      return "Not Achieved";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NO_PROGRESS:
      return "No Progress";
    case trellis::v1::GOAL_ACHIEVEMENT_STATUS_NOT_ATTAINABLE:
      return "Not Attainable";
    default:
      return "";
  }
}

absl::string_view PriorityCode(GoalPriority priority) {
  switch (priority) {
    case trellis::v1::GOAL_PRIORITY_HIGH:
      return "high-priority";
    case trellis::v1::GOAL_PRIORITY_MEDIUM:
      return "medium-priority";
    case trellis::v1::GOAL_PRIORITY_LOW:
      return "low-priority";
    default:
      return "";
  }
}

absl::string_view PriorityDisplay(GoalPriority priority) {
  switch (priority) {
    case trellis::v1::GOAL_PRIORITY_HIGH:
      return "High Priority";
    case trellis::v1::GOAL_PRIORITY_MEDIUM:
      return "Medium Priority";
    case trellis::v1::GOAL_PRIORITY_LOW:
      return "Low Priority";
    default:
      return "";
  }
}

absl::string_view CategoryCode(GoalCategory category) {
  switch (category) {
    case trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT:
      return "symptom-management";
    case trellis::v1::GOAL_CATEGORY_EMOTIONAL_REGULATION:
      return "emotional-regulation";
    case trellis::v1::GOAL_CATEGORY_BEHAVIOURAL_CHANGE:
      return "behavioural-change";
    case trellis::v1::GOAL_CATEGORY_SELF_AWARENESS_AND_INSIGHT:
      return "self-awareness-and-insight";
    case trellis::v1::GOAL_CATEGORY_RELATIONSHIPS_AND_COMMUNICATION:
      return "relationships-and-communication";
    case trellis::v1::GOAL_CATEGORY_OTHER:
      return "other";
    default:
      return "";
  }
}

absl::string_view CategoryText(GoalCategory category) {
  switch (category) {
    case trellis::v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT:
      return "symptom management";
    case trellis::v1::GOAL_CATEGORY_EMOTIONAL_REGULATION:
      return "emotional regulation";
    case trellis::v1::GOAL_CATEGORY_BEHAVIOURAL_CHANGE:
      return "behavioural change";
    case trellis::v1::GOAL_CATEGORY_SELF_AWARENESS_AND_INSIGHT:
      return "self-awareness and insight";
    case trellis::v1::GOAL_CATEGORY_RELATIONSHIPS_AND_COMMUNICATION:
      return "relationships and communication";
    case trellis::v1::GOAL_CATEGORY_OTHER:
      return "other";
    default:
      return "";
  }
}

}  // namespace trellis::goals
