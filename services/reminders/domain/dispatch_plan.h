#pragma once

// What the dispatcher does with one claimed due entry: which occurrences it delivers (on time or
// late), which it only records (missed after downtime, skipped inside a pause), and where the
// reminder's due entry goes next. A pure function of the schedule, the pause window, the entry and
// the time, so every replica decides alike and tests drive it with plain values.
//
// The due index holds one entry per reminder at its next schedule occurrence still to process
// (store/reminder_store.h). Claiming it processes that occurrence and every later one that is
// already due (after downtime there can be many), then moves the entry to the first occurrence in
// the future: the next occurrence is computed when the previous one is processed, never a
// precomputed list.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/reminders/domain/delivery_policy.h"
#include "services/reminders/domain/schedule.h"

namespace trellis::reminders {

// Occurrence record states written by the dispatcher and ResumeReminder (occ:<id>, see
// store/reminder_store.h; RecordCompletion writes the outcomes). A delivered occurrence gets no
// record of its own: the delivery is in the subscriber streams, and adherence counts a delivered
// occurrence without an outcome like a scheduled one, so a record would only cost a write per
// occurrence on the dispatch path.
inline constexpr absl::string_view kOccurrenceMissed = "missed";
inline constexpr absl::string_view kOccurrenceSkippedPaused = "skipped_paused";

// A pause: [start, end), end open when unset. No start: not paused.
struct PauseWindow {
  std::optional<absl::Time> start;
  std::optional<absl::Time> end;

  bool Contains(absl::Time t) const {
    return start.has_value() && t >= *start && (!end.has_value() || t < *end);
  }
};

// The claimed due entry.
struct DueEntry {
  // The snooze re-delivery of `scheduled` (a second entry of the reminder), not a schedule entry.
  bool snooze = false;
  // The occurrence's scheduled instant (for a schedule entry: the entry's due time).
  absl::Time scheduled;
  // When the entry came due: `scheduled`, or the end of the snooze.
  absl::Time due;
};

struct PlannedDelivery {
  absl::Time scheduled;
  absl::Time due;
  bool late = false;
  bool snooze = false;
};

struct DispatchPlan {
  enum class Next {
    // Move the schedule entry to `next_due` (in the future, or still due when the step limit
    // stopped the catch-up early: the next claim goes on).
    kSet,
    // Remove the entry (a snooze entry once handled).
    kRemove,
    // The schedule is exhausted (COUNT, UNTIL, single occurrence): remove the entry and end the
    // reminder.
    kEnd,
  };
  Next next = Next::kRemove;
  absl::Time next_due;
  // Occurrence records to add (never overwriting an existing one): "missed", "skipped_paused".
  std::vector<std::pair<absl::Time, std::string>> records;
  std::vector<PlannedDelivery> deliveries;
};

// Plans the handling of `entry` at `now`. Schedule entries: every occurrence from entry.scheduled
// up to `now` is delivered (ClassifyDue on time or late), recorded "missed"
// (older than the grace window) or recorded "skipped_paused" (inside the pause); at most
// `max_steps` occurrences per call. Snooze entries: delivered once (marked snoozed; late by the
// same rule against the end of the snooze) unless the snooze end is older than the grace window or
// falls inside the pause; nothing is recorded (the occurrence keeps its "snoozed" record).
DispatchPlan PlanDueEntry(const ReminderSchedule& schedule, const PauseWindow& pause,
                          const DueEntry& entry, absl::Time now, const CatchUpPolicy& policy,
                          int max_steps = 1000);

}  // namespace trellis::reminders
