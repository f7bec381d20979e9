#include "common/server/flags.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/auth/jwks.h"
#include "common/auth/signing_key.h"
#include "common/log/log.h"
#include "common/status/status.h"

ABSL_FLAG(std::string, goals_addr, "127.0.0.1:50051",
          "GoalService address (measurements: goals on a cache miss and the patient summary; "
          "reminders: the goal a reminder is for).");
ABSL_FLAG(std::string, measurements_addr, "127.0.0.1:50052",
          "MeasurementService address (goals: tenant-defined metrics for SMART; reminders: a "
          "reminder's metric, and the values of completed homework).");
ABSL_FLAG(std::string, reminders_addr, "127.0.0.1:50053",
          "ReminderService address (goals: ending the reminders of closed goals).");
ABSL_FLAG(std::string, listen_host, "0.0.0.0",
          "Address the gRPC server binds to (env TRELLIS_LISTEN_HOST). Use 127.0.0.1 to accept "
          "local connections only.");
ABSL_FLAG(int, port, -1,
          "gRPC port (env TRELLIS_PORT). -1: the service's default (goals 50051, measurements "
          "50052, reminders 50053); 0: any free port (printed at start-up).");
ABSL_FLAG(int, metrics_port, -1,
          "Prometheus /metrics port (env TRELLIS_METRICS_PORT). -1: the service's default "
          "(9101/9102/9103); 0: any free port.");
ABSL_FLAG(std::string, redis_url, "redis://127.0.0.1:6379/0",
          "Redis to use (env TRELLIS_REDIS_URL): redis://[[user]:password@]host[:port][/db].");
ABSL_FLAG(std::string, redis_password_file, "",
          "File holding the Redis password (env TRELLIS_REDIS_PASSWORD_FILE); overrides a "
          "password in --redis_url. Keeps the secret out of the process list. Alternatively the "
          "environment variable TRELLIS_REDIS_PASSWORD holds the password itself (not both).");
ABSL_FLAG(int, redis_connections, 2,
          "Redis connections, one event-loop thread each (env TRELLIS_REDIS_CONNECTIONS), 1-64.");
ABSL_FLAG(absl::Duration, redis_timeout, absl::Seconds(2),
          "Longest wait for one Redis reply (env TRELLIS_REDIS_TIMEOUT), e.g. 500ms, 2s.");
ABSL_FLAG(absl::Duration, redis_connect_timeout, absl::Seconds(2),
          "Longest wait for a Redis connection to open (env TRELLIS_REDIS_CONNECT_TIMEOUT).");
ABSL_FLAG(std::string, redis_sentinels, "",
          "Redis Sentinels to ask for the primary, host:port,host:port (env "
          "TRELLIS_REDIS_SENTINELS). When set, the host and port of --redis_url are not used (its "
          "user, password and database are); each connection asks a Sentinel on every (re)connect "
          "and reconnects when the server it reached is no longer the primary.");
ABSL_FLAG(std::string, redis_sentinel_master, "",
          "Name of the primary the Sentinels monitor (env TRELLIS_REDIS_SENTINEL_MASTER); "
          "required with --redis_sentinels.");
ABSL_FLAG(std::string, redis_cluster, "",
          "Redis Cluster nodes to learn the cluster from, host:port,host:port (env "
          "TRELLIS_REDIS_CLUSTER); any few will do, the rest are found. When set, the host, port "
          "and database of --redis_url are not used (its user and password are); commands go to "
          "the primary serving each key's slot and follow the cluster through resharding and "
          "failover. Not together with --redis_sentinels.");
ABSL_FLAG(absl::Duration, cluster_walk_interval, absl::Seconds(1),
          "On Redis Cluster (--redis_cluster), the least time between two walks of the per-slot "
          "indexes (env TRELLIS_CLUSTER_WALK_INTERVAL): the outbox relay, the audit relay and "
          "the reminder dispatcher each look at every slot once per walk, so effects, audit "
          "entries and due reminders may wait this long; each walk costs one lookup per slot.");
