#pragma once

// Small builders shared by the measurements domain tests.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status/status.h"
#include "google/protobuf/repeated_field.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements::testing {

// Answers to items 1..n with the given values.
inline google::protobuf::RepeatedPtrField<v1::ItemAnswer> Answers(const std::vector<int>& values) {
  google::protobuf::RepeatedPtrField<v1::ItemAnswer> out;
  for (size_t i = 0; i < values.size(); ++i) {
    v1::ItemAnswer* a = out.Add();
    a->set_item(static_cast<int>(i) + 1);
    a->set_value(values[i]);
  }
  return out;
}

// Item values (0..3 each) for `items` items summing to `total`, filling from item 1 so the last
// item (PHQ-9 item 9, the safety item) stays 0 unless the total needs it.
inline std::vector<int> ValuesSummingTo(int total, int items) {
  std::vector<int> values(items, 0);
  for (int i = 0; i < items && total > 0; ++i) {
    values[i] = total >= 3 ? 3 : total;
    total -= values[i];
  }
  return values;
}

// True when `status` carries a BadRequest violation on `field` whose description contains
// `text`.
inline bool HasViolation(const absl::Status& status, const std::string& field,
                         const std::string& text = "") {
  for (const auto& [f, description] : FieldViolationsOf(status)) {
    if (f == field && absl::StrContains(description, text)) return true;
  }
  return false;
}

inline std::string ViolationsToString(const absl::Status& status) {
  std::string out;
  for (const auto& [f, description] : FieldViolationsOf(status)) {
    absl::StrAppend(&out, f, ": ", description, "\n");
  }
  return out;
}

// 00:00 UTC on the given day.
inline absl::Time Day(int year, int month, int day) {
  return absl::FromCivil(absl::CivilDay(year, month, day), absl::UTCTimeZone());
}

inline absl::Duration Weeks(double n) { return absl::Hours(24.0 * 7.0 * n); }

}  // namespace trellis::measurements::testing
