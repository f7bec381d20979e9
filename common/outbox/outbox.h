#pragma once

// The transactional outbox (DESIGN.md §4). A change that must reach another service records the
// effect in the same Lua step as the change, in the patient's slot:
//   trellis:<service>:{tenant:patient}:outbox   list of "id|kind|payload" entries, oldest first
// and marks the patient in the service's pending index:
//   trellis:<service>:outbox:pending            zset of "tenant:patient", score = next attempt (ms)
// A relay (relay.h) delivers entries in order, with retries and backoff, until the peer confirms.
// Receivers are idempotent on the entry id (sent as the peer request's request_id), so a
// redelivery after a crash is harmless.
//
// The pending index is one key outside the patient's slot: fine on one Redis (and with a replica
// and Sentinel); on Redis Cluster the write scripts cannot touch it, and the cluster work replaces
// it with per-slot discovery.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::outbox {

struct OutboxEntry {
  std::string id;       // unique; the receiver's idempotency key
  std::string kind;     // what to do, e.g. "EndGoalReminders"
  std::string payload;  // serialized request message for the peer
};

std::string OutboxKey(absl::string_view service, absl::string_view tenant,
                      absl::string_view patient);
std::string PendingKey(absl::string_view service);
// "tenant:patient": a member of the pending index.
std::string PatientTag(absl::string_view tenant, absl::string_view patient);

// "id|kind|payload" (ids and kinds never contain '|'; the payload may).
std::string EncodeEntry(const OutboxEntry& entry);
absl::StatusOr<OutboxEntry> DecodeEntry(absl::string_view text);

}  // namespace trellis::outbox
