#include "services/reminders/store/dispatch_store.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/redis/keys.h"
#include "common/redis/staging.h"
#include "common/status/status.h"
#include "services/reminders/store/reminder_store.h"

namespace trellis::reminders {
namespace {

using redis::Reply;

constexpr absl::string_view kService = "rem";

// A claimed entry's score is its lease expiry + 0.5: due entries otherwise have whole
// milliseconds, so a fractional score marks an entry whose lease ran out (its original due time is
// in the lease hash), and the completion recognises its own claim by the exact score (a later claim
// has a later expiry; a write that moved the entry set a whole number).
//
// KEYS: [1] due index, [2] lease hash.
// ARGV: [1] now ms, [2] lease score, [3] limit.
// Returns {{member, due ms before the claim, reminder blob or ''}...}.
const redis::Script kClaimScript("reminders_claim", R"lua(
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                         tonumber(ARGV[3]))
if #items == 0 then return {} end
-- Variadic calls for the whole batch: per-call overhead, not per-entry work, dominates here.
local leased, dues, blobs, out = {}, {}, {}, {}
for j = 1, #items, 2 do
  local m, due = items[j], items[j + 1]
  if string.find(due, '.', 1, true) then
    due = redis.call('HGET', KEYS[2], m) or string.match(due, '^%d+')
  end
  leased[#leased + 1] = ARGV[2]
  leased[#leased + 1] = m
  dues[#dues + 1] = m
  dues[#dues + 1] = due
  local t, p, id = string.match(m, '^([^|]+)|([^|]+)|([^|]+)')
  blobs[#blobs + 1] = 'trellis:rem:{' .. t .. ':' .. p .. '}:rem:' .. id
  out[#out + 1] = {m, due, ''}
end
-- Every read before the first write: on a cluster the blobs are undeclared keys of the bucket's
-- slot, and one that a resharding has already moved fails the script, which must then have
-- changed nothing.
local values = redis.call('MGET', unpack(blobs))
redis.call('ZADD', KEYS[1], unpack(leased))
redis.call('HSET', KEYS[2], unpack(dues))
for j = 1, #out do out[j][3] = values[j] or '' end
return out
)lua");

// KEYS: [1] due index, [2] lease hash, [3] on Redis Cluster: the slot's delivery staging part,
//       then the items' patient keys (declared only, see Complete).
// ARGV: [1] lease score of the claim, [2] '1' to stage deliveries (cluster) instead of entering
//       them, [3] retention ms, [4] number of items, then per item: member, action ('s' set, 'r'
//       remove, 'e' end), next due ms, revision, ended blob, records "ms=state;...", the tenant's
//       stream of the patient's delivery bucket (OutStreamKey), number of deliveries, then 5 per
//       delivery: delivery key, kind, due ms, scheduled ms, payload.
// On a cluster the stream lies in another slot: a delivery is staged in the bucket's slot
// ("k" = the stream, "v" = its fields packed with cmsgpack, redis/staging.h) and moved on by
// kDeliveriesMoveScript, still exactly once.
// Returns {completed, lost, delivered}.
const redis::Script kCompleteScript("reminders_complete", R"lua(
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
if minid < 0 then minid = 0 end
local lease = tonumber(ARGV[1])
local items, members = {}, {}
local i = 5
for k = 1, tonumber(ARGV[4]) do
  local nd = tonumber(ARGV[i + 7])
  items[k] = {i = i, nd = nd}
  members[k] = ARGV[i]
  i = i + 8 + nd * 5
end
if #items == 0 then return {0, 0, 0} end
local scores = redis.call('ZMSCORE', KEYS[1], unpack(members))
local completed, lost, delivered = 0, 0, 0
local moved, removed = {}, {}
for k, item in ipairs(items) do
  local i, nd = item.i, item.nd
  local m, action, score, rev, blob, records = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
      ARGV[i + 4], ARGV[i + 5]
  if tonumber(scores[k]) ~= lease then
    lost = lost + 1
  else
    local t, p, id = string.match(m, '^([^|]+)|([^|]+)|([^|]+)')
    local prefix = 'trellis:rem:{' .. t .. ':' .. p .. '}'
    local occ = prefix .. ':occ:' .. id
    local stream = ARGV[i + 6]
    for j = 0, nd - 1 do
      local a = i + 8 + j * 5
      local sched = ARGV[a + 3]
      -- Completed (done, skipped) or skipped in a pause before it was delivered: not delivered.
      local st = redis.call('HGET', occ, sched) or ''
      local deliver = not (string.sub(st, 1, 4) == 'done' or string.sub(st, 1, 7) == 'skipped')
      if deliver then
        if ARGV[2] == '1' then
          redis.call('XADD', KEYS[3], '*', 'k', stream, 'v',
                     cmsgpack.pack({ARGV[a + 2], ARGV[a + 1], ARGV[a], ARGV[a + 4]}))
        else
          redis.call('XADD', stream, 'MINID', '~', minid, '*', 'u', ARGV[a + 2],
                     'k', ARGV[a + 1], 'm', ARGV[a], 'd', ARGV[a + 4])
        end
        delivered = delivered + 1
      end
    end
    for ms, st in string.gmatch(records, '(%d+)=([%w_]+)') do
      if redis.call('HSETNX', occ, ms, st) == 1 then
        redis.call('ZADD', prefix .. ':occt:' .. id, ms, ms)
      end
    end
    if action == 's' then
      moved[#moved + 1] = score
      moved[#moved + 1] = m
    else
      removed[#removed + 1] = m
      if string.find(m, '|snooze|', 1, true) then
        redis.call('SREM', prefix .. ':snz:' .. id, m)
      end
      if action == 'e' then
        local meta = prefix .. ':meta:' .. id
        if redis.call('HGET', meta, 'revision') == rev then
          redis.call('SET', prefix .. ':rem:' .. id, blob)
          redis.call('HSET', meta, 'revision', tonumber(rev) + 1, 'state', '3')
        end
      end
    end
    completed = completed + 1
  end
end
if #moved > 0 then redis.call('ZADD', KEYS[1], unpack(moved)) end
if #removed > 0 then
  redis.call('ZREM', KEYS[1], unpack(removed))
  -- A removed entry's lease record goes too (snooze members are unique: they would pile up).
  redis.call('HDEL', KEYS[2], unpack(removed))
end
return {completed, lost, delivered}
)lua");

// Redis Cluster: enters staged deliveries into their stream (redis::MoveStaged), with the fields
// the complete script enters directly on a single Redis. KEYS: [1] the stream, [2] its cursor
// hash. ARGV: [1] the staging part, [2] retention ms, then staged id and packed fields pairs.
const redis::Script kDeliveriesMoveScript("reminders_deliveries_move",
                                          absl::StrCat(redis::kStagedEachLua, R"lua(
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
if minid < 0 then minid = 0 end
return trellis_staged_each(3, function(v)
  local f = cmsgpack.unpack(v)
  redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*', 'u', f[1], 'k', f[2], 'm', f[3], 'd', f[4])
end)
)lua"));

// KEYS: [1] the tenant's subscriber hash, [2..] the tenant's bucket streams.
// ARGV: [1] subscriber, [2] kinds filter.
const redis::Script kSubscribeScript("reminders_subscribe", R"lua(
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then
  return redis.error_reply('FAILED_PRECONDITION:SUBSCRIBER_FILTER_MISMATCH the subscriber was registered with another kinds filter; use another subscriber id')
end
if not cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
for k = 2, #KEYS do
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[k], ARGV[1], '0', 'MKSTREAM')
  if not ok and not string.find(tostring(err.err or err), 'BUSYGROUP', 1, true) then
    return redis.error_reply('INTERNAL could not create the consumer group')
  end
end
return 1
)lua");

// Redis Cluster: the subscriber's consumer group on one bucket stream (the subscribe script does
// all buckets at once on a single Redis). KEYS: [1] stream. ARGV: [1] subscriber.
const redis::Script kGroupScript("reminders_group", R"lua(
local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if not ok and not string.find(tostring(err.err or err), 'BUSYGROUP', 1, true) then
  return redis.error_reply('INTERNAL could not create the consumer group')
end
return 1
)lua");

// Used by the poll script: takes delivery `key` from the stream that holds it (its
// owner record, and one off the owner's count); returns the owner record's "<consumer>|<attempt>|
// <entry id>" or nil when nobody holds it.
constexpr absl::string_view kReleaseLua = R"lua(
local function release(inf, own, key)
  local o = redis.call('HGET', own, key)
  if not o then return nil end
  local c = '#' .. string.match(o, '^([^|]+)')
  if redis.call('HINCRBY', own, c, -1) <= 0 then redis.call('HDEL', own, c) end
  redis.call('HDEL', own, key)
  redis.call('ZREM', inf, key)
  return o
end
)lua";

// Deliveries are known by their key "<patient>|<reminder id>|<dlv field>" in `inf` and `own` (the
// stream entry carries it as field m), so an acknowledgement finds them from the delivery id alone.
// KEYS: 3 per bucket: stream, inf, own.
// ARGV: [1] subscriber (group), [2] consumer, [3] now ms, [4] ack deadline ms, [5] cutoff ms,
//       [6] max unacked, [7] max batch, [8] kinds filter, [9] first bucket.
// Returns {{{bucket, entry id, attempt, payload}...}, outstanding}.
const std::string kPollLua = absl::StrCat(kReleaseLua, R"lua(
local nb = #KEYS / 3
local me = ARGV[2]
local count = '#' .. me
local cutoff = tonumber(ARGV[5])
local outstanding = 0
for b = 0, nb - 1 do
  outstanding = outstanding + tonumber(redis.call('HGET', KEYS[b * 3 + 3], count) or '0')
end
local room = math.min(tonumber(ARGV[6]) - outstanding, tonumber(ARGV[7]))
local out = {}
-- Hand-overs of one bucket, written with one variadic call each at the end of the bucket.
local pending, owners = {}, {}
local function take(b, inf, own, key, eid, attempt, payload)
  pending[#pending + 1] = ARGV[4]
  pending[#pending + 1] = key
  owners[#owners + 1] = key
  owners[#owners + 1] = me .. '|' .. attempt .. '|' .. eid
  out[#out + 1] = {b, eid, attempt, payload}
  room = room - 1
end
local first = tonumber(ARGV[9])
for pass = 1, 2 do
  for j = 0, nb - 1 do
    if room <= 0 then break end
    local b = (first + j) % nb
    local s, inf, own = KEYS[b * 3 + 1], KEYS[b * 3 + 2], KEYS[b * 3 + 3]
    local before = #out
    if pass == 1 then
      -- Redeliveries: handed over before and not acknowledged by their deadline.
      local expired = redis.call('ZRANGEBYSCORE', inf, '-inf', ARGV[3], 'LIMIT', 0, room)
      for _, key in ipairs(expired) do
        local o = release(inf, own, key)
        if o then
          local attempts, eid = string.match(o, '^[^|]+|(%d+)|(.+)$')
          local e = redis.call('XRANGE', s, eid, eid)
          -- Trimmed, or past the grace window: redelivery stops.
          if #e == 1 and tonumber(e[1][2][2]) >= cutoff then
            take(b, inf, own, key, eid, tonumber(attempts) + 1, e[1][2][8])
          end
        end
      end
    else
      -- New entries of the subscriber's group.
      local ok, r = pcall(redis.call, 'XREADGROUP', 'GROUP', ARGV[1], 'c', 'COUNT', room, 'NOACK',
                          'STREAMS', s, '>')
      if not ok then
        -- The group is gone (stream deleted by hand): recreate it; the next poll reads it.
        redis.call('XGROUP', 'CREATE', s, ARGV[1], '0', 'MKSTREAM')
      elseif r then
        for _, e in ipairs(r[1][2]) do
          local f = e[2]
          if tonumber(f[2]) >= cutoff and
              (ARGV[8] == '' or string.find(ARGV[8], ',' .. f[4] .. ',', 1, true)) then
            take(b, inf, own, f[6], e[1], 1, f[8])
          end
        end
      end
    end
    if #out > before then
      redis.call('ZADD', inf, unpack(pending))
      redis.call('HSET', own, unpack(owners))
      redis.call('HINCRBY', own, count, #out - before)
      pending, owners = {}, {}
    end
  end
end
return {out, outstanding + #out}
)lua");
const redis::Script kPollScript("reminders_poll", kPollLua);

// Deliveries are grouped by bucket, so each group's pending list changes with variadic calls.
// KEYS: per group: inf, own (bucket, subscriber), then one ack record hash (patient) per delivery.
// ARGV: [1] subscriber, [2] now ms, [3] number of groups, then per group: number of deliveries,
//       then 2 per delivery: delivery key, dlv field.
// Returns per delivery, in argument order, {outcome, ack ms}: 1 acknowledged now, 2 acknowledged
// before (or earlier in this call), 0 never handed to this subscriber.
const std::string kAckLua = R"lua(
local out = {}
local k, a = 1, 4
for _ = 1, tonumber(ARGV[3]) do
  local inf, own = KEYS[k], KEYS[k + 1]
  local n = tonumber(ARGV[a])
  local dkeys, fields, acks = {}, {}, {}
  for j = 1, n do
    dkeys[j] = ARGV[a + 2 * j - 1]
    fields[j] = ARGV[a + 2 * j]
    acks[j] = KEYS[k + 1 + j]
  end
  k = k + 2 + n
  a = a + 1 + 2 * n
  local owners = redis.call('HMGET', own, unpack(dkeys))
  local held, counts, seen = {}, {}, {}
  for j = 1, n do
    if seen[dkeys[j]] then
      owners[j] = false
    elseif owners[j] then
      seen[dkeys[j]] = true
      held[#held + 1] = dkeys[j]
      local c = '#' .. string.match(owners[j], '^([^|]+)')
      counts[c] = (counts[c] or 0) + 1
    end
  end
  if #held > 0 then
    redis.call('HDEL', own, unpack(held))
    redis.call('ZREM', inf, unpack(held))
    for c, m in pairs(counts) do
      if redis.call('HINCRBY', own, c, -m) <= 0 then redis.call('HDEL', own, c) end
    end
  end
  for j = 1, n do
    local record = ARGV[1] .. '|' .. fields[j]
    if owners[j] then
      redis.call('HSET', acks[j], record, ARGV[2])
      out[#out + 1] = {1, tonumber(ARGV[2])}
    else
      local prev = redis.call('HGET', acks[j], record)
      if prev then out[#out + 1] = {2, tonumber(prev)} else out[#out + 1] = {0, 0} end
    end
  end
end
return out
)lua";
const redis::Script kAckScript("reminders_ack", kAckLua);

std::string BucketKey(int bucket, absl::string_view suffix) {
  return absl::StrCat("trellis:rem:{due:", bucket, "}:", suffix);
}

std::string SubscriberKey(int bucket, absl::string_view kind, const std::string& tenant,
                          const std::string& subscriber) {
  return BucketKey(bucket, absl::StrCat(kind, ":", tenant, ":", subscriber));
}

std::string KindsFilter(const std::vector<int>& kinds) {
  return kinds.empty() ? std::string() : absl::StrCat(",", absl::StrJoin(kinds, ","), ",");
}

absl::Status Corrupt() {
  return WithReason(absl::InternalError("dispatch state could not be read"), "STORE_ERROR");
}

int64_t ParseInt(const Reply& r) {
  if (r.is_integer()) return r.integer;
  int64_t v = 0;
  return absl::SimpleAtoi(r.str, &v) ? v : 0;
}

// "<tenant>|<patient>|<id>" or "<tenant>|<patient>|<id>|snooze|<ms>".
bool ParseMember(ClaimedEntry& e) {
  std::vector<absl::string_view> parts = absl::StrSplit(e.member, '|');
  if (parts.size() != 3 && parts.size() != 5) return false;
  e.tenant = std::string(parts[0]);
  e.patient = std::string(parts[1]);
  e.reminder_id = std::string(parts[2]);
  e.scheduled_ms = e.due_ms;
  if (parts.size() == 5) {
    if (parts[3] != "snooze" || !absl::SimpleAtoi(parts[4], &e.scheduled_ms)) return false;
    e.snooze = true;
  }
  return true;
}

// Starts `count` calls at once (start(i, answer)) and answers `done` once all have answered: OK,
// or the first failure.
void AllOf(int count, const std::function<void(int, absl::AnyInvocable<void(absl::Status)>)>& start,
           absl::AnyInvocable<void(absl::Status)> done) {
  struct State {
    absl::Mutex mu;
    int left;
    absl::Status first;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  if (count == 0) return done(absl::OkStatus());
  auto state = std::make_shared<State>();
  state->left = count;
  state->done = std::move(done);
  for (int i = 0; i < count; ++i) {
    start(i, [state](absl::Status s) {
      bool last = false;
      {
        absl::MutexLock lock(&state->mu);
        if (!s.ok() && state->first.ok()) state->first = s;
        last = --state->left == 0;
      }
      if (last) state->done(state->first);
    });
  }
}

std::string AckRecordKey(const redis::RedisClient& redis, int bucket, const std::string& tenant,
                         const AckItem& item) {
  // Beside the subscriber's pending list on a cluster (one slot per ack script), else with the
  // patient's keys, where it has always been.
  if (redis.Clustered()) {
    return BucketKey(bucket,
                     absl::StrCat("ack:", tenant, "|", item.patient, "|", item.reminder_id));
  }
  return redis::PatientKeys(kService, tenant, item.patient).Key({"ack", item.reminder_id});
}

}  // namespace

std::string DeliveryField(int64_t scheduled_ms, bool snooze) {
  return absl::StrCat(scheduled_ms, snooze ? "s" : "");
}

std::string DeliveryKey(absl::string_view patient, absl::string_view reminder_id,
                        absl::string_view field) {
  return absl::StrCat(patient, "|", reminder_id, "|", field);
}

std::string LeaseScore(absl::Time lease_until) {
  return absl::StrCat(ToUnixMillisFloor(lease_until), ".5");
}

std::string OutStreamKey(int bucket, const std::string& tenant) {
  return BucketKey(bucket, absl::StrCat("out:", tenant));
}

void DispatchStore::Claim(int bucket, absl::Time now, const std::string& lease, int limit,
                          Callback<std::vector<ClaimedEntry>> done, absl::Time deadline) {
  redis_->Eval(kClaimScript, {DueKey(*redis_, bucket), DueLeaseKey(*redis_, bucket)},
               {absl::StrCat(ToUnixMillisFloor(now)), lease, absl::StrCat(limit)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 std::vector<ClaimedEntry> out;
                 out.reserve(reply->elements.size());
                 for (Reply& item : reply->elements) {
                   if (item.elements.size() != 3) return done(Corrupt());
                   ClaimedEntry e;
                   e.member = std::move(item.elements[0].str);
                   e.due_ms = ParseInt(item.elements[1]);
                   if (!ParseMember(e)) return done(Corrupt());
                   e.reminder = std::move(item.elements[2].str);
                   out.push_back(std::move(e));
                 }
                 done(std::move(out));
               },
               {deadline});
}

void DispatchStore::Complete(int bucket, const std::string& lease,
                             const std::vector<EntryCompletion>& items,
                             Callback<CompleteResult> done, absl::Time deadline) {
  const bool staged = redis_->Clustered();
  std::vector<std::string> a = {lease, staged ? "1" : "", RetentionMs(),
                                absl::StrCat(items.size())};
  for (const EntryCompletion& c : items) {
    const ClaimedEntry& e = *c.entry;
    a.push_back(e.member);
    a.push_back(c.due == EntryCompletion::Due::kSet   ? "s"
                : c.due == EntryCompletion::Due::kEnd ? "e"
                                                      : "r");
    a.push_back(absl::StrCat(c.next_due_ms));
    a.push_back(absl::StrCat(c.revision));
    a.push_back(c.ended_reminder);
    std::string records;
    for (const auto& [ms, state] : c.records) absl::StrAppend(&records, ms, "=", state, ";");
    a.push_back(std::move(records));
    a.push_back(OutStreamKey(DueBucket(e.tenant, e.patient), e.tenant));
    a.push_back(absl::StrCat(c.deliveries.size()));
    for (const DeliveryWrite& d : c.deliveries) {
      a.push_back(DeliveryKey(e.patient, e.reminder_id, DeliveryField(d.scheduled_ms, d.snooze)));
      a.push_back(absl::StrCat(d.kind));
      a.push_back(absl::StrCat(d.due_ms));
      a.push_back(absl::StrCat(d.scheduled_ms));
      a.push_back(d.payload);
    }
  }
  std::vector<std::string> keys = {DueKey(*redis_, bucket), DueLeaseKey(*redis_, bucket)};
  if (staged) {
    keys.push_back(DeliveryStaging().SlotKey(bucket));
    // The patient keys the script touches, declared (the script itself builds them): while a
    // resharding moves the slot, Redis then refuses the whole call up front (ASK, TRYAGAIN; the
    // cluster client retries) instead of failing halfway through, after some of its writes.
    for (const EntryCompletion& c : items) {
      redis::PatientKeys patient(kService, c.entry->tenant, c.entry->patient);
      for (absl::string_view kind : {"occ", "occt", "snz", "meta", "rem"}) {
        keys.push_back(patient.Key({kind, c.entry->reminder_id}));
      }
    }
  }
  redis_->Eval(kCompleteScript, std::move(keys), std::move(a),
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (reply->elements.size() != 3) return done(Corrupt());
                 done(CompleteResult{static_cast<int>(reply->elements[0].integer),
                                     static_cast<int>(reply->elements[1].integer),
                                     static_cast<int>(reply->elements[2].integer)});
               },
               {deadline});
}

absl::StatusOr<int> DispatchStore::MoveStagedDeliveries(int per_part) {
  if (!redis_->Clustered()) return 0;
  return redis::MoveStaged(*redis_, DeliveryStaging(), kDeliveriesMoveScript, {RetentionMs()},
                           per_part);
}

absl::StatusOr<int> DispatchStore::MoveStagedDeliveries(const std::vector<int>& buckets,
                                                        int per_part) {
  if (!redis_->Clustered() || buckets.empty()) return 0;
  const redis::SlotIndex staging = DeliveryStaging();
  std::vector<std::string> parts;
  parts.reserve(buckets.size());
  for (int b : buckets) parts.push_back(staging.SlotKey(b));
  return redis::MoveStagedParts(*redis_, parts, kDeliveriesMoveScript, {RetentionMs()}, per_part);
}

std::string DispatchStore::RetentionMs() const {
  return absl::StrCat(absl::ToInt64Milliseconds(options_.stream_retention));
}

redis::SlotIndex DeliveryStaging() { return redis::SlotIndex(kService, "dlv_staged"); }

void DispatchStore::Subscribe(const std::string& tenant, const std::string& subscriber,
                              const std::vector<int>& kinds, Callback<bool> done,
                              absl::Time deadline) {
  std::vector<std::string> keys = {redis::TenantKeys("rem", tenant).Key({"subs"})};
  // The tenant's subscriber hash is tagged "{<tenant>}" by TenantKeys ("trellis:rem:{t1}:subs").
  const bool clustered = redis_->Clustered();
  // On a cluster the streams lie in slots of their own: their groups are made one by one after.
  if (!clustered) {
    for (int b = 0; b < kDueBuckets; ++b) keys.push_back(OutStreamKey(b, tenant));
  }
  redis_->Eval(
      kSubscribeScript, std::move(keys), {subscriber, KindsFilter(kinds)},
      [redis = redis_, clustered, tenant, subscriber, deadline,
       done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        if (!clustered) return done(true);
        AllOf(
            kDueBuckets,
            [&](int b, absl::AnyInvocable<void(absl::Status)> answer) {
              redis->Eval(kGroupScript, {OutStreamKey(b, tenant)}, {subscriber},
                           [answer = std::move(answer)](absl::StatusOr<Reply> r) mutable {
                             answer(r.status());
                           },
                           {deadline});
            },
            [done = std::move(done)](absl::Status s) mutable {
              if (!s.ok()) return done(s);
              done(true);
            });
      },
      {deadline});
}

namespace {

// The poll script's keys and arguments for `buckets` (ARGV[6], [7]: max unacked and max batch).
void PollCall(const PollRequest& request, const std::vector<int>& kinds,
              const std::vector<int>& buckets, int first, int max_unacked, int max_batch,
              std::vector<std::string>& keys, std::vector<std::string>& args) {
  keys.reserve(buckets.size() * 3);
  for (int b : buckets) {
    keys.push_back(OutStreamKey(b, request.tenant));
    keys.push_back(SubscriberKey(b, "inf", request.tenant, request.subscriber));
    keys.push_back(SubscriberKey(b, "own", request.tenant, request.subscriber));
  }
  args = {request.subscriber,
          request.consumer,
          absl::StrCat(ToUnixMillisFloor(request.now)),
          absl::StrCat(ToUnixMillisFloor(request.ack_deadline)),
          absl::StrCat(ToUnixMillisFloor(request.cutoff)),
          absl::StrCat(max_unacked),
          absl::StrCat(max_batch),
          KindsFilter(kinds),
          absl::StrCat(first)};
}

// Appends a poll script reply's deliveries to `out` (their bucket: buckets[index in the call]).
absl::Status ReadPoll(Reply& reply, const std::vector<int>& buckets, PollResult& out) {
  if (reply.elements.size() != 2) return Corrupt();
  out.deliveries.reserve(out.deliveries.size() + reply.elements[0].elements.size());
  for (Reply& item : reply.elements[0].elements) {
    if (item.elements.size() != 4) return Corrupt();
    int64_t at = item.elements[0].integer;
    if (at < 0 || at >= static_cast<int64_t>(buckets.size())) return Corrupt();
    out.deliveries.push_back({buckets[at], std::move(item.elements[1].str),
                              static_cast<int>(item.elements[2].integer),
                              std::move(item.elements[3].str)});
  }
  out.outstanding = static_cast<int>(reply.elements[1].integer);
  return absl::OkStatus();
}

// Redis Cluster: the poll bucket by bucket (each bucket's keys share its slot), from
// request.start_bucket on, while there is room. `held[b]`: what the consumer holds in bucket b.
struct ClusterPoll {
  redis::RedisClient* redis;
  PollRequest request;
  std::vector<int> kinds;
  std::vector<int> held;
  absl::Time deadline;
  absl::AnyInvocable<void(absl::StatusOr<PollResult>)> done;
  PollResult result;
  int step = 0;

  // What the consumer holds in all buckets.
  int Held() const { return std::accumulate(held.begin(), held.end(), 0); }

  // A bucket failed: what earlier buckets handed over is answered (it is recorded as held by
  // this consumer; dropping it would only delay it to its ack deadline); else the error.
  void Fail(absl::Status s) {
    if (result.deliveries.empty()) return done(s);
    result.outstanding = Held();
    done(std::move(result));
  }

  static void Next(std::shared_ptr<ClusterPoll> p) {
    const int total = p->Held();
    const int room = std::min(p->request.max_unacked - total,
                              p->request.max_batch - static_cast<int>(p->result.deliveries.size()));
    if (p->step == kDueBuckets || room <= 0) {
      p->result.outstanding = total;
      return p->done(std::move(p->result));
    }
    const int b = (p->request.start_bucket + p->step++) % kDueBuckets;
    std::vector<std::string> keys, args;
    // The script counts this bucket's holdings itself; the others' are taken off its limit.
    PollCall(p->request, p->kinds, {b}, 0, p->request.max_unacked - (total - p->held[b]), room,
             keys, args);
    redis::RedisClient* redis = p->redis;
    absl::Time deadline = p->deadline;
    redis->Eval(kPollScript, std::move(keys), std::move(args),
                [p = std::move(p), b](absl::StatusOr<Reply> reply) mutable {
                  if (!reply.ok()) return p->Fail(reply.status());
                  PollResult one;
                  if (absl::Status s = ReadPoll(*reply, {b}, one); !s.ok()) return p->Fail(s);
                  p->held[b] = one.outstanding;
                  for (auto& d : one.deliveries) p->result.deliveries.push_back(std::move(d));
                  Next(std::move(p));
                },
                {deadline});
  }
};

}  // namespace

void DispatchStore::Poll(const PollRequest& request, const std::vector<int>& kinds,
                         Callback<PollResult> done, absl::Time deadline) {
  std::vector<int> all(kDueBuckets);
  for (int b = 0; b < kDueBuckets; ++b) all[b] = b;
  if (redis_->Clustered()) {
    // What the consumer holds in every bucket first (max_unacked spans them all), then the polls.
    auto poll = std::make_shared<ClusterPoll>();
    poll->redis = redis_;
    poll->request = request;
    poll->kinds = kinds;
    poll->held.assign(kDueBuckets, 0);
    poll->deadline = deadline;
    poll->done = std::move(done);
    AllOf(
        kDueBuckets,
        [&](int b, absl::AnyInvocable<void(absl::Status)> answer) {
          redis_->Execute({"HGET", SubscriberKey(b, "own", request.tenant, request.subscriber),
                           absl::StrCat("#", request.consumer)},
                          [poll, b, answer = std::move(answer)](absl::StatusOr<Reply> r) mutable {
                            if (r.ok()) poll->held[b] = static_cast<int>(ParseInt(*r));
                            answer(r.status());
                          },
                          {deadline});
        },
        [poll](absl::Status s) mutable {
          if (!s.ok()) return poll->done(s);
          ClusterPoll::Next(std::move(poll));
        });
    return;
  }
  std::vector<std::string> keys, args;
  PollCall(request, kinds, all, request.start_bucket % kDueBuckets, request.max_unacked,
           request.max_batch, keys, args);
  redis_->Eval(kPollScript, std::move(keys), std::move(args),
               [done = std::move(done), all](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 PollResult out;
                 if (absl::Status s = ReadPoll(*reply, all, out); !s.ok()) return done(s);
                 done(std::move(out));
               },
               {deadline});
}

void DispatchStore::Ack(const std::string& tenant, const std::string& subscriber,
                        const std::vector<AckItem>& items, absl::Time now,
                        Callback<std::vector<AckOutcome>> done, absl::Time deadline) {
  // Group by bucket (the subscriber's pending list is per bucket); remember where each item was.
  std::vector<std::vector<size_t>> groups(kDueBuckets);
  for (size_t i = 0; i < items.size(); ++i) {
    groups[DueBucket(tenant, items[i].patient)].push_back(i);
  }
  // One call for every group on a single Redis; one per group on a cluster, where each bucket
  // has its slot (its ack records included, AckRecordKey).
  struct Call {
    std::vector<std::string> keys;
    std::vector<std::string> args;
    std::vector<size_t> order;  // script result position -> item index
    int groups = 0;
  };
  std::vector<Call> calls;
  const bool clustered = redis_->Clustered();
  for (int b = 0; b < kDueBuckets; ++b) {
    if (groups[b].empty()) continue;
    if (calls.empty() || clustered) {
      calls.push_back({{}, {subscriber, absl::StrCat(ToUnixMillisFloor(now)), "0"}, {}});
    }
    Call& call = calls.back();
    call.args[2] = absl::StrCat(++call.groups);
    call.keys.push_back(SubscriberKey(b, "inf", tenant, subscriber));
    call.keys.push_back(SubscriberKey(b, "own", tenant, subscriber));
    call.args.push_back(absl::StrCat(groups[b].size()));
    for (size_t i : groups[b]) {
      const AckItem& item = items[i];
      call.keys.push_back(AckRecordKey(*redis_, b, tenant, item));
      call.args.push_back(DeliveryKey(item.patient, item.reminder_id, item.field));
      call.args.push_back(item.field);
      call.order.push_back(i);
    }
  }
  auto out = std::make_shared<std::vector<AckOutcome>>(items.size());
  AllOf(
      static_cast<int>(calls.size()),
      [&](int c, absl::AnyInvocable<void(absl::Status)> answer) {
        Call& call = calls[c];
        redis_->Eval(
            kAckScript, std::move(call.keys), std::move(call.args),
            [out, order = std::move(call.order), answer = std::move(answer)](
                absl::StatusOr<Reply> reply) mutable {
              if (!reply.ok()) return answer(reply.status());
              if (reply->elements.size() != order.size()) return answer(Corrupt());
              for (size_t j = 0; j < order.size(); ++j) {
                const Reply& r = reply->elements[j];
                if (r.elements.size() != 2) return answer(Corrupt());
                int64_t code = r.elements[0].integer;
                (*out)[order[j]] = {
                    .found = code != 0, .already = code == 2, .ack_ms = r.elements[1].integer};
              }
              answer(absl::OkStatus());
            },
            {deadline});
      },
      [out, done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) return done(s);
        done(std::move(*out));
      });
}

}  // namespace trellis::reminders
