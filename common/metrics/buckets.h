#pragma once

#include <vector>

namespace trellis::metrics {

// Histogram buckets for latencies, in seconds: 100 us (a Redis command) to 10 s (a slow RPC).
inline std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

}  // namespace trellis::metrics
