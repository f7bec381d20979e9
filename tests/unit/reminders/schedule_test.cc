// Recurrence expansion: the RFC 5545 §3.8.5.3 examples that fit reminders (DTSTART in
// America/New_York, as in the RFC), COUNT vs UNTIL, EXDATE, leap days, and the fast-forward path.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/reminders/domain/schedule.h"
#include "tests/unit/reminders/schedule_test_util.h"

namespace trellis::reminders {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;
using ::trellis::reminders::testing::Compile;
using ::trellis::reminders::testing::Local;
using ::trellis::reminders::testing::RuleTimes;
using ::trellis::reminders::testing::Spec;
using ::trellis::reminders::testing::Utc;
using ::trellis::reminders::testing::UtcText;

constexpr absl::string_view kNewYork = "America/New_York";
const absl::Time kBeginning = absl::InfinitePast();

std::vector<std::string> Expand(LocalDateTime start, absl::string_view rrule, int n,
                                std::vector<LocalDateTime> exdates = {}) {
  return RuleTimes(Compile(Spec(kNewYork, start, rrule, std::move(exdates))), kBeginning, n);
}

TEST(Schedule, DailyForTenOccurrences) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=DAILY;COUNT=10", 20),
              ElementsAre("1997-09-02T09:00:00", "1997-09-03T09:00:00", "1997-09-04T09:00:00",
                          "1997-09-05T09:00:00", "1997-09-06T09:00:00", "1997-09-07T09:00:00",
                          "1997-09-08T09:00:00", "1997-09-09T09:00:00", "1997-09-10T09:00:00",
                          "1997-09-11T09:00:00"));
}

TEST(Schedule, DailyUntilDecember24StopsOnTheLastDayBeforeUntil) {
  std::vector<std::string> times =
      Expand(Local(1997, 9, 2, 9), "FREQ=DAILY;UNTIL=19971224T000000Z", 500);
  ASSERT_THAT(times, SizeIs(113));
  EXPECT_EQ(times.front(), "1997-09-02T09:00:00");
  EXPECT_EQ(times.back(), "1997-12-23T09:00:00");
}

TEST(Schedule, UntilAsALocalDateIncludesThatWholeDay) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=DAILY;UNTIL=19970904", 20),
              ElementsAre("1997-09-02T09:00:00", "1997-09-03T09:00:00", "1997-09-04T09:00:00"));
}

TEST(Schedule, EveryOtherDay) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=DAILY;INTERVAL=2", 4),
              ElementsAre("1997-09-02T09:00:00", "1997-09-04T09:00:00", "1997-09-06T09:00:00",
                          "1997-09-08T09:00:00"));
}

TEST(Schedule, EveryTenDaysFiveOccurrences) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=DAILY;INTERVAL=10;COUNT=5", 10),
              ElementsAre("1997-09-02T09:00:00", "1997-09-12T09:00:00", "1997-09-22T09:00:00",
                          "1997-10-02T09:00:00", "1997-10-12T09:00:00"));
}

TEST(Schedule, WeeklyOnTuesdayAndThursdayForFiveWeeksWithCountOrUntilAlike) {
  const std::vector<std::string> expected = {
      "1997-09-02T09:00:00", "1997-09-04T09:00:00", "1997-09-09T09:00:00", "1997-09-11T09:00:00",
      "1997-09-16T09:00:00", "1997-09-18T09:00:00", "1997-09-23T09:00:00", "1997-09-25T09:00:00",
      "1997-09-30T09:00:00", "1997-10-02T09:00:00"};
  EXPECT_EQ(
      Expand(Local(1997, 9, 2, 9), "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH", 50),
      expected);
  EXPECT_EQ(Expand(Local(1997, 9, 2, 9), "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH", 50), expected);
}

