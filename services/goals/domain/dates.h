#pragma once

// Calendar dates (trellis.v1.LocalDate) and the instants around them. Goal dates are days without
// a zone; "today" is always derived from an injected instant and an explicit zone, never from the
// process's local time.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "trellis/v1/common.pb.h"

namespace trellis::goals {

inline constexpr int kMinYear = 1900;
inline constexpr int kMaxYear = 9999;

// True when any part of `date` is non-zero. An all-zero LocalDate means "no date".
bool IsSet(const trellis::v1::LocalDate& date);

// True when `date` is a real calendar day with year 1900-9999 (leap years included).
bool IsValidDate(const trellis::v1::LocalDate& date);

// OK when `date` is absent (all zero) or valid; otherwise INVALID_ARGUMENT naming `field`.
absl::Status ValidateOptionalDate(absl::string_view field, const trellis::v1::LocalDate& date);

// Precondition: IsValidDate(date).
absl::CivilDay ToCivilDay(const trellis::v1::LocalDate& date);
trellis::v1::LocalDate ToLocalDate(absl::CivilDay day);

// "YYYY-MM-DD" (FHIR `date`). Precondition: IsValidDate(date).
std::string FormatDate(const trellis::v1::LocalDate& date);

// The calendar day of `now` in `zone`.
absl::CivilDay DayIn(absl::Time now, absl::TimeZone zone);

// True when `ts` is set and within the range google.protobuf.Timestamp allows (0001-9999,
// nanos 0..999999999).
bool IsSet(const google::protobuf::Timestamp& ts);
bool IsValidTimestamp(const google::protobuf::Timestamp& ts);

// Precondition: IsValidTimestamp(ts).
absl::Time ToTime(const google::protobuf::Timestamp& ts);

}  // namespace trellis::goals
