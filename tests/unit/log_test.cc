#include "common/log/log.h"

#include <gtest/gtest.h>

#include <limits>
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

TEST_F(LogTest, FieldsAreWrittenAsJsonWithTheLineOwnFieldsFirst) {
  log::Fields f;
  f.Add("method", "/trellis.v1.GoalService/GetGoal")
      .Add("latency_ms", 1.25)
      .Add("count", int64_t{42})
      .Add("odd", std::numeric_limits<double>::infinity());
  log::Write(log::Level::kWarn, "rpc", f);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].rfind("{\"ts\":\"", 0), 0u) << lines_[0];
  auto j = nlohmann::json::parse(lines_[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["service"], "goals");
  EXPECT_EQ(j["msg"], "rpc");
  EXPECT_EQ(j["method"], "/trellis.v1.GoalService/GetGoal");
  EXPECT_DOUBLE_EQ(j["latency_ms"].get<double>(), 1.25);
  EXPECT_EQ(j["count"], 42);
  EXPECT_TRUE(j["odd"].is_null());
  // 2026-11-27T07:21:16.123Z
  std::string ts = j["ts"];
  ASSERT_EQ(ts.size(), 24u) << ts;
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts[19], '.');
  EXPECT_EQ(ts[23], 'Z');
}

TEST_F(LogTest, EscapesQuotesControlBytesAndReplacesInvalidUtf8) {
  std::string nasty = std::string("a\"b\\c\n\x01 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 ") +
                      "\xff \xc3 \xed\xa0\x80 \xc0\xaf end";
  log::Fields f;
  f.Add("id", nasty);
  log::Write(log::Level::kInfo, "x", f);
  log::Info("x", {{"id", nasty}});
  ASSERT_EQ(lines_.size(), 2u);
  for (const std::string& line : lines_) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
  std::string got = nlohmann::json::parse(lines_[0])["id"];
  // Valid sequences (2, 3 and 4 bytes) survive; a stray byte, a truncated sequence, an encoded
  // surrogate and an overlong form each become U+FFFD per bad byte.
  EXPECT_EQ(got.substr(0, 7), "a\"b\\c\n\x01");
  EXPECT_NE(got.find("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "), std::string::npos);
  EXPECT_EQ(got.find('\xff'), std::string::npos);
  EXPECT_NE(got.find("\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "), std::string::npos);
  EXPECT_EQ(got.substr(got.size() - 3), "end");
}

TEST_F(LogTest, AFieldNamedServiceReplacesTheLinesOwn) {
  log::Info("delivered", {{"service", "reminders"}, {"id", "o1"}});
  ASSERT_EQ(lines_.size(), 1u);
  auto j = nlohmann::json::parse(lines_[0]);
  EXPECT_EQ(j["service"], "reminders");
  EXPECT_EQ(j["id"], "o1");
  EXPECT_EQ(lines_[0].find("\"service\"", lines_[0].find("\"service\"") + 1), std::string::npos)
      << "one service key: " << lines_[0];
}

TEST(LogLevel, ParsesKnownNamesOnly) {
  log::Level l;
  EXPECT_TRUE(log::ParseLevel("warn", &l));
  EXPECT_EQ(l, log::Level::kWarn);
  EXPECT_FALSE(log::ParseLevel("verbose", &l));
}

}  // namespace
}  // namespace trellis
