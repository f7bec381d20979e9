#pragma once

// Adherence (GetAdherence): how many of the occurrences scheduled in a window were done, skipped,
// missed or skipped while paused, the adherence rate and the current streak, per reminder and
// over all of a patient's reminders. Pure: the store reads the occurrence records of the window
// and this computes the numbers.
//
// Definitions (they are the AdherenceCounts contract in reminders.proto):
// - scheduled = done + skipped + missed + pending; skipped_paused is counted apart (an occurrence
//   inside a pause was never asked of the person).
// - pending: no final outcome yet and still within the completion window after its scheduled
//   time. missed: no final outcome and the completion window has passed, or recorded missed
//   (not delivered: older than the grace window after downtime).
// - snoozed: occurrences snoozed at least once, whatever their outcome.
// - adherence_rate = done / (done + skipped + missed); unset when that denominator is 0. Pending
//   occurrences are left out so that a reminder due an hour ago does not lower the rate while the
//   person can still do it, and paused ones because nobody was asked.
// - current streak: consecutive DONE occurrences counting back from the most recent resolved one
//   (done, skipped or missed). Pending and skipped_paused occurrences are passed over: they
//   neither break nor extend it, so a pause (a holiday agreed with the clinician) does not reset
//   a client's streak. For a patient the occurrences of all reminders are taken together in
//   scheduled order; at the same instant a non-done occurrence counts as the more recent one, so
//   the streak never depends on the order records arrive in.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace trellis::reminders {

inline constexpr absl::Duration kDefaultCompletionWindow = absl::Hours(24 * 7);
inline constexpr absl::Duration kMaxAdherenceWindow = absl::Hours(24 * 366);

// The latest known state of one occurrence.
enum class OccurrenceState {
  // Due or not yet due, not delivered.
  kScheduled,
  // Handed to the platform; no outcome yet.
  kDelivered,
  // Snoozed; the re-delivery is pending or done, no final outcome yet.
  kSnoozed,
  // Final outcomes.
  kDone,
  kSkipped,
  // Recorded as missed without delivery (older than the grace window after downtime).
  kMissed,
  // Fell inside a pause window; not delivered.
  kSkippedPaused,
};

struct OccurrenceRecord {
  absl::Time scheduled_time;
  OccurrenceState state = OccurrenceState::kScheduled;
  // Snoozed at least once (stays true when a snoozed occurrence is then done or skipped).
  bool snoozed = false;
};

struct AdherenceCounts {
  int scheduled = 0;
  int done = 0;
  int skipped = 0;
  int missed = 0;
  int skipped_paused = 0;
  int pending = 0;
  int snoozed = 0;
  // done / (done + skipped + missed); unset when that is 0.
  std::optional<double> adherence_rate;
};

// The occurrence records of one reminder (any order).
struct ReminderOccurrences {
  std::string reminder;
  std::vector<OccurrenceRecord> occurrences;
};

struct ReminderAdherence {
  std::string reminder;
  AdherenceCounts counts;
  int current_streak = 0;
};

struct AdherenceReport {
  AdherenceCounts totals;
  // Over all reminders of the report.
  int current_streak = 0;
  // One entry per input reminder, in input order (the store passes them oldest first).
  std::vector<ReminderAdherence> reminders;
};

// A half-open window [start, end) of scheduled times.
struct AdherenceWindow {
  absl::Time start;
  absl::Time end;
};

// GetAdherence's interval: start required; end unset means `now`; end not before start; at most
// kMaxAdherenceWindow long. INVALID_ARGUMENT naming "interval.start_time", "interval.end_time"
// or "interval".
absl::StatusOr<AdherenceWindow> MakeAdherenceWindow(std::optional<absl::Time> start,
                                                    std::optional<absl::Time> end, absl::Time now);

// Counts and streaks of the records whose scheduled time lies in `window` (others are ignored),
// classified at `now` with `completion_window` (see the definitions above).
AdherenceReport ComputeAdherence(const std::vector<ReminderOccurrences>& reminders,
                                 const AdherenceWindow& window, absl::Time now,
                                 absl::Duration completion_window = kDefaultCompletionWindow);

}  // namespace trellis::reminders
