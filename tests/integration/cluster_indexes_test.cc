// Indexes over many patients on a real 3-primary Redis Cluster (slot_index.h): the per-slot parts
// written by patients' own scripts, the walk that reads them node by node, and the audit entries
// staged in patients' slots and moved into their tenant's stream exactly once (audit.h).

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/audit/audit.h"
#include "common/config/redis_url.h"
#include "common/redis/cluster_client.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/keys.h"
#include "common/redis/slot_index.h"
#include "common/redis/staging.h"
#include "common/redis/sync_redis.h"
#include "tests/support/redis_cluster.h"

namespace trellis {
namespace {

using testing::RedisCluster;

// A patient's write that also lists the patient in its slot's part of an index.
const redis::Script kMarkScript("test_index_mark", R"lua(
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
)lua");

// Reads every part of a chunk: ARGV [1..] the parts. Returns their members.
const redis::Script kListScript("test_index_list", R"lua(
local out = {}
for i = 1, #ARGV do
  for _, m in ipairs(redis.call('ZRANGE', ARGV[i], 0, -1)) do out[#out + 1] = m end
end
return out
)lua", redis::ScriptAccess::kRead);

// An audited patient write (the shape of the stores' write scripts).
const redis::Script kAuditedWrite("test_audited_write",
                                  audit::Audited("redis.call('SET', KEYS[1], ARGV[1])\nreturn 1"));

class ClusterIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = RedisCluster::Start(/*primaries=*/3, /*replicas_per_primary=*/0);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    redis::ClusterOptions o;
    o.seeds = *config::ParseHostPortList(cluster_->seeds(), "seeds");
    client_ = std::make_unique<redis::ClusterClient>(o);
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    while ((!client_->Ready() || client_->ReadyConnections() < 3) && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(client_->Ready());
  }
  void TearDown() override {
    if (client_) client_->Stop();
  }

  // The reply of `args` as text, on the primary serving args[1].
  std::string Command(const std::vector<std::string>& args) {
    auto reply = cluster_->Command(args);
    return reply.ok() ? *reply : reply.status().ToString();
  }

  std::unique_ptr<RedisCluster> cluster_;
  std::unique_ptr<redis::ClusterClient> client_;
};

TEST_F(ClusterIndexTest, PatientsListedInTheirSlotsAreAllFoundByTheWalk) {
  redis::SlotIndex index("test", "pending");
  redis::SyncRedis sync(client_.get());
  std::set<std::string> written, slots;
  for (int i = 0; i < 300; ++i) {
    std::string tag = absl::StrCat("t1:p", i);
    std::string key = redis::PatientKeys("test", "t1", absl::StrCat("p", i)).Key({"data"});
    std::string part = index.KeyFor(*client_, key);
    EXPECT_EQ(redis::KeySlot(part), redis::KeySlot(key));  // one script may write both
    auto r = sync.Eval(kMarkScript, {key, part}, {tag, "1"});
    ASSERT_TRUE(r.ok()) << r.status();
    written.insert(tag);
    slots.insert(part);
  }
  EXPECT_GT(slots.size(), 250u);  // spread over many slots (and so over the 3 primaries)

  auto chunks = index.Chunks(*client_, 1024);
  size_t parts = 0;
  for (const auto& chunk : chunks) {
    parts += chunk.size();
    // Every key of a chunk is on the node of its first key.
    EXPECT_EQ(client_->OwnerOf(redis::KeySlot(chunk.back())),
              client_->OwnerOf(redis::KeySlot(chunk.front())));
  }
  EXPECT_EQ(parts, static_cast<size_t>(redis::kClusterSlots));
  EXPECT_GE(chunks.size(), 3u);

  auto walked = redis::WalkIndex(*client_, index, kListScript, {});
  ASSERT_TRUE(walked.ok()) << walked.status();
  std::multiset<std::string> found;
  for (const redis::Reply& chunk : *walked) {
    for (const redis::Reply& m : chunk.elements) found.insert(m.str);
  }
  EXPECT_EQ(found.size(), written.size());  // each exactly once
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), written);
}

