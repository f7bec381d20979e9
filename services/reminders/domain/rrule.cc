#include "services/reminders/domain/rrule.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <numeric>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status/status.h"

namespace trellis::reminders {
namespace {

constexpr std::array<std::pair<absl::string_view, absl::Weekday>, 7> kWeekdayCodes = {{
    {"MO", absl::Weekday::monday},
    {"TU", absl::Weekday::tuesday},
    {"WE", absl::Weekday::wednesday},
    {"TH", absl::Weekday::thursday},
    {"FR", absl::Weekday::friday},
    {"SA", absl::Weekday::saturday},
    {"SU", absl::Weekday::sunday},
}};

std::optional<absl::Weekday> WeekdayFromCode(absl::string_view code) {
  for (const auto& [text, weekday] : kWeekdayCodes) {
    if (code == text) return weekday;
  }
  return std::nullopt;
}

absl::string_view WeekdayCode(absl::Weekday weekday) {
  for (const auto& [text, value] : kWeekdayCodes) {
    if (value == weekday) return text;
  }
  return "MO";
}

// Client text echoed in an error message is cut short: the message must stay readable and small.
std::string Quote(absl::string_view text) {
  constexpr size_t kMaxEcho = 24;
  if (text.size() <= kMaxEcho) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kMaxEcho), "...'");
}

// Parses [+|-]digits (at most 5 digits). `signed_ok` allows a sign.
bool ParseInteger(absl::string_view text, bool signed_ok, int* out) {
  bool negative = false;
  if (signed_ok && !text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) return false;
  *out = negative ? -value : value;
  return true;
}

// The rule parts reminders.proto accepts, and those it refuses with a specific reason.
constexpr std::array<absl::string_view, 11> kAcceptedParts = {
    "FREQ",    "INTERVAL", "COUNT",    "UNTIL",    "BYDAY", "BYMONTHDAY",
    "BYMONTH", "BYHOUR",   "BYMINUTE", "BYSETPOS", "WKST"};

class RuleParser {
 public:
  explicit RuleParser(absl::string_view field) : field_(field) {}

  absl::StatusOr<RecurrenceRule> Parse(absl::string_view text) {
    if (text.size() > kMaxRruleLength) {
      return Fail(absl::StrCat("longer than ", kMaxRruleLength, " characters"));
    }
    for (char c : text) {
      if (c == '\r' || c == '\n') return Fail("must not contain CR or LF");
    }
    for (char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) return Fail("must not contain control characters");
      if (byte >= 0x80) return Fail("must contain only ASCII characters");
    }
    std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
    absl::string_view rest = upper;
    absl::ConsumePrefix(&rest, "RRULE:");
    if (rest.empty()) return Fail("is empty");

