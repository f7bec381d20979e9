#pragma once

// Builders and matchers shared by the schedule tests.

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status/status.h"
#include "services/reminders/domain/schedule.h"

namespace trellis::reminders::testing {

inline LocalDateTime Local(int year, int month, int day, int hours, int minutes = 0,
                           int seconds = 0) {
  return LocalDateTime{year, month, day, hours, minutes, seconds};
}

inline ScheduleSpec Spec(absl::string_view zone, LocalDateTime start, absl::string_view rrule,
                         std::vector<LocalDateTime> exdates = {}) {
  ScheduleSpec spec;
  spec.time_zone = std::string(zone);
  spec.start = start;
  spec.rrule = std::string(rrule);
  spec.exdates = std::move(exdates);
  return spec;
}

// An instant written as RFC 3339 ("2024-03-10T07:30:00Z").
inline absl::Time Utc(absl::string_view rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << error;
  return t;
}

inline std::string UtcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// A schedule that must compile (stored form: no clock-dependent checks).
inline ReminderSchedule Compile(const ScheduleSpec& spec, const ScheduleOptions& options = {}) {
  absl::StatusOr<ReminderSchedule> schedule = ReminderSchedule::FromStored(spec, options);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  return *std::move(schedule);
}

// The rule's local date-times ("1997-09-02T09:00:00") of the first `n` occurrences at or after
// `from`.
inline std::vector<std::string> RuleTimes(const ReminderSchedule& schedule, absl::Time from,
                                          int n) {
  std::vector<std::string> out;
  absl::StatusOr<SchedulePreview> preview = schedule.Preview(from, n);
  EXPECT_TRUE(preview.ok()) << preview.status();
  if (!preview.ok()) return out;
  for (const Occurrence& o : preview->occurrences) {
    out.push_back(absl::FormatCivilTime(o.rule_local_time));
  }
  return out;
}

// The UTC instants of the first `n` occurrences at or after `from`.
inline std::vector<std::string> UtcTimes(const ReminderSchedule& schedule, absl::Time from, int n) {
  std::vector<std::string> out;
  absl::StatusOr<SchedulePreview> preview = schedule.Preview(from, n);
  EXPECT_TRUE(preview.ok()) << preview.status();
  if (!preview.ok()) return out;
  for (const Occurrence& o : preview->occurrences) out.push_back(UtcText(o.time));
  return out;
}

// Matches an INVALID_ARGUMENT status carrying a BadRequest violation of `field` whose description
// contains `reason_part`.
MATCHER_P2(IsInvalidField, field, reason_part, "") {
  const absl::Status& status = arg;
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    *result_listener << "code is " << status.code() << " (" << status.message() << ")";
    return false;
  }
  for (const auto& [f, description] : FieldViolationsOf(status)) {
    if (f == field && description.find(reason_part) != std::string::npos) return true;
  }
  *result_listener << "violations: " << status.message();
  return false;
}

}  // namespace trellis::reminders::testing
