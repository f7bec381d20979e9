// The relay's per-patient lease (finding 2): a relay re-enters a lease it left behind, never one
// of another relay, and keeps (renews) it while it drains; two relays never drain one patient at
// once. Driven with RunOnce and a recording DeliverFn against a real Redis.

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "common/config/redis_url.h"
#include "common/outbox/outbox.h"
#include "common/outbox/relay.h"
#include "common/redis/async_pool.h"
#include "common/time/clock.h"
#include "tests/support/redis_server.h"

namespace trellis::outbox {
namespace {

constexpr char kLease[] = "trellis:goals:{t1:p1}:outbox_lease";
constexpr char kList[] = "trellis:goals:{t1:p1}:outbox";

class RelayLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    redis::PoolOptions o;
    o.endpoint = *config::ParseRedisUrl(server_->url());
    o.max_backoff = absl::Milliseconds(200);
    pool_ = std::make_unique<redis::RedisPool>(o);
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!pool_->Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  }
  void TearDown() override {
    if (pool_) pool_->Stop();
  }
  std::string Redis(const std::vector<std::string>& cmd) { return *server_->Command(cmd); }
  void Queue(const std::string& id) {
    Redis({"RPUSH", kList, EncodeEntry({.id = id, .kind = "Effect", .payload = "x"})});
    Redis({"ZADD", PendingIndex("goals").single_key(), "0", "t1:p1"});
  }
  std::unique_ptr<OutboxRelay> Relay(DeliverFn fn) {
    return std::make_unique<OutboxRelay>(pool_.get(), &clock_, RelayOptions{.service = "goals"},
                                         std::move(fn));
  }
  int64_t Pttl() {
    int64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(Redis({"PTTL", kLease}), &v));
    return v;
  }
  FakeClock clock_{absl::FromUnixSeconds(1767603600)};
  std::unique_ptr<testing::RedisServer> server_;
  std::unique_ptr<redis::RedisPool> pool_;
};

TEST_F(RelayLeaseTest, ReentersItsOwnLeaseLeftBehindByAFailedRelease) {
  Queue("e1");
  std::string left;
  int calls = 0;
  auto relay = Relay([&](const Delivery&) {
    if (++calls == 1) {
      left = Redis({"GET", kLease});  // the lease as this relay holds it
      return absl::UnavailableError("peer down");
    }
    return absl::OkStatus();
  });
  EXPECT_EQ(relay->RunOnce(), 0);
  // The release was lost (Redis went away): the lease is still there, with 30 s to run.
  Redis({"SET", kLease, left, "PX", "30000"});
  clock_.Advance(absl::Seconds(2));  // past the backoff
  EXPECT_EQ(relay->RunOnce(), 1);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Redis({"EXISTS", kLease}), "0");
  EXPECT_EQ(Redis({"LLEN", kList}), "0");
}

TEST_F(RelayLeaseTest, LeavesAnotherRelaysLeaseAlone) {
  Queue("e1");
  int calls = 0;
  auto relay = Relay([&](const Delivery&) { return ++calls, absl::OkStatus(); });
  Redis({"SET", kLease, "other-relay|7", "PX", "30000"});
  EXPECT_EQ(relay->RunOnce(), 0);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(Redis({"GET", kLease}), "other-relay|7");
  EXPECT_GT(Pttl(), 29000);  // not renewed by us
  Redis({"DEL", kLease});
  EXPECT_EQ(relay->RunOnce(), 1);
}

TEST_F(RelayLeaseTest, TwoRelaysNeverDrainOnePatientAtOnce) {
  Queue("e1");
  absl::Notification inside, go;
  std::atomic<int> a_calls{0}, b_calls{0};
  auto a = Relay([&](const Delivery&) {
    ++a_calls;
    inside.Notify();
    go.WaitForNotification();
    return absl::OkStatus();
  });
  auto b = Relay([&](const Delivery&) { return ++b_calls, absl::OkStatus(); });
  int a_delivered = 0;
  std::thread t([&] { a_delivered = a->RunOnce(); });
  inside.WaitForNotification();
  EXPECT_EQ(b->RunOnce(), 0);  // A holds the lease
  go.Notify();
  t.join();
  EXPECT_EQ(a_delivered, 1);
  EXPECT_EQ(b->RunOnce(), 0);
  EXPECT_EQ(a_calls.load() + b_calls.load(), 1);
}

TEST_F(RelayLeaseTest, RenewsItsLeaseBeforeEachEntry) {
  Queue("e1");
  Queue("e2");
  std::vector<int64_t> pttl;
  auto relay = Relay([&](const Delivery&) {
    pttl.push_back(Pttl());
    Redis({"PEXPIRE", kLease, "1000"});  // time passes: the lease is about to run out
    return absl::OkStatus();
  });
  EXPECT_EQ(relay->RunOnce(), 2);
  ASSERT_EQ(pttl.size(), 2u);
  EXPECT_GT(pttl[1], 20000);
}

TEST_F(RelayLeaseTest, StopsDrainingWhenAnotherRelayTookTheLeaseOver) {
  Queue("e1");
  Queue("e2");
  int calls = 0;
  auto relay = Relay([&](const Delivery&) {
    ++calls;
    // Our lease ran out during this delivery and another relay took the patient.
    Redis({"SET", kLease, "other-relay|1", "PX", "30000"});
    return absl::OkStatus();
  });
  EXPECT_EQ(relay->RunOnce(), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Redis({"LLEN", kList}), "1");
  EXPECT_EQ(Redis({"GET", kLease}), "other-relay|1");
  EXPECT_NE(Redis({"ZSCORE", PendingIndex("goals").single_key(), "t1:p1"}), "(nil)");  // still pending
}

}  // namespace
}  // namespace trellis::outbox