ABSL_FLAG(int, redis_wait_replicas, 0,
          "Replicated durability (env TRELLIS_REDIS_WAIT_REPLICAS), 0-16: a write is acknowledged "
          "only after this many replicas confirm it (Redis WAIT), else the call answers "
          "UNAVAILABLE and a retry with the same request id is safe. 0: once the primary has it.");
ABSL_FLAG(absl::Duration, redis_wait_timeout, absl::Seconds(1),
          "With --redis_wait_replicas, the longest wait for replicas to confirm a write (env "
          "TRELLIS_REDIS_WAIT_TIMEOUT); must be shorter than --redis_timeout.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight RPCs may run before they are cancelled "
          "(env TRELLIS_SHUTDOWN_GRACE).");
ABSL_FLAG(absl::Duration, drain_delay, absl::ZeroDuration(),
          "On SIGTERM, how long to keep serving after health turns NOT_SERVING before refusing "
          "new calls, so that load balancers and clients watching health move away first "
          "(env TRELLIS_DRAIN_DELAY). In Kubernetes the preStop pause does this.");
ABSL_FLAG(absl::Duration, health_interval, absl::Milliseconds(500),
          "How often readiness re-checks Redis (env TRELLIS_HEALTH_INTERVAL).");
ABSL_FLAG(int, max_message_bytes, 4 << 20,
          "Largest request or response message in bytes (env TRELLIS_MAX_MESSAGE_BYTES).");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(60),
          "Interval of HTTP/2 keepalive pings to idle clients (env TRELLIS_KEEPALIVE_TIME).");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(5),
          "Connections are closed gracefully after this age, so clients re-resolve and load "
          "spreads over new replicas (env TRELLIS_MAX_CONNECTION_AGE).");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "Time given to in-flight RPCs on an aged-out connection "
          "(env TRELLIS_MAX_CONNECTION_AGE_GRACE).");
ABSL_FLAG(std::string, log_level, "info",
          "Lowest log level written: debug, info, warn or error (env TRELLIS_LOG_LEVEL).");

ABSL_FLAG(absl::Duration, audit_retention, absl::Hours(24 * 366),
          "How long audit trail entries are kept (env TRELLIS_AUDIT_RETENTION), e.g. 8784h; "
          "older entries are trimmed as new ones arrive.");
ABSL_FLAG(
    double, rate_limit_per_tenant, 2000,
    "Calls per second each tenant may make to this replica (env "
    "TRELLIS_RATE_LIMIT_PER_TENANT); more get RESOURCE_EXHAUSTED with RetryInfo. 0: no limit.");
ABSL_FLAG(double, rate_limit_burst, 0,
          "Calls a tenant may make at once above the rate (env TRELLIS_RATE_LIMIT_BURST); 0: two "
          "seconds' worth.");

ABSL_FLAG(std::string, auth_hs256_secret_file, "",
          "File holding the HS256 secret (at least 32 bytes) bearer tokens may be signed with "
          "(env TRELLIS_AUTH_HS256_SECRET_FILE); without it HS256 tokens are refused. Also signs "
          "service tokens unless --auth_service_key_file is given. This or --auth_jwks_file is "
          "required.");
ABSL_FLAG(std::string, auth_jwks_file, "",
          "JSON Web Key Set file with the RS256/ES256 public keys bearer tokens may be signed with "
          "(env TRELLIS_AUTH_JWKS_FILE); keys are selected by the token's kid and the file is "
          "re-read within a second of a change (a bad rewrite keeps the previous keys). This or "
          "--auth_hs256_secret_file is required.");
ABSL_FLAG(std::string, auth_service_key_file, "",
          "PEM private key (RSA of at least 2048 bits, or EC P-256) that this service signs its "
          "service tokens to peers with, RS256/ES256 (env TRELLIS_AUTH_SERVICE_KEY_FILE); its "
          "public key must be in the peers' JWKS. Without it, service tokens are HS256 with "
          "--auth_hs256_secret_file.");
ABSL_FLAG(std::string, auth_service_key_id, "",
          "kid written into service tokens signed with --auth_service_key_file "
          "(env TRELLIS_AUTH_SERVICE_KEY_ID); required with it.");
