// Closing a goal ends its reminders through the outbox: recorded with the change, delivered by
// the relay once the reminder service answers, never lost while it is down, never applied twice.
// The reminder service here is a fake peer that records what it receives.

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/outbox/relay.h"
#include "common/server/peer.h"
#include "services/goals/goal_service.h"
#include "services/goals/reminder_effects.h"
#include "tests/support/service_fixture.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::goals {
namespace {

namespace v1 = ::trellis::v1;
using testing::ServiceFixture;

class FakeReminders final : public v1::ReminderService::CallbackService {
 public:
  grpc::ServerUnaryReactor* EndGoalReminders(grpc::CallbackServerContext* ctx,
                                             const v1::EndGoalRemindersRequest* request,
                                             v1::EndGoalRemindersResponse*) override {
    absl::MutexLock lock(&mu_);
    auto* reactor = ctx->DefaultReactor();
    if (!refuse_.ok()) {
      ++refused_;
      reactor->Finish(refuse_);
      return reactor;
    }
    requests_.push_back(*request);
    auto md = ctx->client_metadata().find("authorization");
    authorized_ = md != ctx->client_metadata().end();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Every call is answered with `status` until it is OK again.
  void Refuse(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    refuse_ = std::move(status);
  }
  int refused() {
    absl::MutexLock lock(&mu_);
    return refused_;
  }
  std::vector<v1::EndGoalRemindersRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  bool authorized() {
    absl::MutexLock lock(&mu_);
    return authorized_;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::EndGoalRemindersRequest> requests_;
  bool authorized_ = false;
  grpc::Status refuse_;
  int refused_ = 0;
};

class GoalOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_.Start(BuildGoalService);
    stub_ = v1::GoalService::NewStub(fixture_.channel());
    reminders_port_ = testing::PickFreePort();
    effects_ = std::make_unique<ReminderEffects>(
        server::PeerChannel(absl::StrCat("127.0.0.1:", reminders_port_)), fixture_.auth_options(),
        absl::Seconds(2));
    outbox::RelayOptions options;
    options.service = "goals";
    options.min_backoff = absl::Seconds(1);
    relay_ = std::make_unique<outbox::OutboxRelay>(
        &fixture_.pool(), &fixture_.clock(), options,
        [this](const outbox::Delivery& d) { return effects_->Deliver(d); });
  }

  void TearDown() override {
    if (reminders_) reminders_->Shutdown();
  }

  void StartReminders() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", reminders_port_),
                             grpc::InsecureServerCredentials());
    builder.RegisterService(&fake_);
    reminders_ = builder.BuildAndStart();
    ASSERT_NE(reminders_, nullptr);
  }

  v1::Goal CancelledGoal() {
    std::string token = fixture_.Token();
    v1::CreateGoalRequest create;
    create.mutable_goal()->set_patient("p1");
    create.mutable_goal()->set_title("Walk for 20 minutes on five days a week");
    v1::Goal goal;
    EXPECT_TRUE(stub_->CreateGoal(ServiceFixture::Context(token).get(), create, &goal).ok());
    v1::TransitionGoalRequest t;
    t.set_name(goal.name());
    t.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_REJECTED);
    t.set_reason("not a priority now");
    t.set_etag(goal.etag());
    v1::TransitionGoalResponse resp;
    grpc::Status s = stub_->TransitionGoal(ServiceFixture::Context(token).get(), t, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.goal();
  }

  std::string Redis(const std::vector<std::string>& cmd) {
    return *fixture_.RedisCommand(cmd);
  }

  ServiceFixture fixture_;
  std::unique_ptr<v1::GoalService::Stub> stub_;
  int reminders_port_ = 0;
  FakeReminders fake_;
  std::unique_ptr<grpc::Server> reminders_;
  std::unique_ptr<ReminderEffects> effects_;
  std::unique_ptr<outbox::OutboxRelay> relay_;
};

