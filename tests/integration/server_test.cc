// The shared server runtime, in-process, against a real redis-server and through real channels.

#include "common/server/host.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log/log.h"
#include "common/metrics/endpoint.h"
#include "common/metrics/rpc_metrics.h"
#include "common/redis/async_pool.h"
#include "services/goals/goal_service.h"
#include "tests/support/health.h"
#include "tests/support/http.h"
#include "tests/support/redis_server.h"

namespace trellis::server {
namespace {

using testing::HealthOf;
using testing::HttpGet;
using testing::RedisServer;
using testing::WaitForHealth;

class ServiceHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    redis_server_ = std::move(*server);
    redis::PoolOptions o;
    o.endpoint = *config::ParseRedisUrl(redis_server_->url());
    o.max_backoff = absl::Milliseconds(200);
    pool_ = std::make_unique<redis::RedisPool>(o);
    env_ = ServiceEnv{pool_.get(), &RealClock::Get(), nullptr, nullptr};
    handler_ = std::make_unique<goals::GoalServiceHandler>(env_);
  }

  std::unique_ptr<ServiceHost> StartHost(HostOptions options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.health_names = {"trellis.v1.GoalService"};
    options.health_interval = absl::Milliseconds(100);
    options.shutdown_grace = absl::Seconds(2);
    auto host = std::make_unique<ServiceHost>(options, pool_.get());
    host->AddService(handler_.get());
    absl::Status started = host->Start();
    EXPECT_TRUE(started.ok()) << started;
    return host;
  }

  std::shared_ptr<grpc::Channel> ChannelTo(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }

  std::unique_ptr<RedisServer> redis_server_;
  std::unique_ptr<redis::RedisPool> pool_;
  ServiceEnv env_{};
  std::unique_ptr<goals::GoalServiceHandler> handler_;
};

TEST_F(ServiceHostTest, ServesHealthForTheServerAndEachServiceName) {
  auto host = StartHost();
  ASSERT_GT(host->port(), 0);
  auto channel = ChannelTo(host->port());
  EXPECT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
  EXPECT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  EXPECT_EQ(HealthOf(channel, "trellis.v1.NoSuchService"), absl::StrCat("error ", grpc::NOT_FOUND));
}

TEST_F(ServiceHostTest, HealthFollowsRedisDownAndBackWithoutRestart) {
  auto host = StartHost();
  auto channel = ChannelTo(host->port());
  ASSERT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");

  redis_server_->Stop(/*hard=*/true);
  EXPECT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "NOT_SERVING"), "NOT_SERVING");
  EXPECT_EQ(HealthOf(channel, ""), "NOT_SERVING");
  EXPECT_FALSE(host->serving());
  // The process is alive: a liveness probe must not restart it because Redis is away.
  EXPECT_EQ(HealthOf(channel, "liveness"), "SERVING");

  ASSERT_TRUE(redis_server_->Restart().ok());
  EXPECT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  EXPECT_EQ(HealthOf(channel, ""), "SERVING");
}

TEST_F(ServiceHostTest, HealthIsNotServingWhileRedisIsHung) {
  auto host = StartHost();
  auto channel = ChannelTo(host->port());
  ASSERT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
  // DEBUG SLEEP freezes the server: connections stay open but nothing answers.
  std::thread sleeper([&] { redis_server_->Command({"DEBUG", "SLEEP", "4"}).IgnoreError(); });
  EXPECT_EQ(WaitForHealth(channel, "", "NOT_SERVING", absl::Seconds(4)), "NOT_SERVING");
  sleeper.join();
  EXPECT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
}

