#include "common/outbox/outbox.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/redis/keys.h"

namespace trellis::outbox {

std::string OutboxKey(absl::string_view service, absl::string_view tenant,
                      absl::string_view patient) {
  return redis::PatientKeys(service, tenant, patient).Key({"outbox"});
}

redis::SlotIndex PendingIndex(absl::string_view service) {
  return redis::SlotIndex(service, "outbox:pending");
}

std::string PendingKey(const redis::RedisClient& redis, absl::string_view service,
                       absl::string_view tenant, absl::string_view patient) {
  return PendingIndex(service).KeyFor(redis, OutboxKey(service, tenant, patient));
}

std::string PatientTag(absl::string_view tenant, absl::string_view patient) {
  return absl::StrCat(tenant, ":", patient);
}

std::string EncodeEntry(const OutboxEntry& entry) {
  std::string head = entry.id;
  // Only well-formed values, so the field's separators keep their meaning.
  if (trace::ParseTraceparent(entry.traceparent).has_value()) {
    absl::StrAppend(&head, ";tp=", entry.traceparent);
  }
  if (!trace::SanitizeRequestId(entry.request_id).empty()) {
    absl::StrAppend(&head, ";rid=", entry.request_id);
  }
  return absl::StrCat(head, "|", entry.kind, "|", entry.payload);
}

absl::StatusOr<OutboxEntry> DecodeEntry(absl::string_view text) {
  size_t first = text.find('|');
  size_t second = first == absl::string_view::npos ? first : text.find('|', first + 1);
  if (second == absl::string_view::npos) {
    return absl::DataLossError("malformed outbox entry");
  }
  OutboxEntry e;
  std::vector<absl::string_view> head = absl::StrSplit(text.substr(0, first), ';');
  e.id = std::string(head[0]);
  for (size_t i = 1; i < head.size(); ++i) {
    absl::string_view field = head[i];
    if (absl::ConsumePrefix(&field, "tp=") && trace::ParseTraceparent(field).has_value()) {
      e.traceparent = std::string(field);
    } else if (absl::ConsumePrefix(&field, "rid=")) {
      e.request_id = trace::SanitizeRequestId(field);
    }
  }
  e.kind = std::string(text.substr(first + 1, second - first - 1));
  e.payload = std::string(text.substr(second + 1));
  return e;
}

OutboxEntry WithOrigin(OutboxEntry entry, const trace::CallContext& origin) {
  entry.traceparent = trace::FormatTraceparent(origin.span);
  entry.request_id = origin.request_id;
  return entry;
}

trace::CallContext OriginOf(const OutboxEntry& entry) {
  return trace::ResumedCallContext(entry.traceparent, entry.request_id);
}

}  // namespace trellis::outbox