ABSL_FLAG(std::string, auth_issuer, "trellis",
          "Required `iss` claim of bearer tokens (env TRELLIS_AUTH_ISSUER).");
ABSL_FLAG(std::string, auth_audience, "trellis",
          "Required `aud` claim of bearer tokens (env TRELLIS_AUTH_AUDIENCE).");
ABSL_FLAG(absl::Duration, auth_leeway, absl::Seconds(30),
          "Clock skew tolerated on token exp/nbf (env TRELLIS_AUTH_LEEWAY).");

ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain the gRPC server presents (env TRELLIS_TLS_CERT_FILE); with "
          "--tls_key_file turns TLS on. Re-read every --tls_reload_interval.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of --tls_cert_file, unencrypted (env TRELLIS_TLS_KEY_FILE).");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle for mutual TLS (env TRELLIS_TLS_CLIENT_CA_FILE): clients must present a "
          "certificate it signed, or the handshake is refused. Needs --tls_cert_file.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM roots that verify peer services' certificates (env TRELLIS_TLS_CA_FILE). Default: "
          "--tls_client_ca_file if set, else the system roots. Peer channels use TLS when this "
          "or --tls_cert_file is set, and present this service's certificate as client cert.");
ABSL_FLAG(std::string, tls_server_name_override, "",
          "Name peer certificates are checked for instead of the host of --goals_addr etc. "
          "(env TRELLIS_TLS_SERVER_NAME_OVERRIDE); for tests and development.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often the TLS files are re-read, so rotated certificates apply to new connections "
          "without a restart (env TRELLIS_TLS_RELOAD_INTERVAL); at least 1s.");

