// The DST policy of reminders.proto, with the instants of shared/reference/measures.md: a daily
// reminder stays at its local time across both changes; a local time in a spring-forward gap fires
// shifted forward by the gap; one in a fall-back overlap fires once, at its first instance.

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/reminders/domain/schedule.h"
#include "tests/unit/reminders/schedule_test_util.h"

namespace trellis::reminders {
namespace {

using ::testing::ElementsAre;
using ::trellis::reminders::testing::Compile;
using ::trellis::reminders::testing::Local;
using ::trellis::reminders::testing::Spec;
using ::trellis::reminders::testing::Utc;
using ::trellis::reminders::testing::UtcText;
using ::trellis::reminders::testing::UtcTimes;

// The occurrence of `schedule` at or after `from`.
Occurrence At(const ReminderSchedule& schedule, absl::string_view from) {
  std::optional<Occurrence> next = schedule.NextOccurrence(Utc(from) - absl::Seconds(1));
  EXPECT_TRUE(next.has_value());
  return next.value_or(Occurrence{});
}

// ---- America/New_York (reference/measures.md) ----

TEST(ScheduleDst, DailyReminderStaysAtLocalTimeAcrossSpringForward) {
  ReminderSchedule daily = Compile(Spec("America/New_York", Local(2024, 3, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-03-09T00:00:00Z"), 3),
              ElementsAre("2024-03-09T14:00:00Z", "2024-03-10T13:00:00Z", "2024-03-11T13:00:00Z"));
  const Occurrence sunday = At(daily, "2024-03-10T00:00:00Z");
  EXPECT_EQ(sunday.local_time, "2024-03-10T09:00:00-04:00");
  EXPECT_FALSE(sunday.shifted);
  EXPECT_EQ(sunday.time - At(daily, "2024-03-09T00:00:00Z").time, absl::Hours(23));
}

TEST(ScheduleDst, DailyReminderStaysAtLocalTimeAcrossFallBack) {
  ReminderSchedule daily = Compile(Spec("America/New_York", Local(2024, 3, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-11-02T00:00:00Z"), 2),
              ElementsAre("2024-11-02T13:00:00Z", "2024-11-03T14:00:00Z"));
  const Occurrence sunday = At(daily, "2024-11-03T00:00:00Z");
  EXPECT_EQ(sunday.local_time, "2024-11-03T09:00:00-05:00");
  EXPECT_EQ(sunday.time - At(daily, "2024-11-02T00:00:00Z").time, absl::Hours(25));
}

TEST(ScheduleDst, NonexistentLocalTimeFiresShiftedForwardByTheGap) {
  ReminderSchedule daily =
      Compile(Spec("America/New_York", Local(2024, 3, 8, 2, 30), "FREQ=DAILY"));
  const Occurrence gap_day = At(daily, "2024-03-10T00:00:00Z");
  EXPECT_EQ(UtcText(gap_day.time), "2024-03-10T07:30:00Z");
  EXPECT_EQ(gap_day.local_time, "2024-03-10T03:30:00-04:00");
  EXPECT_TRUE(gap_day.shifted);
  EXPECT_EQ(absl::FormatCivilTime(gap_day.rule_local_time), "2024-03-10T02:30:00");
  // The days around it fire at 02:30 local.
  EXPECT_THAT(UtcTimes(daily, Utc("2024-03-09T00:00:00Z"), 3),
              ElementsAre("2024-03-09T07:30:00Z", "2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z"));
}

TEST(ScheduleDst, AmbiguousLocalTimeFiresOnceAtItsFirstInstance) {
  ReminderSchedule daily =
      Compile(Spec("America/New_York", Local(2024, 11, 1, 1, 30), "FREQ=DAILY"));
  const Occurrence overlap_day = At(daily, "2024-11-03T00:00:00Z");
  EXPECT_EQ(UtcText(overlap_day.time), "2024-11-03T05:30:00Z");
  EXPECT_EQ(overlap_day.local_time, "2024-11-03T01:30:00-04:00");
  EXPECT_FALSE(overlap_day.shifted);
  // Not again at the second 01:30 (06:30Z): the next is the following day.
  std::optional<Occurrence> next = daily.NextOccurrence(overlap_day.time);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(UtcText(next->time), "2024-11-04T06:30:00Z");
}

TEST(ScheduleDst, SingleOccurrenceInTheGapIsShiftedToo) {
  ReminderSchedule once = Compile(Spec("America/New_York", Local(2024, 3, 10, 2, 30), ""));
  EXPECT_THAT(UtcTimes(once, Utc("2024-01-01T00:00:00Z"), 5), ElementsAre("2024-03-10T07:30:00Z"));
}

TEST(ScheduleDst, RuleTimesThatMeetAfterTheShiftFireOnce) {
  // 02:30 shifts to 03:30 on the gap day, where the rule also has 03:30: one occurrence.
  ReminderSchedule twice_nightly = Compile(
      Spec("America/New_York", Local(2024, 3, 9, 2, 30), "FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30"));
  EXPECT_THAT(UtcTimes(twice_nightly, Utc("2024-03-10T00:00:00Z"), 3),
              ElementsAre("2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z", "2024-03-11T07:30:00Z"));
}

TEST(ScheduleDst, ExdateMatchesTheRuleTimeBeforeTheShift) {
  ReminderSchedule daily = Compile(Spec("America/New_York", Local(2024, 3, 8, 2, 30), "FREQ=DAILY",
                                        {Local(2024, 3, 10, 2, 30)}));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-03-09T00:00:00Z"), 2),
              ElementsAre("2024-03-09T07:30:00Z", "2024-03-11T06:30:00Z"));
}

// ---- Europe/London ----

TEST(ScheduleDst, LondonDailyEightPmStaysAtEightPmInMarch) {
  ReminderSchedule daily = Compile(Spec("Europe/London", Local(2024, 3, 1, 20), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-03-30T00:00:00Z"), 2),
              ElementsAre("2024-03-30T20:00:00Z", "2024-03-31T19:00:00Z"));
  EXPECT_EQ(At(daily, "2024-03-31T00:00:00Z").local_time, "2024-03-31T20:00:00+01:00");
}

TEST(ScheduleDst, LondonDailyEightPmStaysAtEightPmInOctober) {
  ReminderSchedule daily = Compile(Spec("Europe/London", Local(2024, 3, 1, 20), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-10-26T00:00:00Z"), 2),
              ElementsAre("2024-10-26T19:00:00Z", "2024-10-27T20:00:00Z"));
  EXPECT_EQ(At(daily, "2024-10-27T00:00:00Z").local_time, "2024-10-27T20:00:00+00:00");
}

TEST(ScheduleDst, LondonNonexistentOneThirtyFiresAtTwoThirtyBst) {
  ReminderSchedule daily = Compile(Spec("Europe/London", Local(2024, 3, 29, 1, 30), "FREQ=DAILY"));
  const Occurrence gap_day = At(daily, "2024-03-31T00:00:00Z");
  EXPECT_EQ(UtcText(gap_day.time), "2024-03-31T01:30:00Z");
  EXPECT_EQ(gap_day.local_time, "2024-03-31T02:30:00+01:00");
  EXPECT_TRUE(gap_day.shifted);
}

TEST(ScheduleDst, LondonAmbiguousOneThirtyFiresAtTheBstInstance) {
  ReminderSchedule daily = Compile(Spec("Europe/London", Local(2024, 10, 25, 1, 30), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-10-26T12:00:00Z"), 2),
              ElementsAre("2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"));
}

// ---- Australia/Sydney (southern hemisphere: DST ends in April, starts in October) ----

TEST(ScheduleDst, SydneyDailyNineAmAcrossTheEndOfDstInApril) {
  ReminderSchedule daily = Compile(Spec("Australia/Sydney", Local(2024, 4, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-04-05T00:00:00Z"), 2),
              ElementsAre("2024-04-05T22:00:00Z", "2024-04-06T23:00:00Z"));
  EXPECT_EQ(At(daily, "2024-04-06T12:00:00Z").local_time, "2024-04-07T09:00:00+10:00");
}

TEST(ScheduleDst, SydneyDailyNineAmAcrossTheStartOfDstInOctober) {
  ReminderSchedule daily = Compile(Spec("Australia/Sydney", Local(2024, 10, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-10-04T12:00:00Z"), 2),
              ElementsAre("2024-10-04T23:00:00Z", "2024-10-05T22:00:00Z"));
  EXPECT_EQ(At(daily, "2024-10-05T12:00:00Z").local_time, "2024-10-06T09:00:00+11:00");
}

TEST(ScheduleDst, SydneyGapAndOverlapFollowThePolicy) {
  // 2024-10-06 02:30 does not exist (02:00 AEST -> 03:00 AEDT): fires at 03:30 AEDT.
  ReminderSchedule gap = Compile(Spec("Australia/Sydney", Local(2024, 10, 6, 2, 30), ""));
  const Occurrence shifted = At(gap, "2024-10-01T00:00:00Z");
  EXPECT_EQ(UtcText(shifted.time), "2024-10-05T16:30:00Z");
  EXPECT_EQ(shifted.local_time, "2024-10-06T03:30:00+11:00");
  // 2024-04-07 02:30 happens twice (03:00 AEDT -> 02:00 AEST): fires at the AEDT one.
  ReminderSchedule overlap = Compile(Spec("Australia/Sydney", Local(2024, 4, 7, 2, 30), ""));
  const Occurrence first = At(overlap, "2024-04-01T00:00:00Z");
  EXPECT_EQ(UtcText(first.time), "2024-04-06T15:30:00Z");
  EXPECT_EQ(first.local_time, "2024-04-07T02:30:00+11:00");
}

// ---- Half-hour offsets ----

TEST(ScheduleDst, KolkataHalfHourOffsetHasNoDst) {
  ReminderSchedule daily = Compile(Spec("Asia/Kolkata", Local(2024, 3, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-03-09T00:00:00Z"), 3),
              ElementsAre("2024-03-09T03:30:00Z", "2024-03-10T03:30:00Z", "2024-03-11T03:30:00Z"));
  EXPECT_EQ(At(daily, "2024-03-10T00:00:00Z").local_time, "2024-03-10T09:00:00+05:30");
}

TEST(ScheduleDst, AdelaideHalfHourOffsetAcrossItsDstStart) {
  ReminderSchedule daily = Compile(Spec("Australia/Adelaide", Local(2024, 10, 1, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2024-10-04T12:00:00Z"), 2),
              ElementsAre("2024-10-04T23:30:00Z", "2024-10-05T22:30:00Z"));
  EXPECT_EQ(At(daily, "2024-10-05T12:00:00Z").local_time, "2024-10-06T09:00:00+10:30");
}

TEST(ScheduleDst, LordHoweHalfHourGapShiftsByHalfAnHour) {
  // Lord Howe Island moves its clocks by 30 minutes: 02:00 -> 02:30 on 2024-10-06.
  ReminderSchedule once = Compile(Spec("Australia/Lord_Howe", Local(2024, 10, 6, 2, 15), ""));
  const Occurrence shifted = At(once, "2024-10-01T00:00:00Z");
  EXPECT_TRUE(shifted.shifted);
  EXPECT_EQ(shifted.local_time, "2024-10-06T02:45:00+11:00");
}

TEST(ScheduleDst, ZoneThatSkippedAWholeDayFiresOnceForBothDays) {
  // Samoa skipped 2011-12-30 entirely; its 09:00 shifts a day forward onto 2011-12-31 09:00,
  // which the rule also produces: one occurrence.
  ReminderSchedule daily = Compile(Spec("Pacific/Apia", Local(2011, 12, 28, 9), "FREQ=DAILY"));
  EXPECT_THAT(UtcTimes(daily, Utc("2011-12-28T00:00:00Z"), 4),
              ElementsAre("2011-12-28T19:00:00Z", "2011-12-29T19:00:00Z",
                          "2011-12-30T19:00:00Z",    // 12-30 09:00 shifted = 12-31 09:00 +14:00
                          "2011-12-31T19:00:00Z"));  // 2012-01-01 09:00 +14:00
}

TEST(ScheduleDst, LocalToUtcFollowsThePolicyDirectly) {
  absl::TimeZone new_york;
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &new_york));
  bool shifted = false;
  EXPECT_EQ(UtcText(LocalToUtc(absl::CivilSecond(2024, 3, 10, 2, 30, 0), new_york, &shifted)),
            "2024-03-10T07:30:00Z");
  EXPECT_TRUE(shifted);
  EXPECT_EQ(UtcText(LocalToUtc(absl::CivilSecond(2024, 11, 3, 1, 30, 0), new_york, &shifted)),
            "2024-11-03T05:30:00Z");
  EXPECT_FALSE(shifted);
  EXPECT_EQ(UtcText(LocalToUtc(absl::CivilSecond(2024, 7, 1, 12, 0, 0), new_york)),
            "2024-07-01T16:00:00Z");
}

}  // namespace
}  // namespace trellis::reminders
