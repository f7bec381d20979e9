#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status/status.h"
#include "services/reminders/domain/occurrence_id.h"

namespace trellis::reminders {
namespace {

absl::Time At(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(OccurrenceId, IsTheReminderNameAndTheUtcInstant) {
  EXPECT_EQ(OccurrenceId("patients/p42/reminders/r7", At(2024, 3, 10, 7, 30, 0)),
            "patients/p42/reminders/r7/occurrences/20240310T073000Z");
}

TEST(OccurrenceId, IsTheSameForTheSameInstantWhateverItsSubsecondPart) {
  EXPECT_EQ(OccurrenceId("patients/p42/reminders/r7", At(2024, 3, 10, 7, 30, 0)),
            OccurrenceId("patients/p42/reminders/r7",
                         At(2024, 3, 10, 7, 30, 0) + absl::Milliseconds(250)));
}

TEST(OccurrenceId, SnoozeDeliveryAppendsSnooze) {
  EXPECT_EQ(SnoozeDeliveryId("patients/p42/reminders/r7/occurrences/20240310T073000Z"),
            "patients/p42/reminders/r7/occurrences/20240310T073000Z/snooze");
}

TEST(OccurrenceId, ParsesBackIntoItsParts) {
  absl::StatusOr<OccurrenceRef> ref =
      ParseOccurrenceId("patients/p-4.2_x/reminders/r7/occurrences/20241103T053000Z", "id");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->reminder_name, "patients/p-4.2_x/reminders/r7");
  EXPECT_EQ(ref->patient, "p-4.2_x");
  EXPECT_EQ(ref->reminder_id, "r7");
  EXPECT_EQ(ref->scheduled_time, At(2024, 11, 3, 5, 30, 0));
}

TEST(OccurrenceId, RefusesMalformedIdsNamingTheField) {
  for (absl::string_view id : {
           "",
           "patients/p42/reminders/r7",
           "patients/p42/reminders/r7/occurrences/",
           "patients/p42/reminders/r7/occurrences/20240310T073000",
           "patients/p42/reminders/r7/occurrences/2024-03-10T07:30:00Z",
           "patients/p42/reminders/r7/occurrences/20240230T073000Z",
           "patients/p42/reminders/r7/occurrences/20240310T246000Z",
           "patients/p42/goals/r7/occurrences/20240310T073000Z",
           "patients/p 42/reminders/r7/occurrences/20240310T073000Z",
           "patients//reminders/r7/occurrences/20240310T073000Z",
           "patients/p42/reminders/r7/occurrences/20240310T073000Z/extra",
       }) {
    absl::Status status = ParseOccurrenceId(id, "occurrence_id").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    auto violations = FieldViolationsOf(status);
    ASSERT_EQ(violations.size(), 1u) << id;
    EXPECT_EQ(violations[0].first, "occurrence_id");
  }
}

TEST(OccurrenceId, DeliveryIdsAreOccurrenceIdsWithAnOptionalSnooze) {
  absl::StatusOr<DeliveryRef> plain =
      ParseDeliveryId("patients/p42/reminders/r7/occurrences/20240310T073000Z", "delivery_id");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->snooze);
  absl::StatusOr<DeliveryRef> snooze = ParseDeliveryId(
      "patients/p42/reminders/r7/occurrences/20240310T073000Z/snooze", "delivery_id");
  ASSERT_TRUE(snooze.ok());
  EXPECT_TRUE(snooze->snooze);
  EXPECT_EQ(snooze->occurrence_id, "patients/p42/reminders/r7/occurrences/20240310T073000Z");
  EXPECT_EQ(snooze->occurrence.scheduled_time, At(2024, 3, 10, 7, 30, 0));
  EXPECT_EQ(ParseDeliveryId("patients/p42/reminders/r7/occurrences/20240310T073000Z/snoozed",
                            "delivery_id")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trellis::reminders
