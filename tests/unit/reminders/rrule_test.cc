// The RRULE parser and the calendar pre-check, below the schedule.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status/status.h"
#include "services/reminders/domain/rrule.h"

namespace trellis::reminders {
namespace {

using ::testing::ElementsAre;

RecurrenceRule Parse(absl::string_view text) {
  absl::StatusOr<RecurrenceRule> rule = ParseRecurrenceRule(text, "rrule");
  EXPECT_TRUE(rule.ok()) << text << ": " << rule.status();
  return rule.value_or(RecurrenceRule{});
}

bool CanMatch(absl::string_view text,
              absl::CivilSecond start = absl::CivilSecond(2024, 6, 3, 9, 0, 0)) {
  return DayPatternCanMatch(Parse(text), start);
}

TEST(RecurrenceRule, ParsesEveryAcceptedPart) {
  RecurrenceRule rule = Parse(
      "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU,+2MO;BYMONTHDAY=1,-1;BYMONTH=1,6;"
      "BYHOUR=9;BYMINUTE=30;WKST=SU");
  EXPECT_EQ(rule.freq, Frequency::kMonthly);
  EXPECT_EQ(rule.interval, 2);
  EXPECT_EQ(rule.count, 10);
  ASSERT_EQ(rule.by_day.size(), 3u);
  EXPECT_EQ(rule.by_day[0].ordinal, 1);
  EXPECT_EQ(rule.by_day[0].weekday, absl::Weekday::sunday);
  EXPECT_EQ(rule.by_day[1].ordinal, -1);
  EXPECT_EQ(rule.by_day[2].ordinal, 2);
  EXPECT_EQ(rule.by_day[2].weekday, absl::Weekday::monday);
  EXPECT_THAT(rule.by_month_day, ElementsAre(1, -1));
  EXPECT_THAT(rule.by_month, ElementsAre(1, 6));
  EXPECT_THAT(rule.by_hour, ElementsAre(9));
  EXPECT_THAT(rule.by_minute, ElementsAre(30));
  EXPECT_EQ(rule.week_start, absl::Weekday::sunday);
}

TEST(RecurrenceRule, ParsesBothUntilForms) {
  RecurrenceRule instant = Parse("FREQ=DAILY;UNTIL=20241224T000000Z");
  ASSERT_TRUE(instant.until_instant.has_value());
  EXPECT_EQ(*instant.until_instant,
            absl::FromCivil(absl::CivilSecond(2024, 12, 24, 0, 0, 0), absl::UTCTimeZone()));
  RecurrenceRule date = Parse("FREQ=DAILY;UNTIL=20241224");
  EXPECT_EQ(date.until_date, absl::CivilDay(2024, 12, 24));
}

TEST(RecurrenceRule, AcceptsPrefixCaseAndSurroundingSpaces) {
  EXPECT_EQ(Parse("  rrule:freq=weekly;byday=tu,th ").freq, Frequency::kWeekly);
}

TEST(RecurrenceRule, ErrorsNameTheGivenField) {
  absl::Status status = ParseRecurrenceRule("FREQ=HOURLY", "reminder.schedule.rrule").status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  auto violations = FieldViolationsOf(status);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].first, "reminder.schedule.rrule");
}

TEST(RecurrenceRule, LibicalTextIsCanonicalSortedAndWithoutCountOrUntil) {
  EXPECT_EQ(ToLibicalRule(Parse("freq=daily;byminute=45,0;byhour=21,8;count=5")),
            "FREQ=DAILY;BYHOUR=8,21;BYMINUTE=0,45");
  EXPECT_EQ(ToLibicalRule(Parse("FREQ=WEEKLY;INTERVAL=2;UNTIL=20250101;BYDAY=MO,FR;WKST=SU")),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;WKST=SU");
}

TEST(RecurrenceRule, LibicalTextGivesYearlyMonthDaysEveryMonth) {
  EXPECT_EQ(ToLibicalRule(Parse("FREQ=YEARLY;BYMONTHDAY=1")),
            "FREQ=YEARLY;BYMONTHDAY=1;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12");
  EXPECT_EQ(ToLibicalRule(Parse("FREQ=YEARLY;BYDAY=20MO")), "FREQ=YEARLY;BYDAY=20MO");
}

TEST(DayPattern, MatchesOrdinaryRules) {
  EXPECT_TRUE(CanMatch("FREQ=DAILY"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;BYDAY=5FR"));
  EXPECT_TRUE(CanMatch("FREQ=YEARLY;BYDAY=53SU"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"));
}

TEST(DayPattern, LeapDayMatches) {
  EXPECT_TRUE(CanMatch("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"));
  EXPECT_TRUE(CanMatch("FREQ=YEARLY", absl::CivilSecond(2024, 2, 29, 9, 0, 0)));
  EXPECT_TRUE(CanMatch("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-29"));
}

TEST(DayPattern, DaysMissingFromTheChosenMonthsNeverMatch) {
  EXPECT_FALSE(CanMatch("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"));
  EXPECT_FALSE(CanMatch("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-30"));
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31"));
  // A YEARLY rule with only BYMONTH repeats the start's day: the 31st never falls in April.
  EXPECT_FALSE(CanMatch("FREQ=YEARLY;BYMONTH=4", absl::CivilSecond(2024, 1, 31, 9, 0, 0)));
}

TEST(DayPattern, OrdinalWeekdaysOutsideTheMonthDaysNeverMatch) {
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=15"));
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;BYDAY=-1FR;BYMONTHDAY=1,2,3"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;BYDAY=-1FR;BYMONTHDAY=25"));
}

TEST(DayPattern, SetPositionsBeyondTheSetNeverMatch) {
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5"));
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;BYDAY=TU;BYMONTHDAY=1,2,3,4,5,6,7;BYSETPOS=2"));
}

TEST(DayPattern, IntervalsThatNeverReachTheChosenDaysNeverMatch) {
  // From June, every 6 months is June and December only.
  EXPECT_FALSE(CanMatch("FREQ=MONTHLY;INTERVAL=6;BYMONTH=3"));
  EXPECT_TRUE(CanMatch("FREQ=MONTHLY;INTERVAL=6;BYMONTH=12"));
  // Every 14 days from a Monday stays on Mondays.
  EXPECT_FALSE(CanMatch("FREQ=DAILY;INTERVAL=14;BYDAY=SA,SU"));
  EXPECT_TRUE(CanMatch("FREQ=DAILY;INTERVAL=14;BYDAY=MO"));
}

}  // namespace
}  // namespace trellis::reminders