TEST(Schedule, EveryOtherWeekOnMondayWednesdayFridayUntilDecember24) {
  EXPECT_THAT(Expand(Local(1997, 9, 1, 9),
                     "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR", 100),
              ElementsAre("1997-09-01T09:00:00", "1997-09-03T09:00:00", "1997-09-05T09:00:00",
                          "1997-09-15T09:00:00", "1997-09-17T09:00:00", "1997-09-19T09:00:00",
                          "1997-09-29T09:00:00", "1997-10-01T09:00:00", "1997-10-03T09:00:00",
                          "1997-10-13T09:00:00", "1997-10-15T09:00:00", "1997-10-17T09:00:00",
                          "1997-10-27T09:00:00", "1997-10-29T09:00:00", "1997-10-31T09:00:00",
                          "1997-11-10T09:00:00", "1997-11-12T09:00:00", "1997-11-14T09:00:00",
                          "1997-11-24T09:00:00", "1997-11-26T09:00:00", "1997-11-28T09:00:00",
                          "1997-12-08T09:00:00", "1997-12-10T09:00:00", "1997-12-12T09:00:00",
                          "1997-12-22T09:00:00"));
}

TEST(Schedule, EveryOtherWeekOnTuesdayAndThursdayForEightOccurrences) {
  EXPECT_THAT(
      Expand(Local(1997, 9, 2, 9), "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH", 20),
      ElementsAre("1997-09-02T09:00:00", "1997-09-04T09:00:00", "1997-09-16T09:00:00",
                  "1997-09-18T09:00:00", "1997-09-30T09:00:00", "1997-10-02T09:00:00",
                  "1997-10-14T09:00:00", "1997-10-16T09:00:00"));
}

TEST(Schedule, WeekStartChangesWhichDaysShareAnEveryOtherWeek) {
  EXPECT_THAT(
      Expand(Local(1997, 8, 5, 9), "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", 10),
      ElementsAre("1997-08-05T09:00:00", "1997-08-10T09:00:00", "1997-08-19T09:00:00",
                  "1997-08-24T09:00:00"));
  EXPECT_THAT(
      Expand(Local(1997, 8, 5, 9), "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", 10),
      ElementsAre("1997-08-05T09:00:00", "1997-08-17T09:00:00", "1997-08-19T09:00:00",
                  "1997-08-31T09:00:00"));
}

TEST(Schedule, EveryOtherWeekStartingOnADayNotInByDayKeepsTheStartWeek) {
  // Starts on a Tuesday; the Wednesday and Friday of the start week are the first occurrences
  // (libical alone would begin a period late, see LibicalStart in schedule.cc).
  EXPECT_THAT(Expand(Local(2024, 1, 2, 18), "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR", 5),
              ElementsAre("2024-01-03T18:00:00", "2024-01-05T18:00:00", "2024-01-15T18:00:00",
                          "2024-01-17T18:00:00", "2024-01-19T18:00:00"));
  // COUNT counts from the real start, not from the earlier date libical expands from.
  EXPECT_THAT(Expand(Local(2013, 10, 28, 11), "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU;COUNT=2", 5),
              ElementsAre("2013-11-03T11:00:00", "2013-11-24T11:00:00"));
}

TEST(Schedule, MonthlyOnTheFirstFriday) {
  EXPECT_THAT(Expand(Local(1997, 9, 5, 9), "FREQ=MONTHLY;COUNT=10;BYDAY=1FR", 20),
              ElementsAre("1997-09-05T09:00:00", "1997-10-03T09:00:00", "1997-11-07T09:00:00",
                          "1997-12-05T09:00:00", "1998-01-02T09:00:00", "1998-02-06T09:00:00",
                          "1998-03-06T09:00:00", "1998-04-03T09:00:00", "1998-05-01T09:00:00",
                          "1998-06-05T09:00:00"));
}

