#include "cli/proto_output.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trellis/v1/goals.pb.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

v1::Goal SampleGoal() {
  v1::Goal g;
  g.set_name("patients/p1/goals/g1");
  g.set_title("Reduce GAD-7");
  g.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_ON_HOLD);
  g.mutable_measure()->set_metric("gad7");
  g.mutable_measure()->set_target(7);
  g.mutable_due_date()->set_year(2024);
  g.mutable_due_date()->set_month(6);
  g.mutable_due_date()->set_day(2);
  g.add_addresses()->set_text("worry");
  g.mutable_create_time()->set_seconds(1710100800);  // 2024-03-10T20:00:00Z
  return g;
}

TEST(OutputForPeople, FormatsNumbersWithoutNoise) {
  EXPECT_EQ(FormatDouble(7), "7");
  EXPECT_EQ(FormatDouble(2.5), "2.5");
  EXPECT_EQ(FormatDouble(-1.0 / 3), "-0.33");
  EXPECT_EQ(FormatDouble(0.001234), "0.00123");
  EXPECT_EQ(FormatDouble(0), "0");
  EXPECT_EQ(FormatDouble(-0.0001), "-0.0001");
  EXPECT_EQ(FormatDouble(1234.5), "1234.5");
}

TEST(OutputForPeople, ShowsTimesToTheSecondAndDurationsInWeeksOrDays) {
  EXPECT_EQ(FormatUtc(absl::FromUnixMillis(1710100800123)), "2024-03-10T20:00:00Z");
  EXPECT_EQ(FormatDurationForPeople(absl::Hours(24 * 7 * 8)), "8w");
  EXPECT_EQ(FormatDurationForPeople(absl::Hours(24 * 3)), "3d");
  EXPECT_EQ(FormatDurationForPeople(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatDurationForPeople(absl::ZeroDuration()), "0");
}

TEST(OutputForPeople, ShowsFieldsByPathInTheirHumanForm) {
  v1::Goal g = SampleGoal();
  EXPECT_EQ(FieldText(g, "title"), "Reduce GAD-7");
  EXPECT_EQ(FieldText(g, "lifecycle_status"), "on-hold");
  EXPECT_EQ(FieldText(g, "measure.target"), "7");
  EXPECT_EQ(FieldText(g, "measure.baseline"), "");  // unset optional
  EXPECT_EQ(FieldText(g, "due_date"), "2024-06-02");
  EXPECT_EQ(FieldText(g, "review_date"), "");
  EXPECT_EQ(FieldText(g, "create_time"), "2024-03-10T20:00:00Z");
  EXPECT_EQ(FieldText(g, "category"), "");  // unspecified enum
  EXPECT_EQ(FieldText(g, "needs_review"), "false");
  EXPECT_EQ(FieldText(g, "no_such_field"), "");

  v1::PreviewScheduleResponse preview;
  auto* occ = preview.add_occurrences();
  occ->mutable_rule_local_time()->set_year(2024);
  occ->mutable_rule_local_time()->set_month(3);
  occ->mutable_rule_local_time()->set_day(10);
  occ->mutable_rule_local_time()->set_hours(2);
  occ->mutable_rule_local_time()->set_minutes(30);
  EXPECT_EQ(FieldText(*occ, "rule_local_time"), "2024-03-10T02:30:00");
}

TEST(OutputForPeople, FlattensSetFieldsDepthFirst) {
  auto pairs = FlattenFields(SampleGoal());
  EXPECT_THAT(pairs, ElementsAre(Pair("name", "patients/p1/goals/g1"),
                                 Pair("title", "Reduce GAD-7"), Pair("lifecycle_status", "on-hold"),
                                 Pair("measure.metric", "gad7"), Pair("measure.target", "7"),
                                 Pair("due_date", "2024-06-02"), Pair("addresses[0].text", "worry"),
                                 Pair("create_time", "2024-03-10T20:00:00Z")));
}

TEST(OutputForPeople, ShowsMapEntriesByKey) {
  v1::GetAttainmentScoreRequest req;
  (*req.mutable_weights())["patients/p1/goals/g1"] = 2;
  EXPECT_THAT(FlattenFields(req), ElementsAre(Pair("weights[patients/p1/goals/g1]", "2")));
}

TEST(OutputForPeople, RendersOneResourceAsAlignedLines) {
  v1::Goal g;
  g.set_title("x");
  g.mutable_measure()->set_metric("mood");
  EXPECT_EQ(RenderMessage(g), "title:          x\nmeasure.metric: mood\n");
}

TEST(OutputForPeople, RendersItemsAsColumns) {
  v1::ListGoalsResponse r;
  *r.add_goals() = SampleGoal();
  r.add_goals()->set_name("patients/p1/goals/g2");
  std::string table = RenderRows(
      r.goals(),
      {{"NAME", "name"}, {"STATUS", "lifecycle_status"}, {"TARGET", "measure.target", true}});
  EXPECT_EQ(table,
            "NAME                  STATUS   TARGET\n"
            "patients/p1/goals/g1  on-hold       7\n"
            "patients/p1/goals/g2  -             -\n");
}

TEST(OutputForScripts, PrintsTheProtobufJsonMappingWithDefaults) {
  v1::EvaluateSmartResponse r;
  std::string json = ToJson(r);
  EXPECT_THAT(json, HasSubstr("\"passes\": false"));
  EXPECT_THAT(json, HasSubstr("\"findings\": []"));
  std::string goal = ToJson(SampleGoal(), /*pretty=*/false);
  EXPECT_THAT(goal, Not(HasSubstr("\n")));
  EXPECT_THAT(goal, HasSubstr("\"lifecycleStatus\":\"GOAL_LIFECYCLE_STATUS_ON_HOLD\""));
  EXPECT_THAT(goal, HasSubstr("\"createTime\":\"2024-03-10T20:00:00Z\""));
  EXPECT_THAT(goal, Not(HasSubstr("\"baseline\":")));  // unset optional stays absent
}

}  // namespace
}  // namespace trellis::cli
