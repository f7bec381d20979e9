#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "common/metrics/process_metrics.h"
#include "common/metrics/redis_metrics.h"
#include "common/metrics/rpc_metrics.h"

namespace trellis::metrics {
namespace {

std::string Text(const prometheus::Collectable& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(RpcMetrics, CountsStartedAndHandledByCode) {
  prometheus::Registry r;
  RpcMetrics m(r);
  m.OnRpcStart("/trellis.v1.GoalService/GetGoal", "unary");
  m.OnRpcEnd("/trellis.v1.GoalService/GetGoal", "unary", grpc::StatusCode::NOT_FOUND,
             absl::Milliseconds(3));
  m.OnRpcStart("/trellis.v1.GoalService/GetGoal", "unary");
  m.OnRpcEnd("/trellis.v1.GoalService/GetGoal", "unary", grpc::StatusCode::OK,
             absl::Milliseconds(30));
  m.OnRpcStart("/trellis.v1.ReminderService/StreamDueReminders", "server_stream");
  std::string text = Text(r);
  EXPECT_TRUE(Has(text,
                  "grpc_server_started_total{grpc_method=\"StreamDueReminders\",grpc_service="
                  "\"trellis.v1.ReminderService\",grpc_type=\"server_stream\"} 1"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_started_total{grpc_method=\"GetGoal\",grpc_service=\"trellis.v1."
                  "GoalService\",grpc_type=\"unary\"} 2"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method=\"GetGoal\","
                  "grpc_service=\"trellis.v1.GoalService\",grpc_type=\"unary\"} 1"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"GetGoal\","
                  "grpc_service=\"trellis.v1.GoalService\",grpc_type=\"unary\"} 1"))
      << text;
  // 3 ms and 30 ms: one in the 5 ms bucket, both in the 50 ms one.
  EXPECT_TRUE(Has(text,
                  "grpc_server_handling_seconds_bucket{grpc_method=\"GetGoal\",grpc_service="
                  "\"trellis.v1.GoalService\",grpc_type=\"unary\",le=\"0.005\"} 1"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_handling_seconds_bucket{grpc_method=\"GetGoal\",grpc_service="
                  "\"trellis.v1.GoalService\",grpc_type=\"unary\",le=\"0.05\"} 2"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_handling_seconds_count{grpc_method=\"GetGoal\",grpc_service="
                  "\"trellis.v1.GoalService\",grpc_type=\"unary\"} 2"))
      << text;
}

TEST(RpcMetrics, SpellsCodesAsDashboardsDo) {
  EXPECT_EQ(PrometheusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(PrometheusCodeName(grpc::StatusCode::NOT_FOUND), "NotFound");
  EXPECT_EQ(PrometheusCodeName(grpc::StatusCode::UNAVAILABLE), "Unavailable");
  EXPECT_EQ(PrometheusCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_EQ(PrometheusCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

TEST(RpcMetrics, MethodsBeyondTheLimitShareOneUnknownSeries) {
  prometheus::Registry r;
  RpcMetrics m(r);
  for (size_t i = 0; i < RpcMetrics::kMaxMethods + 50; ++i) {
    std::string method = "/x.S/M" + std::to_string(i);
    m.OnRpcStart(method, "unary");
    m.OnRpcEnd(method, "unary", grpc::StatusCode::UNIMPLEMENTED, absl::ZeroDuration());
  }
  std::string text = Text(r);
  EXPECT_TRUE(Has(text,
                  "grpc_server_started_total{grpc_method=\"unknown\",grpc_service=\"unknown\","
                  "grpc_type=\"unary\"} 50"))
      << text;
  EXPECT_EQ(text.find("grpc_method=\"M" + std::to_string(RpcMetrics::kMaxMethods) + "\""),
            std::string::npos);
}

TEST(RedisMetrics, TimesEveryCommandAndCountsFailuresByKind) {
  prometheus::Registry r;
  RedisMetrics m(r);
  m.OnCommand("GET", false, absl::Microseconds(200), redis::CommandError::kNone);
  m.OnCommand("get", false, absl::Microseconds(200), redis::CommandError::kTimeout);
  m.OnCommand("goal_write", true, absl::Milliseconds(2), redis::CommandError::kNone);
  m.OnCommand("goal_write", true, absl::Milliseconds(2), redis::CommandError::kIo);
  m.OnCommand("goal_write", true, absl::Milliseconds(2), redis::CommandError::kReply);
  m.OnCommand("goal_write", true, absl::Milliseconds(2), redis::CommandError::kRedirect);
  std::string text = Text(r);
  EXPECT_TRUE(Has(text, "trellis_redis_command_duration_seconds_count{command=\"GET\"} 2")) << text;
  EXPECT_TRUE(
      Has(text, "trellis_redis_command_duration_seconds_bucket{command=\"GET\",le=\"0.00025\"} 2"))
      << text;
  EXPECT_TRUE(
      Has(text, "trellis_redis_command_duration_seconds_count{command=\"script:goal_write\"} 4"))
      << text;
  EXPECT_TRUE(Has(text, "trellis_redis_command_errors_total{command=\"GET\",kind=\"timeout\"} 1"))
      << text;
  EXPECT_TRUE(
      Has(text, "trellis_redis_command_errors_total{command=\"script:goal_write\",kind=\"io\"} 1"))
      << text;
  EXPECT_TRUE(Has(
      text, "trellis_redis_command_errors_total{command=\"script:goal_write\",kind=\"reply\"} 1"))
      << text;
  EXPECT_TRUE(Has(
      text,
      "trellis_redis_command_errors_total{command=\"script:goal_write\",kind=\"redirect\"} 1"))
      << text;
}

TEST(RedisMetrics, ConnectionGaugesFollowTheReadyConnections) {
  int ready = 2;
  auto gauges = RedisConnectionGauges([&] { return ready; });
  std::string up = Text(*gauges);
  EXPECT_TRUE(Has(up, "trellis_redis_up 1")) << up;
  EXPECT_TRUE(Has(up, "trellis_redis_connections_ready 2")) << up;
  ready = 0;
  std::string down = Text(*gauges);
  EXPECT_TRUE(Has(down, "trellis_redis_up 0")) << down;
  EXPECT_TRUE(Has(down, "trellis_redis_connections_ready 0")) << down;
}

// /proc/<pid>/stat of a process whose name contains spaces and parentheses.
constexpr char kStat[] =
    "4242 (trellis (goals) x) S 1 4242 4242 0 -1 4194560 6130 0 0 0 350 120 0 0 20 0 7 0 "
    "123456 1052672000 5000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcStat, ParsesFieldsCountedFromTheLastParenthesis) {
  auto stat = ParseProcStat(kStat);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->utime_ticks, 350u);
  EXPECT_EQ(stat->stime_ticks, 120u);
  EXPECT_EQ(stat->threads, 7);
  EXPECT_EQ(stat->start_ticks, 123456u);
  EXPECT_EQ(stat->vsize_bytes, 1052672000u);
  EXPECT_EQ(stat->rss_pages, 5000);
}

TEST(ProcStat, RefusesWhatIsNotAStatLine) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("4242 trellis S 1 2 3").ok());
  EXPECT_FALSE(ParseProcStat("4242 (trellis) S 1 2 3").ok());
  EXPECT_FALSE(ParseProcStat("4242 (trellis) S 1 4242 4242 0 -1 4194560 6130 0 0 0 x 120 0 0 20 0 "
                             "7 0 123456 1052672000 5000")
                   .ok());
  EXPECT_FALSE(ParseProcStat(") (4242 S 1").ok());
}

TEST(ProcStat, ReadsTheBootTime) {
  auto boot = ParseBootTime("cpu  1 2 3 4\nintr 5\nbtime 1767225600\nprocesses 42\n");
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(*boot, 1767225600);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").ok());
  EXPECT_FALSE(ParseBootTime("btime soon\n").ok());
}

TEST(ProcessSample, ConvertsTicksAndPagesToSecondsAndBytes) {
  ProcessSample s = SampleOf(*ParseProcStat(kStat), /*ticks_per_second=*/100, /*page_size=*/4096,
                             /*boot_time=*/1767225600, /*open_fds=*/12, /*max_fds=*/1024);
  EXPECT_DOUBLE_EQ(s.cpu_seconds, 4.7);
  EXPECT_DOUBLE_EQ(s.resident_bytes, 5000.0 * 4096);
  EXPECT_DOUBLE_EQ(s.virtual_bytes, 1052672000.0);
  EXPECT_DOUBLE_EQ(s.start_time_seconds, 1767225600.0 + 1234.56);
  EXPECT_DOUBLE_EQ(s.threads, 7);
  std::string text = prometheus::TextSerializer().Serialize(ProcessFamilies(s));
  EXPECT_TRUE(Has(text, "# TYPE process_cpu_seconds_total counter")) << text;
  EXPECT_TRUE(Has(text, "process_cpu_seconds_total 4.7")) << text;
  EXPECT_TRUE(Has(text, "process_open_fds 12")) << text;
  EXPECT_TRUE(Has(text, "process_max_fds 1024")) << text;
  EXPECT_TRUE(Has(text, "process_threads 7")) << text;
}

TEST(ProcessCollector, ReportsThisProcess) {
  std::string text = Text(ProcessCollector());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds", "process_threads"}) {
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name << "\n" << text;
  }
}

}  // namespace
}  // namespace trellis::metrics
