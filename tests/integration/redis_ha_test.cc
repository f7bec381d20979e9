// The Redis layer with replicas and Sentinel, against real redis-servers on loopback: replicated
// durability (WAIT behind write scripts), reconnecting when the server turns read-only, and
// following a Sentinel failover to the new primary.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/redis/async_pool.h"
#include "common/redis/sync_redis.h"
#include "common/status/status.h"
#include "tests/support/eventually.h"
#include "tests/support/recording_observer.h"
#include "tests/support/redis_server.h"

namespace trellis::redis {
namespace {

using testing::RedisServer;

const Script kPut("test_ha_put", R"lua(
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
)lua");
const Script kIncr("test_ha_incr", R"lua(
  return redis.call('INCR', KEYS[1])
)lua");
const Script kFetch("test_ha_fetch", R"lua(
  return redis.call('GET', KEYS[1])
)lua", ScriptAccess::kRead);

constexpr char kMaster[] = "trellis-test";

using testing::RecordingObserver;

PoolOptions DirectOptions(const RedisServer& server, int connections) {
  PoolOptions o;
  o.endpoint = *config::ParseRedisUrl(server.url());
  o.connections = connections;
  o.command_timeout = absl::Seconds(2);
  o.max_backoff = absl::Milliseconds(200);
  return o;
}

using testing::Eventually;

bool LinkUp(const RedisServer& replica) {
  auto info = replica.Command({"INFO", "replication"});
  return info.ok() && absl::StrContains(*info, "master_link_status:up");
}

class RedisHaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // No diskless-sync pause: the replica gets its first copy at once.
    auto primary = RedisServer::Start({"--repl-diskless-sync-delay", "0"});
    ASSERT_TRUE(primary.ok()) << primary.status();
    primary_ = std::move(*primary);
    auto replica = RedisServer::Start({"--replicaof", "127.0.0.1", absl::StrCat(primary_->port())});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = std::move(*replica);
    ASSERT_TRUE(Eventually([&] { return LinkUp(*replica_); })) << "replica never synced";
    // And it receives writes: after a diskless sync the primary starts streaming them only once
    // the replica's first ACK arrives (it sends one a second).
    ASSERT_TRUE(primary_->Command({"SET", "{warm}", "1"}).ok());
    ASSERT_TRUE(Eventually([&] { return replica_->Command({"GET", "{warm}"}).value_or("") == "1"; }))
        << "the replica never received a write";
  }

  std::unique_ptr<RedisServer> primary_;
  std::unique_ptr<RedisServer> replica_;
};

TEST_F(RedisHaTest, WriteScriptsAreAnsweredOnlyOnceAReplicaHasTheWrite) {
  PoolOptions options = DirectOptions(*primary_, 2);
  options.wait_replicas = 1;
  options.wait_timeout = absl::Milliseconds(300);
  RedisPool pool(options);
  ASSERT_TRUE(Eventually([&] { return pool.Ready(); }));
  SyncRedis redis(&pool);

  for (int i = 0; i < 50; ++i) {
    std::string key = absl::StrCat("{p}k", i);
    auto put = redis.Eval(kPut, {key}, {absl::StrCat("v", i)});
    ASSERT_TRUE(put.ok()) << put.status() << " write " << i;
    // WAIT returned only after the replica acknowledged the write: it is there now.
    EXPECT_EQ(replica_->Command({"GET", key}).value_or("?"), absl::StrCat("v", i));
  }

  // Without a replica, a write is not confirmed: UNAVAILABLE, retry may help. It was applied on
  // the primary all the same (which is why callers retry with the same request id).
  replica_->Stop(/*hard=*/true);
  auto put = redis.Eval(kPut, {"{p}lonely"}, {"x"});
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable) << put.status();
  EXPECT_EQ(ReasonOf(put.status()), "REPLICATION_TIMEOUT");
  EXPECT_EQ(primary_->Command({"GET", "{p}lonely"}).value_or("?"), "x");

  // Reads never wait for replicas: a read script and a plain command still answer.
  auto fetched = redis.Eval(kFetch, {"{p}k7"}, {});
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->str, "v7");
  auto get = redis.Run({"GET", "{p}k8"});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->str, "v8");
}

