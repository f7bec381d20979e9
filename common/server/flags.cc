#include "common/server/flags.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, how long in-flight RPCs may run before they are cancelled "
          "(env TRELLIS_SHUTDOWN_GRACE).");
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

ABSL_FLAG(std::string, auth_hs256_secret_file, "",
          "File holding the HS256 secret (at least 32 bytes) that bearer tokens are signed with "
          "(env TRELLIS_AUTH_HS256_SECRET_FILE). Required: every RPC but health needs a token.");
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

  c.redis_connections = absl::GetFlag(FLAGS_redis_connections);
  if (c.redis_connections < 1 || c.redis_connections > 64) {
    v.Add("redis_connections", "must be from 1 to 64");
  }
  c.redis_timeout = absl::GetFlag(FLAGS_redis_timeout);
  CheckPositive(v, "redis_timeout", c.redis_timeout);
  c.redis_connect_timeout = absl::GetFlag(FLAGS_redis_connect_timeout);
  CheckPositive(v, "redis_connect_timeout", c.redis_connect_timeout);
  c.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (c.shutdown_grace < absl::ZeroDuration()) v.Add("shutdown_grace", "must not be negative");
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

  std::string secret_file = absl::GetFlag(FLAGS_auth_hs256_secret_file);
  if (secret_file.empty()) {
    v.Add("auth_hs256_secret_file", "is required (a file with a secret of at least 32 bytes)");
  } else {
    auto secret = auth::ReadSecretFile(secret_file, "auth_hs256_secret_file");
    if (secret.ok()) {
      c.auth.hs256_secret = *secret;
    } else {
      v.Merge(secret.status());
    }
  }
  c.auth.issuer = absl::GetFlag(FLAGS_auth_issuer);
  c.auth.audience = absl::GetFlag(FLAGS_auth_audience);
  c.auth.leeway = absl::GetFlag(FLAGS_auth_leeway);
  if (c.auth.issuer.empty()) v.Add("auth_issuer", "must not be empty");
  if (c.auth.audience.empty()) v.Add("auth_audience", "must not be empty");
  if (c.auth.leeway < absl::ZeroDuration() || c.auth.leeway > absl::Minutes(10)) {
    v.Add("auth_leeway", "must be from 0s to 10m");
  }

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
