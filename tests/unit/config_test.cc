#include "common/config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/config/redis_url.h"
#include "common/server/flags.h"
#include "common/status/status.h"
#include "tests/support/pki.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_keys.h"

namespace trellis {
namespace {

// Restores every flag this file touches after each test.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_path_ = absl::StrCat(dir_.path(), "/secret");
    std::ofstream(secret_path_) << std::string(40, 'k') << "\n";
    absl::SetFlag(&FLAGS_auth_hs256_secret_file, secret_path_);
  }
  void TearDown() override {
    absl::SetFlag(&FLAGS_auth_hs256_secret_file, "");
    absl::SetFlag(&FLAGS_auth_jwks_file, "");
    absl::SetFlag(&FLAGS_auth_service_key_file, "");
    absl::SetFlag(&FLAGS_auth_service_key_id, "");
    absl::SetFlag(&FLAGS_port, -1);
    absl::SetFlag(&FLAGS_metrics_port, -1);
    absl::SetFlag(&FLAGS_redis_url, "redis://127.0.0.1:6379/0");
    absl::SetFlag(&FLAGS_redis_timeout, absl::Seconds(2));
    absl::SetFlag(&FLAGS_redis_connections, 2);
    absl::SetFlag(&FLAGS_redis_sentinels, "");
    absl::SetFlag(&FLAGS_redis_sentinel_master, "");
    absl::SetFlag(&FLAGS_redis_cluster, "");
    absl::SetFlag(&FLAGS_redis_wait_replicas, 0);
    absl::SetFlag(&FLAGS_redis_wait_timeout, absl::Seconds(1));
    absl::SetFlag(&FLAGS_log_level, "info");
    absl::SetFlag(&FLAGS_redis_password_file, "");
    unsetenv(server::kRedisPasswordEnv);
    absl::SetFlag(&FLAGS_tls_cert_file, "");
    absl::SetFlag(&FLAGS_tls_key_file, "");
    absl::SetFlag(&FLAGS_tls_client_ca_file, "");
    absl::SetFlag(&FLAGS_tls_ca_file, "");
    absl::SetFlag(&FLAGS_tls_server_name_override, "");
    absl::SetFlag(&FLAGS_tls_reload_interval, absl::Seconds(60));
  }

  // The fields the violations of a failed config name.
  static std::set<std::string> FieldsOf(const absl::Status& status) {
    std::set<std::string> fields;
    for (const auto& [field, description] : FieldViolationsOf(status)) fields.insert(field);
    return fields;
  }

  static std::function<const char*(const char*)> Env(std::map<std::string, std::string> vars) {
    auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
    return [shared](const char* name) -> const char* {
      auto it = shared->find(name);
      return it == shared->end() ? nullptr : it->second.c_str();
    };
  }

  testing::TempDir dir_;
  std::string secret_path_;
};

TEST_F(ConfigTest, EnvironmentTwinIsTheUpperCasedNameWithPrefix) {
  EXPECT_EQ(config::EnvName("redis_url"), "TRELLIS_REDIS_URL");
}

TEST_F(ConfigTest, EnvironmentSetsFlags) {
  ASSERT_TRUE(config::ApplyEnvironment(Env({{"TRELLIS_PORT", "6000"},
                                            {"TRELLIS_REDIS_TIMEOUT", "750ms"},
                                            {"TRELLIS_REDIS_URL", "redis://10.0.0.5:7000/2"}}))
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_port), 6000);
  EXPECT_EQ(absl::GetFlag(FLAGS_redis_timeout), absl::Milliseconds(750));
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->port, 6000);
  EXPECT_EQ(config->metrics_port, 9101);
  EXPECT_EQ(config->redis.host, "10.0.0.5");
  EXPECT_EQ(config->redis.port, 7000);
  EXPECT_EQ(config->redis.db, 2);
}

TEST_F(ConfigTest, UnparsableEnvironmentValueNamesTheVariable) {
  absl::Status s = config::ApplyEnvironment(Env({{"TRELLIS_REDIS_TIMEOUT", "soon"}}));
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  auto violations = FieldViolationsOf(s);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].first, "TRELLIS_REDIS_TIMEOUT");
  EXPECT_NE(violations[0].second.find("--redis_timeout"), std::string::npos);
}

