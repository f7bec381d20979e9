#pragma once

// Flags shared by the three service binaries. Each has an environment twin (TRELLIS_<NAME>).
// One setting is environment-only: TRELLIS_REDIS_PASSWORD, the Redis password as a value (a flag's
// value would show in the process list and in --help).

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/auth/authenticator.h"
#include "common/config/redis_url.h"
#include "common/server/tls.h"

ABSL_DECLARE_FLAG(std::string, listen_host);
// Peer service addresses (each service reads those it calls): one definition here so that a
// binary or test that links several services has each flag once.
ABSL_DECLARE_FLAG(std::string, goals_addr);
ABSL_DECLARE_FLAG(std::string, measurements_addr);
ABSL_DECLARE_FLAG(std::string, reminders_addr);
ABSL_DECLARE_FLAG(int, port);
ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(std::string, redis_url);
ABSL_DECLARE_FLAG(std::string, redis_password_file);
ABSL_DECLARE_FLAG(int, redis_connections);
ABSL_DECLARE_FLAG(absl::Duration, redis_timeout);
ABSL_DECLARE_FLAG(absl::Duration, redis_connect_timeout);
ABSL_DECLARE_FLAG(std::string, redis_sentinels);
ABSL_DECLARE_FLAG(std::string, redis_sentinel_master);
ABSL_DECLARE_FLAG(std::string, redis_cluster);
ABSL_DECLARE_FLAG(absl::Duration, cluster_walk_interval);
ABSL_DECLARE_FLAG(int, redis_wait_replicas);
ABSL_DECLARE_FLAG(absl::Duration, redis_wait_timeout);
ABSL_DECLARE_FLAG(absl::Duration, shutdown_grace);
ABSL_DECLARE_FLAG(absl::Duration, drain_delay);
ABSL_DECLARE_FLAG(absl::Duration, health_interval);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_time);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age_grace);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::string, auth_hs256_secret_file);
ABSL_DECLARE_FLAG(std::string, auth_jwks_file);
ABSL_DECLARE_FLAG(std::string, auth_service_key_file);
ABSL_DECLARE_FLAG(std::string, auth_service_key_id);
ABSL_DECLARE_FLAG(std::string, auth_issuer);
ABSL_DECLARE_FLAG(std::string, auth_audience);
ABSL_DECLARE_FLAG(absl::Duration, auth_leeway);
ABSL_DECLARE_FLAG(absl::Duration, audit_retention);
ABSL_DECLARE_FLAG(double, rate_limit_per_tenant);
ABSL_DECLARE_FLAG(double, rate_limit_burst);
ABSL_DECLARE_FLAG(std::string, tls_cert_file);
ABSL_DECLARE_FLAG(std::string, tls_key_file);
ABSL_DECLARE_FLAG(std::string, tls_client_ca_file);
ABSL_DECLARE_FLAG(std::string, tls_ca_file);
ABSL_DECLARE_FLAG(std::string, tls_server_name_override);
ABSL_DECLARE_FLAG(absl::Duration, tls_reload_interval);

namespace trellis::server {

// Everything a service process is configured with, validated.
struct ServerConfig {
  std::string listen_host;
  int port = 0;          // 0: pick a free port
  int metrics_port = 0;  // 0: pick a free port; -1: no metrics endpoint
  config::RedisEndpoint redis;
  // Redis Cluster seed nodes; empty: the one server (or Sentinel-managed primary) of `redis`.
  std::vector<config::HostPort> redis_cluster;
  // On a cluster, the least time between two walks of the per-slot indexes (slot_index.h).
  absl::Duration cluster_walk_interval = absl::Seconds(1);
  int redis_connections = 2;
  absl::Duration redis_timeout;
  absl::Duration redis_connect_timeout;
  int redis_wait_replicas = 0;  // 0: writes are acknowledged once the primary has them
  absl::Duration redis_wait_timeout;
  absl::Duration shutdown_grace;
  absl::Duration drain_delay;
  absl::Duration health_interval;
  int max_message_bytes = 0;
  absl::Duration keepalive_time;
  absl::Duration max_connection_age;
  absl::Duration max_connection_age_grace;
  std::string log_level;
  auth::AuthOptions auth;
  absl::Duration audit_retention;
  double rate_limit_per_tenant = 0;
  double rate_limit_burst = 0;
  TlsOptions tls;
};

// The environment variable holding the Redis password as a value.
inline constexpr char kRedisPasswordEnv[] = "TRELLIS_REDIS_PASSWORD";

// Reads the flags (already parsed) into a config, using the service's default ports for the port
// flags left at their "service default" value (-1). INVALID_ARGUMENT lists every bad flag.
absl::StatusOr<ServerConfig> ConfigFromFlags(int default_port, int default_metrics_port);

}  // namespace trellis::server
