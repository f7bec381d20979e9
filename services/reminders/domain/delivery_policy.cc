#include "services/reminders/domain/delivery_policy.h"

#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis::reminders {

DueClass ClassifyDue(absl::Time due, absl::Time now, const CatchUpPolicy& policy) {
  if (now < due) return DueClass::kNotDue;
  const absl::Duration lag = now - due;
  if (lag <= policy.lateness_threshold) return DueClass::kOnTime;
  if (lag <= policy.grace_window) return DueClass::kLate;
  return DueClass::kMissed;
}

absl::Status ValidateSnoozeDuration(absl::Duration delay) {
  if (delay < kMinSnooze || delay > kMaxSnooze) {
    return InvalidField("snooze_duration",
                        absl::StrCat("must be from ", absl::FormatDuration(kMinSnooze), " to ",
                                     absl::FormatDuration(kMaxSnooze)));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> SnoozeUntil(absl::Time now, absl::Duration delay) {
  if (absl::Status status = ValidateSnoozeDuration(delay); !status.ok()) return status;
  return now + delay;
}

absl::Status CheckCompletionWindow(absl::Time scheduled, absl::Time now,
                                   const CompletionPolicy& policy) {
  if (now < scheduled - policy.before) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "the occurrence can be completed from ",
                          absl::FormatDuration(policy.before), " before its scheduled time")),
                      "OUTSIDE_COMPLETION_WINDOW");
  }
  if (now >= scheduled + policy.after) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "the completion window (", absl::FormatDuration(policy.after),
                          " after the scheduled time) has passed")),
                      "OUTSIDE_COMPLETION_WINDOW");
  }
  return absl::OkStatus();
}

}  // namespace trellis::reminders
