#include "services/reminders/domain/schedule.h"

#include <libical/ical.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis::reminders {

// A local start or exdate outside this range is refused: libical does not expand past 2582, and
// nothing a therapy reminder needs lies before 1900.
constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2500;

struct ReminderSchedule::Compiled {
  absl::CivilSecond start;
  // The DTSTART libical expands from: `start`, or an earlier date-time in the same phase (see
  // LibicalStart). Rule times before `start` are dropped.
  absl::CivilSecond libical_start;
  absl::TimeZone zone;
  // Unset: a single occurrence at `start`.
  std::optional<RecurrenceRule> rule;
  // libical's form of `rule` (with UNTIL rewritten as a floating local bound, see Compile).
  icalrecurrencetype ical_rule;
  // Sorted, unique.
  std::vector<absl::CivilSecond> exdates;
  ScheduleOptions options;
};

namespace {

// Where libical starts expanding. libical 3.0 mis-phases a WEEKLY rule with INTERVAL > 1 when
// DTSTART's weekday is not in BYDAY (it anchors the interval at the first matching day, one or
// more periods late: every 3rd week on SU from a Monday skips the first Sunday). Expanding from
// the latest matching weekday at or before DTSTART in a week of the same phase (counted with
// WKST) gives libical a synchronized DTSTART with the same weeks and times of day; the times
// before the real start are then dropped, and COUNT is counted by the walker from there.
absl::CivilSecond LibicalStart(const RecurrenceRule& rule, absl::CivilSecond start) {
  if (rule.freq != Frequency::kWeekly || rule.interval == 1 || rule.by_day.empty()) return start;
  auto in_by_day = [&rule](absl::Weekday weekday) {
    return std::any_of(rule.by_day.begin(), rule.by_day.end(),
                       [weekday](const WeekdayNum& e) { return e.weekday == weekday; });
  };
  const absl::CivilDay start_day(start);
  if (in_by_day(absl::GetWeekday(start_day))) return start;
  // Week number of a day, counting weeks that begin on WKST.
  const absl::CivilDay week_anchor = absl::PrevWeekday(absl::CivilDay(2000, 1, 8), rule.week_start);
  auto week_of = [&week_anchor](absl::CivilDay day) {
    const absl::civil_diff_t days = day - week_anchor;
    return days >= 0 ? days / 7 : -((-days + 6) / 7);
  };
  const absl::civil_diff_t start_week = week_of(start_day);
  for (absl::CivilDay day = start_day - 1;
       day > start_day - absl::civil_diff_t{7} * (rule.interval + 2); --day) {
    const absl::civil_diff_t offset = start_week - week_of(day);
    if (offset % rule.interval == 0 && in_by_day(absl::GetWeekday(day))) {
      return absl::CivilSecond(day.year(), day.month(), day.day(), start.hour(), start.minute(),
                               start.second());
    }
  }
  return start;  // unreachable: BYDAY names a weekday of the same-phase week before
}

// libical reports malformed input through a thread-local error number; it must never abort the
// process for it (a build option that some distributions turn on), so that is switched off once.
void EnsureLibicalErrorsAreNotFatal() {
  static const bool kDone = [] {
    icalerror_set_errors_are_fatal(0);
    return true;
  }();
  (void)kDone;
}

// Why a LocalDateTime is not a usable wall-clock date-time, or empty when it is.
std::string LocalDateTimeProblem(const LocalDateTime& t) {
  if (t.year < kMinYear || t.year > kMaxYear) {
    return absl::StrCat("year must be from ", kMinYear, " to ", kMaxYear);
  }
  if (t.month < 1 || t.month > 12) return "month must be from 1 to 12";
  const absl::CivilDay day(t.year, t.month, t.day);
  if (t.day < 1 || day.month() != t.month || day.day() != t.day) {
    return "day is not a valid day of that month";
  }
  if (t.hours < 0 || t.hours > 23) return "hours must be from 0 to 23";
  if (t.minutes < 0 || t.minutes > 59) return "minutes must be from 0 to 59";
  if (t.seconds < 0 || t.seconds > 59) return "seconds must be from 0 to 59";
  return "";
}

absl::CivilSecond ToCivil(const LocalDateTime& t) {
  return absl::CivilSecond(t.year, t.month, t.day, t.hours, t.minutes, t.seconds);
}

// Zone names become file paths under the tzdata directory inside absl, so anything but the
// characters IANA names use (and any "..") is refused before a lookup.
std::string TimeZoneProblem(absl::string_view name, absl::TimeZone* zone) {
  if (name.empty()) return "is required (an IANA time zone such as \"Europe/London\")";
  if (name.size() > kMaxTimeZoneLength) {
    return absl::StrCat("longer than ", kMaxTimeZoneLength, " characters");
  }
  const bool charset_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
  if (!charset_ok || name.front() == '/' || name.find("..") != absl::string_view::npos ||
      name == "localtime") {
    return "is not an IANA time zone name";
  }
  if (!absl::LoadTimeZone(std::string(name), zone)) {
    return "is not a time zone known to the tz database";
  }
  return "";
}

icaltimetype ToIcal(absl::CivilSecond c) {
  icaltimetype t = icaltime_null_time();
  t.year = static_cast<int>(c.year());
  t.month = c.month();
  t.day = c.day();
  t.hour = c.hour();
  t.minute = c.minute();
  t.second = c.second();
  t.is_date = 0;
  t.zone = nullptr;  // floating: libical applies no zone of its own
  return t;
}

absl::CivilSecond FromIcal(const icaltimetype& t) {
  return absl::CivilSecond(t.year, t.month, t.day, t.hour, t.minute, t.second);
}

// How far before a query the expansion resumes. An occurrence whose rule time is earlier than the
// query's local time can still fire after it when a gap shifts it forward (by an hour, or by a
// whole day for a zone that skipped a date, such as Pacific/Apia in 2011); resuming days earlier
// also gives the merge rule (see schedule.h) the same history as a walk from DTSTART.
constexpr absl::civil_diff_t kResumeMarginSeconds = absl::civil_diff_t{3} * 24 * 3600;

// A walk over a schedule's occurrences in time order. Owns one libical iterator.
class OccurrenceWalker {
 public:
  struct Candidate {
    absl::CivilSecond local;
    absl::Time time;
    bool shifted = false;
  };

