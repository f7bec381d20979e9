#include "common/metrics/registry.h"

#include <gtest/gtest.h>

#include "common/metrics/rpc_metrics.h"

namespace trellis::metrics {
namespace {

TEST(Registry, RendersCountersWithLabelsInTextFormat) {
  Registry r;
  r.Describe("jobs_total", "counter", "Jobs.");
  r.Add("jobs_total", {{"kind", "a"}});
  r.Add("jobs_total", {{"kind", "a"}}, 2);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE jobs_total counter"), std::string::npos);
  EXPECT_NE(text.find("jobs_total{kind=\"a\"} 3"), std::string::npos);
}

TEST(Registry, HistogramBucketsAreCumulative) {
  Registry r;
  r.Describe("lat", "histogram", "Latency.", {0.1, 1});
  r.Observe("lat", {}, 0.05);
  r.Observe("lat", {}, 0.5);
  r.Observe("lat", {}, 5);
  std::string text = r.Render();
  EXPECT_NE(text.find("lat_bucket{le=\"0.1\"} 1"), std::string::npos);
  EXPECT_NE(text.find("lat_bucket{le=\"1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("lat_bucket{le=\"+Inf\"} 3"), std::string::npos);
  EXPECT_NE(text.find("lat_count 3"), std::string::npos);
}

TEST(RpcMetrics, CountsStartedAndHandledByCode) {
  Registry r;
  RpcMetrics m(&r);
  m.OnRpcStart("/trellis.v1.GoalService/GetGoal", "unary");
  m.OnRpcEnd("/trellis.v1.GoalService/GetGoal", "unary", grpc::StatusCode::NOT_FOUND,
             absl::Milliseconds(3));
  m.OnRpcStart("/trellis.v1.ReminderService/StreamDueReminders", "server_stream");
  EXPECT_EQ(r.Value("grpc_server_started_total",
                    {{"grpc_method", "StreamDueReminders"},
                     {"grpc_service", "trellis.v1.ReminderService"},
                     {"grpc_type", "server_stream"}}),
            1);
  EXPECT_EQ(r.Value("grpc_server_started_total", {{"grpc_method", "GetGoal"},
                                                  {"grpc_service", "trellis.v1.GoalService"},
                                                  {"grpc_type", "unary"}}),
            1);
  EXPECT_EQ(r.Value("grpc_server_handled_total", {{"grpc_code", "NotFound"},
                                                  {"grpc_method", "GetGoal"},
                                                  {"grpc_service", "trellis.v1.GoalService"},
                                                  {"grpc_type", "unary"}}),
            1);
}

}  // namespace
}  // namespace trellis::metrics
