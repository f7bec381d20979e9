// FormatCommand writes exactly the bytes hiredis's own formatter writes.

#include "common/redis/resp.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace trellis::redis {
namespace {

std::string Hiredis(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string out(cmd, static_cast<size_t>(len));
  redisFreeCommand(cmd);
  return out;
}

TEST(FormatCommand, MatchesHiredisByteForByte) {
  std::string binary("a\0b\r\n\xff", 6);
  std::string big(100000, 'x');
  std::vector<std::vector<std::string>> commands = {
      {"PING"},
      {"GET", "trellis:goals:{t1:p1}:goal:g1"},
      {"SET", "k", ""},
      {"SET", binary, big},
      std::vector<std::string>(1234, "arg"),
  };
  for (const auto& c : commands) EXPECT_EQ(FormatCommand(c), Hiredis(c)) << c[0];
  EXPECT_EQ(FormatCommand(std::vector<std::string>{"PING"}), "*1\r\n$4\r\nPING\r\n");
}

TEST(FormatCommand, JoinsTheHeadAndBothListsInOrder) {
  std::vector<std::string> keys = {"k1", "k2"};
  std::vector<std::string> args = {"a", "", "c"};
  std::string joined = FormatCommand({"EVALSHA", "abc", "2"}, keys, args);
  EXPECT_EQ(joined, Hiredis({"EVALSHA", "abc", "2", "k1", "k2", "a", "", "c"}));
  EXPECT_EQ(FormatCommand({"EVALSHA", "abc", "0"}, {}, {}), Hiredis({"EVALSHA", "abc", "0"}));
}

}  // namespace
}  // namespace trellis::redis
