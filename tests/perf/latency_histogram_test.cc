#include "tests/perf/latency_histogram.h"

#include <gtest/gtest.h>

namespace trellis::perf {
namespace {

TEST(LatencyHistogram, KeepsSmallValuesExactly) {
  for (int64_t v = 0; v < LatencyHistogram::kSubBuckets; ++v) {
    EXPECT_EQ(LatencyHistogram::HighestIn(LatencyHistogram::BucketOf(v)), v);
  }
}

TEST(LatencyHistogram, BucketsHoldTheirValueWithinOnePart128) {
  for (int64_t v :
       {int64_t{128}, int64_t{129}, int64_t{1000}, int64_t{123456789}, int64_t{60} * 1000000000}) {
    int64_t high = LatencyHistogram::HighestIn(LatencyHistogram::BucketOf(v));
    EXPECT_GE(high, v);
    EXPECT_LE(high - v, v / 128);
    EXPECT_EQ(LatencyHistogram::BucketOf(high), LatencyHistogram::BucketOf(v));
  }
}

TEST(LatencyHistogram, PercentilesFollowTheNearestRank) {
  LatencyHistogram h;
  for (int64_t v = 1; v <= 1000; ++v) h.Record(v * 1000);  // 1 us .. 1 ms
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max(), 1000000);
  EXPECT_NEAR(static_cast<double>(h.Percentile(50)), 500000, 500000 / 128.0);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99)), 990000, 990000 / 128.0);
  EXPECT_EQ(h.Percentile(100), 1000000);
  EXPECT_DOUBLE_EQ(h.mean(), 500500.0);
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(99), 0);
  EXPECT_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace trellis::perf
