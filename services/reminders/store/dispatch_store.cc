#include "services/reminders/store/dispatch_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/redis/keys.h"
#include "common/status/status.h"
#include "services/reminders/store/reminder_store.h"

namespace trellis::reminders {
namespace {

using redis::Reply;

constexpr absl::string_view kService = "rem";

// KEYS: [1] due index, [2] lease hash.
// ARGV: [1] now ms, [2] lease expiry ms, [3] token, [4] limit.
// Returns {{member, due ms before the claim, reminder blob or '', revision or '0'}...}.
const redis::Script kClaimScript("reminders_claim", R"lua(
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                         tonumber(ARGV[4]))
local out = {}
for j = 1, #items, 2 do
  local m, due = items[j], items[j + 1]
  local held = redis.call('HGET', KEYS[2], m)
  if held then due = string.sub(held, 1, string.find(held, '|', 1, true) - 1) end
  redis.call('ZADD', KEYS[1], ARGV[2], m)
  redis.call('HSET', KEYS[2], m, due .. '|' .. ARGV[3])
  local t, p, id = string.match(m, '^([^|]+)|([^|]+)|([^|]+)')
  local prefix = 'trellis:rem:{' .. t .. ':' .. p .. '}'
  local blob = redis.call('GET', prefix .. ':rem:' .. id)
  local rev = redis.call('HGET', prefix .. ':meta:' .. id, 'revision')
  out[#out + 1] = {m, due, blob or '', rev or '0'}
end
return out
)lua");

// KEYS: [1] due index, [2] lease hash.
// ARGV: [1] token, [2] stream key prefix ("trellis:rem:{due:<b>}:out:"), [3] retention ms,
//       [4] number of items, then per item: member, due ms, action ('s' set, 'r' remove, 'e' end),
//       next due ms, revision, ended blob, records "ms=state;...", number of deliveries, then 5 per
//       delivery: dlv field, kind, due ms, scheduled ms, payload.
// Returns {completed, lost, delivered}.
const redis::Script kCompleteScript("reminders_complete", R"lua(
local now = redis.call('TIME')
local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
if minid < 0 then minid = 0 end
local completed, lost, delivered = 0, 0, 0
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local m, due, action, score, rev, blob, records = ARGV[i], ARGV[i + 1], ARGV[i + 2],
      ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local nd = tonumber(ARGV[i + 7])
  local d = i + 8
  i = d + nd * 5
  if redis.call('HGET', KEYS[2], m) ~= due .. '|' .. ARGV[1] then
    lost = lost + 1
  else
    redis.call('HDEL', KEYS[2], m)
    local t, p, id = string.match(m, '^([^|]+)|([^|]+)|([^|]+)')
    local prefix = 'trellis:rem:{' .. t .. ':' .. p .. '}'
    local occ, dlv = prefix .. ':occ:' .. id, prefix .. ':dlv:' .. id
    for k = 0, nd - 1 do
      local a = d + k * 5
      local field, sched = ARGV[a], ARGV[a + 3]
      -- Completed (done, skipped) or paused before delivery: not delivered.
      local st = redis.call('HGET', occ, sched)
      local final = st and (string.sub(st, 1, 4) == 'done' or string.sub(st, 1, 7) == 'skipped')
      if not final and redis.call('HEXISTS', dlv, field) == 0 then
        local eid = redis.call('XADD', ARGV[2] .. t, 'MINID', '~', minid, '*',
                               'u', ARGV[a + 2], 'k', ARGV[a + 1], 'd', ARGV[a + 4])
        redis.call('HSET', dlv, field, eid)
        delivered = delivered + 1
      end
    end
    for ms, st in string.gmatch(records, '(%d+)=([%w_]+)') do
      if redis.call('HSETNX', occ, ms, st) == 1 then
        redis.call('ZADD', prefix .. ':occt:' .. id, ms, ms)
      end
    end
    if action == 's' then
      redis.call('ZADD', KEYS[1], score, m)
    else
      redis.call('ZREM', KEYS[1], m)
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
return {completed, lost, delivered}
)lua");

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

// Shared by the poll and ack scripts: takes entry `eid` from the stream that holds it (its owner
// count and its owner record); returns the attempts so far (0 when nobody held it).
constexpr absl::string_view kReleaseLua = R"lua(
local function release(own, eid)
  local o = redis.call('HGET', own, eid)
  if not o then return 0 end
  local sep = string.find(o, '|', 1, true)
  local c = '#' .. string.sub(o, 1, sep - 1)
  if redis.call('HINCRBY', own, c, -1) <= 0 then redis.call('HDEL', own, c) end
  redis.call('HDEL', own, eid)
  return tonumber(string.sub(o, sep + 1))
end
)lua";

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
local function take(b, inf, own, eid, attempt, payload)
  redis.call('ZADD', inf, ARGV[4], eid)
  redis.call('HSET', own, eid, me .. '|' .. attempt)
  redis.call('HINCRBY', own, count, 1)
  out[#out + 1] = {b, eid, attempt, payload}
  room = room - 1
end
local first = tonumber(ARGV[9])
-- Redeliveries: handed over before and not acknowledged by their deadline.
for j = 0, nb - 1 do
  if room <= 0 then break end
  local b = (first + j) % nb
  local s, inf, own = KEYS[b * 3 + 1], KEYS[b * 3 + 2], KEYS[b * 3 + 3]
  local expired = redis.call('ZRANGEBYSCORE', inf, '-inf', ARGV[3], 'LIMIT', 0, room)
  for _, eid in ipairs(expired) do
    local attempts = release(own, eid)
    redis.call('ZREM', inf, eid)
    local e = redis.call('XRANGE', s, eid, eid)
    -- Trimmed, or past the grace window: redelivery stops.
    if #e == 1 and tonumber(e[1][2][2]) >= cutoff then
      take(b, inf, own, eid, attempts + 1, e[1][2][6])
    end
  end
end
-- New entries of the subscriber's group.
for j = 0, nb - 1 do
  if room <= 0 then break end
  local b = (first + j) % nb
  local s, inf, own = KEYS[b * 3 + 1], KEYS[b * 3 + 2], KEYS[b * 3 + 3]
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
        take(b, inf, own, e[1], 1, f[6])
      end
    end
  end
end
return {out, outstanding + #out}
)lua");
const redis::Script kPollScript("reminders_poll", kPollLua);

// KEYS: [1] dlv, [2] ack (patient), [3] inf, [4] own (bucket, subscriber).
// ARGV: [1] dlv field, [2] subscriber, [3] now ms.
// Returns {already (0/1), ack ms}.
const std::string kAckLua = absl::StrCat(kReleaseLua, R"lua(
local missing = 'NOT_FOUND:DELIVERY_NOT_FOUND no such delivery was made to this subscriber'
local eid = redis.call('HGET', KEYS[1], ARGV[1])
if not eid then return redis.error_reply(missing) end
local field = ARGV[2] .. '|' .. ARGV[1]
local prev = redis.call('HGET', KEYS[2], field)
if prev then return {1, tonumber(prev)} end
if not redis.call('HGET', KEYS[4], eid) then return redis.error_reply(missing) end
release(KEYS[4], eid)
redis.call('ZREM', KEYS[3], eid)
redis.call('HSET', KEYS[2], field, ARGV[3])
return {0, tonumber(ARGV[3])}
)lua");
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

}  // namespace

std::string DeliveryField(int64_t scheduled_ms, bool snooze) {
  return absl::StrCat(scheduled_ms, snooze ? "s" : "");
}

std::string OutStreamKey(int bucket, const std::string& tenant) {
  return BucketKey(bucket, absl::StrCat("out:", tenant));
}

void DispatchStore::Claim(int bucket, absl::Time now, absl::Time lease_until,
                          const std::string& token, int limit,
                          Callback<std::vector<ClaimedEntry>> done, absl::Time deadline) {
  redis_->Eval(kClaimScript, {DueKey(bucket), DueLeaseKey(bucket)},
               {absl::StrCat(ToUnixMillisFloor(now)), absl::StrCat(ToUnixMillisFloor(lease_until)),
                token, absl::StrCat(limit)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 std::vector<ClaimedEntry> out;
                 out.reserve(reply->elements.size());
                 for (Reply& item : reply->elements) {
                   if (item.elements.size() != 4) return done(Corrupt());
                   ClaimedEntry e;
                   e.member = std::move(item.elements[0].str);
                   e.due_ms = ParseInt(item.elements[1]);
                   if (!ParseMember(e)) return done(Corrupt());
                   e.reminder = std::move(item.elements[2].str);
                   e.revision = ParseInt(item.elements[3]);
                   out.push_back(std::move(e));
                 }
                 done(std::move(out));
               },
               {deadline});
}

void DispatchStore::Complete(int bucket, const std::string& token,
                             const std::vector<EntryCompletion>& items,
                             Callback<CompleteResult> done, absl::Time deadline) {
  std::vector<std::string> a = {token, BucketKey(bucket, "out:"),
                                absl::StrCat(absl::ToInt64Milliseconds(options_.stream_retention)),
                                absl::StrCat(items.size())};
  for (const EntryCompletion& c : items) {
    const ClaimedEntry& e = *c.entry;
    a.push_back(e.member);
    a.push_back(absl::StrCat(e.due_ms));
    a.push_back(c.due == EntryCompletion::Due::kSet   ? "s"
                : c.due == EntryCompletion::Due::kEnd ? "e"
                                                      : "r");
    a.push_back(absl::StrCat(c.next_due_ms));
    a.push_back(absl::StrCat(e.revision));
    a.push_back(c.ended_reminder);
    std::string records;
    for (const auto& [ms, state] : c.records) absl::StrAppend(&records, ms, "=", state, ";");
    a.push_back(std::move(records));
    a.push_back(absl::StrCat(c.deliveries.size()));
    for (const DeliveryWrite& d : c.deliveries) {
      a.push_back(DeliveryField(d.scheduled_ms, d.snooze));
      a.push_back(absl::StrCat(d.kind));
      a.push_back(absl::StrCat(d.due_ms));
      a.push_back(absl::StrCat(d.scheduled_ms));
      a.push_back(d.payload);
    }
  }
  redis_->Eval(kCompleteScript, {DueKey(bucket), DueLeaseKey(bucket)}, std::move(a),
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (reply->elements.size() != 3) return done(Corrupt());
                 done(CompleteResult{static_cast<int>(reply->elements[0].integer),
                                     static_cast<int>(reply->elements[1].integer),
                                     static_cast<int>(reply->elements[2].integer)});
               },
               {deadline});
}

