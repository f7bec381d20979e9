// The real service binaries, spawned as child processes: flag handling, start-up failures and
// clean shutdown.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "absl/synchronization/notification.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/auth/authenticator.h"
#include "tests/support/health.h"
#include "tests/support/pki.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_keys.h"
#include "trellis/v1/goals.grpc.pb.h"

namespace trellis {
namespace {

using testing::Process;
using testing::ReadFile;
using testing::RedisServer;
using testing::TempDir;
using testing::WaitForLine;

class BinaryTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(Out("secret")) << std::string(48, 's'); }
  std::string SecretFlag() { return absl::StrCat("--auth_hs256_secret_file=", Out("secret")); }

  std::string Out(const std::string& name) { return absl::StrCat(dir_.path(), "/", name); }

  // Waits until the goals process logging to Out("out") says "listening" and its GoalService is
  // SERVING; returns a channel to it (null, after a test failure, if it never does).
  std::shared_ptr<grpc::Channel> ServingChannel() {
    auto line = WaitForLine(Out("out"), "\"listening\"", absl::Seconds(20));
    EXPECT_TRUE(line.ok()) << ReadFile(Out("err"));
    if (!line.ok()) return nullptr;
    int port = nlohmann::json::parse(*line)["port"];
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    EXPECT_EQ(testing::WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
    return channel;
  }

  // CreateGoal (a SMART-enough goal for patient p1) with `token` as bearer.
  static grpc::Status CreateGoal(trellis::v1::GoalService::Stub& stub, const std::string& token,
                                 trellis::v1::Goal* goal) {
    trellis::v1::CreateGoalRequest request;
    request.mutable_goal()->set_patient("p1");
    request.mutable_goal()->set_title("Walk for 20 minutes on five days a week");
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return stub.CreateGoal(&ctx, request, goal);
  }

  // Starts the goals binary on a free loopback port against `redis_url`, with `extra` flags and
  // `env`, and waits for its "listening" line (into `listening`). Null (and a failure) if it does
  // not start.
  std::unique_ptr<Process> StartGoals(const std::string& redis_url,
                                      const std::vector<std::string>& extra,
                                      nlohmann::json* listening,
                                      const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {TRELLIS_GOALS_BIN,
                                     "--listen_host=127.0.0.1",
                                     "--port=0",
                                     "--metrics_port=0",
                                     "--health_interval=100ms",
                                     SecretFlag(),
                                     absl::StrCat("--redis_url=", redis_url)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::Spawn(argv, Out("out"), Out("err"), env);
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      return nullptr;
    }
    auto line = WaitForLine(Out("out"), "\"listening\"", absl::Seconds(20));
    if (!line.ok()) {
      ADD_FAILURE() << "did not start: " << ReadFile(Out("err"));
      return nullptr;
    }
    *listening = nlohmann::json::parse(*line);
    return std::move(*p);
  }

  static std::string LocalAddress(const nlohmann::json& listening) {
    return absl::StrCat("127.0.0.1:", listening["port"].get<int>());
  }

  // SIGTERM, then the exit status must be 0.
  static void ExpectCleanExit(Process& p) {
    p.Signal(SIGTERM);
    auto code = p.Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 0);
  }

  // A clinician's token signed with the binaries' secret.
  static std::string Token() {
    auth::AuthOptions auth_options;
    auth_options.hs256_secret = std::string(48, 's');
    return auth::MintHs256Token(auth_options, {"t1", "clin-1", trellis::v1::ROLE_CLINICIAN, ""},
                                absl::Hours(1));
  }

