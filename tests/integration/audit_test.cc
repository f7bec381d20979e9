// The audit trail and the tenant rate limit, end to end through GoalService in-process: real
// redis-server, real channel, real tokens.
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "services/goals/goal_service.h"
#include "tests/support/service_fixture.h"
#include "tests/support/status_details.h"
#include "trellis/v1/audit.grpc.pb.h"

namespace trellis {
namespace {

namespace v1 = ::trellis::v1;
using testing::ServiceFixture;

v1::Goal Proposal(const std::string& patient) {
  v1::Goal g;
  g.set_patient(patient);
  g.set_title("Feel less anxious");
  return g;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start(goals::BuildGoalService);
    goals_ = v1::GoalService::NewStub(fixture_.channel());
    audit_ = v1::AuditService::NewStub(fixture_.channel());
    clinician_ = fixture_.Token("t1", v1::ROLE_CLINICIAN);
    admin_ = fixture_.Token("t1", v1::ROLE_ADMIN);
  }

  grpc::Status Create(const std::string& patient, v1::Goal* out, const std::string& token) {
    v1::CreateGoalRequest req;
    *req.mutable_goal() = Proposal(patient);
    return goals_->CreateGoal(ServiceFixture::Context(token).get(), req, out);
  }
  grpc::Status Get(const std::string& name, const std::string& token) {
    v1::GetGoalRequest req;
    req.set_name(name);
    v1::Goal out;
    return goals_->GetGoal(ServiceFixture::Context(token).get(), req, &out);
  }
  // All of a tenant's events (as its admin), newest first, optionally for one patient.
  std::vector<v1::AuditEvent> Events(const std::string& patient = "",
                                     const std::string& admin = "") {
    std::vector<v1::AuditEvent> all;
    v1::ListAuditEventsRequest req;
    req.set_patient(patient);
    req.set_page_size(2);
    for (int page = 0; page < 100; ++page) {
      v1::ListAuditEventsResponse resp;
      grpc::Status s = audit_->ListAuditEvents(
          ServiceFixture::Context(admin.empty() ? admin_ : admin).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& e : resp.events()) all.push_back(e);
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return all;
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::GoalService::Stub> goals_;
  std::unique_ptr<v1::AuditService::Stub> audit_;
  std::string clinician_, admin_;
};

TEST_F(AuditTest, AChangeIsAuditedOnceWithItsActorAndResource) {
  v1::Goal goal;
  ASSERT_TRUE(Create("p1", &goal, clinician_).ok());
  auto events = Events();
  // The listing itself is audited too, but only after it answered.
  ASSERT_EQ(events.size(), 1u);
  const v1::AuditEvent& e = events[0];
  EXPECT_EQ(e.action(), "GoalService.CreateGoal");
  EXPECT_EQ(e.result_code(), "OK");
  EXPECT_EQ(e.patient(), "p1");
  EXPECT_EQ(e.resource(), "patients/p1");
  EXPECT_EQ(e.actor().subject(), "clin-1");
  EXPECT_EQ(e.actor().role(), v1::ROLE_CLINICIAN);
  EXPECT_EQ(e.time().seconds(), absl::ToUnixSeconds(fixture_.clock().Now()));
  EXPECT_FALSE(e.id().empty());
}

TEST_F(AuditTest, ReadsRefusalsAndFailuresAreAuditedWithTheirCode) {
  v1::Goal goal;
  ASSERT_TRUE(Create("p1", &goal, clinician_).ok());
  ASSERT_TRUE(Get(goal.name(), clinician_).ok());
  EXPECT_EQ(Get("patients/p1/goals/missing", clinician_).error_code(), grpc::NOT_FOUND);
  // A client reaching for another patient's goal: NOT_FOUND, and recorded against that patient.
  std::string client = fixture_.Token("t1", v1::ROLE_CLIENT, "p2");
  EXPECT_EQ(Get(goal.name(), client).error_code(), grpc::NOT_FOUND);
  // A role the table refuses.
  v1::TransitionGoalRequest transition;
  transition.set_name(goal.name());
  transition.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_ACTIVE);
  transition.set_etag(goal.etag());
  v1::TransitionGoalResponse transitioned;
  EXPECT_EQ(goals_->TransitionGoal(ServiceFixture::Context(admin_).get(), transition, &transitioned)
                .error_code(),
            grpc::PERMISSION_DENIED);

  auto events = Events("p1");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].action(), "GoalService.TransitionGoal");
  EXPECT_EQ(events[0].result_code(), "PERMISSION_DENIED");
  EXPECT_EQ(events[0].actor().role(), v1::ROLE_ADMIN);
  EXPECT_EQ(events[1].action(), "GoalService.GetGoal");
  EXPECT_EQ(events[1].result_code(), "NOT_FOUND");
  EXPECT_EQ(events[1].actor().role(), v1::ROLE_CLIENT);
  EXPECT_EQ(events[1].resource(), goal.name());
  EXPECT_EQ(events[2].resource(), "patients/p1/goals/missing");
  EXPECT_EQ(events[2].result_code(), "NOT_FOUND");
  EXPECT_EQ(events[3].action(), "GoalService.GetGoal");
  EXPECT_EQ(events[3].result_code(), "OK");
  EXPECT_EQ(events[4].action(), "GoalService.CreateGoal");
}

