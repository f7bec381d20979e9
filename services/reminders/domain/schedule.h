#pragma once

// A reminder's schedule: an RFC 5545 recurrence (RRULE + EXDATE) anchored at a local start
// date-time in an IANA time zone, turned into UTC instants.
//
// Why two libraries: a reminder recurs in wall-clock time ("20:00 every day, London time"), so
// the rule is expanded by libical in *floating* local time (no zone attached, so libical never
// applies its own, older zone tables), and each local date-time is then converted to UTC with
// absl::TimeZone over the system tzdata, which is what the rest of the service uses for instants.
// The conversion is where the DST policy of reminders.proto lives:
// - a local time inside a spring-forward gap fires shifted forward by the gap (02:30 -> 03:30);
// - a local time inside a fall-back overlap fires once, at its first (pre-transition) instance.
// Both are absl::TimeZone::CivilInfo::pre: for a SKIPPED time `pre` uses the offset before the
// transition, which lands after the gap; for a REPEATED time it is the earlier instant.
//
// Occurrences are returned in strictly increasing UTC order. The only way two rule times can map
// to the same or an out-of-order instant is through a gap (02:30 shifted to 03:30 meets a rule
// time of 03:30); such a later one is merged into the earlier (it fires once).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/reminders/domain/rrule.h"

namespace trellis::reminders {

inline constexpr int kMaxExdates = 1000;
inline constexpr size_t kMaxTimeZoneLength = 64;
inline constexpr int kMaxPreviewCount = 500;
inline constexpr int kDefaultPreviewCount = 10;

// A wall-clock date-time without a zone, field for field like trellis.v1.LocalDateTime (so the
// handler copies it without interpretation and validation can name what is wrong).
struct LocalDateTime {
  int year = 0;
  int month = 0;
  int day = 0;
  int hours = 0;
  int minutes = 0;
  int seconds = 0;
};

// The input of a schedule, as trellis.v1.Schedule carries it.
struct ScheduleSpec {
  LocalDateTime start;
  std::string time_zone;
  // RRULE value; empty means a single occurrence at `start`.
  std::string rrule;
  std::vector<LocalDateTime> exdates;
};

struct ScheduleOptions {
  // Occurrences closer together than this are refused (the "floor"). Measured in wall-clock
  // time between consecutive rule occurrences, so a DST change (which for one night brings two
  // local times an hour closer in UTC) does not make a rule valid or invalid by its start date.
  absl::Duration min_interval = absl::Minutes(15);
  // How many occurrences from DTSTART the floor check expands (it also stops five years after
  // DTSTART). Two rule times closer than the floor fall on one day or on adjacent days, and every
  // time-of-day pattern repeats within one period of the rule, so this shows the smallest gap.
  // A rule with one time of day (at most one BYHOUR and one BYMINUTE) is not expanded when
  // min_interval is a day or less: its times are at least a day apart.
  int floor_check_occurrences = 500;
  // Prefix of the field paths in errors: "schedule" gives "schedule.rrule". The handler of
  // CreateReminder merges these under "reminder".
  std::string field_prefix = "schedule";
  // Fast-forward the expansion to the query time instead of walking from DTSTART (not possible
  // with COUNT). Only tests turn this off, to compare both paths.
  bool skip_ahead = true;
};

// One occurrence of a schedule.
struct Occurrence {
  // The UTC instant it fires (after the DST policy).
  absl::Time time;
  // The local date-time the rule produced, before any DST shift.
  absl::CivilSecond rule_local_time;
  // True when rule_local_time did not exist (spring-forward gap) and was shifted forward.
  bool shifted = false;
  // `time` in the schedule's zone, RFC 3339 with offset: "2024-03-10T03:30:00-04:00".
  std::string local_time;
};

struct SchedulePreview {
  // In time order, at most the count asked for.
  std::vector<Occurrence> occurrences;
  // True when the schedule has no occurrence after the last one returned.
  bool exhausted = false;
};

// A validated, immutable schedule. Copies are cheap and share the parsed rule; all methods are
// const and safe to call from several threads at once.
class ReminderSchedule {
 public:
  // Validates a schedule a client sent (CreateReminder, UpdateReminder, PreviewSchedule) and
  // compiles it. INVALID_ARGUMENT with a BadRequest naming "<prefix>.start", "<prefix>.time_zone",
  // "<prefix>.rrule" or "<prefix>.exdates[i]" and the reason; all violations at once where they
  // are independent. Beyond the parse (see ParseRecurrenceRule) it refuses: an unknown zone; an
  // invalid start or exdate; more than kMaxExdates exdates; UNTIL in the past relative to `now`;
  // a rule that never produces an occurrence; a schedule with no occurrence after `now` (COUNT
  // used up, everything excluded, a single start in the past); occurrences closer together than
  // options.min_interval. Cost: a parse, a calendar pre-check and an expansion of up to
  // options.floor_check_occurrences occurrences within five years of DTSTART (about 2 ms for a
  // twice-daily rule; tens of ms for rare rules such as Feb 29 every 4th year), skipped for a rule
  // with one time of day (see ScheduleOptions).
  static absl::StatusOr<ReminderSchedule> FromRequest(const ScheduleSpec& spec, absl::Time now,
                                                      const ScheduleOptions& options = {});

