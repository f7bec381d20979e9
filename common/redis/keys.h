#pragma once

// Key builders (DESIGN.md §5.1). Every key starts with `trellis:<service>:` and carries a hash
// tag, so that all keys of one patient share a Redis Cluster slot and multi-key scripts stay
// legal there:
//   trellis:goals:{t1:p42}:goal:<id>
// Ids passed here must already be validated (common/ids): they cannot contain ':', '{' or '}'.
// Stores build keys only through these classes; nothing else concatenates key strings.

#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"

namespace trellis::redis {

// Keys of one patient of one tenant, for one service ("goals", "meas", "rem", "cache").
class PatientKeys {
 public:
  PatientKeys(absl::string_view service, absl::string_view tenant, absl::string_view patient);

  // The prefix shared by all of this patient's keys, e.g. "trellis:goals:{t1:p42}".
  const std::string& prefix() const { return prefix_; }
  // prefix + ":" + parts joined by ':'.
  std::string Key(std::initializer_list<absl::string_view> parts) const;

 private:
  std::string prefix_;
};

// Keys that belong to a tenant as a whole (e.g. custom metric definitions), tagged per tenant:
//   trellis:meas:{t1}:metric:<id>
class TenantKeys {
 public:
  TenantKeys(absl::string_view service, absl::string_view tenant);
  const std::string& prefix() const { return prefix_; }
  std::string Key(std::initializer_list<absl::string_view> parts) const;

 private:
  std::string prefix_;
};

// The hash tag of a key (the text between the first '{' and the next '}'), or the whole key when
// it has none: what Redis Cluster hashes to pick a slot.
absl::string_view HashTagOf(absl::string_view key);

}  // namespace trellis::redis
