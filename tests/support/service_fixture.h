#pragma once

// Test harness for a service in-process: a private redis-server, the real asynchronous Redis
// layer, a ServiceHost on a free port, and clients that call it through a real channel with
// bearer tokens. The service's clock is a FakeClock the test moves.
//
// With TRELLIS_TEST_REDIS=cluster in the environment (the "cluster" ctest label, `make
// test-cluster`), the same tests run against a real 3-primary Redis Cluster through the cluster
// client instead.

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/audit/audit.h"
#include "common/auth/authenticator.h"
#include "common/auth/rate_limit.h"
#include "common/metrics/redis_metrics.h"
#include "common/metrics/rpc_metrics.h"
#include "common/redis/async_pool.h"
#include "common/server/host.h"
#include "common/server/run.h"
#include "common/time/clock.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"

namespace trellis::testing {

inline constexpr char kTestSecret[] = "integration-test-secret-0123456789abcdef";

class ServiceFixture {
 public:
  // Starts Redis and the pool; Start() then hosts the services `build` makes. With `metrics`, the
  // Redis pool, the host's RPCs and the services record their series there, as in a binary.
  explicit ServiceFixture(absl::Time start = absl::FromCivil(absl::CivilSecond(2026, 1, 5, 9, 0, 0),
                                                             absl::UTCTimeZone()),
                          prometheus::Registry* metrics = nullptr);
  ~ServiceFixture();

  // With `credentials` (e.g. TLS) the host serves with them, and channel() is null: the test
  // makes its own channels to port().
  void Start(const std::function<server::ServiceParts(const server::ServiceEnv&)>& build,
             std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);
  void StopHost();
  // Before Start: limit each tenant's calls (measured on the fake clock).
  void SetRateLimit(auth::RateLimitOptions options);

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  int port() const { return host_->port(); }
  FakeClock& clock() { return clock_; }
  // Against a Redis Cluster (TRELLIS_TEST_REDIS=cluster) rather than one redis-server.
  bool clustered() const { return cluster_ != nullptr; }
  // The one redis-server; a test that stops or restarts it skips itself when clustered().
  RedisServer& redis_server() { return *redis_server_; }
  // Runs one command on the server (on a cluster: the primary serving args[1]'s slot); the reply
  // as RedisServer::Command gives it.
  absl::StatusOr<std::string> RedisCommand(const std::vector<std::string>& args) const;
  redis::RedisClient& pool() { return *pool_; }
  const auth::AuthOptions& auth_options() const { return auth_options_; }
  const server::ServiceEnv& env() const { return env_; }

  // A token for a clinician (or other role) of `tenant`.
  std::string Token(const std::string& tenant = "t1",
                    trellis::v1::Role role = trellis::v1::ROLE_CLINICIAN,
                    const std::string& patient = "") const;
  // A client context carrying `token` and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token);

 private:
  FakeClock clock_;
  // Before the pool, which reports to redis_metrics_ until it is gone.
  std::unique_ptr<metrics::RpcMetrics> rpc_metrics_;
  std::unique_ptr<metrics::RedisMetrics> redis_metrics_;
  auth::AuthOptions auth_options_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<RedisServer> redis_server_;
  std::unique_ptr<RedisCluster> cluster_;
  std::unique_ptr<redis::RedisClient> pool_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<auth::RateLimiter> limiter_;
  server::ServiceEnv env_{};
  server::ServiceParts parts_;
  std::unique_ptr<server::ServiceHost> host_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Adds `from`'s services, workers and health names to `into` (several services on one host).
void Merge(server::ServiceParts& into, server::ServiceParts from);

}  // namespace trellis::testing