TEST(Schedule, EveryOtherMonthOnTheFirstAndLastSunday) {
  EXPECT_THAT(Expand(Local(1997, 9, 7, 9), "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU", 20),
              ElementsAre("1997-09-07T09:00:00", "1997-09-28T09:00:00", "1997-11-02T09:00:00",
                          "1997-11-30T09:00:00", "1998-01-04T09:00:00", "1998-01-25T09:00:00",
                          "1998-03-01T09:00:00", "1998-03-29T09:00:00", "1998-05-03T09:00:00",
                          "1998-05-31T09:00:00"));
}

TEST(Schedule, MonthlyOnTheSecondToLastMonday) {
  EXPECT_THAT(Expand(Local(1997, 9, 22, 9), "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO", 10),
              ElementsAre("1997-09-22T09:00:00", "1997-10-20T09:00:00", "1997-11-17T09:00:00",
                          "1997-12-22T09:00:00", "1998-01-19T09:00:00", "1998-02-16T09:00:00"));
}

TEST(Schedule, MonthlyOnTheLastFriday) {
  EXPECT_THAT(Expand(Local(2024, 1, 1, 17), "FREQ=MONTHLY;BYDAY=-1FR", 4),
              ElementsAre("2024-01-26T17:00:00", "2024-02-23T17:00:00", "2024-03-29T17:00:00",
                          "2024-04-26T17:00:00"));
}

TEST(Schedule, MonthlyOnTheThirdToLastDay) {
  EXPECT_THAT(Expand(Local(1997, 9, 28, 9), "FREQ=MONTHLY;BYMONTHDAY=-3", 6),
              ElementsAre("1997-09-28T09:00:00", "1997-10-29T09:00:00", "1997-11-28T09:00:00",
                          "1997-12-29T09:00:00", "1998-01-29T09:00:00", "1998-02-26T09:00:00"));
}

TEST(Schedule, MonthlyOnTheLastDayFollowsMonthLengthAndLeapYears) {
  EXPECT_THAT(Expand(Local(2024, 1, 31, 20), "FREQ=MONTHLY;BYMONTHDAY=-1", 5),
              ElementsAre("2024-01-31T20:00:00", "2024-02-29T20:00:00", "2024-03-31T20:00:00",
                          "2024-04-30T20:00:00", "2024-05-31T20:00:00"));
}

TEST(Schedule, MonthlyOnTheSecondAndFifteenth) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15", 20),
              ElementsAre("1997-09-02T09:00:00", "1997-09-15T09:00:00", "1997-10-02T09:00:00",
                          "1997-10-15T09:00:00", "1997-11-02T09:00:00", "1997-11-15T09:00:00",
                          "1997-12-02T09:00:00", "1997-12-15T09:00:00", "1998-01-02T09:00:00",
                          "1998-01-15T09:00:00"));
}

TEST(Schedule, MonthlyOnTheFirstAndLastDay) {
  EXPECT_THAT(Expand(Local(1997, 9, 30, 9), "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1", 20),
              ElementsAre("1997-09-30T09:00:00", "1997-10-01T09:00:00", "1997-10-31T09:00:00",
                          "1997-11-01T09:00:00", "1997-11-30T09:00:00", "1997-12-01T09:00:00",
                          "1997-12-31T09:00:00", "1998-01-01T09:00:00", "1998-01-31T09:00:00",
                          "1998-02-01T09:00:00"));
}

TEST(Schedule, MonthlyOnTheThirtiethSkipsFebruary) {
  EXPECT_THAT(Expand(Local(2007, 1, 15, 9), "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5", 10),
              ElementsAre("2007-01-15T09:00:00", "2007-01-30T09:00:00", "2007-02-15T09:00:00",
                          "2007-03-15T09:00:00", "2007-03-30T09:00:00"));
}

TEST(Schedule, EveryTuesdayEveryOtherMonth) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU", 10),
              ElementsAre("1997-09-02T09:00:00", "1997-09-09T09:00:00", "1997-09-16T09:00:00",
                          "1997-09-23T09:00:00", "1997-09-30T09:00:00", "1997-11-04T09:00:00",
                          "1997-11-11T09:00:00", "1997-11-18T09:00:00", "1997-11-25T09:00:00",
                          "1998-01-06T09:00:00"));
}

