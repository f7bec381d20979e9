#include "cli/table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

TEST(Table, AlignsColumnsWithoutTrailingSpaces) {
  Table t({"NAME", "STATUS"});
  t.AddRow({"patients/p1/goals/g1", "active"});
  t.AddRow({"g2", "proposed"});
  EXPECT_EQ(t.Render(),
            "NAME                  STATUS\n"
            "patients/p1/goals/g1  active\n"
            "g2                    proposed\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(Table, ShowsEmptyCellsAsADashAndPadsShortRows) {
  Table t({"A", "B", "C"});
  t.AddRow({"1"});
  t.AddRow({"", "2", "3", "dropped"});
  EXPECT_EQ(t.Render(), "A  B  C\n1  -  -\n-  2  3\n");
}

TEST(Table, AlignsNumbersRight) {
  Table t({"METRIC", "VALUE"});
  t.AlignRight(1);
  t.AddRow({"gad7", "15"});
  t.AddRow({"mood", "6.5"});
  EXPECT_EQ(t.Render(), "METRIC  VALUE\ngad7       15\nmood      6.5\n");
}

TEST(Table, CutsLongCellsAndKeepsEachOnOneLine) {
  Table t({"TEXT"});
  t.AddRow({"line one\nline two"});
  t.AddRow({std::string(30, 'x')});
  EXPECT_EQ(t.Render(10), "TEXT\nline on...\nxxxxxxx...\n");
}

TEST(Table, CountsUtf8CodePointsNotBytes) {
  EXPECT_EQ(DisplayWidth("naïve"), 5u);
  EXPECT_EQ(FitCell("ééééééé", 5), "éé...");
  Table t({"A", "B"});
  t.AddRow({"é", "x"});
  EXPECT_EQ(t.Render(), "A  B\né  x\n");
}

TEST(Table, KeyValueLinesAlignTheValues) {
  EXPECT_EQ(RenderKeyValues({{"goal", "g1"}, {"reliable change", "improved"}, {"empty", ""}}),
            "goal:            g1\nreliable change: improved\nempty:\n");
}

}  // namespace
}  // namespace trellis::cli
