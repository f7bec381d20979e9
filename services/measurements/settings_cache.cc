#include "services/measurements/settings_cache.h"

#include "services/measurements/domain/tenant_settings.h"

namespace trellis::measurements {

std::optional<trellis::v1::MeasurementSettings> SettingsCache::Find(const std::string& tenant,
                                                                    absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(tenant);
  if (it == entries_.end() || now - it->second.read_at >= ttl_ || now < it->second.read_at) {
    return std::nullopt;
  }
  return it->second.settings;
}

void SettingsCache::Put(const std::string& tenant, const trellis::v1::MeasurementSettings& settings,
                        absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(tenant);
      it != entries_.end() && now - it->second.read_at < ttl_ &&
      SettingsRevision(it->second.settings.etag()) > SettingsRevision(settings.etag())) {
    return;  // a read that started before this replica's own update answered after it
  }
  if (entries_.size() >= max_tenants_ && !entries_.contains(tenant)) {
    absl::erase_if(entries_, [&](const auto& e) { return now - e.second.read_at >= ttl_; });
    if (entries_.size() >= max_tenants_) entries_.clear();
  }
  entries_[tenant] = Entry{settings, now};
}

}  // namespace trellis::measurements