TEST(Schedule, MonthlyOnTheLastWeekdayViaBySetPos) {
  EXPECT_THAT(Expand(Local(2024, 1, 1, 16), "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", 6),
              ElementsAre("2024-01-31T16:00:00", "2024-02-29T16:00:00", "2024-03-29T16:00:00",
                          "2024-04-30T16:00:00", "2024-05-31T16:00:00", "2024-06-28T16:00:00"));
}

TEST(Schedule, MonthlyOnTheSecondToLastWeekdayViaBySetPos) {
  EXPECT_THAT(Expand(Local(1997, 9, 29, 9), "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2", 7),
              ElementsAre("1997-09-29T09:00:00", "1997-10-30T09:00:00", "1997-11-27T09:00:00",
                          "1997-12-30T09:00:00", "1998-01-29T09:00:00", "1998-02-26T09:00:00",
                          "1998-03-30T09:00:00"));
}

TEST(Schedule, ThirdTuesdayWednesdayOrThursdayOfTheMonthViaBySetPos) {
  EXPECT_THAT(Expand(Local(1997, 9, 4, 9), "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3", 10),
              ElementsAre("1997-09-04T09:00:00", "1997-10-07T09:00:00", "1997-11-06T09:00:00"));
}

TEST(Schedule, FirstSaturdayAfterTheFirstSundayOfTheMonth) {
  EXPECT_THAT(
      Expand(Local(1997, 9, 13, 9), "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13", 6),
      ElementsAre("1997-09-13T09:00:00", "1997-10-11T09:00:00", "1997-11-08T09:00:00",
                  "1997-12-13T09:00:00", "1998-01-10T09:00:00", "1998-02-07T09:00:00"));
}

TEST(Schedule, EveryFridayTheThirteenthWithAnExdateOnTheStart) {
  EXPECT_THAT(Expand(Local(1997, 9, 2, 9), "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", 5,
                     {Local(1997, 9, 2, 9)}),
              ElementsAre("1998-02-13T09:00:00", "1998-03-13T09:00:00", "1998-11-13T09:00:00",
                          "1999-08-13T09:00:00", "2000-10-13T09:00:00"));
}

TEST(Schedule, YearlyInJuneAndJulyForTenOccurrences) {
  EXPECT_THAT(Expand(Local(1997, 6, 10, 9), "FREQ=YEARLY;COUNT=10;BYMONTH=6,7", 20),
              ElementsAre("1997-06-10T09:00:00", "1997-07-10T09:00:00", "1998-06-10T09:00:00",
                          "1998-07-10T09:00:00", "1999-06-10T09:00:00", "1999-07-10T09:00:00",
                          "2000-06-10T09:00:00", "2000-07-10T09:00:00", "2001-06-10T09:00:00",
                          "2001-07-10T09:00:00"));
}

TEST(Schedule, EveryOtherYearInJanuaryFebruaryAndMarch) {
  EXPECT_THAT(Expand(Local(1997, 3, 10, 9), "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3", 20),
              ElementsAre("1997-03-10T09:00:00", "1999-01-10T09:00:00", "1999-02-10T09:00:00",
                          "1999-03-10T09:00:00", "2001-01-10T09:00:00", "2001-02-10T09:00:00",
                          "2001-03-10T09:00:00", "2003-01-10T09:00:00", "2003-02-10T09:00:00",
                          "2003-03-10T09:00:00"));
}

TEST(Schedule, EveryThirdYear) {
  EXPECT_THAT(Expand(Local(1997, 3, 10, 9), "FREQ=YEARLY;INTERVAL=3", 4),
              ElementsAre("1997-03-10T09:00:00", "2000-03-10T09:00:00", "2003-03-10T09:00:00",
                          "2006-03-10T09:00:00"));
}

