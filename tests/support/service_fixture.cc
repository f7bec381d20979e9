#include "tests/support/service_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/redis_url.h"
#include "common/redis/cluster_client.h"
#include "common/server/audit_service.h"

namespace trellis::testing {

ServiceFixture::ServiceFixture(absl::Time start, prometheus::Registry* metrics) : clock_(start) {
  if (metrics != nullptr) {
    rpc_metrics_ = std::make_unique<metrics::RpcMetrics>(*metrics);
    redis_metrics_ = std::make_unique<metrics::RedisMetrics>(*metrics);
  }
  auth_options_.hs256_secret = kTestSecret;
  authenticator_ = std::make_unique<auth::Authenticator>(auth_options_);
  const char* backend = std::getenv("TRELLIS_TEST_REDIS");
  if (backend != nullptr && absl::string_view(backend) == "cluster") {
    auto cluster = RedisCluster::Start(/*primaries=*/3, /*replicas_per_primary=*/0);
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    if (!cluster.ok()) return;
    cluster_ = std::move(*cluster);
    redis::ClusterOptions o;
    o.seeds = *config::ParseHostPortList(cluster_->seeds(), "seeds");
    o.node.max_backoff = absl::Milliseconds(200);
    o.node.observer = redis_metrics_.get();
    pool_ = std::make_unique<redis::ClusterClient>(o);
  } else {
    auto server = RedisServer::Start();
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return;
    redis_server_ = std::move(*server);
    redis::PoolOptions o;
    o.endpoint = *config::ParseRedisUrl(redis_server_->url());
    o.max_backoff = absl::Milliseconds(200);
    o.observer = redis_metrics_.get();
    pool_ = std::make_unique<redis::RedisPool>(o);
  }
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  const int connections = clustered() ? 3 : 1;
  while ((!pool_->Ready() || pool_->ReadyConnections() < connections) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  audit_ = std::make_unique<audit::AuditLog>(pool_.get(), &clock_);
  env_ = server::ServiceEnv{pool_.get(), &clock_, nullptr, authenticator_.get()};
  env_.audit = audit_.get();
  env_.registry = metrics;
}

ServiceFixture::~ServiceFixture() {
  StopHost();
  if (pool_) pool_->Stop();
}

void ServiceFixture::Start(
    const std::function<server::ServiceParts(const server::ServiceEnv&)>& build,
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  parts_ = build(env_);
  parts_.services.push_back(std::make_unique<server::AuditServiceHandler>(env_));
  parts_.workers.push_back(
      std::make_unique<server::AuditRelay>(audit_.get(), absl::Milliseconds(20)));
  server::HostOptions options;
  options.audit = audit_.get();
  options.listen_address = "127.0.0.1:0";
  options.health_names = parts_.health_names;
  options.health_interval = absl::Milliseconds(100);
  options.shutdown_grace = absl::Seconds(2);
  options.credentials = credentials;
  options.observer = rpc_metrics_.get();
  host_ = std::make_unique<server::ServiceHost>(options, pool_.get());
  for (auto& s : parts_.services) host_->AddService(s.get());
  for (auto& w : parts_.workers) host_->AddWorker(w.get());
  absl::Status started = host_->Start();
  ASSERT_TRUE(started.ok()) << started;
  if (credentials != nullptr) return;
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", host_->port()),
                                 grpc::InsecureChannelCredentials());
}

absl::StatusOr<std::string> ServiceFixture::RedisCommand(
    const std::vector<std::string>& args) const {
  return clustered() ? cluster_->Command(args) : redis_server_->Command(args);
}

void ServiceFixture::SetRateLimit(auth::RateLimitOptions options) {
  limiter_ = std::make_unique<auth::RateLimiter>(options);
  env_.limiter = limiter_.get();
}

void ServiceFixture::StopHost() {
  if (host_) host_->Shutdown();
}

std::string ServiceFixture::Token(const std::string& tenant, trellis::v1::Role role,
                                  const std::string& patient) const {
  auth::Identity who;
  who.tenant = tenant;
  who.subject = role == trellis::v1::ROLE_CLIENT ? absl::StrCat("user-", patient) : "clin-1";
  who.role = role;
  who.patient = patient;
  return auth::MintHs256Token(auth_options_, who, absl::Hours(1));
}

std::unique_ptr<grpc::ClientContext> ServiceFixture::Context(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return ctx;
}

void Merge(server::ServiceParts& into, server::ServiceParts from) {
  for (auto& s : from.services) into.services.push_back(std::move(s));
  for (auto& w : from.workers) into.workers.push_back(std::move(w));
  for (auto& n : from.health_names) into.health_names.push_back(std::move(n));
}

}  // namespace trellis::testing