namespace trellis::server {
namespace {

void CheckPositive(FieldViolations& v, absl::string_view name, absl::Duration d) {
  if (d <= absl::ZeroDuration()) v.Add(name, "must be a positive duration (e.g. 500ms, 2s)");
}

// Reads the token keys: what inbound tokens are verified with (an HS256 secret and/or a JWKS) and
// what service tokens are signed with (a private key, else the HS256 secret).
void ReadAuthKeys(FieldViolations& v, auth::AuthOptions& auth) {
  std::string secret_file = absl::GetFlag(FLAGS_auth_hs256_secret_file);
  std::string jwks_file = absl::GetFlag(FLAGS_auth_jwks_file);
  std::string key_file = absl::GetFlag(FLAGS_auth_service_key_file);
  std::string key_id = absl::GetFlag(FLAGS_auth_service_key_id);
  if (secret_file.empty() && jwks_file.empty()) {
    v.Add("auth_hs256_secret_file",
          "--auth_hs256_secret_file or --auth_jwks_file is required: every RPC but health needs "
          "a token");
  }
  if (!secret_file.empty()) {
    auto secret = auth::ReadSecretFile(secret_file, "auth_hs256_secret_file");
    if (secret.ok()) {
      auth.hs256_secret = *secret;
    } else {
      v.Merge(secret.status());
    }
  }
  std::vector<auth::VerificationKey> jwks;
  if (!jwks_file.empty()) {
    auto keys = auth::ReadJwksFile(jwks_file, "auth_jwks_file");
    if (keys.ok()) {
      jwks = std::move(*keys);
      auth.jwks_file = jwks_file;
    } else {
      v.Merge(keys.status());
    }
  }
  if (key_file.empty() != key_id.empty()) {
    v.Add(key_file.empty() ? "auth_service_key_file" : "auth_service_key_id",
          "--auth_service_key_file and --auth_service_key_id go together");
  } else if (!key_file.empty()) {
    auto key = auth::ReadSigningKeyFile(key_file, key_id, "auth_service_key_file");
    if (key.ok()) {
      auth.service_key = std::move(*key);
    } else {
      v.Merge(key.status());
    }
  } else if (secret_file.empty() && !jwks_file.empty()) {
    v.Add("auth_service_key_file",
          "is required without --auth_hs256_secret_file: calls to peer services need a service "
          "token");
  }
  // Peers load the same JWKS: a service key missing from it would have every peer call refused.
  if (auth.service_key.has_value() && !jwks.empty()) {
    auto same = [&](const auth::VerificationKey& k) {
      return k.kid == auth.service_key->kid && auth::IsPublicHalfOf(k.pem, *auth.service_key);
    };
    if (std::none_of(jwks.begin(), jwks.end(), same)) {
      v.Add("auth_service_key_id",
            absl::StrCat("the JWKS in --auth_jwks_file has no key with kid '", key_id,
                         "' matching --auth_service_key_file: publish the public key first"));
    }
  }
}

}  // namespace

absl::StatusOr<ServerConfig> ConfigFromFlags(int default_port, int default_metrics_port) {
  FieldViolations v;
  ServerConfig c;
  c.listen_host = absl::GetFlag(FLAGS_listen_host);
  if (c.listen_host.empty()) v.Add("listen_host", "must not be empty");

  c.port = absl::GetFlag(FLAGS_port);
  if (c.port == -1) c.port = default_port;
  if (c.port < 0 || c.port > 65535) v.Add("port", "must be -1 (default), 0 (any) or 1-65535");

  c.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (c.metrics_port == -1) c.metrics_port = default_metrics_port;
  if (c.metrics_port < -1 || c.metrics_port > 65535) {
    v.Add("metrics_port", "must be -1 (default), 0 (any) or 1-65535");
  }

  auto redis = config::ParseRedisUrl(absl::GetFlag(FLAGS_redis_url));
  if (redis.ok()) {
    c.redis = *redis;
  } else {
    v.Merge(redis.status());
  }
  std::string password_file = absl::GetFlag(FLAGS_redis_password_file);
  const char* password_env = std::getenv(kRedisPasswordEnv);
  if (password_env != nullptr && *password_env == '\0') password_env = nullptr;
  if (password_env != nullptr && !password_file.empty()) {
    v.Add("redis_password_file",
          absl::StrCat("is set together with ", kRedisPasswordEnv, "; set one of them"));
  } else if (password_env != nullptr) {
    c.redis.password = password_env;
  } else if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!in) {
      v.Add("redis_password_file", absl::StrCat("cannot read '", password_file, "'"));
    } else {
      std::stringstream ss;
      ss << in.rdbuf();
      c.redis.password = std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
    }
  }

  std::string sentinels = absl::GetFlag(FLAGS_redis_sentinels);
  c.redis.sentinel_master = absl::GetFlag(FLAGS_redis_sentinel_master);
  if (!sentinels.empty()) {
    auto list = config::ParseHostPortList(sentinels, "redis_sentinels");
    if (list.ok()) {
      c.redis.sentinels = std::move(*list);
    } else {
      v.Merge(list.status());
    }
    if (c.redis.sentinel_master.empty()) {
      v.Add("redis_sentinel_master", "is required with --redis_sentinels");
    }
  } else if (!c.redis.sentinel_master.empty()) {
    v.Add("redis_sentinels", "is required with --redis_sentinel_master");
  }

  std::string cluster = absl::GetFlag(FLAGS_redis_cluster);
  if (!cluster.empty()) {
    auto list = config::ParseHostPortList(cluster, "redis_cluster");
    if (list.ok()) {
      c.redis_cluster = std::move(*list);
    } else {
      v.Merge(list.status());
    }
    if (!sentinels.empty()) {
      v.Add("redis_cluster", "cannot be combined with --redis_sentinels (a cluster fails over by "
                             "itself); set one of them");
    }
    if (c.redis.db != 0) {
      v.Add("redis_url", absl::StrCat("names database ", c.redis.db,
                                      "; Redis Cluster has only database 0"));
    }
  }

  c.redis_connections = absl::GetFlag(FLAGS_redis_connections);
  if (c.redis_connections < 1 || c.redis_connections > 64) {
    v.Add("redis_connections", "must be from 1 to 64");
  }
  c.redis_timeout = absl::GetFlag(FLAGS_redis_timeout);
  CheckPositive(v, "redis_timeout", c.redis_timeout);
  c.redis_connect_timeout = absl::GetFlag(FLAGS_redis_connect_timeout);
  CheckPositive(v, "redis_connect_timeout", c.redis_connect_timeout);
  c.redis_wait_replicas = absl::GetFlag(FLAGS_redis_wait_replicas);
  if (c.redis_wait_replicas < 0 || c.redis_wait_replicas > 16) {
    v.Add("redis_wait_replicas", "must be from 0 to 16");
  }
  c.redis_wait_timeout = absl::GetFlag(FLAGS_redis_wait_timeout);
  if (c.redis_wait_replicas > 0 &&
      (c.redis_wait_timeout < absl::Milliseconds(1) || c.redis_wait_timeout >= c.redis_timeout)) {
    v.Add("redis_wait_timeout", "must be at least 1ms and shorter than --redis_timeout");
  }
  c.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (c.shutdown_grace < absl::ZeroDuration()) v.Add("shutdown_grace", "must not be negative");
  c.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  if (c.drain_delay < absl::ZeroDuration() || c.drain_delay > absl::Minutes(5)) {
    v.Add("drain_delay", "must be between 0 and 5m");
  }
  c.health_interval = absl::GetFlag(FLAGS_health_interval);
  CheckPositive(v, "health_interval", c.health_interval);
  c.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (c.max_message_bytes < 1024 || c.max_message_bytes > (64 << 20)) {
    v.Add("max_message_bytes", "must be from 1024 to 67108864");
  }
  c.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  CheckPositive(v, "keepalive_time", c.keepalive_time);
  c.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  CheckPositive(v, "max_connection_age", c.max_connection_age);
  c.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  CheckPositive(v, "max_connection_age_grace", c.max_connection_age_grace);
  c.log_level = absl::GetFlag(FLAGS_log_level);
  log::Level level;
  if (!log::ParseLevel(c.log_level, &level))
    v.Add("log_level", "must be debug, info, warn or error");

  ReadAuthKeys(v, c.auth);
  c.auth.issuer = absl::GetFlag(FLAGS_auth_issuer);
  c.auth.audience = absl::GetFlag(FLAGS_auth_audience);
  c.auth.leeway = absl::GetFlag(FLAGS_auth_leeway);
  if (c.auth.issuer.empty()) v.Add("auth_issuer", "must not be empty");
  if (c.auth.audience.empty()) v.Add("auth_audience", "must not be empty");
  if (c.auth.leeway < absl::ZeroDuration() || c.auth.leeway > absl::Minutes(10)) {
    v.Add("auth_leeway", "must be from 0s to 10m");
  }

  c.cluster_walk_interval = absl::GetFlag(FLAGS_cluster_walk_interval);
  CheckPositive(v, "cluster_walk_interval", c.cluster_walk_interval);
  c.audit_retention = absl::GetFlag(FLAGS_audit_retention);
  if (c.audit_retention < absl::Hours(1)) v.Add("audit_retention", "must be at least 1h");
  c.rate_limit_per_tenant = absl::GetFlag(FLAGS_rate_limit_per_tenant);
  if (!(c.rate_limit_per_tenant >= 0 && c.rate_limit_per_tenant <= 1e7)) {
    v.Add("rate_limit_per_tenant", "must be from 0 (no limit) to 10000000");
  }
  c.rate_limit_burst = absl::GetFlag(FLAGS_rate_limit_burst);
  if (!(c.rate_limit_burst >= 0 && c.rate_limit_burst <= 1e8)) {
    v.Add("rate_limit_burst", "must be from 0 to 100000000");
  }
  if (c.rate_limit_burst == 0) c.rate_limit_burst = 2 * c.rate_limit_per_tenant;
  c.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  c.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  c.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  c.tls.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  c.tls.server_name_override = absl::GetFlag(FLAGS_tls_server_name_override);
  c.tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  CheckTlsOptions(c.tls, v);

  if (!v.empty()) return v.ToStatus();
  return c;
}

}  // namespace trellis::server
