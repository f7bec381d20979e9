#include "common/server/run.h"

#include <csignal>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/metrics/endpoint.h"
#include "common/metrics/process_metrics.h"
#include "common/metrics/redis_metrics.h"
#include "common/metrics/rpc_metrics.h"
#include "common/redis/async_pool.h"
#include "common/redis/cluster_client.h"
#include "common/server/audit_service.h"
#include "common/server/signals.h"
#include "common/server/tls.h"
#include "common/status/status.h"

namespace trellis::server {
namespace {

// Where the service keeps its data, for the start-up log line.
std::string RedisTarget(const ServerConfig& config) {
  if (!config.redis_cluster.empty()) {
    return absl::StrCat("cluster ",
                        absl::StrJoin(config.redis_cluster, ",",
                                      [](std::string* out, const config::HostPort& hp) {
                                        out->append(config::HostPortText(hp));
                                      }));
  }
  if (!config.redis.sentinels.empty()) {
    return absl::StrCat("sentinel ", config.redis.sentinel_master);
  }
  return config::HostPortText({config.redis.host, config.redis.port});
}

}  // namespace

int RunService(int argc, char** argv, const ServiceSpec& spec) {
  // Before any thread exists, so that every thread inherits the blocked mask.
  BlockTerminationSignals();
  // Debian's Abseil is built with lock-order (deadlock) detection on, which records every
  // absl::Mutex acquisition in a global graph: about 5 % of a cheap read's instructions in the
  // benchmark's profile. It is a debugging aid; the tests (and `make asan`/TSan) keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  config::ParseFlags(argc, argv, spec.usage);
  auto config = ConfigFromFlags(spec.default_port, spec.default_metrics_port);
  if (!config.ok()) {
    for (const auto& [field, description] : FieldViolationsOf(config.status())) {
      std::fprintf(stderr, "error: --%s: %s\n", field.c_str(), description.c_str());
    }
    std::fprintf(stderr, "run with --help to see every flag\n");
    return 2;
  }
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config->log_level, &level);
  log::Configure(spec.name, level);

  auto registry = std::make_shared<prometheus::Registry>();
  metrics::RpcMetrics rpc_metrics(*registry);
  metrics::RedisMetrics redis_metrics(*registry);

  redis::PoolOptions pool_options;
  pool_options.endpoint = config->redis;
  pool_options.connections = config->redis_connections;
  pool_options.command_timeout = config->redis_timeout;
  pool_options.connect_timeout = config->redis_connect_timeout;
  pool_options.wait_replicas = config->redis_wait_replicas;
  pool_options.wait_timeout = config->redis_wait_timeout;
  pool_options.observer = &redis_metrics;
  std::unique_ptr<redis::RedisClient> pool;
  if (config->redis_cluster.empty()) {
    pool = std::make_unique<redis::RedisPool>(pool_options);
  } else {
    redis::ClusterOptions cluster_options;
    cluster_options.seeds = config->redis_cluster;
    cluster_options.node = pool_options;  // each primary's pool: connections, timeouts, auth
    pool = std::make_unique<redis::ClusterClient>(cluster_options);
  }

  // Declared after the pool: it stops serving (and reading the pool) before the pool goes.
  std::unique_ptr<metrics::MetricsEndpoint> exporter;
  if (config->metrics_port >= 0) {
    auto started = metrics::MetricsEndpoint::Start(config->listen_host, config->metrics_port);
    if (!started.ok()) {
      log::Error("cannot start metrics endpoint",
                 {{"error", std::string(started.status().message())}});
      return 1;
    }
    exporter = std::move(*started);
    exporter->Serve(registry);
    exporter->Serve(std::make_shared<metrics::ProcessCollector>());
    exporter->Serve(
        metrics::RedisConnectionGauges([pool = pool.get()] { return pool->ReadyConnections(); }));
  }

  auto authenticator = auth::Authenticator::Create(config->auth, &RealClock::Get());
  if (!authenticator.ok()) {  // the JWKS file changed since the flags were checked
    log::Error("cannot start", {{"error", std::string(authenticator.status().message())}});
    return 1;
  }
  auth::RateLimiter limiter({config->rate_limit_per_tenant, config->rate_limit_burst});
  audit::AuditLog audit_log(pool.get(), &RealClock::Get(), {config->audit_retention});
  ServiceEnv env{pool.get(),     &RealClock::Get(), &*config,  authenticator->get(),
                 registry.get(), &limiter,          &audit_log};
  env.peer_credentials = PeerCredentialsFor(config->tls);
  ServiceParts parts = spec.build(env);
  parts.services.push_back(std::make_unique<AuditServiceHandler>(env));
  parts.workers.push_back(std::make_unique<AuditRelay>(&audit_log, config->cluster_walk_interval));

  HostOptions host_options;
  host_options.listen_address = absl::StrCat(config->listen_host.find(':') != std::string::npos
                                                 ? absl::StrCat("[", config->listen_host, "]")
                                                 : config->listen_host,
                                             ":", config->port);
  host_options.health_names = parts.health_names;
  host_options.max_message_bytes = config->max_message_bytes;
  host_options.keepalive_time = config->keepalive_time;
  host_options.max_connection_age = config->max_connection_age;
  host_options.max_connection_age_grace = config->max_connection_age_grace;
  host_options.shutdown_grace = config->shutdown_grace;
  host_options.drain_delay = config->drain_delay;
  host_options.health_interval = config->health_interval;
  host_options.observer = &rpc_metrics;
  host_options.audit = &audit_log;
  host_options.credentials = ServerCredentialsFor(config->tls);

  ServiceHost host(host_options, pool.get());
  for (auto& s : parts.services) host.AddService(s.get());
  for (auto& w : parts.workers) host.AddWorker(w.get());
  if (absl::Status started = host.Start(); !started.ok()) {
    log::Error("cannot start", {{"error", std::string(started.message())}});
    return 1;
  }
  nlohmann::json services = parts.health_names;
  const char* tls_mode = !config->tls.enabled()               ? "off"
                         : config->tls.client_ca_file.empty() ? "on"
                                                              : "mutual";
  log::Info("listening", {{"address", host_options.listen_address},
                          {"port", host.port()},
                          {"metrics_port", exporter ? exporter->port() : -1},
                          {"services", services},
                          {"tls", tls_mode},
                          {"redis", RedisTarget(*config)}});

  int sig = WaitForTerminationSignal();
  log::Info("signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  // Order matters: the server first (drains in-flight RPCs, which may still need Redis), then the
  // workers (inside Shutdown), then the Redis loops, then destruction.
  host.Shutdown();
  pool->Stop();
  exporter.reset();
  return 0;
}

}  // namespace trellis::server