  // Starts at DTSTART, or at `resume` when that is later and the rule allows fast-forwarding.
  OccurrenceWalker(const ReminderSchedule::Compiled& c, std::optional<absl::CivilSecond> resume)
      : c_(c) {
    if (!c_.rule.has_value()) return;
    iterator_ = icalrecur_iterator_new(c_.ical_rule, ToIcal(c_.libical_start));
    if (iterator_ == nullptr) {
      ended_ = true;  // libical found no first occurrence at all
      return;
    }
    if (resume.has_value() && *resume > c_.start && c_.options.skip_ahead &&
        !c_.rule->count.has_value()) {
      if (icalrecur_iterator_set_start(iterator_, ToIcal(*resume)) == 0) ended_ = true;
    }
  }

  ~OccurrenceWalker() {
    if (iterator_ != nullptr) icalrecur_iterator_free(iterator_);
  }

  OccurrenceWalker(const OccurrenceWalker&) = delete;
  OccurrenceWalker& operator=(const OccurrenceWalker&) = delete;

  // The next local date-time the rule produces (before UNTIL, EXDATE and the DST policy).
  std::optional<absl::CivilSecond> NextRuleTime() {
    if (ended_) return std::nullopt;
    if (!c_.rule.has_value()) {
      ended_ = true;
      return c_.start;
    }
    while (true) {
      // Checked before asking libical, which can search a long way for a rare rule's next time.
      if (c_.rule->count.has_value() && produced_ >= *c_.rule->count) {
        ended_ = true;
        return std::nullopt;
      }
      const icaltimetype next = icalrecur_iterator_next(iterator_);
      if (icaltime_is_null_time(next)) {
        ended_ = true;
        return std::nullopt;
      }
      const absl::CivilSecond local = FromIcal(next);
      if (local < c_.start) continue;  // expanded from an earlier libical_start
      ++produced_;
      return local;
    }
  }

