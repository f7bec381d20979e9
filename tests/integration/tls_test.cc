// TLS and mutual TLS: GoalService in-process behind TLS server credentials made from certificate
// files, against a real redis-server, with certificates made by the openssl command line.

#include "common/server/tls.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/goals/goal_service.h"
#include "tests/support/health.h"
#include "tests/support/pki.h"
#include "tests/support/process.h"
#include "tests/support/service_fixture.h"

namespace trellis::server {
namespace {

namespace v1 = ::trellis::v1;
using testing::CertFiles;
using testing::HealthOf;
using testing::IssueCert;
using testing::kLoopbackSans;
using testing::MakeCa;
using testing::ReadFile;
using testing::ServiceFixture;
using testing::WaitForHealth;

CertFiles Must(absl::StatusOr<CertFiles> files) {
  EXPECT_TRUE(files.ok()) << files.status();
  return files.ok() ? *files : CertFiles{};
}

// Replaces `to` by a copy of `from` the way a secret mount rotates: write beside, then rename.
void ReplaceFile(const std::string& from, const std::string& to) {
  std::string staged = absl::StrCat(to, ".new");
  std::filesystem::copy_file(from, staged, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(staged, to);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& dir = dir_.path();
    ca_ = Must(MakeCa(dir, "ca"));
    other_ca_ = Must(MakeCa(dir, "other-ca"));
    CertFiles server = Must(IssueCert(dir, ca_, "server", kLoopbackSans));
    client_ = Must(IssueCert(dir, ca_, "client", "DNS:client.trellis.test"));
    other_client_ = Must(IssueCert(dir, other_ca_, "other-client", "DNS:client.trellis.test"));
    // The server reads its own copies, which the reload test replaces.
    live_ = {absl::StrCat(dir, "/live.pem"), absl::StrCat(dir, "/live.key")};
    ReplaceFile(server.cert, live_.cert);
    ReplaceFile(server.key, live_.key);
  }

  // Starts GoalService with TLS from the live files; mutual when `client_ca` is given.
  void StartServer(const std::string& client_ca = "") {
    TlsOptions tls;
    tls.cert_file = live_.cert;
    tls.key_file = live_.key;
    tls.client_ca_file = client_ca;
    tls.reload_interval = absl::Seconds(1);
    FieldViolations v;
    CheckTlsOptions(tls, v);
    ASSERT_TRUE(v.empty()) << v.ToStatus();
    fixture_.Start(goals::BuildGoalService, ServerCredentialsFor(tls));
  }

  std::string Address() const { return absl::StrCat("127.0.0.1:", fixture_.port()); }

  // A fresh channel (its own connection) trusting only `roots`, presenting `client` if given.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& roots,
                                            const CertFiles* client = nullptr) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(roots);
    if (client != nullptr) {
      ssl.pem_cert_chain = ReadFile(client->cert);
      ssl.pem_private_key = ReadFile(client->key);
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(Address(), grpc::SslCredentials(ssl), args);
  }

  // Whether a goal can be created through `channel` with a clinician's token.
  grpc::Status CreateGoal(const std::shared_ptr<grpc::Channel>& channel) {
    v1::CreateGoalRequest req;
    req.mutable_goal()->set_patient("p1");
    req.mutable_goal()->set_title("Walk for 20 minutes on five days a week");
    v1::Goal goal;
    return v1::GoalService::NewStub(channel)->CreateGoal(
        ServiceFixture::Context(fixture_.Token()).get(), req, &goal);
  }

  static bool Refused(const std::string& health) { return absl::StartsWith(health, "error"); }