TEST(Schedule, TwentiethMondayOfTheYear) {
  EXPECT_THAT(Expand(Local(1997, 5, 19, 9), "FREQ=YEARLY;BYDAY=20MO", 3),
              ElementsAre("1997-05-19T09:00:00", "1998-05-18T09:00:00", "1999-05-17T09:00:00"));
}

TEST(Schedule, UsElectionDayEveryFourYears) {
  EXPECT_THAT(Expand(Local(1996, 11, 5, 9),
                     "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8", 3),
              ElementsAre("1996-11-05T09:00:00", "2000-11-07T09:00:00", "2004-11-02T09:00:00"));
}

TEST(Schedule, YearlyMonthDayWithoutByMonthExpandsInEveryMonth) {
  // RFC 5545: BYMONTHDAY expands a YEARLY rule in every month (libical alone would keep to the
  // start's month; ToLibicalRule adds BYMONTH=1..12).
  EXPECT_THAT(Expand(Local(2024, 1, 1, 9), "FREQ=YEARLY;BYMONTHDAY=13;BYDAY=FR", 3),
              ElementsAre("2024-09-13T09:00:00", "2024-12-13T09:00:00", "2025-06-13T09:00:00"));
}

TEST(Schedule, SeveralTimesADayWithByHourAndByMinuteInAnyOrder) {
  EXPECT_THAT(Expand(Local(2024, 5, 1, 8), "FREQ=DAILY;BYHOUR=21,8;BYMINUTE=30,0", 6),
              ElementsAre("2024-05-01T08:00:00", "2024-05-01T08:30:00", "2024-05-01T21:00:00",
                          "2024-05-01T21:30:00", "2024-05-02T08:00:00", "2024-05-02T08:30:00"));
}

TEST(Schedule, StartThatDoesNotMatchTheRuleIsNotAnOccurrence) {
  // 2024-01-01 is a Monday.
  EXPECT_THAT(Expand(Local(2024, 1, 1, 9), "FREQ=WEEKLY;BYDAY=TU", 2),
              ElementsAre("2024-01-02T09:00:00", "2024-01-09T09:00:00"));
}

TEST(Schedule, EmptyRuleIsASingleOccurrenceAtStart) {
  ReminderSchedule schedule = Compile(Spec(kNewYork, Local(2024, 7, 1, 10), ""));
  EXPECT_THAT(RuleTimes(schedule, kBeginning, 5), ElementsAre("2024-07-01T10:00:00"));
  EXPECT_FALSE(schedule.NextOccurrence(Utc("2024-07-01T14:00:00Z")).has_value());
}

TEST(Schedule, ExdateRemovesOneOccurrenceAndCountStillCountsIt) {
  EXPECT_THAT(Expand(Local(2024, 5, 1, 20), "FREQ=DAILY;COUNT=4", 10, {Local(2024, 5, 2, 20)}),
              ElementsAre("2024-05-01T20:00:00", "2024-05-03T20:00:00", "2024-05-04T20:00:00"));
}

TEST(Schedule, ExdateMustMatchTheLocalDateTimeExactly) {
  EXPECT_THAT(Expand(Local(2024, 5, 1, 20), "FREQ=DAILY;COUNT=3", 10, {Local(2024, 5, 2, 20, 1)}),
              ElementsAre("2024-05-01T20:00:00", "2024-05-02T20:00:00", "2024-05-03T20:00:00"));
}

TEST(Schedule, LeapDayReminderFiresOnlyInLeapYears) {
  const std::vector<std::string> expected = {"2024-02-29T09:00:00", "2028-02-29T09:00:00",
                                             "2032-02-29T09:00:00"};
  EXPECT_EQ(Expand(Local(2024, 2, 29, 9), "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", 3), expected);
  EXPECT_EQ(Expand(Local(2024, 2, 29, 9), "FREQ=YEARLY", 3), expected);
  // 2100 is not a leap year.
  EXPECT_THAT(RuleTimes(Compile(Spec(kNewYork, Local(2024, 2, 29, 9),
                                     "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")),
                        Utc("2095-01-01T00:00:00Z"), 2),
              ElementsAre("2096-02-29T09:00:00", "2104-02-29T09:00:00"));
}

