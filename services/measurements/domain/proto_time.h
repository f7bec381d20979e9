#pragma once

// Conversions between the wire's time types (google.protobuf.Timestamp, trellis.v1.LocalDate)
// and absl::Time, which the domain computes with. Calendar dates are read in UTC: a goal's start
// and due dates carry no zone (common.proto), and UTC keeps every replica's answer the same.

#include <optional>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "trellis/v1/common.pb.h"

namespace trellis::measurements {

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp);

// Truncates to whole nanoseconds; absl::InfinitePast/Future map to the Timestamp range limits.
google::protobuf::Timestamp ToProtoTimestamp(absl::Time time);

// Whether `timestamp` is inside the range google.protobuf.Timestamp allows (years 1-9999, nanos
// in [0, 1e9)). Anything else is malformed input.
bool IsValidTimestamp(const google::protobuf::Timestamp& timestamp);

// 00:00 UTC on `date`; nullopt when the date is absent (all zero) or not a real calendar date.
std::optional<absl::Time> StartOfDayUtc(const trellis::v1::LocalDate& date);

// The UTC calendar date of `time`.
trellis::v1::LocalDate ToLocalDateUtc(absl::Time time);

}  // namespace trellis::measurements
