#include "common/redis/staging.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/redis/sync_redis.h"

namespace trellis::redis {
namespace {

// The staged entries of one chunk of parts. ARGV: [1] at most this many per part, [2..] the
// parts. Returns {{part, {{id, {'k', target, 'v', payload}}...}}...} for the parts holding any.
const Script kStagedScript("staged_read", R"lua(
local out, n = {}, tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('XLEN', ARGV[i]) > 0 then
    out[#out + 1] = {ARGV[i], redis.call('XRANGE', ARGV[i], '-', '+', 'COUNT', n)}
  end
end
return out
)lua", ScriptAccess::kRead);

}  // namespace

const char kStagedEachLua[] = R"lua(
local function trellis_staged_each(first, fn)
  local function after(a, b)
    local am, as = string.match(a, '^(%d+)-(%d+)$')
    local bm, bs = string.match(b, '^(%d+)-(%d+)$')
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    return am > bm or (am == bm and as > bs)
  end
  local cur = redis.call('HGET', KEYS[2], ARGV[1]) or '0-0'
  local last, n = cur, 0
  for i = first, #ARGV, 2 do
    if after(ARGV[i], last) then
      fn(ARGV[i + 1])
      last = ARGV[i]
      n = n + 1
    end
  end
  if last ~= cur then redis.call('HSET', KEYS[2], ARGV[1], last) end
  return n
end
)lua";

std::string StagedCursorKey(absl::string_view target) { return absl::StrCat(target, ":moved"); }

namespace {

// Moves the entries of staged_read replies (`chunks`: lists of {part, entries}) to their targets.
absl::StatusOr<int> MoveRead(RedisClient& redis, const std::vector<Reply>& chunks,
                             const Script& apply, const std::vector<std::string>& args) {
  SyncRedis sync(&redis);
  int moved = 0;
  absl::Status failed;
  for (const Reply& chunk : chunks) {
    for (const Reply& part : chunk.elements) {
      if (part.elements.size() != 2) continue;
      const std::string& key = part.elements[0].str;
      // Per target, in id order: {part, args..., id, payload, id, payload, ...}.
      absl::flat_hash_map<std::string, std::vector<std::string>> by_target;
      std::vector<std::string> staged = {"XDEL", key};
      for (const Reply& e : part.elements[1].elements) {
        if (e.elements.size() != 2) continue;
        const std::string* target = nullptr;
        const std::string* payload = nullptr;
        const auto& f = e.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2) {
          if (f[i].str == "k") target = &f[i + 1].str;
          if (f[i].str == "v") payload = &f[i + 1].str;
        }
        staged.push_back(e.elements[0].str);
        if (target == nullptr || payload == nullptr) continue;  // malformed: removed with the rest
        auto& call = by_target[*target];
        if (call.empty()) {
          call.push_back(key);
          call.insert(call.end(), args.begin(), args.end());
        }
        call.push_back(e.elements[0].str);
        call.push_back(*payload);
      }
      bool all = true;
      for (auto& [target, call] : by_target) {
        auto r = sync.Eval(apply, {target, StagedCursorKey(target)}, std::move(call));
        if (!r.ok()) {
          all = false;
          failed = r.status();
          continue;
        }
        moved += static_cast<int>(r->integer);
      }
      // Only once every target has them (the cursors make the next pass skip what did arrive).
      if (all && staged.size() > 2) sync.Run(std::move(staged)).IgnoreError();
    }
  }
  if (!failed.ok()) return failed;
  return moved;
}

}  // namespace

absl::StatusOr<int> MoveStaged(RedisClient& redis, const SlotIndex& index, const Script& apply,
                               const std::vector<std::string>& args, int per_part) {
  auto walked = WalkIndex(redis, index, kStagedScript, {absl::StrCat(per_part)});
  if (!walked.ok()) return walked.status();
  return MoveRead(redis, *walked, apply, args);
}

absl::StatusOr<int> MoveStagedParts(RedisClient& redis, const std::vector<std::string>& parts,
                                    const Script& apply, const std::vector<std::string>& args,
                                    int per_part) {
  SyncRedis sync(&redis);
  std::vector<Reply> read;
  absl::Status failed;
  for (const std::string& part : parts) {
    auto r = sync.Eval(kStagedScript, {part}, {absl::StrCat(per_part), part});
    if (!r.ok()) {
      failed = r.status();
      continue;
    }
    read.push_back(*std::move(r));
  }
  absl::StatusOr<int> moved = MoveRead(redis, read, apply, args);
  if (!failed.ok()) return failed;
  return moved;
}

}  // namespace trellis::redis