TEST(Schedule, NextOccurrenceIsStrictlyAfter) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY"));
  std::optional<Occurrence> next = schedule.NextOccurrence(Utc("2024-01-05T09:00:00Z"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(UtcText(next->time), "2024-01-06T09:00:00Z");
  EXPECT_EQ(UtcText(schedule.NextOccurrence(Utc("2024-01-05T08:59:59Z"))->time),
            "2024-01-05T09:00:00Z");
}

TEST(Schedule, NextOccurrenceAfterTheLastCountIsNone) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY;COUNT=3"));
  EXPECT_EQ(UtcText(schedule.NextOccurrence(Utc("2024-01-02T09:00:00Z"))->time),
            "2024-01-03T09:00:00Z");
  EXPECT_FALSE(schedule.NextOccurrence(Utc("2024-01-03T09:00:00Z")).has_value());
  EXPECT_FALSE(schedule.NextOccurrence(Utc("2030-01-01T00:00:00Z")).has_value());
}

TEST(Schedule, NextOccurrenceAfterUntilIsNone) {
  ReminderSchedule schedule =
      Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY;UNTIL=20240103T090000Z"));
  EXPECT_EQ(UtcText(schedule.NextOccurrence(Utc("2024-01-02T12:00:00Z"))->time),
            "2024-01-03T09:00:00Z");
  EXPECT_FALSE(schedule.NextOccurrence(Utc("2024-01-03T09:00:00Z")).has_value());
}

TEST(Schedule, PreviewIsAtOrAfterAndReportsExhaustion) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY;COUNT=3"));
  absl::StatusOr<SchedulePreview> preview = schedule.Preview(Utc("2024-01-02T09:00:00Z"), 2);
  ASSERT_TRUE(preview.ok());
  ASSERT_THAT(preview->occurrences, SizeIs(2));
  EXPECT_EQ(UtcText(preview->occurrences[0].time), "2024-01-02T09:00:00Z");
  EXPECT_TRUE(preview->exhausted);

  preview = schedule.Preview(Utc("2024-01-01T00:00:00Z"), 2);
  ASSERT_TRUE(preview.ok());
  EXPECT_THAT(preview->occurrences, SizeIs(2));
  EXPECT_FALSE(preview->exhausted);
}

TEST(Schedule, PreviewCountZeroMeansTen) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY"));
  absl::StatusOr<SchedulePreview> preview = schedule.Preview(Utc("2024-01-01T00:00:00Z"), 0);
  ASSERT_TRUE(preview.ok());
  EXPECT_THAT(preview->occurrences, SizeIs(kDefaultPreviewCount));
}

TEST(Schedule, PreviewReturnsUpToFiveHundred) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY"));
  absl::StatusOr<SchedulePreview> preview = schedule.Preview(Utc("2024-01-01T00:00:00Z"), 500);
  ASSERT_TRUE(preview.ok());
  EXPECT_THAT(preview->occurrences, SizeIs(500));
}

TEST(Schedule, IsOccurrenceRecognisesExactInstantsOnly) {
  ReminderSchedule schedule = Compile(Spec(kNewYork, Local(2024, 3, 1, 9), "FREQ=DAILY"));
  EXPECT_TRUE(schedule.IsOccurrence(Utc("2024-03-09T14:00:00Z")));
  EXPECT_TRUE(schedule.IsOccurrence(Utc("2024-03-10T13:00:00Z")));
  EXPECT_FALSE(schedule.IsOccurrence(Utc("2024-03-10T14:00:00Z")));
  EXPECT_FALSE(schedule.IsOccurrence(Utc("2024-02-29T14:00:00Z")));  // before the start
}

