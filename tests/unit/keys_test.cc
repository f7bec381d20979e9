#include "common/redis/keys.h"

#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"
#include "common/ids/ids.h"
#include "common/status/status.h"

namespace trellis {
namespace {

TEST(PatientKeys, CarryTheServiceTenantAndPatientHashTag) {
  redis::PatientKeys keys("goals", "t1", "p42");
  EXPECT_EQ(keys.prefix(), "trellis:goals:{t1:p42}");
  EXPECT_EQ(keys.Key({"goal", "abc"}), "trellis:goals:{t1:p42}:goal:abc");
  EXPECT_EQ(redis::HashTagOf(keys.Key({"goal", "abc"})), "t1:p42");
}

TEST(PatientKeys, AllKeysOfOnePatientShareOneSlotTagAcrossServices) {
  redis::PatientKeys goals("goals", "t1", "p42");
  redis::PatientKeys meas("meas", "t1", "p42");
  EXPECT_EQ(redis::HashTagOf(goals.Key({"x"})), redis::HashTagOf(meas.Key({"y"})));
}

TEST(TenantKeys, AreTaggedPerTenant) {
  redis::TenantKeys keys("meas", "t1");
  EXPECT_EQ(keys.Key({"metric", "m1"}), "trellis:meas:{t1}:metric:m1");
  EXPECT_EQ(redis::HashTagOf(keys.Key({"metric", "m1"})), "t1");
}

TEST(HashTag, FollowsRedisClusterRules) {
  EXPECT_EQ(redis::HashTagOf("plain"), "plain");
  EXPECT_EQ(redis::HashTagOf("a{}b"), "a{}b");  // empty tag: whole key
  EXPECT_EQ(redis::HashTagOf("a{b}c{d}"), "b");
}

TEST(Ids, ValidateAcceptsSafeAlphabet) {
  EXPECT_TRUE(ValidateId("patient", "Patient-01.a_b").ok());
}

TEST(Ids, ValidateRejectsEmptyLongAndUnsafeNamingTheField) {
  for (std::string bad : {std::string(""), std::string(65, 'a'), std::string("p:1"),
                          std::string("p{1}"), std::string("a/b"), std::string("é")}) {
    absl::Status s = ValidateId("patient", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(FieldViolationsOf(s)[0].first, "patient");
  }
}

TEST(Ids, NewIdsAreValidAndDistinct) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewId();
    ASSERT_TRUE(ValidateId("id", id).ok());
    ASSERT_EQ(id.size(), 20u);
    ASSERT_TRUE(seen.insert(id).second);
  }
}

}  // namespace
}  // namespace trellis
