#pragma once

// The subset of RFC 5545 RRULE that Trellis accepts, parsed and checked before libical sees it.
//
// libical's own parser is lenient (it accepts unknown extensions, FREQ=SECONDLY, out-of-range
// values it later ignores) and reports failures only as a global error number, so the text a
// client sends is validated here first: every refusal names the rule part and the reason, and
// libical only ever parses a canonical string built from the validated values.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace trellis::reminders {

inline constexpr size_t kMaxRruleLength = 1000;
// COUNT is bounded because a rule with COUNT cannot be fast-forwarded (COUNT counts from
// DTSTART), so its expansion cost grows with the occurrences already past; see schedule.h.
inline constexpr int kMaxCount = 10000;
inline constexpr int kMaxInterval = 1000;

enum class Frequency { kDaily, kWeekly, kMonthly, kYearly };

// One BYDAY entry: a weekday with an optional ordinal (0 = every; 1 = first; -1 = last).
struct WeekdayNum {
  int ordinal = 0;
  absl::Weekday weekday = absl::Weekday::monday;
};

// A validated recurrence rule. Lists are empty when the part is absent.
struct RecurrenceRule {
  Frequency freq = Frequency::kDaily;
  int interval = 1;
  // COUNT (1..kMaxCount); mutually exclusive with UNTIL.
  std::optional<int> count;
  // UNTIL=YYYYMMDDTHHMMSSZ: the last instant (inclusive) an occurrence may fire.
  std::optional<absl::Time> until_instant;
  // UNTIL=YYYYMMDD: occurrences whose local date is on or before this day.
  std::optional<absl::CivilDay> until_date;
  std::vector<WeekdayNum> by_day;
  std::vector<int> by_month_day;
  std::vector<int> by_month;
  std::vector<int> by_hour;
  std::vector<int> by_minute;
  std::vector<int> by_set_pos;
  absl::Weekday week_start = absl::Weekday::monday;
};

// Parses an RRULE value ("FREQ=WEEKLY;BYDAY=TU,TH", an optional leading "RRULE:" accepted; part
// names and values are case-insensitive). On failure returns INVALID_ARGUMENT with one
// BadRequest violation naming `field` and the reason. Checks syntax, known parts, ranges and the
// RFC 5545 part combinations; it does not check that the rule ever matches a day (see
// DayPatternCanMatch) nor anything that depends on DTSTART or the clock.
//
// Refused on purpose: FREQ=SECONDLY/MINUTELY/HOURLY (not reminders); BYSECOND, BYYEARDAY,
// BYWEEKNO, RSCALE, SKIP and anything else not listed in reminders.proto; BYSETPOS except with
// FREQ=MONTHLY/YEARLY and a single time of day (libical applies BYSETPOS to days only, which
// differs from RFC 5545 when BYHOUR/BYMINUTE list several times); an ordinal BYDAY with
// BYMONTHDAY in a YEARLY rule without BYMONTH (libical confines it to DTSTART's month); a
// negative BYMONTHDAY with FREQ=DAILY (libical never matches it there); BYMONTHDAY with
// FREQ=WEEKLY and BYDAY ordinals with DAILY/WEEKLY (RFC 5545 forbids both); BYSETPOS with days
// that can be named twice (BYMONTHDAY=31,-1; BYDAY=1MO,MO: libical counts them twice); WKST other
// than MO or SU where it matters (WEEKLY, INTERVAL > 1, BYDAY: libical mis-phases the weeks).
// Each was found by comparing libical 3.0.16 with python-dateutil over thousands of random rules.
absl::StatusOr<RecurrenceRule> ParseRecurrenceRule(absl::string_view text, absl::string_view field);

// The rule as the text libical parses, without COUNT and UNTIL (the schedule applies both
// itself: UNTIL against UTC or the local date, COUNT from the real start). A YEARLY rule with
// BYMONTHDAY or BYDAY but no BYMONTH gets BYMONTH=1..12 when BYMONTHDAY is present, so that libical
// expands the month days in every month as RFC 5545 says instead of only in DTSTART's month.
std::string ToLibicalRule(const RecurrenceRule& rule);

// False only when no calendar day can ever satisfy the rule's day-level parts (BYMONTH,
// BYMONTHDAY, BYDAY with ordinals, BYSETPOS, and the defaults taken from `dtstart`), e.g.
// BYMONTH=2;BYMONTHDAY=30 or BYDAY=1MO;BYMONTHDAY=15. Checked over a full 28-year leap/weekday
// cycle in microseconds; without it libical would search for centuries (about a second of CPU)
// before giving up on such a rule. True does not promise an occurrence (INTERVAL can still skip
// every matching period); the schedule confirms with libical.
bool DayPatternCanMatch(const RecurrenceRule& rule, absl::CivilSecond dtstart);

}  // namespace trellis::reminders