void DispatchStore::Subscribe(const std::string& tenant, const std::string& subscriber,
                              const std::vector<int>& kinds, Callback<bool> done,
                              absl::Time deadline) {
  std::vector<std::string> keys = {redis::TenantKeys("rem", tenant).Key({"subs"})};
  // The tenant's subscriber hash is tagged "{<tenant>}" by TenantKeys ("trellis:rem:{t1}:subs").
  for (int b = 0; b < kDueBuckets; ++b) keys.push_back(OutStreamKey(b, tenant));
  redis_->Eval(kSubscribeScript, std::move(keys), {subscriber, KindsFilter(kinds)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 done(true);
               },
               {deadline});
}

void DispatchStore::Poll(const PollRequest& request, const std::vector<int>& kinds,
                         Callback<PollResult> done, absl::Time deadline) {
  std::vector<std::string> keys;
  keys.reserve(kDueBuckets * 3);
  for (int b = 0; b < kDueBuckets; ++b) {
    keys.push_back(OutStreamKey(b, request.tenant));
    keys.push_back(SubscriberKey(b, "inf", request.tenant, request.subscriber));
    keys.push_back(SubscriberKey(b, "own", request.tenant, request.subscriber));
  }
  redis_->Eval(kPollScript, std::move(keys),
               {request.subscriber, request.consumer, absl::StrCat(ToUnixMillisFloor(request.now)),
                absl::StrCat(ToUnixMillisFloor(request.ack_deadline)),
                absl::StrCat(ToUnixMillisFloor(request.cutoff)), absl::StrCat(request.max_unacked),
                absl::StrCat(request.max_batch), KindsFilter(kinds),
                absl::StrCat(request.start_bucket % kDueBuckets)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (reply->elements.size() != 2) return done(Corrupt());
                 PollResult out;
                 out.deliveries.reserve(reply->elements[0].elements.size());
                 for (Reply& item : reply->elements[0].elements) {
                   if (item.elements.size() != 4) return done(Corrupt());
                   out.deliveries.push_back({static_cast<int>(item.elements[0].integer),
                                             std::move(item.elements[1].str),
                                             static_cast<int>(item.elements[2].integer),
                                             std::move(item.elements[3].str)});
                 }
                 out.outstanding = static_cast<int>(reply->elements[1].integer);
                 done(std::move(out));
               },
               {deadline});
}

void DispatchStore::Ack(const std::string& tenant, const std::string& patient,
                        const std::string& reminder_id, const std::string& field,
                        const std::string& subscriber, absl::Time now, Callback<AckResult> done,
                        absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  int bucket = DueBucket(tenant, patient);
  redis_->Eval(kAckScript,
               {keys.Key({"dlv", reminder_id}), keys.Key({"ack", reminder_id}),
                SubscriberKey(bucket, "inf", tenant, subscriber),
                SubscriberKey(bucket, "own", tenant, subscriber)},
               {field, subscriber, absl::StrCat(ToUnixMillisFloor(now))},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (reply->elements.size() != 2) return done(Corrupt());
                 done(AckResult{reply->elements[0].integer == 1, reply->elements[1].integer});
               },
               {deadline});
}

}  // namespace trellis::reminders