  // The next occurrence, with UNTIL, EXDATE, the DST policy and the merge rule applied.
  std::optional<Candidate> Next() {
    while (std::optional<absl::CivilSecond> local = NextRuleTime()) {
      if (c_.rule.has_value() && c_.rule->until_date.has_value() &&
          absl::CivilDay(*local) > *c_.rule->until_date) {
        ended_ = true;
        return std::nullopt;
      }
      if (std::binary_search(c_.exdates.begin(), c_.exdates.end(), *local)) continue;
      Candidate candidate{*local, absl::InfinitePast(), false};
      candidate.time = LocalToUtc(*local, c_.zone, &candidate.shifted);
      if (c_.rule.has_value() && c_.rule->until_instant.has_value() &&
          candidate.time > *c_.rule->until_instant) {
        ended_ = true;
        return std::nullopt;
      }
      if (last_.has_value() && candidate.time <= *last_) continue;  // merged after a gap
      last_ = candidate.time;
      return candidate;
    }
    return std::nullopt;
  }

 private:
  const ReminderSchedule::Compiled& c_;
  icalrecur_iterator* iterator_ = nullptr;
  bool ended_ = false;
  // Rule times returned so far (COUNT; the walker only counts when it started at DTSTART).
  int produced_ = 0;
  std::optional<absl::Time> last_;
};

// How far past the start the floor check looks (see FromRequest).
constexpr absl::civil_diff_t kFloorCheckHorizonSeconds = absl::civil_diff_t{5} * 366 * 24 * 3600;

// libical expands nothing after this year.
constexpr int kLastExpandedYear = 2582;

std::optional<absl::CivilSecond> ResumePoint(const ReminderSchedule::Compiled& c, absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return std::nullopt;
  return absl::ToCivilSecond(t, c.zone) - kResumeMarginSeconds;
}

bool BeyondHorizon(const ReminderSchedule::Compiled& c, absl::Time t) {
  return t == absl::InfiniteFuture() || absl::ToCivilSecond(t, c.zone).year() > kLastExpandedYear;
}

Occurrence ToOccurrence(const OccurrenceWalker::Candidate& candidate, const absl::TimeZone& zone) {
  Occurrence occurrence;
  occurrence.time = candidate.time;
  occurrence.rule_local_time = candidate.local;
  occurrence.shifted = candidate.shifted;
  occurrence.local_time = absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", candidate.time, zone);
  return occurrence;
}

}  // namespace

absl::Time LocalToUtc(absl::CivilSecond local, const absl::TimeZone& zone, bool* shifted) {
  const absl::TimeZone::TimeInfo info = zone.At(local);
  if (shifted != nullptr) *shifted = info.kind == absl::TimeZone::TimeInfo::SKIPPED;
  // UNIQUE: pre == trans == post. SKIPPED (gap): `pre` applies the offset in force before the
  // transition, which puts the instant after the gap by exactly the gap's length (02:30 EST =
  // 03:30 EDT). REPEATED (overlap): `pre` is the earlier of the two instants (01:30 EDT).
  return info.pre;
}

