#pragma once

// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Debian 12 has no prometheus-cpp package, and the project
// installs only Debian packages, so this covers the little the services need.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace trellis::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  // Declares a family; `type` is "counter", "gauge" or "histogram". Buckets are the histogram's
  // upper bounds (seconds for latencies).
  void Describe(absl::string_view name, absl::string_view type, absl::string_view help,
                std::vector<double> buckets = {});

  void Add(absl::string_view name, const Labels& labels, double delta = 1);
  void Set(absl::string_view name, const Labels& labels, double value);
  void Observe(absl::string_view name, const Labels& labels, double value);

  // Current value of a counter or gauge series (0 if absent). For tests.
  double Value(absl::string_view name, const Labels& labels) const;

  std::string Render() const;

  // The default latency buckets, in seconds.
  static std::vector<double> LatencyBuckets();

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string type;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trellis::metrics
