// AuditLog::Append against a real redis-server: entries that arrive while one append of their
// tenant is under way go out together in one script call, each caller is answered once Redis has
// its entry, and a failure reaches every caller of the batch.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/audit/audit.h"
#include "common/redis/async_pool.h"
#include "common/time/clock.h"
#include "tests/support/redis_server.h"

namespace trellis::audit {
namespace {

using testing::RedisServer;

// Passes every command to the real pool, except that scripts are held back while the gate is
// closed (so a test can decide what is "under way"), and counts the script calls.
class GatedClient final : public redis::RedisClient {
 public:
  explicit GatedClient(redis::RedisClient* inner) : inner_(inner) {}

  void Execute(std::vector<std::string> args, redis::ReplyCallback done,
               redis::CallOptions options) override {
    inner_->Execute(std::move(args), std::move(done), options);
  }
  void Eval(const redis::Script& script, std::vector<std::string> keys,
            std::vector<std::string> args, redis::ReplyCallback done,
            redis::CallOptions options) override {
    {
      absl::MutexLock lock(&mu_);
      ++evals_;
      if (!open_) {
        held_.push_back([this, &script, keys = std::move(keys), args = std::move(args),
                         done = std::move(done), options]() mutable {
          inner_->Eval(script, std::move(keys), std::move(args), std::move(done), options);
        });
        return;
      }
    }
    inner_->Eval(script, std::move(keys), std::move(args), std::move(done), options);
  }
  bool Ready() const override { return inner_->Ready(); }

  void Open() {
    std::vector<absl::AnyInvocable<void()>> held;
    {
      absl::MutexLock lock(&mu_);
      open_ = true;
      held.swap(held_);
    }
    for (auto& send : held) send();
  }
  int evals() {
    absl::MutexLock lock(&mu_);
    return evals_;
  }

 private:
  redis::RedisClient* inner_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int evals_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::AnyInvocable<void()>> held_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<Note> ReadNote(const std::string& tenant, int i) {
  auto note = std::make_unique<Note>();
  Note& n = *note;
  n.admitted = true;
  n.tenant = tenant;
  n.subject = "clinician-1";
  n.role = trellis::v1::ROLE_CLINICIAN;
  n.action = "GoalService.GetGoal";
  n.resource = absl::StrCat("patients/p", i, "/goals/g1");
  n.patient = absl::StrCat("p", i);
  return note;
}

class AuditBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    redis::PoolOptions o;
    o.endpoint = *config::ParseRedisUrl(server_->url());
    o.connections = 2;
    o.command_timeout = absl::Seconds(5);
    pool_ = std::make_unique<redis::RedisPool>(o);
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!pool_->Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
    ASSERT_TRUE(pool_->Ready());
    gate_ = std::make_unique<GatedClient>(pool_.get());
  }

  // Appends `count` entries of `tenant` and returns their statuses once all are answered.
  std::vector<absl::Status> AppendAll(AuditLog& log, const std::string& tenant, int count,
                                      absl::AnyInvocable<void()> after_sending = nullptr) {
    std::vector<absl::Status> statuses(count);
    std::atomic<int> answered{0};
    absl::Notification all;
    for (int i = 0; i < count; ++i) {
      log.Append(*ReadNote(tenant, i), "OK", [&, i](absl::Status s) {
        statuses[i] = s;
        if (answered.fetch_add(1) + 1 == count) all.Notify();
      });
    }
    if (after_sending) after_sending();
    EXPECT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(30)));
    return statuses;
  }

  int64_t StreamLength(const std::string& tenant) {
    auto len = server_->Command({"XLEN", AuditLog::StreamKey(tenant)});
    int64_t n = -1;
    EXPECT_TRUE(len.ok() && absl::SimpleAtoi(*len, &n)) << len.status();
    return n;
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<redis::RedisPool> pool_;
  std::unique_ptr<GatedClient> gate_;
  FakeClock clock_{absl::FromUnixSeconds(1795000000)};
};

TEST_F(AuditBatchTest, EntriesArrivingWhileOneIsUnderWayGoOutTogether) {
  AuditLog log(gate_.get(), &clock_);
  // The first append is sent (and held at the gate); the next 299 wait behind it, then go out in
  // batches of at most 256: 1 + 256 + 43 entries in 3 script calls.
  std::vector<absl::Status> statuses = AppendAll(log, "t1", 300, [&] { gate_->Open(); });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(gate_->evals(), 3);
  EXPECT_EQ(StreamLength("t1"), 300);

  // Every entry is there, each with its own fields, ids in the order they were appended.
  ListQuery query;
  query.tenant = "t1";
  query.page_size = 1000;
  absl::Notification listed;
  ListPage page;
  log.List(query, [&](absl::StatusOr<ListPage> p) {
    ASSERT_TRUE(p.ok()) << p.status();
    page = std::move(*p);
    listed.Notify();
  }, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(listed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_EQ(page.events.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    const trellis::v1::AuditEvent& e = page.events[299 - i];  // newest first
    EXPECT_EQ(e.patient(), absl::StrCat("p", i));
    EXPECT_EQ(e.action(), "GoalService.GetGoal");
    EXPECT_EQ(e.result_code(), "OK");
    EXPECT_EQ(e.actor().subject(), "clinician-1");
    EXPECT_EQ(e.time().seconds(), 1795000000);
  }
}

TEST_F(AuditBatchTest, TenantsAreBatchedSeparatelyAndAnIdleQueueSendsAtOnce) {
  gate_->Open();
  AuditLog log(gate_.get(), &clock_);
  // Nothing under way: each append is its own call, answered before the next is made.
  for (int i = 0; i < 3; ++i) {
    std::vector<absl::Status> s = AppendAll(log, i % 2 == 0 ? "t1" : "t2", 1);
    EXPECT_TRUE(s[0].ok()) << s[0];
  }
  EXPECT_EQ(gate_->evals(), 3);
  EXPECT_EQ(StreamLength("t1"), 2);
  EXPECT_EQ(StreamLength("t2"), 1);
}

TEST_F(AuditBatchTest, AFailedBatchFailsEveryCallerAndTheNextBatchStillGoes) {
  AuditLog log(gate_.get(), &clock_);
  // Redis gone before the held batches are sent: every caller hears UNAVAILABLE.
  server_->Stop(/*hard=*/true);
  std::vector<absl::Status> statuses = AppendAll(log, "t1", 20, [&] { gate_->Open(); });
  for (const absl::Status& s : statuses) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
  // Back: the queue was left idle, so new entries go out.
  ASSERT_TRUE(server_->Restart().ok());
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!pool_->Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  statuses = AppendAll(log, "t1", 5);
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(StreamLength("t1"), 5);
}

}  // namespace
}  // namespace trellis::audit
