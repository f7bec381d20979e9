// SMART facts for tenant-defined metrics come from MeasurementService.GetMetric; here a fake peer
// that knows one metric.

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/server/peer.h"
#include "services/goals/goal_service.h"
#include "tests/support/service_fixture.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::goals {
namespace {

namespace v1 = ::trellis::v1;
using testing::ServiceFixture;

class FakeMeasurements final : public v1::MeasurementService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetMetric(grpc::CallbackServerContext* ctx,
                                      const v1::GetMetricRequest* request,
                                      v1::Metric* response) override {
    auto* reactor = ctx->DefaultReactor();
    if (request->id() != "panic_attacks") {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such metric"));
      return reactor;
    }
    response->set_id("panic_attacks");
    response->set_display_name("Panic attacks per week");
    response->set_kind(v1::METRIC_KIND_COUNT_PER_PERIOD);
    response->set_min_value(0);
    response->set_max_value(50);
    response->set_better_direction(v1::BETTER_DIRECTION_LOWER);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

v1::Goal PanicGoal(const std::string& metric) {
  v1::Goal g;
  g.set_patient("p1");
  g.set_title("Reduce panic attacks from 6 to 2 per week");
  g.set_description("Use interoceptive exposure exercises three times a week");
  g.set_category(v1::GOAL_CATEGORY_SYMPTOM_MANAGEMENT);
  auto* m = g.mutable_measure();
  m->set_metric(metric);
  m->set_direction(v1::MEASURE_DIRECTION_DECREASE);
  m->set_baseline(6);
  m->set_target(2);
  g.mutable_start_date()->set_year(2026);
  g.mutable_start_date()->set_month(1);
  g.mutable_start_date()->set_day(5);
  g.mutable_due_date()->set_year(2026);
  g.mutable_due_date()->set_month(4);
  g.mutable_due_date()->set_day(6);
  g.add_addresses()->set_text("panic disorder");
  g.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  return g;
}

class GoalMetricCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::PickFreePort();
    auto auth = fixture_.auth_options();
    std::string address = absl::StrCat("127.0.0.1:", port_);
    fixture_.Start([address, auth](const server::ServiceEnv& env) {
      server::ServiceParts parts;
      parts.services.push_back(std::make_unique<GoalServiceHandler>(
          env, GoalServiceOptions{}, MetricCatalog(server::PeerChannel(address), auth)));
      parts.health_names.push_back("trellis.v1.GoalService");
      return parts;
    });
    stub_ = v1::GoalService::NewStub(fixture_.channel());
  }
  void TearDown() override {
    if (peer_) peer_->Shutdown();
  }
  void StartPeer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials());
    builder.RegisterService(&fake_);
    peer_ = builder.BuildAndStart();
    ASSERT_NE(peer_, nullptr);
  }
  grpc::Status Create(const v1::Goal& goal, v1::Goal* out) {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = goal;
    return stub_->CreateGoal(ServiceFixture::Context(fixture_.Token()).get(), req, out);
  }

  ServiceFixture fixture_;
  int port_ = 0;
  FakeMeasurements fake_;
  std::unique_ptr<grpc::Server> peer_;
  std::unique_ptr<v1::GoalService::Stub> stub_;
};

TEST_F(GoalMetricCatalogTest, TenantMetricKnownToTheMeasurementServiceCanBeActivated) {
  StartPeer();
  v1::Goal out;
  grpc::Status s = Create(PanicGoal("panic_attacks"), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.lifecycle_status(), v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
}

TEST_F(GoalMetricCatalogTest, UnknownMetricFailsMeasurable) {
  StartPeer();
  v1::Goal out;
  grpc::Status s = Create(PanicGoal("no_such_metric"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(GoalMetricCatalogTest, CatalogueOutageIsUnavailableNotAFailedCheck) {
  v1::Goal out;
  grpc::Status s = Create(PanicGoal("panic_attacks"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Built-in instruments never need the peer.
  v1::Goal builtin = PanicGoal("phq9");
  builtin.set_title("Reduce PHQ-9 score from 18 to 9");
  builtin.mutable_measure()->set_baseline(18);
  builtin.mutable_measure()->set_target(9);
  EXPECT_TRUE(Create(builtin, &out).ok());
}

}  // namespace
}  // namespace trellis::goals
