// The asynchronous Redis layer against a real redis-server.

#include "common/redis/async_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/redis/sync_redis.h"
#include "common/status/status.h"
#include "tests/support/redis_server.h"

namespace trellis::redis {
namespace {

using testing::RedisServer;

// Registered for the whole test binary: loaded on every (re)connect.
const Script kIncrBy("test_incrby", R"lua(
  local v = redis.call('INCRBY', KEYS[1], ARGV[1])
  if v > 1000 then return redis.error_reply('FAILED_PRECONDITION:TOO_BIG value over 1000') end
  return v
)lua");

PoolOptions OptionsFor(const RedisServer& server, int connections = 2) {
  PoolOptions o;
  o.endpoint = *config::ParseRedisUrl(server.url());
  o.connections = connections;
  o.command_timeout = absl::Seconds(2);
  o.max_backoff = absl::Milliseconds(200);
  return o;
}

// Waits (bounded) until the pool has a ready connection.
bool WaitReady(const RedisPool& pool, absl::Duration limit = absl::Seconds(10)) {
  absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    if (pool.Ready()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

class RedisPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisPoolTest, RunsCommandsAndConvertsReplies) {
  RedisPool pool(OptionsFor(*server_));
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  auto set = redis.Run({"SET", "k", std::string("v\0v", 3)});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  auto get = redis.Run({"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, std::string("v\0v", 3));  // binary-safe
  auto missing = redis.Run({"GET", "nope"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_nil());
  redis.Run({"RPUSH", "l", "a", "b"}).IgnoreError();
  auto range = redis.Run({"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->elements.size(), 2u);
  EXPECT_EQ(range->elements[1].str, "b");
}

TEST_F(RedisPoolTest, PipelinesManyConcurrentCommandsEachCompletedOnceInOrderPerKey) {
  RedisPool pool(OptionsFor(*server_, 1));  // one connection: everything is pipelined on it
  ASSERT_TRUE(WaitReady(pool));
  constexpr int kCommands = 5000;
  std::vector<std::atomic<int>> completions(kCommands);
  std::vector<int64_t> results(kCommands, -1);
  std::atomic<int> done{0};
  absl::Notification all_done;
  for (int i = 0; i < kCommands; ++i) {
    pool.Execute({"INCR", "counter"}, [&, i](absl::StatusOr<Reply> r) {
      completions[i]++;
      if (r.ok()) results[i] = r->integer;
      if (++done == kCommands) all_done.Notify();
    });
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_EQ(completions[i].load(), 1) << i;
    // Sent in order on one connection, so the replies are 1..N in order.
    ASSERT_EQ(results[i], i + 1) << i;
  }
}

TEST_F(RedisPoolTest, EvalUsesLoadedScriptsAndMapsScriptErrors) {
  RedisPool pool(OptionsFor(*server_));
  ASSERT_TRUE(WaitReady(pool));
  // The handshake loaded the script: it is in the server's cache before any call.
  auto exists = server_->Command({"SCRIPT", "EXISTS", kIncrBy.sha1()});
  ASSERT_TRUE(exists.ok());
  SyncRedis redis(&pool);
  auto v = redis.Eval(kIncrBy, {"n"}, {"5"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->integer, 5);
  auto too_big = redis.Eval(kIncrBy, {"n"}, {"2000"});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(too_big.status()), "TOO_BIG");
  EXPECT_EQ(too_big.status().message(), "value over 1000");
}

TEST_F(RedisPoolTest, ScriptsStillRunAfterScriptFlush) {
  RedisPool pool(OptionsFor(*server_));
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  ASSERT_TRUE(server_->Command({"SCRIPT", "FLUSH"}).ok());
  ASSERT_EQ(*server_->Command({"SCRIPT", "EXISTS", kIncrBy.sha1()}), "(array 1)");
  auto v = redis.Eval(kIncrBy, {"n"}, {"7"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->integer, 7);
  // The fallback EVAL put the script back into the cache, so EVALSHA works again.
  auto again = redis.Eval(kIncrBy, {"n"}, {"1"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->integer, 8);
}

TEST_F(RedisPoolTest, ReconnectsAfterRedisRestartsAndReloadsScripts) {
  RedisPool pool(OptionsFor(*server_));
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  ASSERT_TRUE(redis.Run({"SET", "before", "1"}).ok());

  server_->Stop(/*hard=*/true);
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (pool.Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(pool.Ready());
  auto during = redis.Run({"GET", "before"});
  EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(WaitReady(pool));
  auto v = redis.Eval(kIncrBy, {"n"}, {"3"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->integer, 3);
}

TEST_F(RedisPoolTest, PendingCommandsCompleteOnceWithUnavailableWhenTheConnectionDrops) {
  RedisPool pool(OptionsFor(*server_, 1));
  ASSERT_TRUE(WaitReady(pool));
  std::atomic<int> calls{0};
  absl::Notification done;
  absl::Status seen;
  // Blocks server-side until the connection goes away.
  pool.Execute({"BLPOP", "never", "0"}, [&](absl::StatusOr<Reply> r) {
    seen = r.status();
    calls++;
    done.Notify();
  });
  // Make sure the command reached the server before killing it.
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    auto blocked = server_->Command({"INFO", "clients"});
    if (blocked.ok() && blocked->find("blocked_clients:1") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  server_->Stop(/*hard=*/true);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(seen.code(), absl::StatusCode::kUnavailable);
  absl::SleepFor(absl::Milliseconds(100));  // a second completion would show up here
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(RedisPoolTest, WatchdogFailsCommandsPastTheirDeadlineAndRecoversTheConnection) {
  PoolOptions o = OptionsFor(*server_, 1);
  o.command_timeout = absl::Milliseconds(300);
  RedisPool pool(o);
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  // BLPOP with no timeout never answers: hiredis alone would wait forever.
  auto r = redis.Run({"BLPOP", "never", "0"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(r.status()), "STORE_UNAVAILABLE");
  EXPECT_NE(r.status().message().find("in time"), absl::string_view::npos);
  // The stuck connection was replaced; the pool serves again.
  ASSERT_TRUE(WaitReady(pool));
  absl::StatusOr<Reply> pong;
  for (int i = 0; i < 50; ++i) {
    pong = redis.Run({"PING"});
    if (pong.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(pong->str, "PONG");
}

TEST_F(RedisPoolTest, CallerDeadlineShorterThanTheTimeoutWins) {
  RedisPool pool(OptionsFor(*server_, 2));
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  auto r = redis.Run({"BLPOP", "never", "0"}, {absl::Now() + absl::Milliseconds(100)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisPoolTest, FailsFastWhenRedisIsDown) {
  server_->Stop(true);
  RedisPool pool(OptionsFor(*server_));
  SyncRedis redis(&pool);
  auto r = redis.Run({"PING"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(pool.Ready());
}

TEST_F(RedisPoolTest, StopCompletesEverythingAndRefusesNewCommands) {
  RedisPool pool(OptionsFor(*server_, 1));
  ASSERT_TRUE(WaitReady(pool));
  std::atomic<int> calls{0};
  absl::Notification done;
  pool.Execute({"BLPOP", "never", "0"}, [&](absl::StatusOr<Reply> r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    calls++;
    done.Notify();
  });
  pool.Stop();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  SyncRedis redis(&pool);
  EXPECT_EQ(redis.Run({"PING"}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls.load(), 1);
}

class RedisAuthTest : public ::testing::Test {};

TEST_F(RedisAuthTest, AuthenticatesWithThePassword) {
  auto server = RedisServer::Start({"--requirepass", "s3cret"});
  ASSERT_TRUE(server.ok()) << server.status();
  RedisPool pool(OptionsFor(**server));
  ASSERT_TRUE(WaitReady(pool));
  SyncRedis redis(&pool);
  auto r = redis.Run({"SET", "a", "b"});
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(RedisAuthTest, WrongPasswordNeverBecomesReady) {
  auto server = RedisServer::Start({"--requirepass", "s3cret"});
  ASSERT_TRUE(server.ok());
  PoolOptions o = OptionsFor(**server);
  o.endpoint.password = "wrong";
  RedisPool pool(o);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(pool.Ready());
  SyncRedis redis(&pool);
  EXPECT_EQ(redis.Run({"PING"}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace trellis::redis
