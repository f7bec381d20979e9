#include "common/server/host.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/redis/sync_redis.h"
#include "common/server/interceptors.h"
#include "common/status/status.h"

namespace trellis::server {

ServiceHost::ServiceHost(HostOptions options, redis::RedisClient* redis)
    : options_(std::move(options)), redis_(redis) {}

ServiceHost::~ServiceHost() { Shutdown(); }

void ServiceHost::AddService(grpc::Service* service) { services_.push_back(service); }
void ServiceHost::AddWorker(Worker* worker) { workers_.push_back(worker); }

absl::Status ServiceHost::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(options_.listen_address, creds, &port_);
  // A stale process on the same port must make start-up fail, not silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_time)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options_.max_connection_age)));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options_.max_connection_age_grace)));
  // Clients may ping idle connections as often as every 10 s without being told to go away.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<AccessLogInterceptorFactory>(options_.observer));
  if (options_.audit != nullptr) {
    creators.push_back(std::make_unique<audit::AuditInterceptorFactory>(options_.audit));
  }
  builder.experimental().SetInterceptorCreators(std::move(creators));

  for (grpc::Service* s : services_) builder.RegisterService(s);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return UnavailableError(absl::StrCat("cannot listen on ", options_.listen_address,
                                         " (is the port in use by another process?)"),
                            "LISTEN_FAILED");
  }
  // NOT_SERVING until Redis has been seen; alive from now until shutdown.
  SetServing(false);
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(kLivenessHealthName, true);
  }
  serving_ = false;
  for (Worker* w : workers_) w->Start();
  watcher_ = std::thread([this] { WatchReadiness(); });
  return absl::OkStatus();
}

void ServiceHost::SetServing(bool serving) {
  if (server_ == nullptr) return;
  auto* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  // The name-less overload would set every registered name, "liveness" included; name "" is the
  // overall status.
  health->SetServingStatus("", serving);
  for (const auto& name : options_.health_names) health->SetServingStatus(name, serving);
}

void ServiceHost::WatchReadiness() {
  redis::SyncRedis sync(redis_);
  // A PING must come back well within one interval for Redis to count as reachable.
  absl::Duration ping_limit = std::max(options_.health_interval, absl::Milliseconds(500));
  do {
    bool ok = redis_->Ready();
    if (ok) {
      auto reply = sync.Run({"PING"}, {absl::Now() + ping_limit});
      ok = reply.ok();
    }
    if (stop_watcher_.HasBeenNotified()) break;
    if (ok != serving_.load()) {
      serving_ = ok;
      SetServing(ok);
      log::Info(ok ? "serving" : "not serving: storage unreachable",
                {{"health", ok ? "SERVING" : "NOT_SERVING"}});
    }
  } while (!stop_watcher_.WaitForNotificationWithTimeout(options_.health_interval));
}

void ServiceHost::Shutdown() {
  if (shut_down_.exchange(true)) return;
  if (server_ == nullptr) return;
  log::Info("shutting down", {{"grace_ms", absl::ToInt64Milliseconds(options_.shutdown_grace)}});
  stop_watcher_.Notify();
  if (watcher_.joinable()) watcher_.join();
  serving_ = false;
  // Every health answer is NOT_SERVING from now on, so load balancers stop sending traffic.
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  // Calls still arriving are served meanwhile. Without the pause, a call that reached the
  // transport just before Shutdown but was not yet handed to a handler is failed by gRPC with
  // CANCELLED (not UNAVAILABLE), which clients do not retry (docs/reliability.md, scenario 6).
  if (options_.drain_delay > absl::ZeroDuration()) absl::SleepFor(options_.drain_delay);
  for (Worker* w : workers_) w->Drain();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) (*it)->Stop();
  server_->Wait();
  log::Info("stopped");
}

}  // namespace trellis::server
