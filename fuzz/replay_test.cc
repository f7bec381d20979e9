// Replays every seed (fuzz/corpus/<target>/) and every crash reproducer ever found
// (fuzz/regressions/<target>/) through the fuzz target bodies in the normal build, so a fixed
// crash stays fixed without clang. A body aborts on a broken contract; the input it was running is
// the last "replaying" line of the test's output.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "gtest/gtest.h"

namespace trellis::fuzz {
namespace {

namespace fs = std::filesystem;

using Body = int (*)(const uint8_t*, size_t);

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string().front() != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs `body` over the target's seeds and regressions; returns how many seeds there were.
size_t Replay(const std::string& target, Body body) {
  const fs::path root(TRELLIS_FUZZ_DIR);
  const std::vector<fs::path> seeds = FilesIn(root / "corpus" / target);
  std::vector<fs::path> inputs = seeds;
  for (const fs::path& p : FilesIn(root / "regressions" / target)) inputs.push_back(p);
  for (const fs::path& path : inputs) {
    std::cerr << "replaying " << path.string() << "\n";
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0)
        << path.string();
  }
  return seeds.size();
}

TEST(FuzzReplay, ScheduleTargetKeepsItsContractsOnEverySeedAndRegression) {
  EXPECT_GE(Replay("schedule", FuzzSchedule), 10u);
}

TEST(FuzzReplay, JwtTargetKeepsItsContractsOnEverySeedAndRegression) {
  EXPECT_GE(Replay("jwt", FuzzJwt), 10u);
}

TEST(FuzzReplay, QuestionnaireTargetKeepsItsContractsOnEverySeedAndRegression) {
  EXPECT_GE(Replay("questionnaire", FuzzQuestionnaire), 10u);
}

TEST(FuzzReplay, RequestTargetKeepsItsContractsOnEverySeedAndRegression) {
  EXPECT_GE(Replay("request", FuzzRequest), 10u);
}

}  // namespace
}  // namespace trellis::fuzz
