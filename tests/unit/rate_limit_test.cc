#include "common/auth/rate_limit.h"

#include <gtest/gtest.h>

#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"

namespace trellis::auth {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767600000);

google::rpc::RetryInfo RetryInfoOf(const absl::Status& status) {
  google::rpc::RetryInfo info;
  auto payload = status.GetPayload("type.googleapis.com/google.rpc.RetryInfo");
  if (payload.has_value()) info.ParseFromString(std::string(*payload));
  return info;
}

TEST(RateLimiterTest, BurstThenRefusalWithRetryInfo) {
  RateLimiter limiter({/*per_second=*/10, /*burst=*/3});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("t1", kStart).ok()) << i;
  absl::Status refused = limiter.Take("t1", kStart);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(refused), "RATE_LIMITED");
  google::rpc::RetryInfo retry = RetryInfoOf(refused);
  // One token comes back after 1/10 s.
  EXPECT_EQ(retry.retry_delay().seconds(), 0);
  EXPECT_EQ(retry.retry_delay().nanos(), 100000000);
}

TEST(RateLimiterTest, TokensRefillWithTimeUpToTheBurst) {
  RateLimiter limiter({10, 3});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Take("t1", kStart).ok());
  EXPECT_FALSE(limiter.Take("t1", kStart).ok());
  EXPECT_TRUE(limiter.Take("t1", kStart + absl::Milliseconds(100)).ok());
  EXPECT_FALSE(limiter.Take("t1", kStart + absl::Milliseconds(100)).ok());
  // A long pause refills only up to the burst.
  absl::Time later = kStart + absl::Hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("t1", later).ok()) << i;
  EXPECT_FALSE(limiter.Take("t1", later).ok());
}

TEST(RateLimiterTest, TenantsHaveSeparateBuckets) {
  RateLimiter limiter({1, 1});
  EXPECT_TRUE(limiter.Take("t1", kStart).ok());
  EXPECT_FALSE(limiter.Take("t1", kStart).ok());
  EXPECT_TRUE(limiter.Take("t2", kStart).ok());
}

TEST(RateLimiterTest, ZeroRateMeansNoLimit) {
  RateLimiter limiter({0, 0});
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.Take("t1", kStart).ok());
}

}  // namespace
}  // namespace trellis::auth