absl::StatusOr<ReminderSchedule> ReminderSchedule::Compile(const ScheduleSpec& spec,
                                                           const ScheduleOptions& options) {
  EnsureLibicalErrorsAreNotFatal();
  const std::string& prefix = options.field_prefix;
  auto field = [&prefix](absl::string_view name) {
    return prefix.empty() ? std::string(name) : absl::StrCat(prefix, ".", name);
  };

  auto compiled = std::make_shared<Compiled>();
  compiled->options = options;
  FieldViolations violations;

  if (std::string problem = LocalDateTimeProblem(spec.start); !problem.empty()) {
    violations.Add(field("start"), problem);
  } else {
    compiled->start = ToCivil(spec.start);
    compiled->libical_start = compiled->start;
  }
  if (std::string problem = TimeZoneProblem(spec.time_zone, &compiled->zone); !problem.empty()) {
    violations.Add(field("time_zone"), problem);
  }
  if (spec.exdates.size() > static_cast<size_t>(kMaxExdates)) {
    violations.Add(field("exdates"), absl::StrCat("more than ", kMaxExdates, " entries"));
  } else {
    constexpr size_t kMaxReported = 10;  // enough to fix them; keeps the error small
    size_t reported = 0;
    for (size_t i = 0; i < spec.exdates.size(); ++i) {
      if (std::string problem = LocalDateTimeProblem(spec.exdates[i]); !problem.empty()) {
        if (reported++ < kMaxReported) {
          violations.Add(field(absl::StrCat("exdates[", i, "]")), problem);
        }
        continue;
      }
      compiled->exdates.push_back(ToCivil(spec.exdates[i]));
    }
    std::sort(compiled->exdates.begin(), compiled->exdates.end());
    compiled->exdates.erase(std::unique(compiled->exdates.begin(), compiled->exdates.end()),
                            compiled->exdates.end());
  }
  if (!spec.rrule.empty()) {
    absl::StatusOr<RecurrenceRule> rule = ParseRecurrenceRule(spec.rrule, field("rrule"));
    if (rule.ok()) {
      compiled->rule = *std::move(rule);
    } else {
      violations.Merge(rule.status());
    }
  }
  if (!violations.empty()) return violations.ToStatus();

  if (compiled->rule.has_value()) {
    const std::string text = ToLibicalRule(*compiled->rule);
    icalerror_clear_errno();
    compiled->ical_rule = icalrecurrencetype_from_string(text.c_str());
    if (compiled->ical_rule.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
      icalerror_clear_errno();
      return InvalidField(field("rrule"), "is not a valid recurrence rule");
    }
    compiled->libical_start = LibicalStart(*compiled->rule, compiled->start);
    // UNTIL is applied by the walker against UTC (or the local date); libical gets a floating
    // bound a day past it only so that it stops expanding there.
    const RecurrenceRule& rule = *compiled->rule;
    if (rule.until_date.has_value()) {
      compiled->ical_rule.until = ToIcal(absl::CivilSecond(*rule.until_date + 1) - 1);
    } else if (rule.until_instant.has_value()) {
      const absl::CivilSecond local = absl::ToCivilSecond(*rule.until_instant, compiled->zone);
      compiled->ical_rule.until = ToIcal(local + absl::civil_diff_t{24} * 3600);
    }
  }
  return ReminderSchedule(std::move(compiled));
}

absl::StatusOr<ReminderSchedule> ReminderSchedule::FromStored(const ScheduleSpec& spec,
                                                              const ScheduleOptions& options) {
  return Compile(spec, options);
}

absl::StatusOr<ReminderSchedule> ReminderSchedule::FromRequest(const ScheduleSpec& spec,
                                                               absl::Time now,
                                                               const ScheduleOptions& options) {
  absl::StatusOr<ReminderSchedule> schedule = Compile(spec, options);
  if (!schedule.ok()) return schedule.status();
  const Compiled& c = *schedule->compiled_;
  const std::string& prefix = options.field_prefix;
  auto field = [&prefix](absl::string_view name) {
    return prefix.empty() ? std::string(name) : absl::StrCat(prefix, ".", name);
  };

  if (c.rule.has_value()) {
    const RecurrenceRule& rule = *c.rule;
    if (rule.until_instant.has_value() && *rule.until_instant <= now) {
      return InvalidField(field("rrule"), "UNTIL is in the past");
    }
    if (rule.until_date.has_value() &&
        LocalToUtc(absl::CivilSecond(*rule.until_date + 1), c.zone) <= now) {
      return InvalidField(field("rrule"), "UNTIL is in the past");
    }
    if ((rule.until_date.has_value() && *rule.until_date < absl::CivilDay(c.start)) ||
        (rule.until_instant.has_value() && *rule.until_instant < LocalToUtc(c.start, c.zone))) {
      return InvalidField(field("rrule"), "UNTIL is before the start");
    }
    constexpr absl::string_view kNever = "the rule never produces an occurrence";
    if (!DayPatternCanMatch(rule, c.start)) {
      return InvalidField(field("rrule"),
                          absl::StrCat(kNever,
                                       " (no day satisfies BYMONTH, BYMONTHDAY, BYDAY "
                                       "and BYSETPOS together)"));
    }
    // The floor, over the rule's own wall-clock times from DTSTART (before EXDATE and DST).
    OccurrenceWalker walker(c, std::nullopt);
    std::optional<absl::CivilSecond> previous = walker.NextRuleTime();
    if (!previous.has_value()) {
      return InvalidField(field("rrule"), absl::StrCat(kNever, " after the start"));
    }
    // A sparse rule (every Friday the 13th) would make 500 occurrences centuries of expansion;
    // two rule times closer than the floor share a day or adjacent days, which any rule shows
    // within one leap-year cycle.
    const absl::CivilSecond floor_horizon = c.start + kFloorCheckHorizonSeconds;
    // With at most one BYHOUR and one BYMINUTE value (and no sub-daily FREQ or BYSECOND, which
    // the parser refuses) a rule has one time of day: its times fall on different days, 24 hours
    // of wall clock or more apart, so a floor of up to a day holds without expanding the rule.
    // That is most reminders ("daily at 20:00"), and the expansion was almost all of the cost of
    // CreateReminder (docs/performance.md).
    const bool one_time_of_day = rule.by_hour.size() <= 1 && rule.by_minute.size() <= 1;
    const int floor_checks = one_time_of_day && options.min_interval <= absl::Hours(24)
                                 ? 0
                                 : options.floor_check_occurrences;
    for (int i = 1; i < floor_checks; ++i) {
      std::optional<absl::CivilSecond> next = walker.NextRuleTime();
      if (!next.has_value() || *next > floor_horizon) break;
      const absl::Duration gap = absl::Seconds(*next - *previous);
      if (gap > absl::ZeroDuration() && gap < options.min_interval) {
        return InvalidField(
            field("rrule"),
            absl::StrCat("occurrences come ", absl::FormatDuration(gap), " apart; the minimum is ",
                         absl::FormatDuration(options.min_interval)));
      }
      previous = next;
    }
  }
  if (!schedule->NextOccurrence(now).has_value()) {
    if (!c.rule.has_value()) {
      if (std::binary_search(c.exdates.begin(), c.exdates.end(), c.start)) {
        return InvalidField(field("exdates"), "excludes the only occurrence (the start)");
      }
      return InvalidField(field("start"),
                          "is in the past (without an rrule the schedule fires once, at start)");
    }
    return InvalidField(field("rrule"),
                        "the schedule has no occurrence after now (COUNT or UNTIL reached, or "
                        "every remaining occurrence is in exdates)");
  }
  return schedule;
}

