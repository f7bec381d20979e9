#pragma once

// An index over many patients that their write scripts keep up to date in the same atomic step
// as the patients' own keys: the patients with undelivered outbox entries, with audit entries to
// relay, with reminders coming due (DESIGN.md §5.1, docs/scaling.md).
//
// A script may only touch keys of one slot on Redis Cluster, so there the index is kept per slot,
// each part in the slot of the patients it lists:
//   trellis:<service>:{<SlotTag(slot)>}:<name>      e.g. trellis:goals:{s93}:outbox:pending
// On a single Redis (or a Sentinel-managed primary) it is one key, as it always was:
//   trellis:<service>:<name>
// Writers ask for the key of a patient's part (KeyFor). Readers walk all parts: Chunks() groups
// the part keys by the node that serves them, so that one script call can read a chunk (Redis
// lets a script touch undeclared keys of other slots the node serves; each chunk names its first
// key, so the client routes the call to that node). A chunk that meets a slot the node no longer
// serves fails with a "non local key" error; the cluster client then reloads its slot map and
// the next walk is right again.
//
// The cost of a walk is one key lookup per slot on a cluster (16 384 in all, spread over the
// primaries), and one on a single Redis.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/redis/client.h"

namespace trellis::redis {

class SlotIndex {
 public:
  // `service`: "goals", "meas", "rem", "audit"; `name`: the index, e.g. "outbox:pending".
  SlotIndex(absl::string_view service, absl::string_view name);

  // The part that lists the patient owning `patient_key` (any key carrying the patient's hash
  // tag): the single key, or the part in that key's slot.
  std::string KeyFor(const RedisClient& redis, absl::string_view patient_key) const;
  // The part of `slot` (cluster layout).
  std::string SlotKey(int slot) const;
  // The one key of the single-server layout.
  const std::string& single_key() const { return single_; }

  // Every part, in chunks of at most `max_keys` keys each served by one node; a single chunk of
  // the one key on a single server, and nothing on a cluster whose slot map is not loaded yet.
  std::vector<std::vector<std::string>> Chunks(const RedisClient& redis, int max_keys = 1024) const;

 private:
  std::string prefix_;  // "trellis:<service>:"
  std::string name_;
  std::string single_;
};

// Runs `script` once per chunk, with the chunk's first key as KEYS[1] (which routes the call)
// and `args` followed by the chunk's keys (all of them, the first included) as ARGV, and returns
// the replies of the chunks that answered, in chunk order (a chunk on a node that is failing
// over is left for the next walk); an error only when none answered. Blocking: for the services'
// background workers, never an RPC thread.
absl::StatusOr<std::vector<Reply>> WalkIndex(RedisClient& redis, const SlotIndex& index,
                                             const Script& script,
                                             const std::vector<std::string>& args,
                                             int max_keys = 1024);

}  // namespace trellis::redis