TEST_F(AuditTest, CallsWithoutAValidTokenLeaveNoEntry) {
  EXPECT_EQ(Get("patients/p1/goals/g1", "not-a-token").error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Get("patients/p1/goals/g1", fixture_.Token("").substr(1)).error_code(),
            grpc::UNAUTHENTICATED);
  EXPECT_TRUE(Events().empty());
}

TEST_F(AuditTest, FiltersByPatientAndTimeAndPages) {
  v1::Goal goal;
  ASSERT_TRUE(Create("p1", &goal, clinician_).ok());
  absl::Time first = fixture_.clock().Now();
  fixture_.clock().Advance(absl::Minutes(5));
  ASSERT_TRUE(Create("p2", &goal, clinician_).ok());
  ASSERT_TRUE(Create("p2", &goal, clinician_).ok());
  ASSERT_TRUE(Create("p3", &goal, clinician_).ok());
  EXPECT_EQ(Events("p1").size(), 1u);
  EXPECT_EQ(Events("p2").size(), 2u);
  EXPECT_EQ(Events("nobody").size(), 0u);

  v1::ListAuditEventsRequest req;
  *req.mutable_end_time() = google::protobuf::Timestamp();
  req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(first + absl::Minutes(1)));
  v1::ListAuditEventsResponse resp;
  ASSERT_TRUE(audit_->ListAuditEvents(ServiceFixture::Context(admin_).get(), req, &resp).ok());
  ASSERT_EQ(resp.events_size(), 1);
  EXPECT_EQ(resp.events(0).patient(), "p1");

  req.clear_end_time();
  req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(first + absl::Minutes(1)));
  req.set_patient("p2");
  resp.Clear();
  ASSERT_TRUE(audit_->ListAuditEvents(ServiceFixture::Context(admin_).get(), req, &resp).ok());
  EXPECT_EQ(resp.events_size(), 2);

  // A page token is bound to its filters.
  req.set_page_size(1);
  resp.Clear();
  ASSERT_TRUE(audit_->ListAuditEvents(ServiceFixture::Context(admin_).get(), req, &resp).ok());
  ASSERT_FALSE(resp.next_page_token().empty());
  v1::ListAuditEventsRequest other;
  other.set_page_token(resp.next_page_token());
  other.set_patient("p2");
  grpc::Status s = audit_->ListAuditEvents(ServiceFixture::Context(admin_).get(), other, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(testing::FieldsOf(s), std::set<std::string>{"page_token"});
}

TEST_F(AuditTest, OnlyAdminsReadTheTrailAndOnlyTheirTenants) {
  v1::Goal goal;
  ASSERT_TRUE(Create("p1", &goal, clinician_).ok());
  v1::ListAuditEventsRequest req;
  v1::ListAuditEventsResponse resp;
  for (v1::Role role : {v1::ROLE_CLINICIAN, v1::ROLE_SERVICE}) {
    EXPECT_EQ(
        audit_
            ->ListAuditEvents(ServiceFixture::Context(fixture_.Token("t1", role)).get(), req, &resp)
            .error_code(),
        grpc::PERMISSION_DENIED);
  }
  EXPECT_EQ(audit_
                ->ListAuditEvents(
                    ServiceFixture::Context(fixture_.Token("t1", v1::ROLE_CLIENT, "p1")).get(), req,
                    &resp)
                .error_code(),
            grpc::PERMISSION_DENIED);
  // Another tenant's admin sees only its own tenant's trail (which holds its own reads).
  std::string other_admin = fixture_.Token("t2", v1::ROLE_ADMIN);
  for (const auto& e : Events("", other_admin)) {
    EXPECT_EQ(e.action(), "AuditService.ListAuditEvents");
  }
  EXPECT_TRUE(Events("p1", other_admin).empty());
}

TEST_F(AuditTest, BadRequestsNameTheField) {
  v1::ListAuditEventsRequest req;
  req.set_patient("bad patient!");
  req.set_page_size(5000);
  req.mutable_start_time()->set_nanos(-1);
  v1::ListAuditEventsResponse resp;
  grpc::Status s = audit_->ListAuditEvents(ServiceFixture::Context(admin_).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(testing::FieldsOf(s), (std::set<std::string>{"patient", "page_size", "start_time"}));
}

class RateLimitTest : public AuditTest {
 protected:
  void SetUp() override {
    fixture_.SetRateLimit({/*per_second=*/1, /*burst=*/2});
    AuditTest::SetUp();
  }
};

TEST_F(RateLimitTest, ATenantBeyondItsRateGetsResourceExhaustedWithRetryInfo) {
  EXPECT_EQ(Get("patients/p1/goals/g1", clinician_).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Get("patients/p1/goals/g1", clinician_).error_code(), grpc::NOT_FOUND);
  grpc::Status limited = Get("patients/p1/goals/g1", clinician_);
  EXPECT_EQ(limited.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_EQ(testing::ReasonOf(limited), "RATE_LIMITED");
  google::rpc::RetryInfo retry;
  bool found = false;
  google::rpc::Status details = testing::DetailsOf(limited);
  for (const auto& d : details.details()) {
    if (d.UnpackTo(&retry)) found = true;
  }
  ASSERT_TRUE(found);
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  // Another tenant is not affected; time refills the bucket.
  EXPECT_EQ(Get("patients/p1/goals/g1", fixture_.Token("t2")).error_code(), grpc::NOT_FOUND);
  fixture_.clock().Advance(absl::Seconds(1));
  EXPECT_EQ(Get("patients/p1/goals/g1", clinician_).error_code(), grpc::NOT_FOUND);
}

}  // namespace
}  // namespace trellis
