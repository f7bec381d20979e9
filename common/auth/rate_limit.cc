#include "common/auth/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"

namespace trellis::auth {
namespace {

constexpr absl::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";
// Buckets of tenants idle this long are dropped when the table grows past kMaxTenants.
constexpr size_t kMaxTenants = 100000;

}  // namespace

RateLimiter::RateLimiter(RateLimitOptions options) : options_(options) {
  if (options_.burst <= 0) options_.burst = std::max(1.0, options_.per_second);
}

absl::Status RateLimiter::Take(absl::string_view tenant, absl::Time now) {
  if (!enabled()) return absl::OkStatus();
  double wait_seconds = 0;
  {
    absl::MutexLock lock(&mu_);
    if (buckets_.size() >= kMaxTenants && !buckets_.contains(tenant)) {
      // Full buckets carry no state worth keeping; forget them.
      absl::erase_if(buckets_, [&](const auto& kv) {
        return kv.second.tokens +
                   absl::ToDoubleSeconds(now - kv.second.updated) * options_.per_second >=
               options_.burst;
      });
    }
    auto [it, fresh] = buckets_.try_emplace(tenant, Bucket{options_.burst, now});
    Bucket& b = it->second;
    if (!fresh && now > b.updated) {
      b.tokens = std::min(options_.burst,
                          b.tokens + absl::ToDoubleSeconds(now - b.updated) * options_.per_second);
      b.updated = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return absl::OkStatus();
    }
    wait_seconds = (1 - b.tokens) / options_.per_second;
  }
  absl::Status status = WithReason(
      absl::ResourceExhaustedError("the tenant's request rate limit is reached; retry later"),
      "RATE_LIMITED");
  google::rpc::RetryInfo retry;
  absl::Duration delay = absl::Ceil(absl::Seconds(wait_seconds), absl::Milliseconds(1));
  retry.mutable_retry_delay()->set_seconds(absl::ToInt64Seconds(delay));
  retry.mutable_retry_delay()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(delay % absl::Seconds(1))));
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(retry.SerializeAsString()));
  return status;
}

}  // namespace trellis::auth
