#include "tests/perf/latency_histogram.h"

#include <bit>
#include <cmath>

namespace trellis::perf {

LatencyHistogram::LatencyHistogram() {
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
}

int LatencyHistogram::BucketOf(int64_t nanos) {
  if (nanos < kSubBuckets) return nanos < 0 ? 0 : static_cast<int>(nanos);
  auto v = static_cast<uint64_t>(nanos);
  int msb = std::bit_width(v) - 1;  // >= kSubBucketBits
  int shift = msb - kSubBucketBits;
  int sub = static_cast<int>(v >> shift) - kSubBuckets;  // 0..kSubBuckets-1
  return (shift + 1) * kSubBuckets + sub;
}

int64_t LatencyHistogram::HighestIn(int bucket) {
  if (bucket < kSubBuckets) return bucket;
  int shift = bucket / kSubBuckets - 1;
  int sub = bucket % kSubBuckets;
  uint64_t low = static_cast<uint64_t>(kSubBuckets + sub) << shift;
  return static_cast<int64_t>(low + ((uint64_t{1} << shift) - 1));
}

void LatencyHistogram::Record(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  buckets_[BucketOf(nanos)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(static_cast<uint64_t>(nanos), std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (nanos > seen && !max_.compare_exchange_weak(seen, nanos, std::memory_order_relaxed)) {
  }
}

double LatencyHistogram::mean() const {
  uint64_t n = count();
  return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / n;
}

int64_t LatencyHistogram::Percentile(double p) const {
  uint64_t n = count();
  if (n == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= rank) {
      int64_t high = HighestIn(b);
      return high < max() ? high : max();
    }
  }
  return max();
}

}  // namespace trellis::perf
