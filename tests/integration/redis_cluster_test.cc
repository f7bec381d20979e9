// The cluster client against a real 3-primary, 3-replica Redis Cluster on loopback: routing by
// slot, ASK during a slot's migration, MOVED after it, and a primary's failover.

#include "common/redis/cluster_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis/sync_redis.h"
#include "common/status/status.h"
#include "tests/support/eventually.h"
#include "tests/support/recording_observer.h"
#include "tests/support/redis_cluster.h"

namespace trellis::redis {
namespace {

using testing::RedisCluster;

const Script kPutPair("test_cluster_put_pair", R"lua(
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
)lua");

using testing::Eventually;

// An integer field of INFO replication, or -1.
int64_t InfoField(const testing::RedisServer& node, const std::string& field) {
  auto info = node.Command({"INFO", "replication"});
  if (!info.ok()) return -1;
  size_t at = info->find(field + ":");
  if (at == std::string::npos) return -1;
  return std::atoll(info->c_str() + at + field.size() + 1);
}

class RedisClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = RedisCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->WaitHealthy().ok());
    ClusterOptions o;
    o.seeds = *config::ParseHostPortList(cluster_->seeds(), "seeds");
    o.node.connections = 1;
    o.node.command_timeout = absl::Seconds(2);
    o.node.max_backoff = absl::Milliseconds(200);
    o.node.observer = &observer_;
    client_ = std::make_unique<ClusterClient>(o);
    ASSERT_TRUE(Eventually([&] { return client_->Ready() && client_->ReadyConnections() >= 3; }))
        << "slot map never loaded, or a primary never connected";
  }

  // The node (index) that holds `key` as primary, per the cluster itself.
  static int HolderOf(const std::string& key) {
    auto index = cluster_->PrimaryOf(KeySlot(key));
    return index.ok() ? *index : -1;
  }

  static RedisCluster* cluster_;
  testing::RecordingObserver observer_;  // every node pool's failed attempts
  std::unique_ptr<ClusterClient> client_;
};

RedisCluster* RedisClusterTest::cluster_ = nullptr;

TEST_F(RedisClusterTest, EveryCommandReachesThePrimaryOfItsSlot) {
  SyncRedis redis(client_.get());
  std::set<int> nodes_used;
  for (int i = 0; i < 200; ++i) {
    std::string tag = absl::StrCat("{t1:p", i, "}");
    auto put = redis.Eval(kPutPair, {tag + ":a", tag + ":b"}, {absl::StrCat(i)});
    ASSERT_TRUE(put.ok()) << put.status();
    auto set = redis.Run({"SET", tag + ":c", absl::StrCat(i)});
    ASSERT_TRUE(set.ok()) << set.status();
    int holder = HolderOf(tag + ":a");
    ASSERT_GE(holder, 0);
    nodes_used.insert(holder);
    for (const char* suffix : {":a", ":b", ":c"}) {
      EXPECT_EQ(cluster_->node(holder).Command({"GET", tag + suffix}).value_or("?"),
                absl::StrCat(i));
    }
  }
  EXPECT_EQ(nodes_used.size(), 3u);  // 200 patients land on all three primaries
  EXPECT_EQ(client_->redirections(), 0);  // the slot map was right
  auto pong = redis.Run({"PING"});  // no key: any node
  ASSERT_TRUE(pong.ok()) << pong.status();
}

// Moves `key`'s slot (holding only `key`) from its primary to another, by hand as redis-cli
// --cluster reshard does: Begin leaves the slot mid-migration (the key already on the target, so
// the source answers ASK), Finish gives it to the target (the source answers MOVED).
struct SlotMove {
  explicit SlotMove(std::string k) : key(std::move(k)) {}

  std::string key;
  std::string slot;
  int from = -1;
  int to = -1;
  std::string target_id;

  void Begin(RedisCluster& cluster, int holder) {
    slot = absl::StrCat(KeySlot(key));
    from = holder;
    ASSERT_GE(from, 0);
    for (int i = 0; i < cluster.size(); ++i) {
      auto role = cluster.node(i).CommandList({"ROLE"});
      if (i != from && role.ok() && role->at(0) == "master") to = i;
    }
    ASSERT_GE(to, 0);
    auto& source = cluster.node(from);
    auto& target = cluster.node(to);
    std::string source_id = source.Command({"CLUSTER", "MYID"}).value_or("");
    target_id = target.Command({"CLUSTER", "MYID"}).value_or("");
    ASSERT_TRUE(target.Command({"CLUSTER", "SETSLOT", slot, "IMPORTING", source_id}).ok());
    ASSERT_TRUE(source.Command({"CLUSTER", "SETSLOT", slot, "MIGRATING", target_id}).ok());
    ASSERT_TRUE(source
                    .Command({"MIGRATE", "127.0.0.1", absl::StrCat(target.port()), "", "0",
                              "5000", "KEYS", key})
                    .ok());
  }

