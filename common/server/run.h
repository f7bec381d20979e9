#pragma once

// The whole life of a service binary: flags and environment, logging, Redis, the gRPC server, the
// metrics endpoint, readiness, and SIGTERM/SIGINT handling. A service's main() is one call:
//
//   int main(int argc, char** argv) {
//     return trellis::server::RunService(argc, argv, {.name = "goals", ...});
//   }

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <prometheus/registry.h>

#include "common/audit/audit.h"
#include "common/auth/authenticator.h"
#include "common/auth/rate_limit.h"
#include "common/redis/client.h"
#include "common/server/flags.h"
#include "common/server/host.h"
#include "common/server/peer.h"
#include "common/time/clock.h"

namespace trellis::server {

// What a service contributes to its process.
struct ServiceParts {
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::string> health_names;  // fully qualified gRPC service names
};

// Everything a service's factory may use; outlives the parts it builds.
struct ServiceEnv {
  redis::RedisClient* redis;
  const Clock* clock;
  const ServerConfig* config;  // null in tests that build a service directly
  const auth::Authenticator* authenticator;
  prometheus::Registry* registry = nullptr;  // the process's metrics; null in tests
  auth::RateLimiter* limiter = nullptr;    // per-tenant rate limit; null: none
  const audit::AuditLog* audit = nullptr;  // the audit trail; null: calls are not audited
  PeerCredentials peer_credentials = {};  // for every PeerChannel; default plaintext
};

struct ServiceSpec {
  std::string name;  // "goals": the `service` field of every log line
  int default_port;
  int default_metrics_port;
  std::string usage;
  std::function<ServiceParts(const ServiceEnv&)> build;
};

// Runs the service until SIGTERM or SIGINT; returns the process exit code (0 after a clean
// shutdown, 2 for bad configuration, 1 when it cannot start).
int RunService(int argc, char** argv, const ServiceSpec& spec);

}  // namespace trellis::server
