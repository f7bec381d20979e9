// The whole trellisctl command tree: every command is reachable, documented, and has real help.

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands/invocation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trellis::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

void Walk(const Command& c, std::vector<const Command*>& path,
          std::vector<std::vector<const Command*>>& leaves) {
  path.push_back(&c);
  if (c.subcommands.empty()) leaves.push_back(path);
  for (const Command& sub : c.subcommands) Walk(sub, path, leaves);
  path.pop_back();
}

std::vector<std::vector<const Command*>> Leaves(const Command& root) {
  std::vector<const Command*> path;
  std::vector<std::vector<const Command*>> leaves;
  Walk(root, path, leaves);
  return leaves;
}

std::string Line(const std::vector<const Command*>& path) {
  std::string out;
  for (const Command* c : path) absl::StrAppend(&out, out.empty() ? "" : " ", c->name);
  return out;
}

TEST(CommandTree, HasEveryCommandOfTheIssue) {
  Command root = TrellisctlCommand();
  std::set<std::string> lines;
  for (const auto& leaf : Leaves(root)) lines.insert(Line(leaf));
  std::vector<std::string> wanted;
  for (const char* c : {"create", "get", "list", "update", "transition", "history", "smart", "rate",
                        "score", "export"}) {
    wanted.push_back(absl::StrCat("trellisctl goals ", c));
  }
  for (const char* c : {"record", "questionnaire", "list", "progress", "summary", "export"}) {
    wanted.push_back(absl::StrCat("trellisctl measure ", c));
  }
  for (const char* c : {"define", "list"}) wanted.push_back(absl::StrCat("trellisctl metrics ", c));
  for (const char* c : {"create", "get", "list", "pause", "resume", "delete", "preview", "watch",
                        "ack", "complete", "adherence"}) {
    wanted.push_back(absl::StrCat("trellisctl reminders ", c));
  }
  for (const char* c : {"token", "audit", "health"})
    wanted.push_back(absl::StrCat("trellisctl ", c));
  EXPECT_THAT(lines, IsSupersetOf(wanted));
  EXPECT_EQ(lines.size(), wanted.size());
}

TEST(CommandTree, EveryLeafRunsAndDocumentsEachFlagOnce) {
  Command root = TrellisctlCommand();
  for (const auto& leaf : Leaves(root)) {
    SCOPED_TRACE(Line(leaf));
    const Command& cmd = *leaf.back();
    EXPECT_TRUE(cmd.run != nullptr);
    EXPECT_FALSE(cmd.summary.empty());
    std::set<std::string> seen;
    for (const Command* c : leaf) {
      for (const Flag& f : c->flags) {
        EXPECT_TRUE(seen.insert(f.name).second) << "--" << f.name << " declared twice";
        EXPECT_FALSE(f.help.empty()) << "--" << f.name;
      }
    }
    if (!cmd.positional.empty()) {
      EXPECT_TRUE(seen.count(cmd.positional)) << "positional " << cmd.positional;
    }
    std::string help = HelpText(leaf);
    for (const Flag& f : cmd.flags) EXPECT_THAT(help, HasSubstr("--" + f.name));
    EXPECT_THAT(help, HasSubstr("--output table|json"));
  }
}

TEST(CommandTree, HelpIsReachableOnEveryLevel) {
  Command root = TrellisctlCommand();
  auto no_env = [](const std::string&) { return std::optional<std::string>(); };
  for (const auto& leaf : Leaves(root)) {
    std::vector<std::string> args;
    for (size_t i = 1; i < leaf.size(); ++i) args.push_back(leaf[i]->name);
    for (size_t depth = 0; depth <= args.size(); ++depth) {
      std::vector<std::string> prefix(args.begin(), args.begin() + depth);
      prefix.push_back("--help");
      auto parsed = Parse(root, prefix, no_env);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_TRUE(parsed->help_requested());
      EXPECT_EQ(parsed->path().size(), depth + 1);
    }
  }
}

TEST(CommandTree, RequestCommandsTakeJsonInput) {
  Command root = TrellisctlCommand();
  for (const auto& leaf : Leaves(root)) {
    const Command& cmd = *leaf.back();
    if (cmd.name == "token" || cmd.name == "health") continue;
    std::set<std::string> names;
    for (const Flag& f : cmd.flags) names.insert(f.name);
    EXPECT_TRUE(names.count("json") && names.count("json_file")) << Line(leaf);
  }
}

}  // namespace
}  // namespace trellis::cli
