#include "cli/args.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Command Tree() {
  Command create{
      .name = "create",
      .summary = "Create a goal.",
      .flags = {{.name = "patient", .value_name = "ID", .help = "Patient id."},
                {.name = "rating", .value_name = "N", .help = "Rating."},
                {.name = "status", .value_name = "S", .help = "Statuses.", .repeated = true},
                {.name = "concern",
                 .value_name = "TEXT",
                 .help = "Concern.",
                 .repeated = true,
                 .split_commas = false},
                {.name = "active", .help = "A switch."},
                {.name = "for", .value_name = "DURATION", .help = "How long."}},
      .run = [](const ParsedArgs&) { return 0; }};
  Command get{.name = "get",
              .summary = "Show one goal.",
              .positional = "name",
              .flags = {{.name = "name", .value_name = "NAME", .help = "The goal."}},
              .run = [](const ParsedArgs&) { return 0; }};
  Command goals{.name = "goals", .summary = "Goals.", .subcommands = {create, get}};
  return {.name = "trellisctl",
          .summary = "The client.",
          .flags = {{.name = "output",
                     .value_name = "table|json",
                     .help = "Output format.",
                     .default_value = "table",
                     .env = "TRELLIS_OUTPUT"},
                    {.name = "token_file",
                     .value_name = "FILE",
                     .help = "Token file.",
                     .env = "TRELLIS_TOKEN_FILE"}},
          .subcommands = {goals}};
}

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<ParsedArgs> ParseArgs(const Command& root, std::vector<std::string> args,
                                     std::map<std::string, std::string> env = {}) {
  return Parse(root, args, Env(std::move(env)));
}

std::vector<std::string> Names(const ParsedArgs& args) {
  std::vector<std::string> out;
  for (const Command* c : args.path()) out.push_back(c->name);
  return out;
}

TEST(ArgumentParser, WalksToTheLeafAndReadsItsFlagsAndTheGlobalOnes) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create", "--patient", "p1", "--output=json"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(Names(*args), ElementsAre("trellisctl", "goals", "create"));
  EXPECT_EQ(args->CommandLine(), "trellisctl goals create");
  EXPECT_EQ(args->Get("patient"), "p1");
  EXPECT_EQ(args->Get("output"), "json");
  EXPECT_FALSE(args->help_requested());
}

TEST(ArgumentParser, AcceptsGlobalFlagsBeforeTheSubcommand) {
  Command root = Tree();
  auto args = ParseArgs(root, {"--output", "json", "goals", "create"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("output"), "json");
  EXPECT_EQ(args->command().name, "create");
}

TEST(ArgumentParser, CommandLineBeatsEnvironmentBeatsDefault) {
  Command root = Tree();
  auto defaulted = ParseArgs(root, {"goals", "create"});
  ASSERT_TRUE(defaulted.ok());
  EXPECT_EQ(defaulted->Get("output"), "table");
  EXPECT_FALSE(defaulted->IsSet("output"));

  auto from_env = ParseArgs(root, {"goals", "create"}, {{"TRELLIS_OUTPUT", "json"}});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->Get("output"), "json");
  EXPECT_TRUE(from_env->IsSet("output"));

  auto from_flag =
      ParseArgs(root, {"goals", "create", "--output=table"}, {{"TRELLIS_OUTPUT", "json"}});
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->Get("output"), "table");
}

TEST(ArgumentParser, AnEmptyEnvironmentVariableCountsAsUnset) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create"}, {{"TRELLIS_OUTPUT", ""}});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Get("output"), "table");
}

TEST(ArgumentParser, RepeatedFlagsCollectEveryValueSplitAtCommas) {
  Command root = Tree();
  auto args =
      ParseArgs(root, {"goals", "create", "--status", "active,planned", "--status", "on-hold",
                       "--concern", "panic, mostly on the commute", "--concern", "sleep"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->GetAll("status"), ElementsAre("active", "planned", "on-hold"));
  EXPECT_THAT(args->GetAll("concern"), ElementsAre("panic, mostly on the commute", "sleep"));
}

TEST(ArgumentParser, ASingleFlagGivenTwiceKeepsTheLast) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create", "--patient", "p1", "--patient=p2"});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->Get("patient"), "p2");
}