  void Finish(RedisCluster& cluster) const {
    for (int i = 0; i < cluster.size(); ++i) {
      if (cluster.node(i).running()) {
        cluster.node(i).Command({"CLUSTER", "SETSLOT", slot, "NODE", target_id}).IgnoreError();
      }
    }
  }
};

TEST_F(RedisClusterTest, FollowsAskDuringAMigrationAndMovedAfterIt) {
  SyncRedis redis(client_.get());
  const std::string key = "{migrating-patient}:k";
  const int slot = KeySlot(key);
  ASSERT_TRUE(redis.Run({"SET", key, "v"}).ok());
  SlotMove move(key);
  ASSERT_NO_FATAL_FAILURE(move.Begin(*cluster_, HolderOf(key)));
  auto& source = cluster_->node(move.from);
  auto& target = cluster_->node(move.to);

  // Mid-migration: the source no longer has the key and answers ASK; the client asks the target.
  int64_t before = client_->redirections();
  auto get = redis.Run({"GET", key});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->str, "v");
  EXPECT_GT(client_->redirections(), before);
  EXPECT_EQ(client_->OwnerOf(slot), absl::StrCat("127.0.0.1:", source.port()));  // ASK: no move

  // The slot now belongs to the target: the source answers MOVED and the client remembers.
  move.Finish(*cluster_);
  auto moved = redis.Run({"GET", key});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->str, "v");
  EXPECT_EQ(client_->OwnerOf(slot), absl::StrCat("127.0.0.1:", target.port()));
  auto write = redis.Run({"SET", key, "w"});
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(target.Command({"GET", key}).value_or("?"), "w");
  // The redirected attempts are counted as redirects, not as failures of the store.
  EXPECT_EQ(observer_.count(CommandError::kRedirect), client_->redirections());
  EXPECT_EQ(observer_.count(CommandError::kTransient), 0);
}

// With cluster-preferred-endpoint-type unknown-endpoint the nodes name no host: CLUSTER SLOTS
// gives an empty endpoint and redirections read "MOVED <slot> :<port>". Both mean the host of the
// node that answered.
TEST_F(RedisClusterTest, FollowsNodesWhoseEndpointIsUnknown) {
  auto set_endpoint_type = [](const char* type) {
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->node(i).running()) {
        ASSERT_TRUE(cluster_->node(i)
                        .Command({"CONFIG", "SET", "cluster-preferred-endpoint-type", type})
                        .ok());
      }
    }
  };
  ASSERT_NO_FATAL_FAILURE(set_endpoint_type("unknown-endpoint"));
  struct Restore {
    std::function<void(const char*)> set;
    ~Restore() { set("ip"); }
  } restore{set_endpoint_type};

  ClusterOptions o;
  o.seeds = *config::ParseHostPortList(cluster_->seeds(), "seeds");
  o.node.connections = 1;
  o.node.command_timeout = absl::Seconds(2);
  // One map load at the start and none after: the redirection alone must lead the client.
  o.refresh_interval = absl::Hours(1);
  o.min_refresh_gap = absl::Hours(1);
  ClusterClient client(o);
  ASSERT_TRUE(Eventually([&] { return client.Ready() && client.ReadyConnections() >= 3; }))
      << "no slot map from nodes without an endpoint";
  SyncRedis redis(&client);
  for (int i = 0; i < 30; ++i) {
    auto set = redis.Run({"SET", absl::StrCat("{unknown-endpoint-p", i, "}:k"), "v"});
    ASSERT_TRUE(set.ok()) << set.status();
  }
  EXPECT_EQ(client.redirections(), 0);

  const std::string key = "{unknown-endpoint-moving}:k";
  ASSERT_TRUE(redis.Run({"SET", key, "v"}).ok());
  SlotMove move(key);
  ASSERT_NO_FATAL_FAILURE(move.Begin(*cluster_, HolderOf(key)));
  move.Finish(*cluster_);
  auto source_says = cluster_->node(move.from).Command({"GET", key});
  ASSERT_FALSE(source_says.ok());
  EXPECT_TRUE(absl::StrContains(source_says.status().message(),
                                absl::StrCat(" :", cluster_->node(move.to).port())))
      << source_says.status();  // the redirection names no host
  auto get = redis.Run({"GET", key});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->str, "v");
  EXPECT_GT(client.redirections(), 0);
  EXPECT_EQ(client.OwnerOf(KeySlot(key)),
            absl::StrCat("127.0.0.1:", cluster_->node(move.to).port()));
}

