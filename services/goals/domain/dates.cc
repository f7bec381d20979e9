#include "services/goals/domain/dates.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "common/status/status.h"

namespace trellis::goals {
namespace {

// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the bounds of a Timestamp.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

}  // namespace

bool IsSet(const trellis::v1::LocalDate& date) {
  return date.year() != 0 || date.month() != 0 || date.day() != 0;
}

bool IsValidDate(const trellis::v1::LocalDate& date) {
  if (date.year() < kMinYear || date.year() > kMaxYear) return false;
  if (date.month() < 1 || date.month() > 12 || date.day() < 1 || date.day() > 31) return false;
  // CivilDay normalises 2023-02-30 to 2023-03-02; a real date survives the round trip.
  absl::CivilDay day(date.year(), date.month(), date.day());
  return day.year() == date.year() && day.month() == date.month() && day.day() == date.day();
}

absl::Status ValidateOptionalDate(absl::string_view field, const trellis::v1::LocalDate& date) {
  if (!IsSet(date) || IsValidDate(date)) return absl::OkStatus();
  return InvalidField(field,
                      absl::StrFormat("%04d-%02d-%02d is not a calendar date between "
                                      "%d-01-01 and %d-12-31",
                                      date.year(), date.month(), date.day(), kMinYear, kMaxYear));
}

absl::CivilDay ToCivilDay(const trellis::v1::LocalDate& date) {
  return absl::CivilDay(date.year(), date.month(), date.day());
}

trellis::v1::LocalDate ToLocalDate(absl::CivilDay day) {
  trellis::v1::LocalDate date;
  date.set_year(static_cast<int32_t>(day.year()));
  date.set_month(day.month());
  date.set_day(day.day());
  return date;
}

std::string FormatDate(const trellis::v1::LocalDate& date) {
  return absl::StrFormat("%04d-%02d-%02d", date.year(), date.month(), date.day());
}

absl::CivilDay DayIn(absl::Time now, absl::TimeZone zone) { return absl::ToCivilDay(now, zone); }

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

bool IsValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= kMinTimestampSeconds && ts.seconds() <= kMaxTimestampSeconds &&
         ts.nanos() >= 0 && ts.nanos() <= 999999999;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace trellis::goals
