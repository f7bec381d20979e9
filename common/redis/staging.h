#pragma once

// Entries a patient's script must hand to a key in another slot (its tenant's audit stream, a
// delivery bucket's stream), on Redis Cluster, where one script may only touch one slot (docs/
// scaling.md). The script appends the entry to its slot's part of a staging index (a SlotIndex of
// streams) in the same atomic step as its change:
//   XADD <part> * k <target key> v <payload>
// and a mover (MoveStaged, run by a background worker of every replica) carries it to the target
// afterwards, exactly once: per target, a cursor hash in the target's slot (<target>:moved,
// field = part, value = the last staged id moved) lets the target's script skip what an earlier
// pass (or another replica at the same time) already moved; a part's entries are removed only once
// every target has them. An entry reaches its target a mover pass after it was staged.

#include <string>

#include "absl/status/statusor.h"
#include "common/redis/client.h"
#include "common/redis/script.h"
#include "common/redis/slot_index.h"

namespace trellis::redis {

// The cursor hash of `target`: its own key with ":moved" appended (the same hash tag, so the same
// slot).
std::string StagedCursorKey(absl::string_view target);

// Lua prelude for a target's script, which MoveStaged calls with KEYS {target, cursor hash} and
// ARGV {part, <the script's own arguments>..., staged id, payload, staged id, payload, ...}:
//   trellis_staged_each(first, fn)
// calls fn(payload) for each pair from ARGV[first] on whose id is past the part's cursor, advances
// the cursor, and returns how many it passed on.
extern const char kStagedEachLua[];

// Moves up to `per_part` entries of every part of `index` to their targets with `apply` (a
// script built on kStagedEachLua; `args` are its own arguments, placed after the part). Returns
// how many entries reached a target. Blocking: for background threads.
absl::StatusOr<int> MoveStaged(RedisClient& redis, const SlotIndex& index, const Script& apply,
                               const std::vector<std::string>& args, int per_part = 256);

// The same for the given parts only (those a writer of this process just staged into), without
// a walk of every slot.
absl::StatusOr<int> MoveStagedParts(RedisClient& redis, const std::vector<std::string>& parts,
                                    const Script& apply, const std::vector<std::string>& args,
                                    int per_part = 256);

}  // namespace trellis::redis