TEST_F(RedisHaTest, ScriptErrorsAndNoscriptStillWorkWithWait) {
  PoolOptions options = DirectOptions(*primary_, 1);
  options.wait_replicas = 1;
  options.wait_timeout = absl::Milliseconds(300);
  RedisPool pool(options);
  ASSERT_TRUE(Eventually([&] { return pool.Ready(); }));
  SyncRedis redis(&pool);

  // The script cache is lost: EVALSHA answers NOSCRIPT, the WAIT queued behind it answers
  // before the EVAL that replaces it, and the caller still gets the EVAL's reply, confirmed.
  ASSERT_TRUE(primary_->Command({"SCRIPT", "FLUSH"}).ok());
  auto put = redis.Eval(kPut, {"{p}after-flush"}, {"y"});
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->integer, 1);
  EXPECT_EQ(replica_->Command({"GET", "{p}after-flush"}).value_or("?"), "y");

  // A write script's error reply reaches the caller as that error, with its WAIT still queued
  // behind it; the next command on the connection is answered normally.
  ASSERT_TRUE(primary_->Command({"HSET", "{p}h", "f", "v"}).ok());
  auto wrong = redis.Eval(kIncr, {"{p}h"}, {});
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().code(), absl::StatusCode::kUnavailable) << wrong.status();
  auto next = redis.Eval(kIncr, {"{p}n"}, {});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->integer, 1);
}

TEST_F(RedisHaTest, AWriteWhoseWaitOutlivesItsDeadlineIsAnsweredOnceAtTheDeadline) {
  PoolOptions options = DirectOptions(*primary_, 1);
  options.wait_replicas = 1;
  options.wait_timeout = absl::Milliseconds(1500);
  options.command_timeout = absl::Milliseconds(300);  // shorter than the WAIT: the deadline wins
  RedisPool pool(options);
  ASSERT_TRUE(Eventually([&] { return pool.Ready(); }));
  SyncRedis redis(&pool);
  replica_->Stop(/*hard=*/true);
  auto put = redis.Eval(kPut, {"{p}slow"}, {"x"});
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable) << put.status();
  // The WAIT's own reply comes later and must find the request answered (run under ASan by
  // `make asan`); the connection then serves the next command.
  absl::StatusOr<Reply> next;
  ASSERT_TRUE(Eventually([&] {
    next = redis.Run({"GET", "{p}slow"});
    return next.ok();
  }));
  EXPECT_EQ(next->str, "x");
}

TEST_F(RedisHaTest, ReadOnlyReplyDropsTheConnectionSoTheClientReconnects) {
  RecordingObserver observer;
  PoolOptions options = DirectOptions(*primary_, 1);
  options.observer = &observer;
  RedisPool pool(options);
  ASSERT_TRUE(Eventually([&] { return pool.Ready(); }));
  SyncRedis redis(&pool);
  auto first = redis.Run({"CLIENT", "ID"});
  ASSERT_TRUE(first.ok()) << first.status();

  // Demote the server under the client's feet (what a failover does to the old primary).
  ASSERT_TRUE(primary_->Command({"REPLICAOF", "127.0.0.1", absl::StrCat(replica_->port())}).ok());
  ASSERT_TRUE(replica_->Command({"REPLICAOF", "NO", "ONE"}).ok());
  auto write = redis.Run({"SET", "{p}k", "v"});
  EXPECT_EQ(write.status().code(), absl::StatusCode::kUnavailable) << write.status();
  auto errors = observer.errors();
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back().second, CommandError::kTransient);  // READONLY, not a lost connection

  // The connection was dropped and a new one opened.
  absl::StatusOr<Reply> second;
  ASSERT_TRUE(Eventually([&] {
    second = redis.Run({"CLIENT", "ID"});
    return second.ok();
  }));
  EXPECT_NE(second->integer, first->integer);
}

// A primary, a replica and one Sentinel (quorum 1): the client finds the primary through the
// Sentinel and follows a failover to the replica.
class RedisSentinelTest : public RedisHaTest {
 protected:
  void SetUp() override {
    RedisHaTest::SetUp();
    if (HasFatalFailure()) return;
    auto sentinel = RedisServer::StartSentinel(primary_->port(), kMaster, 1);
    ASSERT_TRUE(sentinel.ok()) << sentinel.status();
    sentinel_ = std::move(*sentinel);
  }