TEST_F(ConfigTest, DefaultPortsComeFromTheService) {
  auto config = server::ConfigFromFlags(50053, 9103);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->port, 50053);
  EXPECT_EQ(config->metrics_port, 9103);
}

TEST_F(ConfigTest, BadValuesAreRejectedNamingEachFlag) {
  absl::SetFlag(&FLAGS_port, 70000);
  absl::SetFlag(&FLAGS_redis_url, "http://localhost");
  absl::SetFlag(&FLAGS_redis_connections, 0);
  absl::SetFlag(&FLAGS_redis_timeout, absl::ZeroDuration());
  absl::SetFlag(&FLAGS_log_level, "loud");
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  std::set<std::string> fields;
  for (const auto& [field, description] : FieldViolationsOf(config.status())) fields.insert(field);
  EXPECT_EQ(fields, (std::set<std::string>{"port", "redis_url", "redis_connections",
                                           "redis_timeout", "log_level"}));
}

TEST_F(ConfigTest, SentinelsComeWithAPrimaryNameAndKeepTheUrlsCredentials) {
  ASSERT_TRUE(config::ApplyEnvironment(
                  Env({{"TRELLIS_REDIS_SENTINELS", "10.0.0.1:26379, sentinel-2.internal:26380"},
                       {"TRELLIS_REDIS_SENTINEL_MASTER", "trellis"},
                       {"TRELLIS_REDIS_URL", "redis://app:pw@ignored:1/3"}}))
                  .ok());
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->redis.sentinels.size(), 2u);
  EXPECT_EQ(config->redis.sentinels[1].host, "sentinel-2.internal");
  EXPECT_EQ(config->redis.sentinels[1].port, 26380);
  EXPECT_EQ(config->redis.sentinel_master, "trellis");
  EXPECT_EQ(config->redis.user, "app");
  EXPECT_EQ(config->redis.password, "pw");
  EXPECT_EQ(config->redis.db, 3);

  absl::SetFlag(&FLAGS_redis_sentinel_master, "");
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_sentinel_master"});
  absl::SetFlag(&FLAGS_redis_sentinels, "");
  absl::SetFlag(&FLAGS_redis_sentinel_master, "trellis");
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_sentinels"});
}

TEST_F(ConfigTest, MalformedSentinelListsAreRejected) {
  absl::SetFlag(&FLAGS_redis_sentinel_master, "trellis");
  for (const char* list : {"10.0.0.1", "10.0.0.1:0", ":26379", "a:1,,b:2", "a:x"}) {
    absl::SetFlag(&FLAGS_redis_sentinels, list);
    auto config = server::ConfigFromFlags(50051, 9101);
    EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"redis_sentinels"}) << list;
  }
}

TEST_F(ConfigTest, ClusterSeedsKeepTheUrlsCredentialsAndExcludeSentinelsAndOtherDatabases) {
  ASSERT_TRUE(config::ApplyEnvironment(
                  Env({{"TRELLIS_REDIS_CLUSTER", "10.0.0.1:7000,redis-1.internal:7001"},
                       {"TRELLIS_REDIS_URL", "redis://app:pw@ignored:1/0"}}))
                  .ok());
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->redis_cluster.size(), 2u);
  EXPECT_EQ(config->redis_cluster[1].host, "redis-1.internal");
  EXPECT_EQ(config->redis_cluster[1].port, 7001);
  EXPECT_EQ(config->redis.user, "app");
  EXPECT_EQ(config->redis.password, "pw");

  absl::SetFlag(&FLAGS_redis_url, "redis://app:pw@ignored:1/2");
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_url"});
  absl::SetFlag(&FLAGS_redis_url, "redis://127.0.0.1:6379/0");
  absl::SetFlag(&FLAGS_redis_sentinels, "10.0.0.9:26379");
  absl::SetFlag(&FLAGS_redis_sentinel_master, "trellis");
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_cluster"});
  absl::SetFlag(&FLAGS_redis_sentinels, "");
  absl::SetFlag(&FLAGS_redis_sentinel_master, "");
  absl::SetFlag(&FLAGS_redis_cluster, "10.0.0.1");
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_cluster"});
}