TEST(ArgumentParser, SwitchesStandAloneOrTakeABoolean) {
  Command root = Tree();
  auto on = ParseArgs(root, {"goals", "create", "--active"});
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on->GetBool("active").value(), true);
  auto off = ParseArgs(root, {"goals", "create", "--active=false"});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->GetBool("active").value(), false);
  auto unset = ParseArgs(root, {"goals", "create"});
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->GetBool("active").value(), false);
  auto bad = ParseArgs(root, {"goals", "create", "--active=maybe"});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--active"));
}

TEST(ArgumentParser, AValueMayStartWithASingleDash) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create", "--rating", "-2"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->GetInt("rating").value(), -2);
}

TEST(ArgumentParser, AFlagWithoutItsValueIsAnError) {
  Command root = Tree();
  auto at_end = ParseArgs(root, {"goals", "create", "--patient"});
  ASSERT_FALSE(at_end.ok());
  EXPECT_THAT(at_end.status().message(), HasSubstr("--patient needs a value"));
  auto before_flag = ParseArgs(root, {"goals", "create", "--patient", "--active"});
  EXPECT_FALSE(before_flag.ok());
}

TEST(ArgumentParser, DashesAndUnderscoresInFlagNamesAreTheSame) {
  Command root = Tree();
  auto args = ParseArgs(root, {"--token-file", "/tmp/t", "goals", "get", "x"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("token_file"), "/tmp/t");
}

TEST(ArgumentParser, UnknownFlagsAndCommandsNameWhereTheyWereGiven) {
  Command root = Tree();
  auto flag = ParseArgs(root, {"goals", "create", "--bogus", "1"});
  ASSERT_FALSE(flag.ok());
  EXPECT_THAT(flag.status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(flag.status().message(), HasSubstr("'trellisctl goals create'"));
  EXPECT_THAT(flag.status().message(), HasSubstr("--help"));

  auto command = ParseArgs(root, {"goals", "remove"});
  ASSERT_FALSE(command.ok());
  EXPECT_THAT(command.status().message(), HasSubstr("unknown command 'remove'"));

  auto single_dash = ParseArgs(root, {"goals", "create", "-p", "x"});
  EXPECT_FALSE(single_dash.ok());
}

TEST(ArgumentParser, ALeafsFlagIsUnknownBeforeTheLeafIsNamed) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "--patient", "p1", "create"});
  ASSERT_FALSE(args.ok());
  EXPECT_THAT(args.status().message(), HasSubstr("'trellisctl goals'"));
}

TEST(ArgumentParser, OnePositionalArgumentFillsItsFlag) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "get", "patients/p1/goals/g1"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("name"), "patients/p1/goals/g1");
  auto two = ParseArgs(root, {"goals", "get", "a", "b"});
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("unexpected argument 'b'"));
  auto none = ParseArgs(root, {"goals", "create", "x"});
  EXPECT_FALSE(none.ok());
}

TEST(ArgumentParser, DoubleDashEndsFlags) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "get", "--", "--odd-name"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("name"), "--odd-name");
}

TEST(ArgumentParser, HelpStopsAtTheCommandReached) {
  Command root = Tree();
  auto group = ParseArgs(root, {"goals", "--help", "create", "--bogus"});
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_TRUE(group->help_requested());
  EXPECT_THAT(Names(*group), ElementsAre("trellisctl", "goals"));
  auto leaf = ParseArgs(root, {"goals", "create", "-h"});
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(leaf->help_requested());
  EXPECT_EQ(leaf->command().name, "create");
}