TEST(Schedule, CopiesStayValidWhenTheOriginalIsReplaced) {
  ReminderSchedule schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=WEEKLY"));
  const ReminderSchedule copy = schedule;
  schedule = Compile(Spec("UTC", Local(2024, 1, 1, 9), "FREQ=DAILY"));
  EXPECT_EQ(UtcText(copy.NextOccurrence(Utc("2024-01-01T10:00:00Z"))->time),
            "2024-01-08T09:00:00Z");
  EXPECT_EQ(UtcText(schedule.NextOccurrence(Utc("2024-01-01T10:00:00Z"))->time),
            "2024-01-02T09:00:00Z");
}

// The fast-forward path (icalrecur_iterator_set_start a few days before the query) must give
// exactly what a walk from DTSTART gives, whatever the rule and the query time.
TEST(Schedule, FastForwardAgreesWithAWalkFromTheStart) {
  const std::vector<std::string> rules = {
      "FREQ=DAILY",
      "FREQ=DAILY;INTERVAL=3;BYHOUR=8,20",
      "FREQ=DAILY;BYDAY=MO,WE;BYMONTH=3,11",
      "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR",
      "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU;WKST=SU",
      "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
      "FREQ=MONTHLY;INTERVAL=2;BYDAY=1SU,-1SU",
      "FREQ=MONTHLY;BYMONTHDAY=-1",
      "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
      "FREQ=YEARLY;INTERVAL=3;BYMONTH=6,7",
      "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",  // through New York's gaps and overlaps
      "FREQ=DAILY;BYHOUR=1;BYMINUTE=30;UNTIL=20300101",
  };
  ScheduleOptions walk;
  walk.skip_ahead = false;
  for (const std::string& rule : rules) {
    const ScheduleSpec spec = Spec(kNewYork, Local(2019, 12, 30, 9), rule);
    ReminderSchedule fast = Compile(spec);
    ReminderSchedule slow = Compile(spec, walk);
    for (absl::Time after = Utc("2020-01-01T00:00:00Z"); after < Utc("2027-01-01T00:00:00Z");
         after += absl::Hours(24 * 71 + 7)) {
      std::optional<Occurrence> a = fast.NextOccurrence(after);
      std::optional<Occurrence> b = slow.NextOccurrence(after);
      ASSERT_EQ(a.has_value(), b.has_value()) << rule << " after " << UtcText(after);
      if (a.has_value()) {
        EXPECT_EQ(a->time, b->time) << rule << " after " << UtcText(after);
      }
    }
  }
}

TEST(Schedule, OneScheduleServesSeveralThreadsAtOnce) {
  const ReminderSchedule schedule =
      Compile(Spec("Europe/London", Local(2020, 1, 1, 20), "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"));
  std::vector<std::string> expected;
  expected.reserve(50);
  for (int i = 0; i < 50; ++i) {
    expected.push_back(
        UtcText(schedule.NextOccurrence(Utc("2024-01-01T00:00:00Z") + absl::Hours(24 * i))->time));
  }
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::optional<Occurrence> next =
            schedule.NextOccurrence(Utc("2024-01-01T00:00:00Z") + absl::Hours(24 * i));
        if (!next.has_value() || UtcText(next->time) != expected[i]) ++mismatches;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Schedule, LongRunningReminderFindsTheNextOccurrenceYearsLater) {
  ReminderSchedule schedule =
      Compile(Spec("Europe/London", Local(2001, 1, 1, 20), "FREQ=WEEKLY;BYDAY=TU,TH"));
  std::optional<Occurrence> next = schedule.NextOccurrence(Utc("2024-07-01T00:00:00Z"));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->local_time, "2024-07-02T20:00:00+01:00");
}

}  // namespace
}  // namespace trellis::reminders
