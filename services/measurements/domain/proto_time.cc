#include "services/measurements/domain/proto_time.h"

#include <cstdint>

namespace trellis::measurements {
namespace {

// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the Timestamp range.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

}  // namespace

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

google::protobuf::Timestamp ToProtoTimestamp(absl::Time time) {
  google::protobuf::Timestamp out;
  if (time <= absl::FromUnixSeconds(kMinTimestampSeconds)) {
    out.set_seconds(kMinTimestampSeconds);
    return out;
  }
  if (time >= absl::FromUnixSeconds(kMaxTimestampSeconds)) {
    out.set_seconds(kMaxTimestampSeconds);
    return out;
  }
  const int64_t seconds = absl::ToUnixSeconds(time);  // floors, so nanos stay non-negative
  out.set_seconds(seconds);
  out.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return out;
}

bool IsValidTimestamp(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() >= kMinTimestampSeconds &&
         timestamp.seconds() <= kMaxTimestampSeconds && timestamp.nanos() >= 0 &&
         timestamp.nanos() < 1'000'000'000;
}

std::optional<absl::Time> StartOfDayUtc(const trellis::v1::LocalDate& date) {
  if (date.year() == 0 && date.month() == 0 && date.day() == 0) return std::nullopt;
  if (date.year() < 1 || date.year() > 9999) return std::nullopt;
  const absl::CivilDay day(date.year(), date.month(), date.day());
  // CivilDay normalizes (Feb 30 -> Mar 2); a date that does not survive unchanged is not real.
  if (day.year() != date.year() || day.month() != date.month() || day.day() != date.day()) {
    return std::nullopt;
  }
  return absl::FromCivil(day, absl::UTCTimeZone());
}

trellis::v1::LocalDate ToLocalDateUtc(absl::Time time) {
  const absl::CivilDay day = absl::ToCivilDay(time, absl::UTCTimeZone());
  trellis::v1::LocalDate out;
  out.set_year(static_cast<int32_t>(day.year()));
  out.set_month(day.month());
  out.set_day(day.day());
  return out;
}

}  // namespace trellis::measurements
