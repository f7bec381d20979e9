#include "cli/proto_input.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/measurements.pb.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// 2024-03-10T12:00:00Z, a Sunday.
const absl::Time kNow = absl::FromUnixSeconds(1710072000);

TEST(RequestFromFlags, SetsNestedScalarFields) {
  v1::CreateGoalRequest req;
  ASSERT_TRUE(SetFieldFromText(req, "goal.measure.target", {"7"}, kNow).ok());
  ASSERT_TRUE(SetFieldFromText(req, "goal.title", {"Reduce GAD-7"}, kNow).ok());
  ASSERT_TRUE(
      SetFieldFromText(req, "goal.measure.baseline_from_first_measurement", {""}, kNow).ok());
  EXPECT_TRUE(req.goal().measure().has_target());
  EXPECT_EQ(req.goal().measure().target(), 7);
  EXPECT_EQ(req.goal().title(), "Reduce GAD-7");
  EXPECT_TRUE(req.goal().measure().baseline_from_first_measurement());
}

TEST(RequestFromFlags, ReadsEnumsByTheirShortNameInAnyCase) {
  const auto* type = v1::GoalLifecycleStatus_descriptor();
  EXPECT_EQ(ParseEnum(type, "active").value(), v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  EXPECT_EQ(ParseEnum(type, "ACTIVE").value(), v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  EXPECT_EQ(ParseEnum(type, "GOAL_LIFECYCLE_STATUS_ACTIVE").value(),
            v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  EXPECT_EQ(ParseEnum(type, "on-hold").value(), v1::GOAL_LIFECYCLE_STATUS_ON_HOLD);
  EXPECT_EQ(ParseEnum(type, "entered_in_error").value(),
            v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR);
  auto bad = ParseEnum(type, "finished");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("on-hold"));
  EXPECT_THAT(bad.status().message(), HasSubstr("'finished'"));
  EXPECT_FALSE(ParseEnum(type, "").ok());
}

TEST(RequestFromFlags, EnumChoicesLeaveOutTheZeroValue) {
  EXPECT_EQ(EnumChoices(v1::MeasureDirection_descriptor()), "decrease|increase|reach-range");
  EXPECT_THAT(EnumChoices(v1::GoalLifecycleStatus_descriptor()), Not(HasSubstr("unspecified")));
}

TEST(RequestFromFlags, ReadsInstantsAsRfc3339DatesOrRelativeToNow) {
  EXPECT_EQ(ParseInstant("now", kNow).value(), kNow);
  EXPECT_EQ(ParseInstant("now-14d", kNow).value(), kNow - absl::Hours(24 * 14));
  EXPECT_EQ(ParseInstant("now+90m", kNow).value(), kNow + absl::Minutes(90));
  EXPECT_EQ(ParseInstant("2024-03-10T20:00:00Z", kNow).value(),
            absl::FromUnixSeconds(1710072000 + 8 * 3600));
  EXPECT_EQ(ParseInstant("2024-03-10T21:00:00+01:00", kNow).value(),
            absl::FromUnixSeconds(1710072000 + 8 * 3600));
  EXPECT_EQ(ParseInstant("2024-03-10", kNow).value(), absl::FromUnixSeconds(1710028800));
  EXPECT_FALSE(ParseInstant("now14d", kNow).ok());
  EXPECT_FALSE(ParseInstant("yesterday", kNow).ok());
  EXPECT_FALSE(ParseInstant("2024-03-10T20:00:00", kNow).ok());  // no zone
}

TEST(RequestFromFlags, ReadsDatesAbsoluteOrRelativeToToday) {
  auto date = [](absl::string_view text) {
    v1::LocalDate d = ParseLocalDate(text, kNow).value();
    return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
  };
  EXPECT_EQ(date("2024-06-02"), "2024-06-02");
  EXPECT_EQ(date("today"), "2024-03-10");
  EXPECT_EQ(date("today+12w"), "2024-06-02");
  EXPECT_EQ(date("today-3d"), "2024-03-07");
  EXPECT_FALSE(ParseLocalDate("today+1h", kNow).ok());  // not whole days
  EXPECT_FALSE(ParseLocalDate("10/03/2024", kNow).ok());
}

TEST(RequestFromFlags, ReadsLocalDateTimesWithoutAZone) {
  v1::LocalDateTime t = ParseLocalDateTime("2024-03-10T20:00").value();
  EXPECT_EQ(t.year(), 2024);
  EXPECT_EQ(t.month(), 3);
  EXPECT_EQ(t.day(), 10);
  EXPECT_EQ(t.hours(), 20);
  EXPECT_EQ(t.minutes(), 0);
  v1::LocalDateTime s = ParseLocalDateTime("2024-03-10 02:30:15").value();
  EXPECT_EQ(s.hours(), 2);
  EXPECT_EQ(s.minutes(), 30);
  EXPECT_EQ(s.seconds(), 15);
  EXPECT_FALSE(ParseLocalDateTime("20:00").ok());
}

TEST(RequestFromFlags, RepeatedFieldsTakeOneElementPerValue) {
  v1::ListGoalsRequest req;
  ASSERT_TRUE(SetFieldFromText(req, "lifecycle_statuses", {"active", "planned"}, kNow).ok());
  EXPECT_THAT(req.lifecycle_statuses(),
              ElementsAre(v1::GOAL_LIFECYCLE_STATUS_ACTIVE, v1::GOAL_LIFECYCLE_STATUS_PLANNED));
  // Given again, the field is replaced, not appended to.
  ASSERT_TRUE(SetFieldFromText(req, "lifecycle_statuses", {"completed"}, kNow).ok());
  EXPECT_THAT(req.lifecycle_statuses(), ElementsAre(v1::GOAL_LIFECYCLE_STATUS_COMPLETED));
}

TEST(RequestFromFlags, AFieldUnderARepeatedMessageMakesOneElementPerValue) {
  v1::CreateGoalRequest req;
  ASSERT_TRUE(
      SetFieldFromText(req, "goal.addresses.text", {"panic, on the commute", "sleep"}, kNow).ok());
  ASSERT_EQ(req.goal().addresses_size(), 2);
  EXPECT_EQ(req.goal().addresses(0).text(), "panic, on the commute");
  EXPECT_EQ(req.goal().addresses(1).text(), "sleep");
}

TEST(RequestFromFlags, ReadsWellKnownAndTrellisMessageTypes) {
  v1::CreateReminderRequest reminder;
  ASSERT_TRUE(SetFieldFromText(reminder, "reminder.schedule.exdates",
                               {"2024-03-12T20:00", "2024-03-14T20:00"}, kNow)
                  .ok());
  ASSERT_EQ(reminder.reminder().schedule().exdates_size(), 2);
  EXPECT_EQ(reminder.reminder().schedule().exdates(1).day(), 14);

  v1::GetGoalProgressRequest progress;
  ASSERT_TRUE(SetFieldFromText(progress, "trend_window", {"2w"}, kNow).ok());
  EXPECT_EQ(progress.trend_window().seconds(), 14 * 24 * 3600);

  v1::RecordMeasurementRequest record;
  ASSERT_TRUE(SetFieldFromText(record, "measurement.observe_time", {"now-1h"}, kNow).ok());
  EXPECT_EQ(record.measurement().observe_time().seconds(), 1710072000 - 3600);

  v1::UpdateGoalRequest update;
  ASSERT_TRUE(SetFieldFromText(update, "update_mask", {"title, measure.target"}, kNow).ok());
  EXPECT_THAT(update.update_mask().paths(), ElementsAre("title", "measure.target"));
}

TEST(RequestFromFlags, RefusesValuesThatDoNotParse) {
  v1::RateGoalAttainmentRequest rate;
  auto not_int = SetFieldFromText(rate, "rating", {"high"}, kNow);
  EXPECT_EQ(not_int.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_int.message(), HasSubstr("'high'"));
  EXPECT_FALSE(SetFieldFromText(rate, "rating", {"99999999999"}, kNow).ok());  // not an int32
  EXPECT_FALSE(SetFieldFromText(rate, "weight", {"nan"}, kNow).ok());
  EXPECT_EQ(SetFieldFromText(rate, "no_such_field", {"1"}, kNow).code(),
            absl::StatusCode::kNotFound);
}

TEST(RequestFromFlags, FieldFlagsDescribeWhatTheyAccept) {
  const auto* d = v1::CreateGoalRequest::descriptor();
  Flag direction = FieldFlag(d, "direction", "goal.measure.direction", "Direction.");
  EXPECT_EQ(direction.value_name, "decrease|increase|reach-range");
  Flag category = FieldFlag(d, "category", "goal.category", "Category.");
  EXPECT_EQ(category.value_name, "VALUE");
  EXPECT_THAT(category.help, HasSubstr("symptom-management"));
  Flag due = FieldFlag(d, "due", "goal.due_date", "Due date.");
  EXPECT_EQ(due.value_name, "DATE");
  EXPECT_THAT(due.help, HasSubstr("today+12w"));
  Flag concern = FieldFlag(d, "concern", "goal.addresses.text", "Concern.");
  EXPECT_TRUE(concern.repeated);
  EXPECT_FALSE(concern.split_commas);
  Flag switch_flag =
      FieldFlag(d, "baseline_from_first", "goal.measure.baseline_from_first_measurement", "");
  EXPECT_EQ(switch_flag.value_name, "");
  EXPECT_EQ(switch_flag.field, "goal.measure.baseline_from_first_measurement");
}

Command WithFlags(std::vector<Flag> flags) {
  return {
      .name = "trellisctl",
      .subcommands = {{.name = "create", .flags = std::move(flags), .run = [](const ParsedArgs&) {
                         return 0;
                       }}}};
}

TEST(RequestFromFlags, AppliesTheFlagsGivenAndNamesTheFlagInErrors) {
  const auto* d = v1::CreateGoalRequest::descriptor();
  Command root = WithFlags({FieldFlag(d, "title", "goal.title", "Title."),
                            FieldFlag(d, "due", "goal.due_date", "Due."),
                            FieldFlag(d, "target", "goal.measure.target", "Target.")});
  auto none = [](const std::string&) { return std::optional<std::string>(); };
  auto args = Parse(root, {"create", "--title", "Walk daily", "--due", "today+12w"}, none);
  ASSERT_TRUE(args.ok()) << args.status();
  v1::CreateGoalRequest req;
  auto paths = ApplyFieldFlags(*args, req, kNow);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_THAT(*paths, ElementsAre("goal.title", "goal.due_date"));
  EXPECT_EQ(req.goal().title(), "Walk daily");
  EXPECT_EQ(req.goal().due_date().month(), 6);
  EXPECT_FALSE(req.goal().measure().has_target());

  auto bad = Parse(root, {"create", "--due", "next week"}, none);
  ASSERT_TRUE(bad.ok());
  auto failed = ApplyFieldFlags(*bad, req, kNow);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("--due: "));
}

TEST(RequestFromJson, ReadsTheProtobufJsonMappingAndFlagsApplyOnTop) {
  const auto* d = v1::CreateGoalRequest::descriptor();
  v1::CreateGoalRequest req;
  ASSERT_TRUE(MergeJson(R"({"goal": {"title": "from json", "patient": "p1",
                           "measure": {"metric": "gad7", "target": 7}},
                           "request_id": "r-1"})",
                        req)
                  .ok());
  EXPECT_EQ(req.goal().measure().metric(), "gad7");
  EXPECT_EQ(req.request_id(), "r-1");
  Command root = WithFlags({FieldFlag(d, "title", "goal.title", "Title.")});
  auto args = Parse(root, {"create", "--title", "from a flag"},
                    [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_TRUE(args.ok());
  ASSERT_TRUE(ApplyFieldFlags(*args, req, kNow).ok());
  EXPECT_EQ(req.goal().title(), "from a flag");
  EXPECT_EQ(req.goal().patient(), "p1");
}

TEST(RequestFromJson, RefusesUnknownFieldsAndNamesTheMessage) {
  v1::CreateGoalRequest req;
  absl::Status s = MergeJson(R"({"goal": {"titel": "typo"}})", req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("trellis.v1.CreateGoalRequest"));
  EXPECT_FALSE(MergeJson("{not json", req).ok());
}

}  // namespace
}  // namespace trellis::cli
