#pragma once

// Stable ids of occurrences and deliveries (reminders.proto, "Occurrences and delivery"):
//   occurrence_id = "<reminder name>/occurrences/<scheduled instant in UTC, YYYYMMDDTHHMMSSZ>"
//   delivery_id   = occurrence_id, or occurrence_id + "/snooze" for the re-delivery after a snooze.
// The id is a pure function of the reminder and the scheduled instant, so every replica (and a
// replica recomputing it after a crash) derives the same id and platforms can de-duplicate on it.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace trellis::reminders {

inline constexpr absl::string_view kOccurrencesSegment = "/occurrences/";
inline constexpr absl::string_view kSnoozeSuffix = "/snooze";

// "<reminder_name>/occurrences/20240310T073000Z". `scheduled` is truncated to whole seconds
// (occurrences always are whole seconds). `reminder_name` is not validated.
std::string OccurrenceId(absl::string_view reminder_name, absl::Time scheduled);

// occurrence_id + "/snooze".
std::string SnoozeDeliveryId(absl::string_view occurrence_id);

// The parts of an occurrence id.
struct OccurrenceRef {
  // "patients/{patient}/reminders/{reminder}".
  std::string reminder_name;
  std::string patient;
  std::string reminder_id;
  absl::Time scheduled_time;
};

// Parses an occurrence id. INVALID_ARGUMENT naming `field` when it is not
// "patients/{id}/reminders/{id}/occurrences/YYYYMMDDTHHMMSSZ" with ids of 1-64 characters of
// [A-Za-z0-9._-] and a real UTC date-time. Says nothing about whether the occurrence exists.
absl::StatusOr<OccurrenceRef> ParseOccurrenceId(absl::string_view id, absl::string_view field);

// The parts of a delivery id.
struct DeliveryRef {
  OccurrenceRef occurrence;
  std::string occurrence_id;
  // True for the single re-delivery after a snooze.
  bool snooze = false;
};

// Parses a delivery id (an occurrence id, optionally followed by "/snooze"); INVALID_ARGUMENT
// naming `field` otherwise.
absl::StatusOr<DeliveryRef> ParseDeliveryId(absl::string_view id, absl::string_view field);

}  // namespace trellis::reminders
