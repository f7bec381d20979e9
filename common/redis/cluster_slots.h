#pragma once

// Redis Cluster's key space (issue 11, docs/scaling.md): which of the 16384 slots a key lives in
// and which node serves each slot, as `CLUSTER SLOTS` reports it.
//
// Our own code because no Debian package brings a C or C++ cluster client (hiredis 0.14 has no
// cluster support); this is the small part of the protocol a client needs: the slot function
// (CRC16-CCITT of the key's hash tag, modulo 16384, as the cluster specification defines it) and
// the parsing of the slot table. Routing and redirections (MOVED, ASK) build on it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config/redis_url.h"
#include "common/redis/reply.h"

namespace trellis::redis {

inline constexpr int kClusterSlots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
uint16_t Crc16(absl::string_view data);

// The slot of `key`: CRC16 of its hash tag (HashTagOf) modulo 16384.
int KeySlot(absl::string_view key);

// A short hash tag whose keys live in `slot` (0-16383): "{<SlotTag(s)>}" puts a key of a
// per-slot index in the same slot as the patient keys it indexes, so one script can write both.
// The same for every process (the first string of a fixed sequence that hashes to the slot).
const std::string& SlotTag(int slot);

// One contiguous range of slots and the nodes serving it. A node's host is empty when the cluster
// does not know its endpoint (cluster-preferred-endpoint-type unknown-endpoint): the client then
// uses the host of the node it asked, with the port given.
struct SlotRange {
  int first = 0;
  int last = 0;
  config::HostPort primary;
  std::vector<config::HostPort> replicas;
};

// Parses a `CLUSTER SLOTS` reply. INTERNAL when it is malformed (a range out of 0-16383, an entry
// without a primary).
absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const Reply& reply);

// A redirection error reply, "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". The
// host is empty for "MOVED <slot> :<port>" (an unknown endpoint): the same host as the node that
// answered, on that port.
struct Redirect {
  bool ask = false;  // ASK: this command only, after ASKING; MOVED: the slot has a new owner
  int slot = 0;
  config::HostPort to;
};
std::optional<Redirect> ParseRedirect(absl::string_view error_text);

}  // namespace trellis::redis