TEST_F(GoalOutboxTest, ClosingAGoalWaitsForTheReminderServiceAndIsDeliveredOnceItReturns) {
  v1::Goal goal = CancelledGoal();
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p1}:outbox"}), "1");
  EXPECT_EQ(Redis({"ZCARD", outbox::PendingKey(fixture_.pool(), "goals", "t1", "p1")}), "1");

  // The reminder service is down: nothing is delivered, nothing is lost.
  EXPECT_EQ(relay_->RunOnce(), 0);
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p1}:outbox"}), "1");
  // Backing off: not retried before its time.
  EXPECT_EQ(relay_->RunOnce(), 0);

  StartReminders();
  // The relay's channel notices the returning peer within its reconnect backoff (about a
  // second of real time); each pass is one more attempt on the relay's own (fake) schedule.
  int delivered = 0;
  for (int attempt = 0; attempt < 100 && delivered == 0; ++attempt) {
    fixture_.clock().Advance(absl::Minutes(1));
    delivered = relay_->RunOnce();
    if (delivered == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(delivered, 1);
  auto received = fake_.requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].goal(), goal.name());
  EXPECT_EQ(received[0].reason(), "not a priority now");
  EXPECT_FALSE(received[0].request_id().empty());  // the receiver's idempotency key
  EXPECT_TRUE(fake_.authorized());
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p1}:outbox"}), "0");
  EXPECT_EQ(Redis({"ZCARD", outbox::PendingKey(fixture_.pool(), "goals", "t1", "p1")}), "0");

  // Nothing is sent twice.
  fixture_.clock().Advance(absl::Minutes(1));
  EXPECT_EQ(relay_->RunOnce(), 0);
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(GoalOutboxTest, EffectsOfOnePatientAreDeliveredInOrder) {
  v1::Goal first = CancelledGoal();
  v1::Goal second = CancelledGoal();
  StartReminders();
  int delivered = 0;
  for (int attempt = 0; attempt < 100 && delivered == 0; ++attempt) {
    fixture_.clock().Advance(absl::Minutes(1));
    delivered = relay_->RunOnce();
    if (delivered == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(delivered, 2);
  auto received = fake_.requests();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].goal(), first.name());
  EXPECT_EQ(received[1].goal(), second.name());
}

TEST_F(GoalOutboxTest, AnEffectRefusedAsUnauthenticatedIsRetriedNotParked) {
  // The reminder service does not (yet) accept the goal service's token, as while a JWKS
  // rotation reaches one service before the other.
  fake_.Refuse(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown kid"));
  StartReminders();
  v1::Goal goal = CancelledGoal();
  int delivered = 0;
  for (int attempt = 0; attempt < 100 && fake_.requests().empty(); ++attempt) {
    fixture_.clock().Advance(absl::Minutes(1));
    delivered += relay_->RunOnce();
    if (fake_.refused() > 0) fake_.Refuse(grpc::Status::OK);  // the keys agree again
    if (fake_.requests().empty()) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(fake_.refused(), 1);
  EXPECT_EQ(delivered, 1);
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(fake_.requests()[0].goal(), goal.name());
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p1}:outbox_dead"}), "0");
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p1}:outbox"}), "0");
}

TEST_F(GoalOutboxTest, UndeliverableEntriesAreParkedNotRetriedForever) {
  ASSERT_EQ(Redis({"RPUSH", "trellis:goals:{t1:p9}:outbox", "e1|NoSuchEffect|x"}), "1");
  // Listed in the single-server key. On a cluster (TRELLIS_TEST_REDIS=cluster) that is data moved
  // from a single Redis: the relay first moves the patient into its slot's part.
  ASSERT_EQ(Redis({"ZADD", "trellis:goals:outbox:pending", "0", "t1:p9"}), "1");
  StartReminders();
  EXPECT_EQ(relay_->RunOnce(), 0);
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p9}:outbox"}), "0");
  EXPECT_EQ(Redis({"LLEN", "trellis:goals:{t1:p9}:outbox_dead"}), "1");
  EXPECT_EQ(Redis({"ZCARD", "trellis:goals:outbox:pending"}), "0");
  EXPECT_EQ(Redis({"ZCARD", outbox::PendingKey(fixture_.pool(), "goals", "t1", "p9")}), "0");
}

}  // namespace
}  // namespace trellis::goals