TEST_F(ConfigTest, WaitReplicasNeedsATimeoutShorterThanTheRedisTimeout) {
  absl::SetFlag(&FLAGS_redis_wait_replicas, 1);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->redis_wait_replicas, 1);
  EXPECT_EQ(config->redis_wait_timeout, absl::Seconds(1));
  absl::SetFlag(&FLAGS_redis_wait_timeout, absl::Seconds(2));  // == --redis_timeout
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_wait_timeout"});
  absl::SetFlag(&FLAGS_redis_wait_replicas, 17);
  absl::SetFlag(&FLAGS_redis_wait_timeout, absl::Seconds(1));
  EXPECT_EQ(FieldsOf(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"redis_wait_replicas"});
}

TEST_F(ConfigTest, UnreadablePasswordFileIsRejected) {
  absl::SetFlag(&FLAGS_redis_password_file, "/nonexistent/secret");
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldViolationsOf(config.status())[0].first, "redis_password_file");
}

TEST_F(ConfigTest, AuthSecretIsRequiredAndMustBeLongEnough) {
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, "");
  auto missing = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(FieldViolationsOf(missing.status())[0].first, "auth_hs256_secret_file");
  std::string short_path = absl::StrCat(dir_.path(), "/short");
  std::ofstream(short_path) << "too-short";
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, short_path);
  auto too_short = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(too_short.ok());
  EXPECT_NE(FieldViolationsOf(too_short.status())[0].second.find("32 bytes"), std::string::npos);
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, secret_path_);
  auto ok = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->auth.hs256_secret, std::string(40, 'k'));
}

// Token keys: a JWKS with one EC key ("svc-1") and that key's private half as a service key.
class AuthKeyFlagsTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    jwks_path_ = absl::StrCat(dir_.path(), "/jwks.json");
    key_path_ = absl::StrCat(dir_.path(), "/service.pem");
    testing::WriteFile(jwks_path_, testing::JwksOf({&Key()}));
    testing::WriteFile(key_path_, Key().private_pem);
  }
  static const testing::TestKey& Key() {
    static const testing::TestKey* key = new testing::TestKey(testing::GenerateEcKey("svc-1"));
    return *key;
  }
  static std::set<std::string> Fields(const absl::Status& status) {
    std::set<std::string> fields;
    for (const auto& [field, description] : FieldViolationsOf(status)) fields.insert(field);
    return fields;
  }
  std::string jwks_path_;
  std::string key_path_;
};

TEST_F(AuthKeyFlagsTest, NeitherSecretNorJwksIsAnErrorNamingBoth) {
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, "");
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("auth_hs256_secret_file"), std::string::npos);
  EXPECT_NE(config.status().message().find("auth_jwks_file"), std::string::npos);
}

TEST_F(AuthKeyFlagsTest, JwksWithAServiceKeyIsEnough) {
  ASSERT_TRUE(config::ApplyEnvironment(Env({{"TRELLIS_AUTH_HS256_SECRET_FILE", ""},
                                            {"TRELLIS_AUTH_JWKS_FILE", jwks_path_},
                                            {"TRELLIS_AUTH_SERVICE_KEY_FILE", key_path_},
                                            {"TRELLIS_AUTH_SERVICE_KEY_ID", "svc-1"}}))
                  .ok());
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->auth.hs256_secret, "");
  EXPECT_EQ(config->auth.jwks_file, jwks_path_);
  ASSERT_TRUE(config->auth.service_key.has_value());
  EXPECT_EQ(config->auth.service_key->kid, "svc-1");
  EXPECT_EQ(config->auth.service_key->alg, "ES256");
}

TEST_F(AuthKeyFlagsTest, JwksAloneLeavesServiceTokensUnsignable) {
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, "");
  absl::SetFlag(&FLAGS_auth_jwks_file, jwks_path_);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Fields(config.status()), std::set<std::string>{"auth_service_key_file"});
  // With the HS256 secret too, service tokens are HS256 and JWKS verifies inbound tokens.
  absl::SetFlag(&FLAGS_auth_hs256_secret_file, secret_path_);
  auto both = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_FALSE(both->auth.service_key.has_value());
  EXPECT_EQ(both->auth.jwks_file, jwks_path_);
}

TEST_F(AuthKeyFlagsTest, InvalidJwksIsAnErrorNamingTheFlag) {
  testing::WriteFile(jwks_path_, R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})");
  absl::SetFlag(&FLAGS_auth_jwks_file, jwks_path_);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(Fields(config.status()), std::set<std::string>{"auth_jwks_file"});
  absl::SetFlag(&FLAGS_auth_jwks_file, absl::StrCat(dir_.path(), "/absent.json"));
  EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"auth_jwks_file"});
}

