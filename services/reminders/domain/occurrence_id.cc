#include "services/reminders/domain/occurrence_id.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "common/status/status.h"

namespace trellis::reminders {
namespace {

constexpr absl::string_view kInstantFormat = "%Y%m%dT%H%M%SZ";

bool IsId(absl::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// "YYYYMMDDTHHMMSSZ" -> the instant, only when every field is in range (no normalization).
bool ParseCompactUtc(absl::string_view text, absl::Time* out) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return false;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  (void)absl::SimpleAtoi(text.substr(0, 4), &year);
  (void)absl::SimpleAtoi(text.substr(4, 2), &month);
  (void)absl::SimpleAtoi(text.substr(6, 2), &day);
  (void)absl::SimpleAtoi(text.substr(9, 2), &hour);
  (void)absl::SimpleAtoi(text.substr(11, 2), &minute);
  (void)absl::SimpleAtoi(text.substr(13, 2), &second);
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.year() != year || civil.month() != month || civil.day() != day ||
      civil.hour() != hour || civil.minute() != minute || civil.second() != second) {
    return false;
  }
  *out = absl::FromCivil(civil, absl::UTCTimeZone());
  return true;
}

}  // namespace

std::string OccurrenceId(absl::string_view reminder_name, absl::Time scheduled) {
  return absl::StrCat(reminder_name, kOccurrencesSegment,
                      absl::FormatTime(kInstantFormat, scheduled, absl::UTCTimeZone()));
}

std::string SnoozeDeliveryId(absl::string_view occurrence_id) {
  return absl::StrCat(occurrence_id, kSnoozeSuffix);
}

absl::StatusOr<OccurrenceRef> ParseOccurrenceId(absl::string_view id, absl::string_view field) {
  constexpr absl::string_view kExpected =
      "must be \"patients/{patient}/reminders/{reminder}/occurrences/YYYYMMDDTHHMMSSZ\"";
  std::vector<absl::string_view> parts = absl::StrSplit(id, '/');
  if (parts.size() != 6 || parts[0] != "patients" || !IsId(parts[1]) || parts[2] != "reminders" ||
      !IsId(parts[3]) || parts[4] != "occurrences") {
    return InvalidField(field, kExpected);
  }
  OccurrenceRef ref;
  if (!ParseCompactUtc(parts[5], &ref.scheduled_time)) {
    return InvalidField(field, "has no valid UTC instant YYYYMMDDTHHMMSSZ after /occurrences/");
  }
  ref.patient = std::string(parts[1]);
  ref.reminder_id = std::string(parts[3]);
  ref.reminder_name = absl::StrCat("patients/", parts[1], "/reminders/", parts[3]);
  return ref;
}

absl::StatusOr<DeliveryRef> ParseDeliveryId(absl::string_view id, absl::string_view field) {
  DeliveryRef ref;
  absl::string_view occurrence_id = id;
  ref.snooze = absl::ConsumeSuffix(&occurrence_id, kSnoozeSuffix);
  absl::StatusOr<OccurrenceRef> occurrence = ParseOccurrenceId(occurrence_id, field);
  if (!occurrence.ok()) return occurrence.status();
  ref.occurrence = *std::move(occurrence);
  ref.occurrence_id = std::string(occurrence_id);
  return ref;
}

}  // namespace trellis::reminders
