#pragma once

// Per-tenant request rate limit: a token bucket per tenant, in this process. With R replicas a
// tenant may reach R times the rate; the limit protects the replicas and the shared Redis from one
// tenant's burst, it is not a billing quota (which would need a shared counter and a Redis round
// trip on every call). A refused call is RESOURCE_EXHAUSTED with a google.rpc.RetryInfo saying
// when a token will be available.

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace trellis::auth {

struct RateLimitOptions {
  double per_second = 0;  // sustained calls per second per tenant; 0: no limit
  double burst = 0;       // bucket size; 0: one second's worth (at least 1)
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions options);

  // Takes one token of `tenant`'s bucket at `now`: OK, or RESOURCE_EXHAUSTED with RetryInfo.
  absl::Status Take(absl::string_view tenant, absl::Time now);

  bool enabled() const { return options_.per_second > 0; }

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  RateLimitOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trellis::auth