TEST_F(AuthKeyFlagsTest, ServiceKeyFileAndIdGoTogether) {
  absl::SetFlag(&FLAGS_auth_service_key_file, key_path_);
  EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"auth_service_key_id"});
  absl::SetFlag(&FLAGS_auth_service_key_file, "");
  absl::SetFlag(&FLAGS_auth_service_key_id, "svc-1");
  EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"auth_service_key_file"});
}

TEST_F(AuthKeyFlagsTest, ServiceKeyMustBeUsableAndPublishedInTheJwks) {
  absl::SetFlag(&FLAGS_auth_jwks_file, jwks_path_);
  absl::SetFlag(&FLAGS_auth_service_key_file, key_path_);
  absl::SetFlag(&FLAGS_auth_service_key_id, "svc-2");  // not the kid in the JWKS
  EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"auth_service_key_id"});
  testing::TestKey other = testing::GenerateEcKey("svc-1");  // right kid, another key
  testing::WriteFile(key_path_, other.private_pem);
  absl::SetFlag(&FLAGS_auth_service_key_id, "svc-1");
  EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
            std::set<std::string>{"auth_service_key_id"});
  for (const std::string& unusable : {testing::GenerateEcKey("x", "P-384").private_pem,
                                      testing::GenerateRsaKey("x", 1024).private_pem,
                                      testing::EncryptedPrivatePem(Key(), "passphrase"),
                                      Key().public_pem, std::string("not a key")}) {
    testing::WriteFile(key_path_, unusable);
    EXPECT_EQ(Fields(server::ConfigFromFlags(50051, 9101).status()),
              std::set<std::string>{"auth_service_key_file"});
  }
}

TEST_F(ConfigTest, RedisPasswordComesFromTheEnvironmentVariable) {
  absl::SetFlag(&FLAGS_redis_url, "redis://:from-url@127.0.0.1:6379/0");
  setenv(server::kRedisPasswordEnv, "from-env", 1);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->redis.password, "from-env");
}

TEST_F(ConfigTest, RedisPasswordVariableAndFileTogetherAreRejected) {
  std::string file = absl::StrCat(dir_.path(), "/redis-password");
  std::ofstream(file) << "from-file\n";
  absl::SetFlag(&FLAGS_redis_password_file, file);
  setenv(server::kRedisPasswordEnv, "from-env", 1);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"redis_password_file"});
}

TEST_F(ConfigTest, RedisPasswordNeverAppearsInConfigErrors) {
  absl::SetFlag(&FLAGS_redis_url, "redis://app:hunter2-secret@redis:99999/3");
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("hunter2"), absl::string_view::npos);
  for (const auto& [field, description] : FieldViolationsOf(config.status())) {
    EXPECT_EQ(description.find("hunter2"), std::string::npos) << description;
  }
}

// TLS flags, with certificates made by the openssl command line.
class TlsConfigTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    auto ca = testing::MakeCa(dir_.path(), "ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto server = testing::IssueCert(dir_.path(), ca_, "server", testing::kLoopbackSans);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
  }

  testing::CertFiles ca_, server_;
};

TEST_F(TlsConfigTest, TlsFlagsMakeTheTlsOptions) {
  absl::SetFlag(&FLAGS_tls_cert_file, server_.cert);
  absl::SetFlag(&FLAGS_tls_key_file, server_.key);
  absl::SetFlag(&FLAGS_tls_client_ca_file, ca_.cert);
  absl::SetFlag(&FLAGS_tls_server_name_override, "goals.trellis.test");
  absl::SetFlag(&FLAGS_tls_reload_interval, absl::Seconds(1));
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls.cert_file, server_.cert);
  EXPECT_EQ(config->tls.key_file, server_.key);
  EXPECT_EQ(config->tls.client_ca_file, ca_.cert);
  EXPECT_EQ(config->tls.ca_file, "");
  EXPECT_EQ(config->tls.server_name_override, "goals.trellis.test");
  EXPECT_EQ(config->tls.reload_interval, absl::Seconds(1));
  EXPECT_TRUE(config->tls.enabled());
  EXPECT_TRUE(config->tls.peers_use_tls());
}

