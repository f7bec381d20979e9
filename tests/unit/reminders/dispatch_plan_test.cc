#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/reminders/domain/dispatch_plan.h"
#include "tests/unit/reminders/schedule_test_util.h"

namespace trellis::reminders {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Local;
using ::testing::Pair;
using testing::Spec;
using testing::Utc;

// Daily at 20:00 in London (UTC+1 in June).
ReminderSchedule DailyEvening(absl::string_view rule = "FREQ=DAILY") {
  auto s = ReminderSchedule::FromStored(Spec("Europe/London", Local(2024, 6, 1, 20), rule));
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

DueEntry At(absl::Time t) { return DueEntry{.snooze = false, .scheduled = t, .due = t}; }

TEST(DispatchPlan, DeliversTheDueOccurrenceOnTimeAndMovesToTheNext) {
  absl::Time due = Utc("2024-06-03T19:00:00Z");
  DispatchPlan plan = PlanDueEntry(DailyEvening(), {}, At(due), due + absl::Seconds(2), {});
  ASSERT_EQ(plan.deliveries.size(), 1u);
  EXPECT_EQ(plan.deliveries[0].scheduled, due);
  EXPECT_EQ(plan.deliveries[0].due, due);
  EXPECT_FALSE(plan.deliveries[0].late);
  EXPECT_FALSE(plan.deliveries[0].snooze);
  EXPECT_THAT(plan.records, IsEmpty()) << "a delivery is not an occurrence record";
  EXPECT_EQ(plan.next, DispatchPlan::Next::kSet);
  EXPECT_EQ(plan.next_due, Utc("2024-06-04T19:00:00Z"));
}

TEST(DispatchPlan, AfterDowntimeDeliversWithinGraceLateAndRecordsOlderAsMissed) {
  // Every 15 minutes; the service was down from 17:50 to 19:20.
  auto schedule = ReminderSchedule::FromStored(
      Spec("UTC", Local(2024, 6, 3, 17, 0), "FREQ=DAILY;BYHOUR=17,18,19;BYMINUTE=0,15,30,45"));
  ASSERT_TRUE(schedule.ok());
  absl::Time now = Utc("2024-06-03T19:20:00Z");
  DispatchPlan plan = PlanDueEntry(*schedule, {}, At(Utc("2024-06-03T18:00:00Z")), now, {});
  // 18:00 and 18:15 are more than an hour old: missed. 18:30 .. 19:15 are delivered late.
  EXPECT_THAT(plan.records, ElementsAre(Pair(Utc("2024-06-03T18:00:00Z"), "missed"),
                                        Pair(Utc("2024-06-03T18:15:00Z"), "missed")));
  ASSERT_EQ(plan.deliveries.size(), 4u);
  EXPECT_EQ(plan.deliveries.front().scheduled, Utc("2024-06-03T18:30:00Z"));
  EXPECT_EQ(plan.deliveries.back().scheduled, Utc("2024-06-03T19:15:00Z"));
  for (const PlannedDelivery& d : plan.deliveries) EXPECT_TRUE(d.late) << d.scheduled;
  EXPECT_EQ(plan.next, DispatchPlan::Next::kSet);
  EXPECT_EQ(plan.next_due, Utc("2024-06-03T19:30:00Z"));
}

TEST(DispatchPlan, LatenessThresholdKeepsNormalDispatchLagOnTime) {
  absl::Time due = Utc("2024-06-03T19:00:00Z");
  CatchUpPolicy policy;
  DispatchPlan on_time =
      PlanDueEntry(DailyEvening(), {}, At(due), due + policy.lateness_threshold, policy);
  ASSERT_EQ(on_time.deliveries.size(), 1u);
  EXPECT_FALSE(on_time.deliveries[0].late);
  DispatchPlan late = PlanDueEntry(DailyEvening(), {}, At(due),
                                   due + policy.lateness_threshold + absl::Seconds(1), policy);
  ASSERT_EQ(late.deliveries.size(), 1u);
  EXPECT_TRUE(late.deliveries[0].late);
}

TEST(DispatchPlan, OccurrencesInsideAPauseAreRecordedSkippedNotDelivered) {
  PauseWindow pause{.start = Utc("2024-06-03T00:00:00Z"), .end = Utc("2024-06-05T00:00:00Z")};
  absl::Time due = Utc("2024-06-03T19:00:00Z");
  DispatchPlan plan = PlanDueEntry(DailyEvening(), pause, At(due), due, {});
  EXPECT_THAT(plan.deliveries, IsEmpty());
  EXPECT_THAT(plan.records, ElementsAre(Pair(due, "skipped_paused")));
  EXPECT_EQ(plan.next, DispatchPlan::Next::kSet);
  // The entry moves to the next schedule occurrence, still inside the pause: the next claim
  // records it as skipped too (the pause may be lifted before then).
  EXPECT_EQ(plan.next_due, Utc("2024-06-04T19:00:00Z"));
}

TEST(DispatchPlan, OpenEndedPauseSkipsEveryOccurrence) {
  PauseWindow pause{.start = Utc("2024-06-01T00:00:00Z"), .end = std::nullopt};
  EXPECT_TRUE(pause.Contains(Utc("2030-01-01T00:00:00Z")));
  EXPECT_FALSE(pause.Contains(Utc("2024-05-31T23:59:59Z")));
  absl::Time due = Utc("2024-06-03T19:00:00Z");
  DispatchPlan plan = PlanDueEntry(DailyEvening(), pause, At(due), due, {});
  EXPECT_THAT(plan.deliveries, IsEmpty());
}

TEST(DispatchPlan, ExhaustedScheduleEndsTheReminderAfterItsLastOccurrence) {
  ReminderSchedule three = DailyEvening("FREQ=DAILY;COUNT=3");
  absl::Time last = Utc("2024-06-03T19:00:00Z");
  DispatchPlan plan = PlanDueEntry(three, {}, At(last), last, {});
  ASSERT_EQ(plan.deliveries.size(), 1u);
  EXPECT_EQ(plan.next, DispatchPlan::Next::kEnd);

  auto single = ReminderSchedule::FromStored(Spec("Europe/London", Local(2024, 6, 1, 20), ""));
  ASSERT_TRUE(single.ok());
  DispatchPlan once =
      PlanDueEntry(*single, {}, At(Utc("2024-06-01T19:00:00Z")), Utc("2024-06-01T19:00:00Z"), {});
  EXPECT_EQ(once.deliveries.size(), 1u);
  EXPECT_EQ(once.next, DispatchPlan::Next::kEnd);
}

TEST(DispatchPlan, StepLimitBoundsOneClaimAndTheNextClaimGoesOn) {
  // Down for ten days with a daily reminder and a limit of 3 steps per claim.
  absl::Time first = Utc("2024-06-01T19:00:00Z");
  absl::Time now = Utc("2024-06-10T19:30:00Z");
  DispatchPlan plan = PlanDueEntry(DailyEvening(), {}, At(first), now, {}, /*max_steps=*/3);
  EXPECT_EQ(plan.records.size(), 3u);
  EXPECT_THAT(plan.deliveries, IsEmpty());
  EXPECT_EQ(plan.next, DispatchPlan::Next::kSet);
  EXPECT_EQ(plan.next_due, Utc("2024-06-04T19:00:00Z"));  // still due: claimed again at once
}

TEST(DispatchPlan, DstChangeKeepsTheLocalTimeOfTheNextOccurrence) {
  // Daily 20:00 London across the October change: 19:00Z before, 20:00Z after.
  auto s =
      ReminderSchedule::FromStored(Spec("Europe/London", Local(2024, 10, 1, 20), "FREQ=DAILY"));
  ASSERT_TRUE(s.ok());
  absl::Time sat = Utc("2024-10-26T19:00:00Z");
  DispatchPlan plan = PlanDueEntry(*s, {}, At(sat), sat, {});
  EXPECT_EQ(plan.next_due, Utc("2024-10-27T20:00:00Z"));
}

TEST(DispatchPlan, SnoozeEntryIsDeliveredOnceAndRemoved) {
  DueEntry snooze{
      .snooze = true, .scheduled = Utc("2024-06-03T19:00:00Z"), .due = Utc("2024-06-03T19:30:00Z")};
  DispatchPlan plan = PlanDueEntry(DailyEvening(), {}, snooze, Utc("2024-06-03T19:30:05Z"), {});
  ASSERT_EQ(plan.deliveries.size(), 1u);
  EXPECT_TRUE(plan.deliveries[0].snooze);
  EXPECT_EQ(plan.deliveries[0].scheduled, snooze.scheduled);
  EXPECT_EQ(plan.deliveries[0].due, snooze.due);
  EXPECT_FALSE(plan.deliveries[0].late);
  EXPECT_THAT(plan.records, IsEmpty());
  EXPECT_EQ(plan.next, DispatchPlan::Next::kRemove);
}

TEST(DispatchPlan, StaleSnoozeOrSnoozeInsideAPauseIsDroppedWithoutDelivery) {
  DueEntry snooze{
      .snooze = true, .scheduled = Utc("2024-06-03T19:00:00Z"), .due = Utc("2024-06-03T19:30:00Z")};
  DispatchPlan stale = PlanDueEntry(DailyEvening(), {}, snooze, snooze.due + absl::Hours(2), {});
  EXPECT_THAT(stale.deliveries, IsEmpty());
  EXPECT_EQ(stale.next, DispatchPlan::Next::kRemove);
  PauseWindow pause{.start = Utc("2024-06-03T19:10:00Z"), .end = std::nullopt};
  DispatchPlan paused = PlanDueEntry(DailyEvening(), pause, snooze, snooze.due, {});
  EXPECT_THAT(paused.deliveries, IsEmpty());
}

}  // namespace
}  // namespace trellis::reminders