TEST_F(ClusterIndexTest, AChunkThatMeetsASlotOfAnotherNodeFailsAndTheMapIsReloaded) {
  redis::SlotIndex index("test", "pending");
  // A chunk naming a part of each node: the call goes to the first one's node, which does not
  // serve the others.
  std::vector<std::string> keys;
  for (const auto& ranges : client_->SlotsByNode()) keys.push_back(index.SlotKey(ranges[0].first));
  ASSERT_EQ(keys.size(), 3u);
  int64_t before = client_->refreshes();
  redis::SyncRedis sync(client_.get());
  auto r = sync.Eval(kListScript, {keys[0]}, keys);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();  // retry may help
  absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (client_->refreshes() == before && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GT(client_->refreshes(), before);
}

class AuditStagingTest : public ClusterIndexTest {
 protected:
  // Writes `patients` patients' audited changes of tenant `tenant`.
  void WriteAudited(audit::AuditLog& log, const std::string& tenant, int patients) {
    redis::SyncRedis sync(client_.get());
    for (int i = 0; i < patients; ++i) {
      audit::Note note;
      note.log = &log;
      note.admitted = true;
      note.tenant = tenant;
      note.subject = "clin-1";
      note.role = trellis::v1::ROLE_CLINICIAN;
      note.action = "GoalService.CreateGoal";
      note.patient = absl::StrCat("p", i);
      note.resource = absl::StrCat("patients/p", i);
      std::vector<std::string> keys = {
          redis::PatientKeys("goals", tenant, note.patient).Key({"goal"})};
      std::vector<std::string> args = {"v"};
      audit::AppendScriptArgs(&note, keys, args);
      auto r = sync.Eval(kAuditedWrite, keys, args);
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }
  int64_t Length(const std::string& tenant) {
    int64_t n = -1;
    EXPECT_TRUE(absl::SimpleAtoi(Command({"XLEN", audit::AuditLog::StreamKey(tenant)}), &n));
    return n;
  }
  FakeClock clock_{absl::FromUnixSeconds(1795000000)};
};

TEST_F(AuditStagingTest, WritesStageTheirEntriesInTheirSlotAndTheRelayMovesEachOnce) {
  audit::AuditLog log(client_.get(), &clock_);
  WriteAudited(log, "t1", 40);
  WriteAudited(log, "t2", 10);
  EXPECT_EQ(Length("t1"), 0);  // staged, not yet in the tenant's stream

  auto moved = log.MoveStaged();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 50);
  EXPECT_EQ(Length("t1"), 40);
  EXPECT_EQ(Length("t2"), 10);
  // Staging parts are empty; another pass moves nothing.
  auto again = log.MoveStaged();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(Length("t1"), 40);

  // The entries read back as the trail with their actor, action and patient.
  audit::ListQuery query;
  query.tenant = "t1";
  query.patient = "p7";
  absl::Notification listed;
  std::vector<trellis::v1::AuditEvent> events;
  log.List(query,
           [&](absl::StatusOr<audit::ListPage> page) {
             if (page.ok()) events = page->events;
             listed.Notify();
           },
           absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(listed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action(), "GoalService.CreateGoal");
  EXPECT_EQ(events[0].resource(), "patients/p7");
  EXPECT_EQ(events[0].actor().subject(), "clin-1");
  EXPECT_EQ(events[0].time().seconds(), 1795000000);
}

TEST_F(AuditStagingTest, ReplicasMovingAtTheSameTimeEnterEachEntryOnce) {
  audit::AuditLog log(client_.get(), &clock_);
  WriteAudited(log, "t1", 120);
  std::atomic<int> total{0};
  std::vector<std::thread> relays;
  for (int r = 0; r < 4; ++r) {
    relays.emplace_back([&] {
      // Small reads per part, so that the relays interleave over several passes.
      for (int pass = 0; pass < 5; ++pass) {
        auto moved = log.MoveStaged(/*per_part=*/1);
        if (moved.ok()) total += *moved;
      }
    });
  }
  for (auto& t : relays) t.join();
  auto last = log.MoveStaged();
  ASSERT_TRUE(last.ok());
  total += *last;
  EXPECT_EQ(total.load(), 120);
  EXPECT_EQ(Length("t1"), 120);
}

// The cluster client, except that removing staged entries (XDEL) fails: a pass that appended
// entries to the tenant's stream and lost its connection before removing them.
class LosesRemovals final : public redis::RedisClient {
 public:
  explicit LosesRemovals(redis::RedisClient* inner) : inner_(inner) {}
  void Execute(std::vector<std::string> args, redis::ReplyCallback done,
               redis::CallOptions options) override {
    if (args[0] == "XDEL") return done(absl::UnavailableError("connection lost"));
    inner_->Execute(std::move(args), std::move(done), options);
  }
  void Eval(const redis::Script& script, std::vector<std::string> keys,
            std::vector<std::string> args, redis::ReplyCallback done,
            redis::CallOptions options) override {
    inner_->Eval(script, std::move(keys), std::move(args), std::move(done), options);
  }
  bool Ready() const override { return inner_->Ready(); }
  bool Clustered() const override { return inner_->Clustered(); }
  std::vector<std::vector<std::pair<int, int>>> SlotsByNode() const override {
    return inner_->SlotsByNode();
  }

 private:
  redis::RedisClient* inner_;
};

TEST_F(AuditStagingTest, EntriesLeftStagedAfterTheyWereMovedAreNotEnteredAgain) {
  audit::AuditLog log(client_.get(), &clock_);
  WriteAudited(log, "t1", 30);
  LosesRemovals flaky(client_.get());
  audit::AuditLog flaky_log(&flaky, &clock_);
  auto first = flaky_log.MoveStaged();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 30);
  EXPECT_EQ(Length("t1"), 30);

  // Still staged, but at or below each part's cursor: skipped, then removed.
  auto second = log.MoveStaged();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(Length("t1"), 30);
  for (int i = 0; i < 30; ++i) {
    std::string part = audit::StagingIndex().KeyFor(
        *client_, redis::PatientKeys("goals", "t1", absl::StrCat("p", i)).Key({"goal"}));
    EXPECT_EQ(Command({"XLEN", part}), "0") << part;
  }
  // New entries of the same parts still move.
  WriteAudited(log, "t1", 3);
  auto third = log.MoveStaged();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, 3);
  EXPECT_EQ(Length("t1"), 33);
}

}  // namespace
}  // namespace trellis
