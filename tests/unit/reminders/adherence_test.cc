#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status/status.h"
#include "services/reminders/domain/adherence.h"

namespace trellis::reminders {
namespace {

using ::testing::DoubleEq;
using ::testing::Optional;

const absl::Time kDay0 =
    absl::FromCivil(absl::CivilSecond(2024, 6, 1, 20, 0, 0), absl::UTCTimeZone());

// The evening occurrence of day `n`.
absl::Time Day(int n) { return kDay0 + absl::Hours(24 * n); }

OccurrenceRecord Rec(int day, OccurrenceState state, bool snoozed = false) {
  return OccurrenceRecord{Day(day), state, snoozed};
}

const AdherenceWindow kJune{Day(0), Day(30)};
// Late on day 20: occurrences of days 14 and later are still within the 7-day completion window.
const absl::Time kNow = Day(20) + absl::Hours(2);

ReminderAdherence One(std::vector<OccurrenceRecord> records, absl::Time now = kNow) {
  AdherenceReport report =
      ComputeAdherence({{"patients/p1/reminders/r1", std::move(records)}}, kJune, now);
  EXPECT_EQ(report.reminders.size(), 1u);
  return report.reminders.empty() ? ReminderAdherence{} : report.reminders[0];
}

TEST(Adherence, CountsEachOutcome) {
  using S = OccurrenceState;
  ReminderAdherence a =
      One({Rec(0, S::kDone), Rec(1, S::kDone, /*snoozed=*/true), Rec(2, S::kSkipped),
           Rec(3, S::kMissed), Rec(4, S::kSkippedPaused), Rec(5, S::kDelivered),
           Rec(19, S::kDelivered), Rec(20, S::kSnoozed), Rec(21, S::kScheduled)});
  EXPECT_EQ(a.counts.done, 2);
  EXPECT_EQ(a.counts.skipped, 1);
  // Day 3 recorded missed; day 5 delivered and never completed within 7 days.
  EXPECT_EQ(a.counts.missed, 2);
  EXPECT_EQ(a.counts.skipped_paused, 1);
  // Days 19, 20 (snoozed) and 21 (not yet due) can still be completed.
  EXPECT_EQ(a.counts.pending, 3);
  EXPECT_EQ(a.counts.snoozed, 2);
  // scheduled = done + skipped + missed + pending; skipped_paused apart.
  EXPECT_EQ(a.counts.scheduled, 8);
  // done / (done + skipped + missed) = 2 / 5.
  EXPECT_THAT(a.counts.adherence_rate, Optional(DoubleEq(0.4)));
}

TEST(Adherence, RateIsUnsetWithNothingResolved) {
  using S = OccurrenceState;
  ReminderAdherence a = One({Rec(19, S::kDelivered), Rec(4, S::kSkippedPaused)});
  EXPECT_FALSE(a.counts.adherence_rate.has_value());
  EXPECT_EQ(a.counts.scheduled, 1);
  EXPECT_EQ(One({}).counts.scheduled, 0);
}

TEST(Adherence, UnansweredOccurrenceBecomesMissedWhenTheCompletionWindowEnds) {
  using S = OccurrenceState;
  const std::vector<OccurrenceRecord> records = {Rec(10, S::kDelivered)};
  EXPECT_EQ(One(records, Day(17) - absl::Seconds(1)).counts.pending, 1);
  EXPECT_EQ(One(records, Day(17)).counts.missed, 1);
}

TEST(Adherence, OnlyOccurrencesScheduledInsideTheWindowCount) {
  using S = OccurrenceState;
  AdherenceReport report = ComputeAdherence(
      {{"r", {Rec(-1, S::kDone), Rec(0, S::kDone), Rec(29, S::kDone), Rec(30, S::kDone)}}}, kJune,
      Day(40));
  EXPECT_EQ(report.totals.done, 2);  // [Day(0), Day(30))
}

TEST(Adherence, StreakCountsConsecutiveDoneFromTheMostRecentResolved) {
  using S = OccurrenceState;
  EXPECT_EQ(One({Rec(0, S::kDone), Rec(1, S::kSkipped), Rec(2, S::kDone), Rec(3, S::kDone),
                 Rec(4, S::kDone)})
                .current_streak,
            3);
  EXPECT_EQ(One({Rec(0, S::kDone), Rec(1, S::kDone), Rec(2, S::kMissed)}).current_streak, 0);
  EXPECT_EQ(One({Rec(0, S::kDone), Rec(1, S::kDone)}).current_streak, 2);
  EXPECT_EQ(One({}).current_streak, 0);
}

TEST(Adherence, StreakPassesOverPendingAndPausedOccurrences) {
  using S = OccurrenceState;
  // Done on days 10-12, a pause on 13-14, done on 15, and today's (19) still open.
  ReminderAdherence a =
      One({Rec(9, S::kSkipped), Rec(10, S::kDone), Rec(11, S::kDone), Rec(12, S::kDone),
           Rec(13, S::kSkippedPaused), Rec(14, S::kSkippedPaused), Rec(15, S::kDone),
           Rec(19, S::kDelivered)});
  EXPECT_EQ(a.current_streak, 4);
}

TEST(Adherence, StreakIsBrokenByAnOccurrenceLeftUnansweredTooLong) {
  using S = OccurrenceState;
  // Day 12 was delivered and never answered: missed by now.
  EXPECT_EQ(One({Rec(11, S::kDone), Rec(12, S::kDelivered), Rec(13, S::kDone)}).current_streak, 1);
}

TEST(Adherence, PatientTotalsAndStreakCoverAllReminders) {
  using S = OccurrenceState;
  AdherenceReport report = ComputeAdherence(
      {
          {"patients/p1/reminders/breathing",
           {Rec(10, S::kDone), Rec(11, S::kDone), Rec(12, S::kDone)}},
          {"patients/p1/reminders/journal", {Rec(9, S::kSkipped), Rec(11, S::kDone)}},
      },
      kJune, kNow);
  ASSERT_EQ(report.reminders.size(), 2u);
  EXPECT_EQ(report.reminders[0].reminder, "patients/p1/reminders/breathing");
  EXPECT_EQ(report.reminders[0].current_streak, 3);
  EXPECT_EQ(report.reminders[1].current_streak, 1);
  EXPECT_EQ(report.totals.done, 4);
  EXPECT_EQ(report.totals.skipped, 1);
  EXPECT_EQ(report.totals.scheduled, 5);
  EXPECT_THAT(report.totals.adherence_rate, Optional(DoubleEq(0.8)));
  // In scheduled order: skip (9), done (10, 11, 11, 12): four since the skip.
  EXPECT_EQ(report.current_streak, 4);
}

TEST(Adherence, PatientStreakTreatsASkipAtTheSameInstantAsMoreRecent) {
  using S = OccurrenceState;
  AdherenceReport report = ComputeAdherence(
      {{"a", {Rec(10, S::kDone), Rec(11, S::kDone)}}, {"b", {Rec(11, S::kSkipped)}}}, kJune, kNow);
  EXPECT_EQ(report.current_streak, 0);
}

TEST(AdherenceWindow, DefaultsTheEndToNow) {
  absl::StatusOr<AdherenceWindow> window = MakeAdherenceWindow(Day(0), std::nullopt, Day(5));
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(window->end, Day(5));
}

TEST(AdherenceWindow, RefusesMissingReversedOrOverlongIntervals) {
  auto field_of = [](const absl::StatusOr<AdherenceWindow>& w) {
    auto violations = FieldViolationsOf(w.status());
    return violations.empty() ? std::string() : violations[0].first;
  };
  EXPECT_EQ(field_of(MakeAdherenceWindow(std::nullopt, Day(1), Day(5))), "interval.start_time");
  EXPECT_EQ(field_of(MakeAdherenceWindow(Day(3), Day(1), Day(5))), "interval.end_time");
  EXPECT_EQ(field_of(MakeAdherenceWindow(Day(0), Day(367), Day(5))), "interval");
  EXPECT_TRUE(MakeAdherenceWindow(Day(0), Day(366), Day(5)).ok());
}

}  // namespace
}  // namespace trellis::reminders
