// Fuzz target: a reminder schedule from client text through validation (ParseRecurrenceRule,
// ReminderSchedule::FromRequest / FromStored) and occurrence expansion (NextOccurrence, Preview,
// IsOccurrence), checking the contracts schedule.h states for every schedule it accepts.
//
// Input, one item per line (iCalendar-like, so seeds read as schedules; unknown lines ignored):
//   DTSTART;TZID=Europe/London:20240331T013000   the start and zone (TZID may be empty)
//   RRULE:FREQ=DAILY;BYHOUR=8,20                 absent: a single occurrence
//   EXDATE:20240401T013000,20240402T013000       excluded local date-times
//   NOW:20240101T000000Z                         the validation clock (default 2024-01-01 UTC)
//   PREVIEW:20                                   how many occurrences to expand (1..50)
// A local date-time is YYYYMMDDTHHMMSS, or any list of integers ("2024 2 30 25 0 0",
// "-1,13,0"), so that out-of-range fields reach the validation.

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status/status.h"
#include "fuzz/fuzz_target.h"
#include "services/reminders/domain/rrule.h"
#include "services/reminders/domain/schedule.h"

namespace trellis::fuzz {
namespace {

using reminders::LocalDateTime;
using reminders::Occurrence;
using reminders::RecurrenceRule;
using reminders::ReminderSchedule;
using reminders::ScheduleOptions;
using reminders::ScheduleSpec;

// How many consecutive occurrences are cross-checked with NextOccurrence and IsOccurrence (each
// check re-expands; with COUNT from DTSTART).
constexpr int kCrossChecks = 4;
// The walk from DTSTART (skip_ahead off) is compared with the fast-forwarded one only when the
// start is this close before the query, which bounds its cost.
constexpr absl::Duration kFullWalkSpan = absl::Hours(24 * 45);

LocalDateTime ParseLocal(absl::string_view text) {
  LocalDateTime t;
  int* fields[] = {&t.year, &t.month, &t.day, &t.hours, &t.minutes, &t.seconds};
  if (text.size() == 15 && text[8] == 'T') {
    const size_t offsets[] = {0, 4, 6, 9, 11, 13};
    const size_t lengths[] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; ++i) {
      if (!absl::SimpleAtoi(text.substr(offsets[i], lengths[i]), fields[i])) *fields[i] = -1;
    }
    return t;
  }
  int i = 0;
  for (absl::string_view item :
       absl::StrSplit(text, absl::ByAnyChar(" ,:T-/"), absl::SkipEmpty())) {
    if (i == 6) break;
    if (!absl::SimpleAtoi(item, fields[i])) *fields[i] = -1;
    ++i;
  }
  return t;
}

// "YYYYMMDDTHHMMSSZ" in UTC, or whole seconds since the epoch.
std::optional<absl::Time> ParseNow(absl::string_view text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) return absl::FromUnixSeconds(seconds);
  if (!absl::ConsumeSuffix(&text, "Z") || text.size() != 15) return std::nullopt;
  const LocalDateTime t = ParseLocal(text);
  return absl::FromCivil(absl::CivilSecond(t.year, t.month, t.day, t.hours, t.minutes, t.seconds),
                         absl::UTCTimeZone());
}

struct Input {
  ScheduleSpec spec;
  absl::Time now = absl::FromCivil(absl::CivilSecond(2024, 1, 1), absl::UTCTimeZone());
  int preview = 20;
};

Input ParseInput(absl::string_view text) {
  Input in;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "DTSTART")) {
      const size_t colon = line.rfind(':');
      if (colon == absl::string_view::npos) continue;
      absl::string_view params = line.substr(0, colon);
      if (absl::ConsumePrefix(&params, ";TZID=")) in.spec.time_zone = std::string(params);
      in.spec.start = ParseLocal(line.substr(colon + 1));
    } else if (absl::ConsumePrefix(&line, "RRULE:")) {
      in.spec.rrule = std::string(line);
    } else if (absl::ConsumePrefix(&line, "EXDATE:")) {
      for (absl::string_view item : absl::StrSplit(line, ',')) {
        in.spec.exdates.push_back(ParseLocal(item));
      }
    } else if (absl::ConsumePrefix(&line, "NOW:")) {
      if (std::optional<absl::Time> now = ParseNow(line)) in.now = *now;
    } else if (absl::ConsumePrefix(&line, "PREVIEW:")) {
      int n = 0;
      if (absl::SimpleAtoi(line, &n)) in.preview = std::clamp(n, 1, 50);
    }
  }
  return in;
}

// The canonical rule text libical gets is itself an accepted rule with the same canonical text.
void CheckCanonicalRule(const RecurrenceRule& rule) {
  const std::string canonical = reminders::ToLibicalRule(rule);
  absl::StatusOr<RecurrenceRule> again = reminders::ParseRecurrenceRule(canonical, "rrule");
  TRELLIS_FUZZ_CHECK(again.ok());
  TRELLIS_FUZZ_CHECK(reminders::ToLibicalRule(*again) == canonical);
}

