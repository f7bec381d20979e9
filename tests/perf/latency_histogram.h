#pragma once

// A log-bucketed latency histogram in the manner of HdrHistogram: every octave [2^k, 2^(k+1)) of
// nanoseconds is split into 128 equal sub-buckets, so any recorded value is known to within 1/128
// (0.8%) of itself, from 1 ns to hours, in a fixed 58 KiB table. Recording is one relaxed atomic
// increment (many gRPC callback threads record at once, with no lock and no allocation); memory
// does not grow with the number of calls, unlike keeping every sample. Percentiles report the
// highest value of the bucket the rank falls in (never under-stating a latency), capped by the
// exact maximum.

#include <array>
#include <atomic>
#include <cstdint>

namespace trellis::perf {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  // Values up to 2^63 ns: octaves 7..62 after the exact first 128 values.
  static constexpr int kBuckets = (64 - kSubBucketBits) * kSubBuckets;

  LatencyHistogram();

  // Thread-safe. Negative values count as 0.
  void Record(int64_t nanos);

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  // Mean of the recorded values (exact: kept as a sum).
  double mean() const;

  // The value at percentile `p` (0-100], nearest rank; 0 when empty. Call when recording is over.
  int64_t Percentile(double p) const;

  // Bucket arithmetic, public for the tests.
  static int BucketOf(int64_t nanos);
  static int64_t HighestIn(int bucket);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_{0};
  std::atomic<uint64_t> sum_{0};
};

}  // namespace trellis::perf
