#include "common/redis/keys.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trellis::redis {

PatientKeys::PatientKeys(absl::string_view service, absl::string_view tenant,
                         absl::string_view patient)
    : prefix_(absl::StrCat("trellis:", service, ":{", tenant, ":", patient, "}")) {}

std::string PatientKeys::Key(std::initializer_list<absl::string_view> parts) const {
  return absl::StrCat(prefix_, ":", absl::StrJoin(parts, ":"));
}

TenantKeys::TenantKeys(absl::string_view service, absl::string_view tenant)
    : prefix_(absl::StrCat("trellis:", service, ":{", tenant, "}")) {}

std::string TenantKeys::Key(std::initializer_list<absl::string_view> parts) const {
  return absl::StrCat(prefix_, ":", absl::StrJoin(parts, ":"));
}

absl::string_view HashTagOf(absl::string_view key) {
  size_t open = key.find('{');
  if (open == absl::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == absl::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

}  // namespace trellis::redis