std::optional<Occurrence> ReminderSchedule::NextOccurrence(absl::Time after) const {
  if (BeyondHorizon(*compiled_, after)) return std::nullopt;
  OccurrenceWalker walker(*compiled_, ResumePoint(*compiled_, after));
  while (std::optional<OccurrenceWalker::Candidate> candidate = walker.Next()) {
    if (candidate->time > after) return ToOccurrence(*candidate, compiled_->zone);
  }
  return std::nullopt;
}

absl::StatusOr<SchedulePreview> ReminderSchedule::Preview(absl::Time from, int count) const {
  if (count < 0 || count > kMaxPreviewCount) {
    return InvalidField("count", absl::StrCat("must be from 0 to ", kMaxPreviewCount, " (0 means ",
                                              kDefaultPreviewCount, ")"));
  }
  if (count == 0) count = kDefaultPreviewCount;
  SchedulePreview preview;
  if (BeyondHorizon(*compiled_, from)) {
    preview.exhausted = true;
    return preview;
  }
  preview.occurrences.reserve(count);
  OccurrenceWalker walker(*compiled_, ResumePoint(*compiled_, from));
  while (std::optional<OccurrenceWalker::Candidate> candidate = walker.Next()) {
    if (candidate->time < from) continue;
    if (static_cast<int>(preview.occurrences.size()) == count) return preview;  // more follow
    preview.occurrences.push_back(ToOccurrence(*candidate, compiled_->zone));
  }
  preview.exhausted = true;
  return preview;
}

bool ReminderSchedule::IsOccurrence(absl::Time t) const {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return false;
  std::optional<Occurrence> occurrence = NextOccurrence(t - absl::Nanoseconds(1));
  return occurrence.has_value() && occurrence->time == t;
}

std::string ReminderSchedule::LocalTimeText(absl::Time t) const {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", t, compiled_->zone);
}

const absl::TimeZone& ReminderSchedule::time_zone() const { return compiled_->zone; }

absl::CivilSecond ReminderSchedule::start() const { return compiled_->start; }

const std::optional<RecurrenceRule>& ReminderSchedule::rule() const { return compiled_->rule; }

}  // namespace trellis::reminders
