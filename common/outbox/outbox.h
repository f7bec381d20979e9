#pragma once

// The transactional outbox (DESIGN.md §4). A change that must reach another service records the
// effect in the same Lua step as the change, in the patient's slot:
//   trellis:<service>:{tenant:patient}:outbox   list of "id|kind|payload" entries, oldest first
// and marks the patient in the service's pending index (a redis::SlotIndex: one key on a single
// Redis, one per slot on Redis Cluster, always written by the patient's own script):
//   trellis:<service>:outbox:pending            zset of "tenant:patient", score = next attempt (ms)
//   trellis:<service>:{<slot tag>}:outbox:pending   the same, per slot, on a cluster
// A relay (relay.h) delivers entries in order, with retries and backoff, until the peer confirms.
// Receivers are idempotent on the entry id (sent as the peer request's request_id), so a
// redelivery after a crash is harmless.
//
// An entry also carries the trace context of the call that recorded it (common/trace), so the
// peer's log line of the relayed call shares that call's trace id. It rides in the id field,
// "id;tp=<traceparent>;rid=<request id>", which relays only ever log: a relay built before the
// field existed still delivers such entries (and logs the longer id), and this one reads entries
// written without it.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis/client.h"
#include "common/redis/slot_index.h"
#include "common/trace/trace.h"

namespace trellis::outbox {

struct OutboxEntry {
  std::string id;       // unique; the receiver's idempotency key
  std::string kind;     // what to do, e.g. "EndGoalReminders"
  std::string payload;  // serialized request message for the peer
  // The recording call's span (trace::FormatTraceparent) and request id; empty: none.
  std::string traceparent = "";
  std::string request_id = "";
};

// `entry` with the trace context of the call recording it (auth::Identity::trace).
OutboxEntry WithOrigin(OutboxEntry entry, const trace::CallContext& origin);
// The context to relay `entry` in: its recording call's span and request id, or a new trace.
trace::CallContext OriginOf(const OutboxEntry& entry);

std::string OutboxKey(absl::string_view service, absl::string_view tenant,
                      absl::string_view patient);
// The service's pending index, and the part of it that lists the patient.
redis::SlotIndex PendingIndex(absl::string_view service);
std::string PendingKey(const redis::RedisClient& redis, absl::string_view service,
                       absl::string_view tenant, absl::string_view patient);
// "tenant:patient": a member of the pending index.
std::string PatientTag(absl::string_view tenant, absl::string_view patient);

// "id[;tp=...][;rid=...]|kind|payload" (ids, kinds and the trace fields never contain '|'; the
// payload may). Trace fields that are malformed are dropped when decoding.
std::string EncodeEntry(const OutboxEntry& entry);
absl::StatusOr<OutboxEntry> DecodeEntry(absl::string_view text);

}  // namespace trellis::outbox
