#include "common/outbox/outbox.h"

#include "absl/strings/str_cat.h"
#include "common/redis/keys.h"

namespace trellis::outbox {

std::string OutboxKey(absl::string_view service, absl::string_view tenant,
                      absl::string_view patient) {
  return redis::PatientKeys(service, tenant, patient).Key({"outbox"});
}

std::string PendingKey(absl::string_view service) {
  return absl::StrCat("trellis:", service, ":outbox:pending");
}

std::string PatientTag(absl::string_view tenant, absl::string_view patient) {
  return absl::StrCat(tenant, ":", patient);
}

std::string EncodeEntry(const OutboxEntry& entry) {
  return absl::StrCat(entry.id, "|", entry.kind, "|", entry.payload);
}

absl::StatusOr<OutboxEntry> DecodeEntry(absl::string_view text) {
  size_t first = text.find('|');
  size_t second = first == absl::string_view::npos ? first : text.find('|', first + 1);
  if (second == absl::string_view::npos) {
    return absl::DataLossError("malformed outbox entry");
  }
  OutboxEntry e;
  e.id = std::string(text.substr(0, first));
  e.kind = std::string(text.substr(first + 1, second - first - 1));
  e.payload = std::string(text.substr(second + 1));
  return e;
}

}  // namespace trellis::outbox