TEST_F(ServiceHostTest, ReflectionAndHealthAreRegisteredAlongsideTheService) {
  auto host = StartHost();
  auto channel = ChannelTo(host->port());
  // An RPC of the service itself reaches the handler (not yet implemented ones say so).
  auto stub = trellis::v1::GoalService::NewStub(channel);
  grpc::ClientContext ctx;
  trellis::v1::GetGoalRequest req;
  trellis::v1::Goal goal;
  grpc::Status s = stub->GetGoal(&ctx, req, &goal);
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServiceHostTest, SecondServerOnTheSamePortFailsToStart) {
  auto first = StartHost();
  HostOptions options;
  options.listen_address = absl::StrCat("127.0.0.1:", first->port());
  ServiceHost second(options, pool_.get());
  goals::GoalServiceHandler other(env_);
  second.AddService(&other);
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("in use"), absl::string_view::npos);
}

TEST_F(ServiceHostTest, ShutdownStopsServingAndIsIdempotent) {
  auto host = StartHost();
  auto channel = ChannelTo(host->port());
  ASSERT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
  EXPECT_EQ(HealthOf(channel, "liveness"), "SERVING");
  host->Shutdown();
  host->Shutdown();
  EXPECT_FALSE(host->serving());
  EXPECT_NE(HealthOf(channel, ""), "SERVING");
  EXPECT_NE(HealthOf(channel, "liveness"), "SERVING");
}

TEST_F(ServiceHostTest, DrainDelayKeepsServingCallsAfterHealthTurnsNotServing) {
  HostOptions options;
  options.drain_delay = absl::Seconds(5);
  auto host = StartHost(options);
  auto channel = ChannelTo(host->port());
  ASSERT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
  std::thread stopping([&] { host->Shutdown(); });
  // Health says NOT_SERVING at once, so balancers and health-checking clients move away ...
  EXPECT_EQ(WaitForHealth(channel, "", "NOT_SERVING"), "NOT_SERVING");
  // ... while a call that still arrives is served, not refused.
  auto stub = trellis::v1::GoalService::NewStub(channel);
  grpc::ClientContext ctx;
  trellis::v1::GetGoalRequest req;
  trellis::v1::Goal goal;
  grpc::Status s = stub->GetGoal(&ctx, req, &goal);
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  stopping.join();
  EXPECT_FALSE(host->serving());
}

TEST_F(ServiceHostTest, InterceptorLogsEachRpcAndFeedsMetrics) {
  std::vector<std::string> lines;
  absl::Mutex mu;
  log::SetSinkForTesting([&](const std::string& line) {
    absl::MutexLock lock(&mu);
    lines.push_back(line);
  });
  log::Configure("goals", log::Level::kDebug);
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::RpcMetrics rpc_metrics(*registry);
  auto exporter = metrics::MetricsEndpoint::Start("127.0.0.1", 0);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  (*exporter)->Serve(registry);

  HostOptions options;
  options.observer = &rpc_metrics;
  auto host = StartHost(options);
  auto channel = ChannelTo(host->port());
  auto stub = trellis::v1::GoalService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  trellis::v1::GetGoalRequest req;
  trellis::v1::Goal goal;
  grpc::Status s = stub->GetGoal(&ctx, req, &goal);
  host->Shutdown();
  log::SetSinkForTesting(nullptr);

  bool found = false;
  {
    absl::MutexLock lock(&mu);
    for (const auto& line : lines) {
      auto j = nlohmann::json::parse(line);
      if (j.value("method", "") == "/trellis.v1.GoalService/GetGoal") {
        found = true;
        EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        EXPECT_EQ(j["parent_span_id"], "00f067aa0ba902b7");
        EXPECT_EQ(j["request_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        EXPECT_TRUE(j["latency_ms"].is_number());
        EXPECT_TRUE(j["code"].is_string());
      }
    }
  }
  EXPECT_TRUE(found);
  std::string scraped = HttpGet((*exporter)->port(), "/metrics");
  EXPECT_NE(scraped.find("200 OK"), std::string::npos);
  EXPECT_NE(scraped.find("grpc_server_handled_total{grpc_code="), std::string::npos);
  EXPECT_NE(scraped.find("grpc_method=\"GetGoal\""), std::string::npos);
  EXPECT_NE(HttpGet((*exporter)->port(), "/other").find("404"), std::string::npos);
}

}  // namespace
}  // namespace trellis::server