    std::vector<std::string> seen;
    for (absl::string_view part : absl::StrSplit(rest, ';')) {
      if (part.empty()) return Fail("has an empty rule part (stray ';')");
      const size_t eq = part.find('=');
      if (eq == absl::string_view::npos) {
        return Fail(absl::StrCat("rule part ", Quote(part), " has no '=' and value"));
      }
      absl::string_view name = part.substr(0, eq);
      absl::string_view value = part.substr(eq + 1);
      if (std::find(kAcceptedParts.begin(), kAcceptedParts.end(), name) == kAcceptedParts.end()) {
        return Fail(absl::StrCat("rule part ", Quote(name), " is not supported (accepted: ",
                                 absl::StrJoin(kAcceptedParts, ", "), ")"));
      }
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        return Fail(absl::StrCat(name, " is given twice"));
      }
      seen.emplace_back(name);
      if (value.empty()) return Fail(absl::StrCat(name, " has an empty value"));
      if (absl::Status s = ParsePart(name, value); !s.ok()) return s;
    }
    if (!has_freq_) return Fail("FREQ is required");
    if (absl::Status s = CheckCombinations(); !s.ok()) return s;
    return rule_;
  }

 private:
  absl::Status Fail(absl::string_view reason) const { return InvalidField(field_, reason); }

  absl::Status ParsePart(absl::string_view name, absl::string_view value) {
    if (name == "FREQ") return ParseFreq(value);
    if (name == "INTERVAL") {
      int n = 0;
      if (!ParseInteger(value, /*signed_ok=*/false, &n) || n < 1 || n > kMaxInterval) {
        return Fail(absl::StrCat("INTERVAL must be a whole number from 1 to ", kMaxInterval));
      }
      rule_.interval = n;
      return absl::OkStatus();
    }
    if (name == "COUNT") {
      int n = 0;
      if (!ParseInteger(value, /*signed_ok=*/true, &n)) {
        return Fail("COUNT must be a whole number");
      }
      if (n < 1) return Fail("COUNT must be at least 1");
      if (n > kMaxCount) return Fail(absl::StrCat("COUNT must be at most ", kMaxCount));
      rule_.count = n;
      return absl::OkStatus();
    }
    if (name == "UNTIL") return ParseUntil(value);
    if (name == "BYDAY") return ParseByDay(value);
    if (name == "BYMONTHDAY") return ParseList(name, value, -31, 31, &rule_.by_month_day);
    if (name == "BYMONTH") return ParseList(name, value, 1, 12, &rule_.by_month);
    if (name == "BYHOUR") return ParseList(name, value, 0, 23, &rule_.by_hour);
    if (name == "BYMINUTE") return ParseList(name, value, 0, 59, &rule_.by_minute);
    if (name == "BYSETPOS") return ParseList(name, value, -366, 366, &rule_.by_set_pos);
    // WKST
    std::optional<absl::Weekday> weekday = WeekdayFromCode(value);
    if (!weekday.has_value()) return Fail("WKST must be one of MO, TU, WE, TH, FR, SA, SU");
    rule_.week_start = *weekday;
    return absl::OkStatus();
  }

  absl::Status ParseFreq(absl::string_view value) {
    has_freq_ = true;
    if (value == "DAILY") {
      rule_.freq = Frequency::kDaily;
    } else if (value == "WEEKLY") {
      rule_.freq = Frequency::kWeekly;
    } else if (value == "MONTHLY") {
      rule_.freq = Frequency::kMonthly;
    } else if (value == "YEARLY") {
      rule_.freq = Frequency::kYearly;
    } else if (value == "SECONDLY" || value == "MINUTELY" || value == "HOURLY") {
      return Fail(absl::StrCat("FREQ=", value,
                               " is not supported: reminders recur DAILY, WEEKLY, MONTHLY or "
                               "YEARLY (use BYHOUR/BYMINUTE for several times a day)"));
    } else {
      return Fail(
          absl::StrCat("FREQ ", Quote(value), " is not one of DAILY, WEEKLY, MONTHLY, YEARLY"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseUntil(absl::string_view value) {
    auto digits = [](absl::string_view s) {
      return std::all_of(s.begin(), s.end(),
                         [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
    };
    constexpr absl::string_view kForm =
        "UNTIL must be a UTC date-time YYYYMMDDTHHMMSSZ or a date YYYYMMDD";
    int year = 0, month = 0, day = 0;
    if (value.size() != 8 && value.size() != 16) return Fail(kForm);
    if (!digits(value.substr(0, 8))) return Fail(kForm);
    (void)absl::SimpleAtoi(value.substr(0, 4), &year);
    (void)absl::SimpleAtoi(value.substr(4, 2), &month);
    (void)absl::SimpleAtoi(value.substr(6, 2), &day);
    const absl::CivilDay civil_day(year, month, day);
    if (civil_day.year() != year || civil_day.month() != month || civil_day.day() != day ||
        year < 1900) {
      return Fail("UNTIL is not a valid date");
    }
    if (value.size() == 8) {
      rule_.until_date = civil_day;
      return absl::OkStatus();
    }
    if (value[8] != 'T' || value[15] != 'Z' || !digits(value.substr(9, 6))) {
      return Fail(kForm);
    }
    int hh = 0, mm = 0, ss = 0;
    (void)absl::SimpleAtoi(value.substr(9, 2), &hh);
    (void)absl::SimpleAtoi(value.substr(11, 2), &mm);
    (void)absl::SimpleAtoi(value.substr(13, 2), &ss);
    if (hh > 23 || mm > 59 || ss > 59) return Fail("UNTIL is not a valid time");
    rule_.until_instant =
        absl::FromCivil(absl::CivilSecond(year, month, day, hh, mm, ss), absl::UTCTimeZone());
    return absl::OkStatus();
  }

  absl::Status ParseByDay(absl::string_view value) {
    for (absl::string_view item : absl::StrSplit(value, ',')) {
      if (item.size() < 2) return Fail(absl::StrCat("BYDAY entry ", Quote(item), " is invalid"));
      std::optional<absl::Weekday> weekday = WeekdayFromCode(item.substr(item.size() - 2));
      absl::string_view ordinal_text = item.substr(0, item.size() - 2);
      int ordinal = 0;
      if (!weekday.has_value() ||
          (!ordinal_text.empty() &&
           (!ParseInteger(ordinal_text, /*signed_ok=*/true, &ordinal) || ordinal == 0))) {
        return Fail(
            absl::StrCat("BYDAY entry ", Quote(item), " is invalid (expected e.g. MO, 1FR, -1SU)"));
      }
      WeekdayNum entry{ordinal, *weekday};
      for (const WeekdayNum& existing : rule_.by_day) {
        if (existing.ordinal == entry.ordinal && existing.weekday == entry.weekday) {
          return Fail(absl::StrCat("BYDAY lists ", Quote(item), " twice"));
        }
      }
      rule_.by_day.push_back(entry);
    }
    return absl::OkStatus();
  }

  // A comma-separated list of integers in [min, max], zero refused when min < 0 (the signed
  // parts BYMONTHDAY and BYSETPOS count from 1 or from -1), duplicates refused.
  absl::Status ParseList(absl::string_view name, absl::string_view value, int min, int max,
                         std::vector<int>* out) {
    for (absl::string_view item : absl::StrSplit(value, ',')) {
      int n = 0;
      const bool in_range = ParseInteger(item, /*signed_ok=*/min < 0, &n) && n >= min && n <= max &&
                            !(min < 0 && n == 0);
      if (!in_range) {
        return Fail(min < 0 ? absl::StrCat(name, " values must be from 1 to ", max, " or from -",
                                           max, " to -1")
                            : absl::StrCat(name, " values must be from ", min, " to ", max));
      }
      if (std::find(out->begin(), out->end(), n) != out->end()) {
        return Fail(absl::StrCat(name, " lists ", n, " twice"));
      }
      out->push_back(n);
    }
    return absl::OkStatus();
  }

  absl::Status CheckCombinations() const {
    const RecurrenceRule& r = rule_;
    if (r.count.has_value() && (r.until_instant.has_value() || r.until_date.has_value())) {
      return Fail("COUNT and UNTIL cannot both be given");
    }
    const bool monthly_or_yearly = r.freq == Frequency::kMonthly || r.freq == Frequency::kYearly;
    const bool ordinals_in_year = r.freq == Frequency::kYearly && r.by_month.empty();
    for (const WeekdayNum& entry : r.by_day) {
      if (entry.ordinal == 0) continue;
      if (!monthly_or_yearly) {
        return Fail("BYDAY ordinals (e.g. 1MO, -1FR) need FREQ=MONTHLY or FREQ=YEARLY");
      }
      const int limit = ordinals_in_year ? 53 : 5;
      if (std::abs(entry.ordinal) > limit) {
        return Fail(absl::StrCat("BYDAY ordinal ", entry.ordinal, " is out of range (1 to ", limit,
                                 " or -", limit, " to -1 ",
                                 ordinals_in_year ? "in a year" : "in a month", ")"));
      }
      if (ordinals_in_year && !r.by_month_day.empty()) {
        return Fail("a YEARLY rule with BYDAY ordinals and BYMONTHDAY needs BYMONTH");
      }
    }
    if (r.freq == Frequency::kWeekly && !r.by_month_day.empty()) {
      return Fail("BYMONTHDAY cannot be used with FREQ=WEEKLY");
    }
    // libical's DAILY filter compares the day number with the value as written, so -1 would
    // never match; counting from the month's end is left to MONTHLY and YEARLY rules.
    if (r.freq == Frequency::kDaily &&
        std::any_of(r.by_month_day.begin(), r.by_month_day.end(), [](int d) { return d < 0; })) {
      return Fail("negative BYMONTHDAY values need FREQ=MONTHLY or FREQ=YEARLY");
    }
    // WKST only matters for a WEEKLY rule with INTERVAL > 1 and BYDAY (which days share a week),
    // and there libical 3.0 honours MO and SU but mis-phases weeks starting on other days.
    if (r.freq == Frequency::kWeekly && r.interval > 1 && !r.by_day.empty() &&
        r.week_start != absl::Weekday::monday && r.week_start != absl::Weekday::sunday) {
      return Fail("WKST must be MO or SU for a WEEKLY rule with INTERVAL and BYDAY");
    }
    if (!r.by_set_pos.empty()) {
      if (!monthly_or_yearly) return Fail("BYSETPOS needs FREQ=MONTHLY or FREQ=YEARLY");
      if (r.by_day.empty() && r.by_month_day.empty() && r.by_month.empty()) {
        return Fail("BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH to select from");
      }
      if (r.by_hour.size() > 1 || r.by_minute.size() > 1) {
        return Fail("BYSETPOS cannot be combined with several BYHOUR or BYMINUTE values");
      }
      // libical counts the set before removing days named twice ("31,-1" in a 31-day month,
      // "1MO,MO"), which shifts every position after them; refused rather than answered wrong.
      const bool both_ends =
          std::any_of(r.by_month_day.begin(), r.by_month_day.end(), [](int d) { return d < 0; }) &&
          std::any_of(r.by_month_day.begin(), r.by_month_day.end(), [](int d) { return d > 0; });
      if (both_ends) {
        return Fail(
            "BYSETPOS cannot be combined with BYMONTHDAY values counted from both ends of "
            "the month");
      }
      for (size_t i = 0; i < r.by_day.size(); ++i) {
        for (size_t j = i + 1; j < r.by_day.size(); ++j) {
          if (r.by_day[i].weekday == r.by_day[j].weekday) {
            return Fail("BYSETPOS cannot be combined with BYDAY naming a weekday twice");
          }
        }
      }
      if (r.freq == Frequency::kMonthly) {
        for (int pos : r.by_set_pos) {
          if (std::abs(pos) > 31) {
            return Fail("BYSETPOS values must be from 1 to 31 or -31 to -1 in a MONTHLY rule");
          }
        }
      }
    }
    return absl::OkStatus();
  }

  std::string field_;
  RecurrenceRule rule_;
  bool has_freq_ = false;
};

absl::string_view FreqName(Frequency freq) {
  switch (freq) {
    case Frequency::kDaily:
      return "DAILY";
    case Frequency::kWeekly:
      return "WEEKLY";
    case Frequency::kMonthly:
      return "MONTHLY";
    case Frequency::kYearly:
      return "YEARLY";
  }
  return "DAILY";
}

int DaysInMonth(int year, int month) {
  const absl::CivilMonth first(year, month);
  return static_cast<int>(absl::CivilDay(first + 1) - absl::CivilDay(first));
}

// Whether `day` (with its weekday, month length and year position) satisfies a BYDAY entry.
// Ordinals count within the month or within the year, as the rule's frequency says.
bool MatchesWeekday(const WeekdayNum& entry, absl::Weekday weekday, int index, int length) {
  if (entry.weekday != weekday) return false;
  if (entry.ordinal == 0) return true;
  const int from_start = (index - 1) / 7 + 1;
  const int from_end = -((length - index) / 7 + 1);
  return entry.ordinal == from_start || entry.ordinal == from_end;
}

}  // namespace

absl::StatusOr<RecurrenceRule> ParseRecurrenceRule(absl::string_view text,
                                                   absl::string_view field) {
  return RuleParser(field).Parse(text);
}

std::string ToLibicalRule(const RecurrenceRule& input) {
  // libical walks BYHOUR, BYMINUTE and the other lists assuming ascending order (an unsorted
  // "BYMINUTE=45,0" silently loses the :00 occurrences), so every list is sorted here.
  RecurrenceRule rule = input;
  for (std::vector<int>* list :
       {&rule.by_month_day, &rule.by_month, &rule.by_hour, &rule.by_minute, &rule.by_set_pos}) {
    std::sort(list->begin(), list->end());
  }
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("FREQ=", FreqName(rule.freq)));
  if (rule.interval != 1) parts.push_back(absl::StrCat("INTERVAL=", rule.interval));
  if (!rule.by_day.empty()) {
    parts.push_back(absl::StrCat(
        "BYDAY=", absl::StrJoin(rule.by_day, ",", [](std::string* out, const WeekdayNum& e) {
          if (e.ordinal != 0) absl::StrAppend(out, e.ordinal);
          absl::StrAppend(out, WeekdayCode(e.weekday));
        })));
  }
  if (!rule.by_month_day.empty()) {
    parts.push_back(absl::StrCat("BYMONTHDAY=", absl::StrJoin(rule.by_month_day, ",")));
  }
  if (!rule.by_month.empty()) {
    parts.push_back(absl::StrCat("BYMONTH=", absl::StrJoin(rule.by_month, ",")));
  } else if (rule.freq == Frequency::kYearly && !rule.by_month_day.empty()) {
    parts.push_back("BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12");
  }
  if (!rule.by_hour.empty()) {
    parts.push_back(absl::StrCat("BYHOUR=", absl::StrJoin(rule.by_hour, ",")));
  }
  if (!rule.by_minute.empty()) {
    parts.push_back(absl::StrCat("BYMINUTE=", absl::StrJoin(rule.by_minute, ",")));
  }
  if (!rule.by_set_pos.empty()) {
    parts.push_back(absl::StrCat("BYSETPOS=", absl::StrJoin(rule.by_set_pos, ",")));
  }
  if (rule.week_start != absl::Weekday::monday) {
    parts.push_back(absl::StrCat("WKST=", WeekdayCode(rule.week_start)));
  }
  return absl::StrJoin(parts, ";");
}

bool DayPatternCanMatch(const RecurrenceRule& rule, absl::CivilSecond dtstart) {
  const absl::Weekday start_weekday = absl::GetWeekday(absl::CivilDay(dtstart));

  // Months in which a period can produce days.
  std::array<bool, 13> month_ok{};
  if (!rule.by_month.empty()) {
    for (int m : rule.by_month) month_ok[m] = true;
  } else if (rule.freq == Frequency::kYearly && rule.by_month_day.empty() && rule.by_day.empty()) {
    month_ok[dtstart.month()] = true;
  } else {
    month_ok.fill(true);
  }
  if (rule.freq == Frequency::kMonthly && rule.interval > 1) {
    // Every INTERVAL-th month from DTSTART reaches only one residue class of months of the year.
    const int step = std::gcd(rule.interval, 12);
    for (int m = 1; m <= 12; ++m) {
      if (((m - dtstart.month()) % step + step) % step != 0) month_ok[m] = false;
    }
  }

  // Without BYMONTHDAY and BYDAY, MONTHLY and YEARLY rules repeat DTSTART's day of the month.
  const bool start_day_only =
      (rule.freq == Frequency::kMonthly || rule.freq == Frequency::kYearly) &&
      rule.by_month_day.empty() && rule.by_day.empty();
  std::vector<WeekdayNum> weekdays = rule.by_day;
  if (rule.freq == Frequency::kWeekly && weekdays.empty()) {
    weekdays.push_back({0, start_weekday});
  }
  // A DAILY rule stepping whole weeks stays on DTSTART's weekday.
  const bool start_weekday_only = rule.freq == Frequency::kDaily && rule.interval % 7 == 0;
  const bool ordinals_in_year = rule.freq == Frequency::kYearly && rule.by_month.empty();

  int min_set_pos = 0;
  for (int pos : rule.by_set_pos) {
    min_set_pos = min_set_pos == 0 ? std::abs(pos) : std::min(min_set_pos, std::abs(pos));
  }

  // 2000-2027 holds every (leap year, weekday of 1 January) combination, so every month shape
  // (length, weekday of its first day) that any year can have appears in it.
  for (int year = 2000; year < 2028; ++year) {
    const absl::CivilDay new_year(year, 1, 1);
    const int year_length = static_cast<int>(absl::CivilDay(year + 1, 1, 1) - new_year);
    int year_count = 0;
    for (int month = 1; month <= 12; ++month) {
      if (!month_ok[month]) continue;
      const int length = DaysInMonth(year, month);
      int month_count = 0;
      for (int d = 1; d <= length; ++d) {
        const absl::CivilDay day(year, month, d);
        const absl::Weekday weekday = absl::GetWeekday(day);
        if (!rule.by_month_day.empty()) {
          const bool hit =
              std::any_of(rule.by_month_day.begin(), rule.by_month_day.end(),
                          [&](int md) { return md > 0 ? d == md : d == length + 1 + md; });
          if (!hit) continue;
        } else if (start_day_only && d != dtstart.day()) {
          continue;
        }
        if (start_weekday_only && weekday != start_weekday) continue;
        if (!weekdays.empty()) {
          const int index = ordinals_in_year ? static_cast<int>(day - new_year) + 1 : d;
          const int span = ordinals_in_year ? year_length : length;
          const bool hit = std::any_of(
              weekdays.begin(), weekdays.end(),
              [&](const WeekdayNum& entry) { return MatchesWeekday(entry, weekday, index, span); });
          if (!hit) continue;
        }
        ++month_count;
      }
      if (month_count > 0 && min_set_pos == 0) return true;
      if (rule.freq == Frequency::kMonthly && min_set_pos > 0 && month_count >= min_set_pos) {
        return true;
      }
      year_count += month_count;
    }
    if (rule.freq == Frequency::kYearly && min_set_pos > 0 && year_count >= min_set_pos) {
      return true;
    }
  }
  return false;
}

}  // namespace trellis::reminders