TEST_F(RedisClusterTest, StopAnswersEveryCommandInFlightBeforeReturning) {
  std::atomic<int> answered{0};
  constexpr int kCommands = 2000;
  for (int i = 0; i < kCommands; ++i) {
    client_->Execute({"SET", absl::StrCat("{stop-p", i, "}:k"), "v"},
                     [&answered](absl::StatusOr<Reply>) { answered.fetch_add(1); });
  }
  client_->Stop();
  EXPECT_EQ(answered.load(), kCommands);  // no callback can run after Stop returned
  SyncRedis redis(client_.get());
  EXPECT_EQ(redis.Run({"GET", "{stop-p1}:k"}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisClusterTest, ReshardingUnderLoadLosesNoAcknowledgedWrite) {
  // Two primaries: slots move from the first to the second while a writer keeps writing.
  std::vector<int> primaries;
  for (int i = 0; i < cluster_->size(); ++i) {
    auto role = cluster_->node(i).CommandList({"ROLE"});
    if (role.ok() && role->at(0) == "master") primaries.push_back(i);
  }
  ASSERT_GE(primaries.size(), 2u);
  std::string from = cluster_->node(primaries[0]).Command({"CLUSTER", "MYID"}).value_or("");
  std::string to = cluster_->node(primaries[1]).Command({"CLUSTER", "MYID"}).value_or("");

  std::atomic<bool> stop{false};
  std::vector<std::string> acknowledged;  // writer thread only until joined
  int failed_attempts = 0, gave_up = 0;
  std::thread writer([&] {
    SyncRedis redis(client_.get());
    for (int i = 0; !stop.load(); ++i) {
      // A single-key SET and a two-key script in one patient's slot (TRYAGAIN while the slot's
      // keys are split between the nodes).
      std::string tag = absl::StrCat("{reshard-p", i % 2000, "}");
      std::string key = absl::StrCat(tag, ":k", i);
      bool done = false;
      for (int attempt = 0; attempt < 50 && !done; ++attempt) {
        CallOptions o;
        o.deadline = absl::Now() + absl::Seconds(2);
        auto r = i % 2 == 0 ? redis.Run({"SET", key, "v"}, o)
                            : redis.Eval(kPutPair, {key, tag + ":pair"}, {"v"}, o);
        if (r.ok()) {
          done = true;
        } else {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
          ++failed_attempts;
          absl::SleepFor(absl::Milliseconds(20));
        }
      }
      if (done) {
        acknowledged.push_back(key);
      } else {
        ++gave_up;
      }
    }
  });
  absl::SleepFor(absl::Milliseconds(300));  // some writes before the move
  auto moved = cluster_->Cli({"--cluster", "reshard",
                              absl::StrCat("127.0.0.1:", cluster_->node(primaries[0]).port()),
                              "--cluster-from", from, "--cluster-to", to, "--cluster-slots",
                              "600", "--cluster-yes", "--cluster-pipeline", "50"});
  absl::SleepFor(absl::Milliseconds(300));  // and some after
  stop = true;
  writer.join();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(gave_up, 0);
  EXPECT_GT(acknowledged.size(), 100u);
  EXPECT_GT(client_->redirections(), 0);  // the writer did cross the move

  SyncRedis redis(client_.get());
  size_t missing = 0;
  for (const std::string& key : acknowledged) {
    auto got = redis.Run({"GET", key});
    if (!got.ok() || got->str != "v") ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged writes ("
                         << failed_attempts << " attempts failed and were retried)";
}

TEST_F(RedisClusterTest, FollowsAFailoverToTheReplica) {
  SyncRedis redis(client_.get());
  const std::string key = "{failover-patient}:k";
  ASSERT_TRUE(redis.Run({"SET", key, "kept"}).ok());
  int primary = HolderOf(key);
  ASSERT_GE(primary, 0);
  // Let its replica have it (replication is asynchronous) before the primary dies.
  int64_t offset = InfoField(cluster_->node(primary), "master_repl_offset");
  std::string primary_port = absl::StrCat("master_port:", cluster_->node(primary).port(), "\r");
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < cluster_->size(); ++i) {
      auto info = cluster_->node(i).Command({"INFO", "replication"});
      if (i != primary && info.ok() && absl::StrContains(*info, primary_port) &&
          InfoField(cluster_->node(i), "slave_repl_offset") >= offset) {
        return true;
      }
    }
    return false;
  }));
  int64_t refreshes = client_->refreshes();
  cluster_->node(primary).Stop(/*hard=*/true);

  // The replica takes over after the node timeout; until then calls fail with UNAVAILABLE only.
  absl::StatusOr<Reply> got;
  ASSERT_TRUE(Eventually([&] {
    got = redis.Run({"GET", key});
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
    }
    return got.ok() && got->str == "kept";
  }, absl::Seconds(60)));
  EXPECT_GT(client_->refreshes(), refreshes);
  auto write = redis.Run({"SET", key, "after"});
  ASSERT_TRUE(write.ok()) << write.status();
  // Bring the old primary back (as a replica of the new one) for the tests after this one.
  ASSERT_TRUE(cluster_->node(primary).Restart().ok());
  ASSERT_TRUE(cluster_->WaitHealthy(absl::Seconds(60)).ok());
}

}  // namespace
}  // namespace trellis::redis
