#pragma once

// Builders shared by the ReminderService integration tests.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::reminders::rtest {

inline absl::Time Utc(int y, int mo, int d, int h, int mi = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

inline std::string Ms(absl::Time t) { return absl::StrCat(absl::ToUnixMillis(t)); }

inline trellis::v1::Schedule Daily(int y, int mo, int d, int h, int mi, const std::string& zone,
                                   const std::string& rrule = "FREQ=DAILY") {
  trellis::v1::Schedule s;
  auto* start = s.mutable_start();
  start->set_year(y);
  start->set_month(mo);
  start->set_day(d);
  start->set_hours(h);
  start->set_minutes(mi);
  s.set_time_zone(zone);
  s.set_rrule(rrule);
  return s;
}

// A practice reminder every evening at 20:00 London time from the fixture's start (2026-01-05).
inline trellis::v1::Reminder Practice(const std::string& patient = "p1") {
  trellis::v1::Reminder r;
  r.set_patient(patient);
  r.set_kind(trellis::v1::REMINDER_KIND_PRACTICE);
  r.set_text("Breathing exercise: 10 minutes");
  r.set_channel(trellis::v1::REMINDER_CHANNEL_PUSH);
  *r.mutable_schedule() = Daily(2026, 1, 5, 20, 0, "Europe/London");
  return r;
}

// The last path segment of a resource name.
inline std::string IdOf(const std::string& name) { return name.substr(name.rfind('/') + 1); }

}  // namespace trellis::reminders::rtest
