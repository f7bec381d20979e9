#pragma once

// When a due occurrence is delivered, late, or only recorded (catch-up after downtime), when a
// snoozed one comes back, and when an occurrence may still be completed. Pure functions of the
// times involved, so the dispatcher and RecordCompletion apply one policy and tests drive it with
// plain values.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace trellis::reminders {

struct CatchUpPolicy {
  // Occurrences due longer ago than this are recorded as missed, not delivered: after an outage
  // a burst of stale prompts ("do your breathing exercise" for every evening of last week) helps
  // nobody and floods the platform.
  absl::Duration grace_window = absl::Hours(1);
  // Delivered later than this after due time counts as late (Delivery.late). It absorbs normal
  // dispatch lag (a burst of occurrences due at the same instant), so only real catch-up is late.
  absl::Duration lateness_threshold = absl::Minutes(1);
};

enum class DueClass {
  // Not due yet (due > now): do nothing.
  kNotDue,
  // Deliver.
  kOnTime,
  // Deliver, marked late.
  kLate,
  // Do not deliver; record as missed.
  kMissed,
};

// Classifies an occurrence due at `due` at time `now`. Boundaries are inclusive on the
// delivering side: exactly lateness_threshold after due is still on time, exactly grace_window
// after due is still delivered (late); one nanosecond more is late / missed. A redelivery after a
// visibility timeout uses the same rule, so redelivery stops once the occurrence is missed.
DueClass ClassifyDue(absl::Time due, absl::Time now, const CatchUpPolicy& policy = {});

inline constexpr absl::Duration kMinSnooze = absl::Minutes(1);
inline constexpr absl::Duration kMaxSnooze = absl::Hours(24);

// OK when kMinSnooze <= delay <= kMaxSnooze (reminders.proto RecordCompletion); otherwise
// INVALID_ARGUMENT naming "snooze_duration".
absl::Status ValidateSnoozeDuration(absl::Duration delay);

// When the single re-delivery of a snoozed occurrence is due: `now` (the time the snooze is
// recorded) + `delay`, after validating `delay` as above.
absl::StatusOr<absl::Time> SnoozeUntil(absl::Time now, absl::Duration delay);

struct CompletionPolicy {
  // How early an occurrence may be completed (doing tonight's homework in the afternoon).
  absl::Duration before = absl::Hours(24);
  // How long after its scheduled time an occurrence may still be completed; afterwards it counts
  // as missed (adherence.h uses the same window).
  absl::Duration after = absl::Hours(24 * 7);
};

// OK when now lies in [scheduled - before, scheduled + after); otherwise FAILED_PRECONDITION with
// reason OUTSIDE_COMPLETION_WINDOW.
absl::Status CheckCompletionWindow(absl::Time scheduled, absl::Time now,
                                   const CompletionPolicy& policy = {});

}  // namespace trellis::reminders