  PoolOptions SentinelOptions(int connections) {
    PoolOptions o;
    o.endpoint.sentinels = {config::HostPort{"127.0.0.1", PickDeadPort()},
                            config::HostPort{"127.0.0.1", sentinel_->port()}};
    o.endpoint.sentinel_master = kMaster;
    o.connections = connections;
    o.command_timeout = absl::Seconds(2);
    o.max_backoff = absl::Milliseconds(200);
    o.sentinel_check_interval = absl::Milliseconds(100);
    return o;
  }

  // The port of the server that answers the pool's next `rounds` commands, or 0 when they
  // disagree (connections on different servers) or one fails.
  static int ServedBy(SyncRedis& redis, int rounds) {
    int port = -1;
    for (int i = 0; i < rounds; ++i) {
      auto info = redis.Run({"INFO", "server"});
      if (!info.ok()) return 0;
      size_t at = info->str.find("tcp_port:");
      if (at == std::string::npos) return 0;
      int p = std::atoi(info->str.c_str() + at + 9);
      if (port != -1 && p != port) return 0;
      port = p;
    }
    return port;
  }

  // A port nobody listens on: the first Sentinel in the list is down, so the client must move
  // on to the next.
  static int PickDeadPort() { return testing::PickFreePort(); }

  std::unique_ptr<RedisServer> sentinel_;
};

TEST_F(RedisSentinelTest, FindsThePrimaryAndFollowsAFailover) {
  RedisPool pool(SentinelOptions(2));
  ASSERT_TRUE(Eventually([&] { return pool.ReadyConnections() == 2; }));
  SyncRedis redis(&pool);
  auto put = redis.Eval(kPut, {"{p}before"}, {"1"});
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(primary_->Command({"GET", "{p}before"}).value_or("?"), "1");

  // Forced failover: the Sentinel promotes the replica and demotes the primary. It needs to
  // have discovered the replica first (NOGOODSLAVE until then).
  ASSERT_TRUE(Eventually([&] {
    return sentinel_->Command({"SENTINEL", "FAILOVER", kMaster}).ok();
  }));
  ASSERT_TRUE(Eventually([&] {
    auto addr = sentinel_->CommandList({"SENTINEL", "get-master-addr-by-name", kMaster});
    return addr.ok() && addr->size() == 2 && (*addr)[1] == absl::StrCat(replica_->port());
  }));

  // The old primary is still up and writable (the Sentinel demotes it only seconds later), but
  // the Sentinel watch moves both connections to the new primary. Meanwhile any failure is
  // UNAVAILABLE (retry may help).
  ASSERT_TRUE(Eventually([&] { return ServedBy(redis, 4) == replica_->port(); }));
  for (int i = 0; i < 20; ++i) {
    auto r = redis.Eval(kPut, {absl::StrCat("{p}after", i)}, {"2"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(replica_->Command({"GET", absl::StrCat("{p}after", i)}).value_or("?"), "2") << i;
  }
  auto role = replica_->CommandList({"ROLE"});
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->at(0), "master");
  EXPECT_EQ(replica_->Command({"GET", "{p}before"}).value_or("?"), "1");  // replicated before
}

TEST_F(RedisSentinelTest, NoSentinelAnsweringMeansNotReadyAndUnavailable) {
  PoolOptions options = SentinelOptions(1);
  options.endpoint.sentinels = {config::HostPort{"127.0.0.1", PickDeadPort()}};
  RedisPool unreachable(options);
  options = SentinelOptions(1);
  options.endpoint.sentinel_master = "no-such-primary";
  RedisPool unknown(options);
  absl::SleepFor(absl::Milliseconds(300));  // several resolution attempts
  for (RedisPool* pool : {&unreachable, &unknown}) {
    EXPECT_FALSE(pool->Ready());
    SyncRedis redis(pool);
    EXPECT_EQ(redis.Run({"PING"}).status().code(), absl::StatusCode::kUnavailable);
  }
}

}  // namespace
}  // namespace trellis::redis
