#pragma once

// In-process cache of tenants' measurement settings, so that scoring a questionnaire does not pay
// a Redis read per submission. An entry is served for `ttl` after it was read: a change made
// through another replica is seen here within `ttl` (the replica that made it refreshes its own
// entry at once). A fresh entry is not replaced by an older revision (a read that started before
// this replica's own update and answered after it does not undo it). Thread-safe; bounded to
// `max_tenants` entries (when full, expired entries are dropped, and if none were, everything:
// the next reads refill it).

#include <cstddef>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

class SettingsCache {
 public:
  SettingsCache(absl::Duration ttl, size_t max_tenants) : ttl_(ttl), max_tenants_(max_tenants) {}

  // The settings of `tenant` read less than ttl before `now`, or nullopt.
  std::optional<trellis::v1::MeasurementSettings> Find(const std::string& tenant,
                                                       absl::Time now) const;
  // Remembers `settings` of `tenant` as read at `now`, unless a fresh entry holds a newer
  // revision (etag).
  void Put(const std::string& tenant, const trellis::v1::MeasurementSettings& settings,
           absl::Time now);

 private:
  struct Entry {
    trellis::v1::MeasurementSettings settings;
    absl::Time read_at;
  };

  const absl::Duration ttl_;
  const size_t max_tenants_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trellis::measurements
