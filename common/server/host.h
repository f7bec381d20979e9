#pragma once

// The server skeleton shared by the three binaries: a gRPC callback-API server with health
// (grpc.health.v1, per service name and overall), reflection, keepalive and max_connection_age,
// message size limits, the access-log/metrics interceptor, readiness that follows Redis, and an
// orderly shutdown.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/audit/audit.h"
#include "common/metrics/rpc_observer.h"
#include "common/redis/client.h"

namespace trellis::server {

// A background task of a service (outbox relay, dispatcher, ...). Start is called after the
// server is up; Stop must return once the worker has stopped.
class Worker {
 public:
  virtual ~Worker() = default;
  virtual void Start() = 0;
  // Called when shutdown begins, before the server stops taking calls and waits for the open
  // ones: ends what would hold the shutdown up (e.g. long-lived streams). Default: nothing.
  virtual void Drain() {}
  virtual void Stop() = 0;
};

// Health name that answers SERVING for as long as the process runs and takes calls, whatever Redis
// does: the liveness probe's target. Readiness uses "" or a service name, which follow Redis; a
// liveness probe on those would restart every replica during a Redis outage.
inline constexpr char kLivenessHealthName[] = "liveness";

struct HostOptions {
  std::string listen_address = "127.0.0.1:0";            // host:port; port 0 picks a free one
  std::vector<std::string> health_names;                 // e.g. "trellis.v1.GoalService"
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null: plaintext
  int max_message_bytes = 4 << 20;
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration max_connection_age = absl::Minutes(5);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Serving on after health turns NOT_SERVING, before new calls are refused (Shutdown).
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration health_interval = absl::Milliseconds(500);
  metrics::RpcObserver* observer = nullptr;
  const audit::AuditLog* audit = nullptr;  // non-null: every admitted call is audited
};

class ServiceHost {
 public:
  // `redis` decides readiness: health is SERVING only while Redis answers. Not owned.
  ServiceHost(HostOptions options, redis::RedisClient* redis);
  ~ServiceHost();

  // Before Start. Not owned; must outlive the host.
  void AddService(grpc::Service* service);
  void AddWorker(Worker* worker);

  // Binds, starts serving and starts the workers and the readiness watcher. Fails (UNAVAILABLE)
  // when the address cannot be bound, e.g. a port already in use.
  absl::Status Start();

  int port() const { return port_; }

  // Health NOT_SERVING, stop accepting, let in-flight RPCs finish within shutdown_grace (then
  // cancel them), stop the workers and the watcher. Idempotent.
  void Shutdown();

  // Whether health currently says SERVING.
  bool serving() const { return serving_.load(); }

 private:
  void WatchReadiness();
  void SetServing(bool serving);

  HostOptions options_;
  redis::RedisClient* redis_;
  std::vector<grpc::Service*> services_;
  std::vector<Worker*> workers_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> serving_{false};
  std::atomic<bool> shut_down_{false};
  absl::Notification stop_watcher_;
  std::thread watcher_;
};

}  // namespace trellis::server