TEST_F(ConfigTest, NoTlsFlagsMeanPlaintextEverywhere) {
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tls.enabled());
  EXPECT_FALSE(config->tls.peers_use_tls());
  EXPECT_EQ(server::ServerCredentialsFor(config->tls), nullptr);
  EXPECT_EQ(server::PeerCredentialsFor(config->tls).channel, nullptr);
}

TEST_F(TlsConfigTest, CertificateWithoutKeyNamesTheMissingFlag) {
  absl::SetFlag(&FLAGS_tls_cert_file, server_.cert);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"tls_key_file"});
}

TEST_F(TlsConfigTest, KeyWithoutCertificateNamesTheMissingFlag) {
  absl::SetFlag(&FLAGS_tls_key_file, server_.key);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"tls_cert_file"});
}

TEST_F(TlsConfigTest, ClientCaWithoutServerCertificateIsRejected) {
  absl::SetFlag(&FLAGS_tls_client_ca_file, ca_.cert);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"tls_client_ca_file"});
}

TEST_F(TlsConfigTest, UnreadableFilesAreNamedWithTheirFlag) {
  absl::SetFlag(&FLAGS_tls_cert_file, "/nonexistent/cert.pem");
  absl::SetFlag(&FLAGS_tls_key_file, "/nonexistent/key.pem");
  absl::SetFlag(&FLAGS_tls_client_ca_file, "/nonexistent/client-ca.pem");
  absl::SetFlag(&FLAGS_tls_ca_file, "/nonexistent/ca.pem");
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  std::map<std::string, std::string> described;
  for (const auto& [field, description] : FieldViolationsOf(config.status())) {
    described[field] = description;
  }
  ASSERT_EQ(described.size(), 4u);
  EXPECT_NE(described["tls_cert_file"].find("/nonexistent/cert.pem"), std::string::npos);
  EXPECT_NE(described["tls_key_file"].find("/nonexistent/key.pem"), std::string::npos);
  EXPECT_NE(described["tls_client_ca_file"].find("/nonexistent/client-ca.pem"), std::string::npos);
  EXPECT_NE(described["tls_ca_file"].find("/nonexistent/ca.pem"), std::string::npos);
}

TEST_F(TlsConfigTest, FileWithoutPemIsRejected) {
  std::string junk = absl::StrCat(dir_.path(), "/junk.pem");
  std::ofstream(junk) << "not a certificate\n";
  absl::SetFlag(&FLAGS_tls_cert_file, junk);
  absl::SetFlag(&FLAGS_tls_key_file, junk);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), (std::set<std::string>{"tls_cert_file", "tls_key_file"}));
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificateIsRejected) {
  absl::SetFlag(&FLAGS_tls_cert_file, server_.cert);
  absl::SetFlag(&FLAGS_tls_key_file, ca_.key);
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"tls_key_file"});
}

TEST_F(TlsConfigTest, ReloadIntervalUnderOneSecondIsRejected) {
  absl::SetFlag(&FLAGS_tls_reload_interval, absl::Milliseconds(500));
  auto config = server::ConfigFromFlags(50051, 9101);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(FieldsOf(config.status()), std::set<std::string>{"tls_reload_interval"});
}

TEST(RedisUrl, ParsesEveryPart) {
  auto ep = config::ParseRedisUrl("redis://app:s3cret@redis.internal:6380/3");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->user, "app");
  EXPECT_EQ(ep->password, "s3cret");
  EXPECT_EQ(ep->host, "redis.internal");
  EXPECT_EQ(ep->port, 6380);
  EXPECT_EQ(ep->db, 3);
}

TEST(RedisUrl, PasswordWithoutUserAndDefaults) {
  auto ep = config::ParseRedisUrl("redis://:pw@localhost");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->user, "");
  EXPECT_EQ(ep->password, "pw");
  EXPECT_EQ(ep->port, 6379);
  EXPECT_EQ(ep->db, 0);
}

TEST(RedisUrl, RejectsMalformedUrls) {
  for (const char* url : {"localhost:6379", "redis://", "redis://host:0", "redis://host:abc",
                          "redis://host:6379/16", "redis://host:6379/x"}) {
    auto ep = config::ParseRedisUrl(url);
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(FieldViolationsOf(ep.status())[0].first, "redis_url") << url;
  }
}

}  // namespace
}  // namespace trellis