  // Runs the goals binary to completion and returns its exit code.
  int RunToExit(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {TRELLIS_GOALS_BIN, SecretFlag()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = Process::Spawn(argv, Out("out"), Out("err"), env);
    EXPECT_TRUE(p.ok());
    auto code = (*p)->Wait(absl::Seconds(20));
    EXPECT_TRUE(code.ok()) << "binary did not exit";
    return code.ok() ? *code : -999;
  }

  TempDir dir_;
};

TEST_F(BinaryTest, UnparsableFlagIsRejectedNamingTheFlag) {
  EXPECT_NE(RunToExit({"--port=abc"}), 0);
  EXPECT_NE(ReadFile(Out("err")).find("port"), std::string::npos) << ReadFile(Out("err"));
}

TEST_F(BinaryTest, UnknownFlagIsRejected) {
  EXPECT_NE(RunToExit({"--no_such_flag=1"}), 0);
  EXPECT_NE(ReadFile(Out("err")).find("no_such_flag"), std::string::npos);
}

TEST_F(BinaryTest, OutOfRangeValueIsRejectedWithExitTwo) {
  EXPECT_EQ(RunToExit({"--port=70000", "--redis_url=http://localhost"}), 2);
  std::string err = ReadFile(Out("err"));
  EXPECT_NE(err.find("--port"), std::string::npos) << err;
  EXPECT_NE(err.find("--redis_url"), std::string::npos) << err;
}

TEST_F(BinaryTest, BadEnvironmentTwinIsRejectedNamingTheVariable) {
  EXPECT_EQ(RunToExit({}, {{"TRELLIS_REDIS_TIMEOUT", "soon"}}), 2);
  EXPECT_NE(ReadFile(Out("err")).find("TRELLIS_REDIS_TIMEOUT"), std::string::npos);
}

TEST_F(BinaryTest, MissingAuthKeysAreRejectedNamingBothFlags) {
  std::vector<std::string> argv = {TRELLIS_GOALS_BIN};
  auto p = Process::Spawn(argv, Out("out"), Out("err"));
  ASSERT_TRUE(p.ok());
  auto code = (*p)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(ReadFile(Out("err")).find("auth_hs256_secret_file"), std::string::npos);
  EXPECT_NE(ReadFile(Out("err")).find("auth_jwks_file"), std::string::npos);
}

TEST_F(BinaryTest, HelpDocumentsEveryFlagAndItsEnvironmentTwin) {
  RunToExit({"--help"});
  std::string help = ReadFile(Out("out")) + ReadFile(Out("err"));
  for (const char* flag :
       {"redis_url", "TRELLIS_REDIS_URL", "shutdown_grace", "max_connection_age", "listen_host",
        "log_level", "tls_cert_file", "tls_client_ca_file", "TRELLIS_REDIS_PASSWORD"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

TEST_F(BinaryTest, StartsServesAndExitsZeroOnSigterm) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  nlohmann::json listening;
  auto p = StartGoals((*redis)->url(), {}, &listening);
  ASSERT_NE(p, nullptr);
  auto channel = grpc::CreateChannel(LocalAddress(listening), grpc::InsecureChannelCredentials());
  EXPECT_EQ(testing::WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  ExpectCleanExit(*p);
  EXPECT_NE(ReadFile(Out("out")).find("\"stopped\""), std::string::npos);
}

// Production keys end to end: JWKS and service key given through the environment twins, no HS256
// secret. Tokens signed by either JWKS key are served; an HS256 token is refused.
TEST_F(BinaryTest, JwksOnlyBinaryServesJwksTokensAndRefusesHs256) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  testing::TestKey ec = testing::GenerateEcKey("prod-ec");
  testing::TestKey rsa = testing::GenerateRsaKey("prod-rsa");
  testing::WriteFile(Out("jwks.json"), testing::JwksOf({&ec, &rsa}));
  testing::WriteFile(Out("service.pem"), ec.private_pem);
  auto p = Process::Spawn({TRELLIS_GOALS_BIN, "--listen_host=127.0.0.1", "--port=0",
                           "--metrics_port=0", absl::StrCat("--redis_url=", (*redis)->url())},
                          Out("out"), Out("err"),
                          {{"TRELLIS_AUTH_JWKS_FILE", Out("jwks.json")},
                           {"TRELLIS_AUTH_SERVICE_KEY_FILE", Out("service.pem")},
                           {"TRELLIS_AUTH_SERVICE_KEY_ID", "prod-ec"}});
  ASSERT_TRUE(p.ok());
  auto channel = ServingChannel();
  ASSERT_NE(channel, nullptr);
  auto stub = trellis::v1::GoalService::NewStub(channel);
  auth::Identity clinician{"t1", "clin-1", trellis::v1::ROLE_CLINICIAN, ""};
  auth::AuthOptions hs256;
  hs256.hs256_secret = std::string(48, 's');
  trellis::v1::Goal goal;
  auto create = [&](const std::string& token) { return CreateGoal(*stub, token, &goal); };
  for (const testing::TestKey* key : {&ec, &rsa}) {
    grpc::Status s =
        create(auth::MintToken(key->signing_key(), auth::AuthOptions{}, clinician, absl::Hours(1)));
    EXPECT_TRUE(s.ok()) << key->kid << ": " << s.error_message();
  }
  grpc::Status refused = create(auth::MintHs256Token(hs256, clinician, absl::Hours(1)));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  (*p)->Signal(SIGTERM);
  auto code = (*p)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(BinaryTest, PortHeldByAnotherProcessMakesStartupFail) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  std::string url = absl::StrCat("--redis_url=", (*redis)->url());
  auto first = Process::Spawn({TRELLIS_GOALS_BIN, "--listen_host=127.0.0.1", "--port=0",
                               "--metrics_port=0", url, SecretFlag()},
                              Out("out1"), Out("err1"));
  ASSERT_TRUE(first.ok());
  auto line = WaitForLine(Out("out1"), "\"listening\"", absl::Seconds(20));
  ASSERT_TRUE(line.ok());
  int port = nlohmann::json::parse(*line)["port"];
  auto second =
      Process::Spawn({TRELLIS_GOALS_BIN, "--listen_host=127.0.0.1", absl::StrCat("--port=", port),
                      "--metrics_port=0", url, SecretFlag()},
                     Out("out2"), Out("err2"));
  ASSERT_TRUE(second.ok());
  auto code = (*second)->Wait(absl::Seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(ReadFile(Out("out2")).find("cannot listen"), std::string::npos);
}

TEST_F(BinaryTest, SigtermLetsAnInFlightCallFinishThenExitsZero) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto p = Process::Spawn({TRELLIS_GOALS_BIN, "--listen_host=127.0.0.1", "--port=0",
                           "--metrics_port=0", "--redis_timeout=20s", "--shutdown_grace=15s",
                           absl::StrCat("--redis_url=", (*redis)->url()), SecretFlag()},
                          Out("out"), Out("err"));
  ASSERT_TRUE(p.ok());
  auto channel = ServingChannel();
  ASSERT_NE(channel, nullptr);
  auto stub = trellis::v1::GoalService::NewStub(channel);
  std::string token = Token();

  trellis::v1::Goal goal;
  grpc::Status created = CreateGoal(*stub, token, &goal);
  ASSERT_TRUE(created.ok()) << created.error_message();

  // Freeze Redis so the next call stays in flight inside the server.
  ASSERT_TRUE((*redis)->Command({"CLIENT", "PAUSE", "2000", "ALL"}).ok());
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  trellis::v1::GetGoalRequest get;
  get.set_name(goal.name());
  trellis::v1::Goal read;
  grpc::Status in_flight_status;
  absl::Notification done;
  stub->async()->GetGoal(&ctx, &get, &read, [&](grpc::Status s) {
    in_flight_status = s;
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(300));  // let the call reach the server
  EXPECT_FALSE(done.HasBeenNotified());
  (*p)->Signal(SIGTERM);

  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(read.name(), goal.name());
  auto code = (*p)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(BinaryTest, ServesMutualTlsFromCertificateFlags) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok());
  auto ca = testing::MakeCa(dir_.path(), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto server = testing::IssueCert(dir_.path(), *ca, "server", testing::kLoopbackSans);
  auto client = testing::IssueCert(dir_.path(), *ca, "client", "DNS:client.trellis.test");
  ASSERT_TRUE(server.ok() && client.ok());
  nlohmann::json listening;
  auto p = StartGoals(
      (*redis)->url(),
      {absl::StrCat("--tls_cert_file=", server->cert), absl::StrCat("--tls_key_file=", server->key),
       absl::StrCat("--tls_client_ca_file=", ca->cert), "--tls_reload_interval=1s"},
      &listening);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(listening["tls"], "mutual");
  std::string address = LocalAddress(listening);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(ca->cert);
  ssl.pem_cert_chain = ReadFile(client->cert);
  ssl.pem_private_key = ReadFile(client->key);
  auto channel = grpc::CreateChannel(address, grpc::SslCredentials(ssl));
  EXPECT_EQ(testing::WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  trellis::v1::CreateGoalRequest create;
  create.mutable_goal()->set_patient("p1");
  create.mutable_goal()->set_title("Walk for 20 minutes on five days a week");
  trellis::v1::Goal goal;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", Token()));
  grpc::Status created =
      trellis::v1::GoalService::NewStub(channel)->CreateGoal(&ctx, create, &goal);
  EXPECT_TRUE(created.ok()) << created.error_message();

  auto plaintext = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  EXPECT_NE(testing::HealthOf(plaintext, ""), "SERVING");
  ExpectCleanExit(*p);
}

TEST_F(BinaryTest, RedisPasswordFromTheEnvironmentAuthenticatesAndIsNeverLogged) {
  const std::string password = "env-only-redis-password-7f3a";
  auto redis = RedisServer::Start({"--requirepass", password});
  ASSERT_TRUE(redis.ok()) << redis.status();
  nlohmann::json listening;
  auto p = StartGoals(absl::StrCat("redis://127.0.0.1:", (*redis)->port(), "/0"),
                      {"--log_level=debug"}, &listening, {{"TRELLIS_REDIS_PASSWORD", password}});
  ASSERT_NE(p, nullptr);
  auto channel = grpc::CreateChannel(LocalAddress(listening), grpc::InsecureChannelCredentials());
  // SERVING needs Redis to answer, which it does only after AUTH.
  EXPECT_EQ(testing::WaitForHealth(channel, "", "SERVING"), "SERVING");
  ExpectCleanExit(*p);
  std::string output = ReadFile(Out("out")) + ReadFile(Out("err"));
  EXPECT_EQ(output.find(password), std::string::npos);
}

}  // namespace
}  // namespace trellis
