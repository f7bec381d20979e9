#include "services/reminders/domain/dispatch_plan.h"

namespace trellis::reminders {

DispatchPlan PlanDueEntry(const ReminderSchedule& schedule, const PauseWindow& pause,
                          const DueEntry& entry, absl::Time now, const CatchUpPolicy& policy,
                          int max_steps) {
  DispatchPlan plan;
  if (entry.snooze) {
    plan.next = DispatchPlan::Next::kRemove;
    DueClass c = ClassifyDue(entry.due, now, policy);
    if ((c == DueClass::kOnTime || c == DueClass::kLate) && !pause.Contains(entry.due)) {
      plan.deliveries.push_back({.scheduled = entry.scheduled,
                                 .due = entry.due,
                                 .late = c == DueClass::kLate,
                                 .snooze = true});
    }
    return plan;
  }
  std::optional<absl::Time> t = entry.scheduled;
  for (int step = 0; t.has_value() && *t <= now && step < max_steps; ++step) {
    DueClass c = ClassifyDue(*t, now, policy);
    if (pause.Contains(*t)) {
      plan.records.emplace_back(*t, std::string(kOccurrenceSkippedPaused));
    } else if (c == DueClass::kMissed) {
      plan.records.emplace_back(*t, std::string(kOccurrenceMissed));
    } else {
      plan.deliveries.push_back({.scheduled = *t, .due = *t, .late = c == DueClass::kLate});
    }
    auto next = schedule.NextOccurrence(*t);
    t = next.has_value() ? std::optional<absl::Time>(next->time) : std::nullopt;
  }
  if (!t.has_value()) {
    plan.next = DispatchPlan::Next::kEnd;
  } else {
    plan.next = DispatchPlan::Next::kSet;
    plan.next_due = *t;
  }
  return plan;
}

}  // namespace trellis::reminders