  // Compiles a schedule that was validated when it was stored. Checks only what can be checked
  // cheaply (syntax, zone, dates), not the clock-dependent or expansion-based rules, so that a
  // dispatcher can recompile a reminder on every claim; a schedule whose UNTIL has passed simply
  // has no next occurrence.
  static absl::StatusOr<ReminderSchedule> FromStored(const ScheduleSpec& spec,
                                                     const ScheduleOptions& options = {});

  // The first occurrence strictly after `after`, or nullopt when the schedule has ended (COUNT or
  // UNTIL reached, single occurrence past, or nothing before libical's horizon, year 2582).
  //
  // Cost: without COUNT, libical's iterator is moved to a few days before `after`
  // (icalrecur_iterator_set_start), so the cost is that of a few occurrences however long the
  // reminder has run (tens of microseconds). With COUNT the expansion must walk from DTSTART
  // (COUNT counts from there), so the cost grows with the occurrences already past, bounded by
  // COUNT <= kMaxCount (about 5 microseconds each).
  std::optional<Occurrence> NextOccurrence(absl::Time after) const;

  // The first `count` occurrences at or after `from`, for PreviewSchedule. `count` 0 means
  // kDefaultPreviewCount; outside 0..kMaxPreviewCount is INVALID_ARGUMENT naming "count".
  absl::StatusOr<SchedulePreview> Preview(absl::Time from, int count) const;

  // Whether `t` is exactly one of the schedule's occurrence instants (for occurrence ids sent by
  // clients).
  bool IsOccurrence(absl::Time t) const;

  // `t` in the schedule's zone, RFC 3339 with offset ("2024-11-03T01:30:00-04:00").
  std::string LocalTimeText(absl::Time t) const;

  const absl::TimeZone& time_zone() const;
  absl::CivilSecond start() const;
  // The parsed rule, or nullopt for a single-occurrence schedule.
  const std::optional<RecurrenceRule>& rule() const;

  // Implementation state shared between copies (defined in schedule.cc; keeps libical out of
  // this header).
  struct Compiled;

 private:
  explicit ReminderSchedule(std::shared_ptr<const Compiled> compiled)
      : compiled_(std::move(compiled)) {}

  static absl::StatusOr<ReminderSchedule> Compile(const ScheduleSpec& spec,
                                                  const ScheduleOptions& options);

  std::shared_ptr<const Compiled> compiled_;
};

// A local date-time in `zone` converted to UTC under the reminders DST policy (see the top of
// this file). `shifted` is set when `local` fell into a gap.
absl::Time LocalToUtc(absl::CivilSecond local, const absl::TimeZone& zone, bool* shifted = nullptr);

}  // namespace trellis::reminders
