#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status/status.h"
#include "services/reminders/domain/delivery_policy.h"

namespace trellis::reminders {
namespace {

const absl::Time kDue =
    absl::FromCivil(absl::CivilSecond(2024, 6, 1, 20, 0, 0), absl::UTCTimeZone());

TEST(CatchUp, NotDueBeforeItsTime) {
  EXPECT_EQ(ClassifyDue(kDue, kDue - absl::Seconds(1)), DueClass::kNotDue);
}

TEST(CatchUp, OnTimeWithinTheLatenessThreshold) {
  EXPECT_EQ(ClassifyDue(kDue, kDue), DueClass::kOnTime);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Minutes(1)), DueClass::kOnTime);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Minutes(1) + absl::Nanoseconds(1)), DueClass::kLate);
}

TEST(CatchUp, DeliveredLateUpToTheGraceWindowAndMissedAfter) {
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Minutes(59)), DueClass::kLate);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Hours(1)), DueClass::kLate);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Hours(1) + absl::Nanoseconds(1)), DueClass::kMissed);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Hours(24 * 3)), DueClass::kMissed);
}

TEST(CatchUp, GraceWindowIsConfigurable) {
  CatchUpPolicy policy;
  policy.grace_window = absl::Minutes(10);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Minutes(10), policy), DueClass::kLate);
  EXPECT_EQ(ClassifyDue(kDue, kDue + absl::Minutes(11), policy), DueClass::kMissed);
}

TEST(Snooze, AcceptsOneMinuteToTwentyFourHours) {
  EXPECT_TRUE(ValidateSnoozeDuration(absl::Minutes(1)).ok());
  EXPECT_TRUE(ValidateSnoozeDuration(absl::Hours(24)).ok());
  for (absl::Duration bad : {absl::ZeroDuration(), absl::Seconds(59), absl::Minutes(-5),
                             absl::Hours(24) + absl::Seconds(1), absl::InfiniteDuration()}) {
    absl::Status status = ValidateSnoozeDuration(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    auto violations = FieldViolationsOf(status);
    ASSERT_EQ(violations.size(), 1u);
    EXPECT_EQ(violations[0].first, "snooze_duration");
  }
}

TEST(Snooze, RedeliversAfterTheDelayFromNow) {
  const absl::Time now = kDue + absl::Minutes(3);
  absl::StatusOr<absl::Time> until = SnoozeUntil(now, absl::Minutes(30));
  ASSERT_TRUE(until.ok());
  EXPECT_EQ(*until, now + absl::Minutes(30));
  EXPECT_FALSE(SnoozeUntil(now, absl::Hours(25)).ok());
}

TEST(CompletionWindow, OpensADayEarlyAndClosesAWeekAfter) {
  EXPECT_TRUE(CheckCompletionWindow(kDue, kDue - absl::Hours(24)).ok());
  EXPECT_TRUE(CheckCompletionWindow(kDue, kDue + absl::Hours(24 * 7) - absl::Seconds(1)).ok());
  for (absl::Time now : {kDue - absl::Hours(24) - absl::Seconds(1), kDue + absl::Hours(24 * 7)}) {
    absl::Status status = CheckCompletionWindow(kDue, now);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(ReasonOf(status), "OUTSIDE_COMPLETION_WINDOW");
  }
}

}  // namespace
}  // namespace trellis::reminders
