// Redis Cluster's slot function and slot-table parsing, with values from the cluster
// specification and from CLUSTER KEYSLOT of Redis 7.0.

#include "common/redis/cluster_slots.h"

#include <gtest/gtest.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "common/redis/keys.h"

namespace trellis::redis {
namespace {

TEST(ClusterSlots, Crc16IsTheXmodemChecksum) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);  // the specification's check value
  EXPECT_EQ(Crc16(""), 0);
}

TEST(ClusterSlots, KeySlotMatchesRedis) {
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("hello"), 866);
  EXPECT_EQ(KeySlot("somekey"), 11058);
}

TEST(ClusterSlots, OnlyTheHashTagCounts) {
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % kClusterSlots);  // empty tag: whole key
  PatientKeys a("goals", "t1", "p42"), b("meas", "t1", "p42");
  EXPECT_EQ(KeySlot(a.Key({"goal", "g1"})), KeySlot(b.Key({"series", "mood"})));
}

TEST(ClusterSlots, EverySlotHasATagThatHashesToIt) {
  for (int slot = 0; slot < kClusterSlots; ++slot) {
    const std::string& tag = SlotTag(slot);
    ASSERT_FALSE(tag.empty()) << slot;
    ASSERT_EQ(KeySlot(absl::StrCat("trellis:goals:outbox:{", tag, "}:pending")), slot) << tag;
  }
  PatientKeys patient("goals", "t1", "p42");
  int slot = KeySlot(patient.Key({"outbox"}));
  EXPECT_EQ(KeySlot(absl::StrCat("x:{", SlotTag(slot), "}")), slot);
}

TEST(ClusterSlots, PatientsSpreadEvenlyOverThreePrimaries) {
  // Three primaries with equal slot ranges, as `redis-cli --cluster create` assigns them.
  std::array<int, 3> per_node{};
  constexpr int kPatients = 100000;
  for (int i = 0; i < kPatients; ++i) {
    PatientKeys keys("meas", "tenant-1", absl::StrCat("patient-", i));
    per_node[KeySlot(keys.Key({"latest"})) * 3 / kClusterSlots]++;
  }
  for (int n : per_node) {
    EXPECT_NEAR(n, kPatients / 3, kPatients / 3 / 10) << "more than 10% off an even share";
  }
}

Reply Int(int64_t v) {
  Reply r;
  r.type = Reply::Type::kInteger;
  r.integer = v;
  return r;
}
Reply Str(std::string s) {
  Reply r;
  r.type = Reply::Type::kString;
  r.str = std::move(s);
  return r;
}
Reply Arr(std::vector<Reply> e) {
  Reply r;
  r.type = Reply::Type::kArray;
  r.elements = std::move(e);
  return r;
}

TEST(ClusterSlots, ParsesTheSlotTable) {
  Reply reply = Arr({Arr({Int(0), Int(5460), Arr({Str("127.0.0.1"), Int(7000), Str("id0")}),
                          Arr({Str("127.0.0.1"), Int(7003), Str("id3")})}),
                     Arr({Int(5461), Int(16383), Arr({Str("10.0.0.2"), Int(7001)})})});
  auto ranges = ParseClusterSlots(reply);
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].primary.port, 7000);
  ASSERT_EQ((*ranges)[0].replicas.size(), 1u);
  EXPECT_EQ((*ranges)[0].replicas[0].port, 7003);
  EXPECT_EQ((*ranges)[1].first, 5461);
  EXPECT_EQ((*ranges)[1].primary.host, "10.0.0.2");
}

TEST(ClusterSlots, LeavesTheHostEmptyForNodesWhoseEndpointIsUnknown) {
  // Redis answers nil, "" or "?" for the endpoint under cluster-preferred-endpoint-type
  // unknown-endpoint; the client fills in the host it asked.
  Reply nil;
  Reply reply = Arr({Arr({Int(0), Int(99), Arr({nil, Int(7000)}), Arr({Str("?"), Int(7003)})}),
                     Arr({Int(100), Int(16383), Arr({Str(""), Int(7001)})})});
  auto ranges = ParseClusterSlots(reply);
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].primary.host, "");
  EXPECT_EQ((*ranges)[0].primary.port, 7000);
  ASSERT_EQ((*ranges)[0].replicas.size(), 1u);
  EXPECT_EQ((*ranges)[0].replicas[0].host, "");
  EXPECT_EQ((*ranges)[1].primary.port, 7001);
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(0), Int(10), Arr({nil, Int(0)})})})).ok());
}

TEST(ClusterSlots, RejectsMalformedSlotTables) {
  EXPECT_FALSE(ParseClusterSlots(Str("x")).ok());
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(0), Int(16384), Arr({Str("h"), Int(1)})})})).ok());
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(9), Int(3), Arr({Str("h"), Int(1)})})})).ok());
  EXPECT_FALSE(ParseClusterSlots(Arr({Arr({Int(0), Int(10), Str("h")})})).ok());
}

TEST(ClusterSlots, ParsesRedirections) {
  auto moved = ParseRedirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved.has_value());
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->to.host, "127.0.0.1");
  EXPECT_EQ(moved->to.port, 6381);
  auto ask = ParseRedirect("ASK 12 ::1:7000");
  ASSERT_TRUE(ask.has_value());
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->to.host, "::1");
  // An unknown endpoint (cluster-preferred-endpoint-type unknown-endpoint): no host, the port.
  auto unknown = ParseRedirect("MOVED 12182 :17102");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->slot, 12182);
  EXPECT_EQ(unknown->to.host, "");
  EXPECT_EQ(unknown->to.port, 17102);
  for (const char* bad : {"ERR MOVED 1 h:1", "MOVED 16384 h:1", "MOVED x h:1", "ASK 1 h", "MOVED 1",
                          "MOVED 1 :", "ASK 1 :0"}) {
    EXPECT_FALSE(ParseRedirect(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace trellis::redis
