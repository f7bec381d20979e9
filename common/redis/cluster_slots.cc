#include "common/redis/cluster_slots.h"

#include <array>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/redis/keys.h"

namespace trellis::redis {
namespace {

// The table-driven form of the bitwise CRC: one entry per byte value, built once at compile time.
constexpr std::array<uint16_t, 256> MakeCrc16Table() {
  std::array<uint16_t, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    uint16_t crc = static_cast<uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrc16Table = MakeCrc16Table();

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("malformed CLUSTER SLOTS reply: ", what));
}

// A node's [endpoint, port, ...]. The endpoint is nil, "" or "?" when the node's is unknown
// (cluster-preferred-endpoint-type unknown-endpoint): then the host is left empty, which means
// "the host that answered" (see SlotRange).
std::optional<config::HostPort> NodeOf(const Reply& node) {
  if (!node.is_array() || node.elements.size() < 2 ||
      !(node.elements[0].is_string() || node.elements[0].is_nil()) ||
      !node.elements[1].is_integer()) {
    return std::nullopt;
  }
  config::HostPort hp{node.elements[0].is_string() ? node.elements[0].str : "",
                      static_cast<int>(node.elements[1].integer)};
  if (hp.host == "?") hp.host.clear();
  if (hp.port < 1 || hp.port > 65535) return std::nullopt;
  return hp;
}

}  // namespace

uint16_t Crc16(absl::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

int KeySlot(absl::string_view key) { return Crc16(HashTagOf(key)) & (kClusterSlots - 1); }

const std::string& SlotTag(int slot) {
  // "s0", "s1", ... in order, each slot keeping the first that lands in it: about 160 000
  // checksums (every slot is hit after n ln n tries), a few milliseconds once per process.
  static const std::vector<std::string>* tags = [] {
    auto* t = new std::vector<std::string>(kClusterSlots);
    int missing = kClusterSlots;
    for (int64_t i = 0; missing > 0; ++i) {
      std::string candidate = absl::StrCat("s", i);
      std::string& tag = (*t)[Crc16(candidate) & (kClusterSlots - 1)];
      if (tag.empty()) {
        tag = std::move(candidate);
        --missing;
      }
    }
    return t;
  }();
  return (*tags)[slot];
}

absl::StatusOr<std::vector<SlotRange>> ParseClusterSlots(const Reply& reply) {
  if (!reply.is_array()) return Malformed("not an array");
  std::vector<SlotRange> ranges;
  for (const Reply& entry : reply.elements) {
    if (!entry.is_array() || entry.elements.size() < 3 || !entry.elements[0].is_integer() ||
        !entry.elements[1].is_integer()) {
      return Malformed("an entry is not [first, last, primary, replicas...]");
    }
    SlotRange range;
    range.first = static_cast<int>(entry.elements[0].integer);
    range.last = static_cast<int>(entry.elements[1].integer);
    if (range.first < 0 || range.last >= kClusterSlots || range.first > range.last) {
      return Malformed(absl::StrCat("slot range ", range.first, "-", range.last));
    }
    auto primary = NodeOf(entry.elements[2]);
    if (!primary.has_value()) return Malformed("a range without a primary");
    range.primary = *std::move(primary);
    for (size_t i = 3; i < entry.elements.size(); ++i) {
      if (auto replica = NodeOf(entry.elements[i]); replica.has_value()) {
        range.replicas.push_back(*std::move(replica));
      }
    }
    ranges.push_back(std::move(range));
  }
  return ranges;
}

std::optional<Redirect> ParseRedirect(absl::string_view text) {
  Redirect r;
  if (absl::ConsumePrefix(&text, "MOVED ")) {
    r.ask = false;
  } else if (absl::ConsumePrefix(&text, "ASK ")) {
    r.ask = true;
  } else {
    return std::nullopt;
  }
  size_t space = text.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  if (!absl::SimpleAtoi(text.substr(0, space), &r.slot) || r.slot < 0 ||
      r.slot >= kClusterSlots) {
    return std::nullopt;
  }
  absl::string_view address = text.substr(space + 1);
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return std::nullopt;  // ":<port>": an unknown endpoint
  r.to.host = std::string(address.substr(0, colon));
  if (!absl::SimpleAtoi(address.substr(colon + 1), &r.to.port) || r.to.port < 1 ||
      r.to.port > 65535) {
    return std::nullopt;
  }
  return r;
}

}  // namespace trellis::redis
