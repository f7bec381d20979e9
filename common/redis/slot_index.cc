#include "common/redis/slot_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/redis/cluster_slots.h"

namespace trellis::redis {

SlotIndex::SlotIndex(absl::string_view service, absl::string_view name)
    : prefix_(absl::StrCat("trellis:", service, ":")),
      name_(name),
      single_(absl::StrCat(prefix_, name_)) {}

std::string SlotIndex::KeyFor(const RedisClient& redis, absl::string_view patient_key) const {
  return redis.Clustered() ? SlotKey(KeySlot(patient_key)) : single_;
}

std::string SlotIndex::SlotKey(int slot) const {
  return absl::StrCat(prefix_, "{", SlotTag(slot), "}:", name_);
}

std::vector<std::vector<std::string>> SlotIndex::Chunks(const RedisClient& redis,
                                                        int max_keys) const {
  if (!redis.Clustered()) return {{single_}};
  max_keys = std::max(max_keys, 1);
  std::vector<std::vector<std::string>> chunks;
  for (const auto& ranges : redis.SlotsByNode()) {
    std::vector<std::string> chunk;
    for (const auto& [first, last] : ranges) {
      for (int slot = first; slot <= last; ++slot) {
        chunk.push_back(SlotKey(slot));
        if (static_cast<int>(chunk.size()) == max_keys) {
          chunks.push_back(std::move(chunk));
          chunk.clear();
        }
      }
    }
    if (!chunk.empty()) chunks.push_back(std::move(chunk));
  }
  return chunks;
}

absl::StatusOr<std::vector<Reply>> WalkIndex(RedisClient& redis, const SlotIndex& index,
                                             const Script& script,
                                             const std::vector<std::string>& args, int max_keys) {
  std::vector<std::vector<std::string>> chunks = index.Chunks(redis, max_keys);
  if (chunks.empty()) {
    return absl::UnavailableError("the Redis Cluster slot map is not loaded yet");
  }
  // Every chunk at once (they mostly go to different nodes); the answers in chunk order.
  std::vector<absl::StatusOr<Reply>> replies(chunks.size(), absl::UnknownError("no reply"));
  absl::BlockingCounter pending(static_cast<int>(chunks.size()));
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::vector<std::string> argv = args;
    argv.insert(argv.end(), chunks[i].begin(), chunks[i].end());
    redis.Eval(script, {chunks[i].front()}, std::move(argv),
               [&replies, &pending, i](absl::StatusOr<Reply> reply) {
                 replies[i] = std::move(reply);
                 pending.DecrementCount();
               });
  }
  pending.Wait();
  // The chunks that answered: one node failing over must not hold up the others' work.
  std::vector<Reply> out;
  out.reserve(replies.size());
  absl::Status failed;
  for (auto& reply : replies) {
    if (!reply.ok()) {
      failed = reply.status();
      continue;
    }
    out.push_back(*std::move(reply));
  }
  if (out.empty()) return failed;
  return out;
}

}  // namespace trellis::redis
