#include "common/log/log.h"

#include <gtest/gtest.h>

#include <vector>

namespace trellis {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetSinkForTesting([this](const std::string& line) { lines_.push_back(line); });
    log::Configure("goals", log::Level::kInfo);
  }
  void TearDown() override { log::SetSinkForTesting(nullptr); }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonObjectPerLineWithServiceAndFields) {
  log::Info("rpc", {{"method", "/trellis.v1.GoalService/GetGoal"}, {"code", "OK"}});
  ASSERT_EQ(lines_.size(), 1u);
  auto j = nlohmann::json::parse(lines_[0]);
  EXPECT_EQ(j["service"], "goals");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "rpc");
  EXPECT_EQ(j["code"], "OK");
  EXPECT_TRUE(j["ts"].is_string());
  EXPECT_EQ(lines_[0].find('\n'), std::string::npos);
}

TEST_F(LogTest, DropsLinesBelowTheConfiguredLevel) {
  log::Debug("hidden");
  log::Warn("shown");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines_[0])["level"], "warn");
}

TEST_F(LogTest, InvalidUtf8DoesNotBreakTheLine) {
  log::Info("x", {{"id", std::string("\xff\xfe")}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NO_THROW(nlohmann::json::parse(lines_[0]));
}

TEST(LogLevel, ParsesKnownNamesOnly) {
  log::Level l;
  EXPECT_TRUE(log::ParseLevel("warn", &l));
  EXPECT_EQ(l, log::Level::kWarn);
  EXPECT_FALSE(log::ParseLevel("verbose", &l));
}

}  // namespace
}  // namespace trellis