TEST(ArgumentParser, TypedGettersNameTheFlagOnBadValues) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create", "--rating", "high", "--for", "soon"});
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(args->GetInt("rating").status().message(), HasSubstr("--rating"));
  EXPECT_THAT(args->GetDuration("for").status().message(), HasSubstr("--for"));
  auto good = ParseArgs(root, {"goals", "create", "--for", "2w"});
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->GetDuration("for").value(), absl::Hours(24 * 14));
  EXPECT_EQ(good->GetInt("rating").value(), std::nullopt);
}

TEST(HelpText, ALeafListsItsFlagsThenTheGlobalOnes) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "create", "--help"});
  ASSERT_TRUE(args.ok());
  std::string help = HelpText(args->path());
  EXPECT_THAT(help, HasSubstr("Usage: trellisctl goals create [flags]"));
  EXPECT_THAT(help, HasSubstr("Create a goal."));
  EXPECT_THAT(help, HasSubstr("--patient ID"));
  EXPECT_THAT(help, HasSubstr("Statuses. Repeatable."));
  EXPECT_THAT(help, HasSubstr("Global flags:"));
  EXPECT_THAT(help, HasSubstr("--output table|json"));
  EXPECT_THAT(help, HasSubstr("Env: TRELLIS_OUTPUT. Default: table."));
  EXPECT_LT(help.find("--patient"), help.find("Global flags:"));
}

TEST(HelpText, AGroupListsItsCommands) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals"});
  ASSERT_TRUE(args.ok());
  std::string help = HelpText(args->path());
  EXPECT_THAT(help, HasSubstr("Usage: trellisctl goals <command> [flags]"));
  EXPECT_THAT(help, HasSubstr("  create  Create a goal."));
  EXPECT_THAT(help, HasSubstr("  get     Show one goal."));
  EXPECT_THAT(help, HasSubstr("Run 'trellisctl goals <command> --help'"));
  EXPECT_THAT(help, Not(HasSubstr("--patient")));
}

TEST(HelpText, APositionalArgumentIsShownInTheUsage) {
  Command root = Tree();
  auto args = ParseArgs(root, {"goals", "get", "--help"});
  ASSERT_TRUE(args.ok());
  EXPECT_THAT(HelpText(args->path()), HasSubstr("Usage: trellisctl goals get [flags] [NAME]"));
}

TEST(HelpText, LinesStayWithinOneHundredColumns) {
  Command root = Tree();
  root.subcommands[0].subcommands[0].flags[0].help =
      std::string(30, 'x') + " " + std::string(40, 'y') + " " + std::string(50, 'z');
  auto args = ParseArgs(root, {"goals", "create", "--help"});
  ASSERT_TRUE(args.ok());
  std::string help = HelpText(args->path());
  size_t start = 0;
  while (start < help.size()) {
    size_t end = help.find('\n', start);
    if (end == std::string::npos) end = help.size();
    EXPECT_LE(end - start, 100u) << help.substr(start, end - start);
    start = end + 1;
  }
}

TEST(CliDuration, ReadsAbslUnitsDaysAndWeeks) {
  EXPECT_EQ(ParseCliDuration("90s").value(), absl::Seconds(90));
  EXPECT_EQ(ParseCliDuration("1h30m").value(), absl::Minutes(90));
  EXPECT_EQ(ParseCliDuration("250ms").value(), absl::Milliseconds(250));
  EXPECT_EQ(ParseCliDuration("14d").value(), absl::Hours(24 * 14));
  EXPECT_EQ(ParseCliDuration("1w3d").value(), absl::Hours(24 * 10));
  EXPECT_EQ(ParseCliDuration("-2h").value(), absl::Hours(-2));
  EXPECT_EQ(ParseCliDuration("+1.5d").value(), absl::Hours(36));
  EXPECT_EQ(ParseCliDuration("0").value(), absl::ZeroDuration());
  EXPECT_FALSE(ParseCliDuration("").ok());
  EXPECT_FALSE(ParseCliDuration("soon").ok());
  EXPECT_FALSE(ParseCliDuration("5").ok());
  EXPECT_FALSE(ParseCliDuration("3y").ok());
}

}  // namespace
}  // namespace trellis::cli