  testing::TempDir dir_;
  ServiceFixture fixture_;
  CertFiles ca_, other_ca_, client_, other_client_, live_;
};

TEST_F(TlsTest, ServesHealthAndCallsToAClientTrustingItsCa) {
  StartServer();
  auto channel = TlsChannel(ca_.cert);
  EXPECT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  grpc::Status created = CreateGoal(channel);
  EXPECT_TRUE(created.ok()) << created.error_message();
}

TEST_F(TlsTest, PlaintextClientIsRefused) {
  StartServer();
  auto plaintext = grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(Refused(HealthOf(plaintext, ""))) << HealthOf(plaintext, "");
  EXPECT_EQ(CreateGoal(plaintext).error_code(), grpc::UNAVAILABLE);
}

TEST_F(TlsTest, ClientTrustingAnotherCaRefusesTheServer) {
  StartServer();
  EXPECT_TRUE(Refused(HealthOf(TlsChannel(other_ca_.cert), "")));
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutCertificate) {
  StartServer(ca_.cert);
  auto channel = TlsChannel(ca_.cert);
  EXPECT_TRUE(Refused(HealthOf(channel, ""))) << HealthOf(channel, "");
  EXPECT_EQ(CreateGoal(channel).error_code(), grpc::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsAcceptsAClientCertificateSignedByTheClientCa) {
  StartServer(ca_.cert);
  auto channel = TlsChannel(ca_.cert, &client_);
  EXPECT_EQ(WaitForHealth(channel, "", "SERVING"), "SERVING");
  grpc::Status created = CreateGoal(channel);
  EXPECT_TRUE(created.ok()) << created.error_message();
}

TEST_F(TlsTest, MutualTlsRefusesAClientCertificateFromAnotherCa) {
  StartServer(ca_.cert);
  auto channel = TlsChannel(ca_.cert, &other_client_);
  EXPECT_TRUE(Refused(HealthOf(channel, ""))) << HealthOf(channel, "");
}

TEST_F(TlsTest, RotatedCertificateServesNewConnectionsWithoutRestart) {
  StartServer();
  ASSERT_EQ(WaitForHealth(TlsChannel(ca_.cert), "", "SERVING"), "SERVING");

  CertFiles new_ca = Must(MakeCa(dir_.path(), "new-ca"));
  CertFiles rotated = Must(IssueCert(dir_.path(), new_ca, "rotated", kLoopbackSans));
  ReplaceFile(rotated.key, live_.key);
  ReplaceFile(rotated.cert, live_.cert);

  // The server re-reads its files every second; poll, each time on a new connection.
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  std::string health;
  while ((health = HealthOf(TlsChannel(new_ca.cert), "")) != "SERVING" && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(health, "SERVING");
  EXPECT_TRUE(Refused(HealthOf(TlsChannel(ca_.cert), "")));
}

TEST_F(TlsTest, PeerChannelWithTheServiceCertificateReachesAMutualTlsServer) {
  StartServer(ca_.cert);
  // The calling service's own flags: its certificate, and the CA that signs its peers' (here the
  // client CA, which is also the default for peer roots).
  TlsOptions caller;
  caller.cert_file = client_.cert;
  caller.key_file = client_.key;
  caller.client_ca_file = ca_.cert;
  caller.reload_interval = absl::Seconds(1);
  auto channel = PeerChannel(Address(), PeerCredentialsFor(caller));
  EXPECT_EQ(WaitForHealth(channel, "trellis.v1.GoalService", "SERVING"), "SERVING");
  grpc::Status created = CreateGoal(channel);
  EXPECT_TRUE(created.ok()) << created.error_message();

  // Roots alone (no certificate of its own) do not pass mutual TLS.
  TlsOptions roots_only;
  roots_only.ca_file = ca_.cert;
  EXPECT_TRUE(Refused(HealthOf(PeerChannel(Address(), PeerCredentialsFor(roots_only)), "")));
}

TEST_F(TlsTest, PeerChannelWithRootsReachesATlsServerAndRefusesAnUntrustedOne) {
  StartServer();
  TlsOptions trusting;
  trusting.ca_file = ca_.cert;
  EXPECT_EQ(WaitForHealth(PeerChannel(Address(), PeerCredentialsFor(trusting)), "", "SERVING"),
            "SERVING");
  TlsOptions distrusting;
  distrusting.ca_file = other_ca_.cert;
  EXPECT_TRUE(Refused(HealthOf(PeerChannel(Address(), PeerCredentialsFor(distrusting)), "")));
  // A plain address (no credentials) stays plaintext, which a TLS server refuses.
  EXPECT_TRUE(Refused(HealthOf(PeerChannel(Address()), "")));
}

TEST_F(TlsTest, PeerChannelChecksTheOverriddenServerName) {
  // A certificate issued for a service name, not for the address dialled.
  CertFiles named = Must(IssueCert(dir_.path(), ca_, "named", "DNS:goals.trellis.test"));
  ReplaceFile(named.key, live_.key);
  ReplaceFile(named.cert, live_.cert);
  StartServer();
  TlsOptions plain;
  plain.ca_file = ca_.cert;
  EXPECT_TRUE(Refused(HealthOf(PeerChannel(Address(), PeerCredentialsFor(plain)), "")));
  TlsOptions overridden = plain;
  overridden.server_name_override = "goals.trellis.test";
  EXPECT_EQ(WaitForHealth(PeerChannel(Address(), PeerCredentialsFor(overridden)), "", "SERVING"),
            "SERVING");
}

}  // namespace
}  // namespace trellis::server