// The contracts of an occurrence of `schedule` (schedule.h): UNTIL and EXDATE respected, the
// DST policy applied, the local text in the schedule's zone.
void CheckOccurrence(const ReminderSchedule& schedule, const ScheduleSpec& spec,
                     const Occurrence& o) {
  const absl::TimeZone& zone = schedule.time_zone();
  TRELLIS_FUZZ_CHECK(o.rule_local_time >= schedule.start());
  TRELLIS_FUZZ_CHECK(o.local_time == schedule.LocalTimeText(o.time));
  TRELLIS_FUZZ_CHECK(o.time == reminders::LocalToUtc(o.rule_local_time, zone));
  TRELLIS_FUZZ_CHECK(o.shifted ==
                     (zone.At(o.rule_local_time).kind == absl::TimeZone::TimeInfo::SKIPPED));
  for (const LocalDateTime& e : spec.exdates) {
    const absl::CivilSecond excluded(e.year, e.month, e.day, e.hours, e.minutes, e.seconds);
    TRELLIS_FUZZ_CHECK(o.rule_local_time != excluded);
  }
  if (const std::optional<RecurrenceRule>& rule = schedule.rule(); rule.has_value()) {
    if (rule->until_instant.has_value()) TRELLIS_FUZZ_CHECK(o.time <= *rule->until_instant);
    if (rule->until_date.has_value()) {
      TRELLIS_FUZZ_CHECK(absl::CivilDay(o.rule_local_time) <= *rule->until_date);
    }
  } else {
    TRELLIS_FUZZ_CHECK(o.rule_local_time == schedule.start());
  }
}

// Expands a schedule FromRequest accepted at `now` and checks what schedule.h promises.
void CheckExpansion(const ReminderSchedule& schedule, const Input& in) {
  const std::optional<Occurrence> next = schedule.NextOccurrence(in.now);
  TRELLIS_FUZZ_CHECK(next.has_value());  // FromRequest refuses a schedule without one
  TRELLIS_FUZZ_CHECK(next->time > in.now);

  absl::StatusOr<reminders::SchedulePreview> preview = schedule.Preview(in.now, in.preview);
  TRELLIS_FUZZ_CHECK(preview.ok());
  const std::vector<Occurrence>& occurrences = preview->occurrences;
  TRELLIS_FUZZ_CHECK(!occurrences.empty());
  TRELLIS_FUZZ_CHECK(static_cast<int>(occurrences.size()) <= in.preview);
  TRELLIS_FUZZ_CHECK(preview->exhausted || static_cast<int>(occurrences.size()) == in.preview);
  TRELLIS_FUZZ_CHECK(occurrences.front().time >= in.now);
  // Preview starts at `now` inclusive, NextOccurrence strictly after it.
  const size_t first_after = occurrences.front().time == in.now ? 1 : 0;
  if (first_after < occurrences.size()) {
    TRELLIS_FUZZ_CHECK(occurrences[first_after].time == next->time);
  }
  for (size_t i = 0; i < occurrences.size(); ++i) {
    CheckOccurrence(schedule, in.spec, occurrences[i]);
    if (i > 0) TRELLIS_FUZZ_CHECK(occurrences[i - 1].time < occurrences[i].time);
  }
  // Resuming from any occurrence (the dispatcher's path) continues the same sequence.
  for (size_t i = 0; i < occurrences.size() && i < kCrossChecks; ++i) {
    TRELLIS_FUZZ_CHECK(schedule.IsOccurrence(occurrences[i].time));
    TRELLIS_FUZZ_CHECK(!schedule.IsOccurrence(occurrences[i].time + absl::Seconds(1)));
    const std::optional<Occurrence> after = schedule.NextOccurrence(occurrences[i].time);
    if (i + 1 < occurrences.size()) {
      TRELLIS_FUZZ_CHECK(after.has_value() && after->time == occurrences[i + 1].time);
    } else if (preview->exhausted) {
      TRELLIS_FUZZ_CHECK(!after.has_value());
    }
  }
  // Walking from DTSTART gives what fast-forwarding gives.
  const absl::Time start = reminders::LocalToUtc(schedule.start(), schedule.time_zone());
  if (in.now - start < kFullWalkSpan) {
    ScheduleOptions options;
    options.skip_ahead = false;
    absl::StatusOr<ReminderSchedule> walked = ReminderSchedule::FromStored(in.spec, options);
    TRELLIS_FUZZ_CHECK(walked.ok());
    const std::optional<Occurrence> walked_next = walked->NextOccurrence(in.now);
    TRELLIS_FUZZ_CHECK(walked_next.has_value() && walked_next->time == next->time);
  }
  // A stored schedule keeps answering after its end and up to libical's horizon.
  for (absl::Time later : {in.now + absl::Hours(24 * 400), in.now + absl::Hours(24 * 365 * 300),
                           absl::InfiniteFuture()}) {
    const std::optional<Occurrence> o = schedule.NextOccurrence(later);
    if (o.has_value()) TRELLIS_FUZZ_CHECK(o->time > later);
  }
}

}  // namespace

int FuzzSchedule(const uint8_t* data, size_t size) {
  const Input in = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));

  if (!in.spec.rrule.empty()) {
    absl::StatusOr<RecurrenceRule> rule = reminders::ParseRecurrenceRule(in.spec.rrule, "rrule");
    if (rule.ok()) {
      CheckCanonicalRule(*rule);
    } else {
      CheckRefusal(rule.status());
    }
  }

  absl::StatusOr<ReminderSchedule> stored = ReminderSchedule::FromStored(in.spec);
  if (!stored.ok()) CheckRefusal(stored.status());

  absl::StatusOr<ReminderSchedule> schedule = ReminderSchedule::FromRequest(in.spec, in.now);
  if (!schedule.ok()) {
    CheckRefusal(schedule.status());
    return 0;
  }
  TRELLIS_FUZZ_CHECK(stored.ok());  // FromRequest checks everything FromStored checks
  CheckExpansion(*schedule, in);
  return 0;
}

}  // namespace trellis::fuzz

TRELLIS_FUZZ_ENTRY_POINT(trellis::fuzz::FuzzSchedule)
