#include "services/reminders/store/reminder_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/outbox/outbox.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/keys.h"
#include "common/status/status.h"

namespace trellis::reminders {
namespace {

using redis::Reply;

constexpr absl::string_view kService = "rem";
constexpr int kKeysPerChange = 9;
constexpr int kArgsPerChange = 15;

// KEYS: [1] request record (or any key of the slot), [2] rems index,
//       then 9 per change: rem, meta, previous goal set, goal set, due bucket, occ, occt, snz,
//       due bucket's lease hash.
// ARGV: [1] has request, [2] fingerprint, [3] result, [4] request ttl, [5] changes,
//       then 15 per change: id, expected revision, new revision, blob, state, kind, goal id,
//       clinician, pause start ms, pause end ms, create score, due score ('' keeps the entry, '-'
//       removes it), due member, previous goal id, occurrence records "ms=state;ms=state".
//
// The due bucket key (DueKey) is "trellis:rem:{due:<b>}:due" on a single Redis, another slot
// than the patient's keys, which one script may write there; on Redis Cluster it is the
// patient's own slot's bucket (DueBucketOf), so the reminder and its due entry stay one atomic
// step in both layouts.
const redis::Script kWriteScript("reminders_write", audit::Audited(R"lua(
if ARGV[1] == '1' then
  local prev = redis.call('GET', KEYS[1])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, 1, sep - 1) ~= ARGV[2] then
      return redis.error_reply('ALREADY_EXISTS:REQUEST_ID_REUSED request_id was already used for a different request')
    end
    -- A replay writes too (the record's own TTL again): a WAIT behind it then also covers the
    -- original write, which may not have reached the replicas (replicated durability).
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
    return {1, string.sub(prev, sep + 1)}
  end
end
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  local k = 3 + i * 9
  local a = 6 + i * 15
  local expected = ARGV[a + 1]
  local cur = redis.call('HGET', KEYS[k + 1], 'revision')
  if expected == '0' then
    if cur then return redis.error_reply('ALREADY_EXISTS reminder already exists') end
  else
    if not cur then return redis.error_reply('NOT_FOUND reminder not found') end
    if cur ~= expected then
      return redis.error_reply('ABORTED:ETAG_MISMATCH the reminder has changed; read it again and reapply')
    end
  end
end
for i = 0, n - 1 do
  local k = 3 + i * 9
  local a = 6 + i * 15
  local id, goal, prev_goal = ARGV[a], ARGV[a + 6], ARGV[a + 13]
  redis.call('SET', KEYS[k], ARGV[a + 3])
  redis.call('HSET', KEYS[k + 1], 'revision', ARGV[a + 2], 'state', ARGV[a + 4],
             'kind', ARGV[a + 5], 'goal', goal, 'clinician', ARGV[a + 7],
             'ps', ARGV[a + 8], 'pe', ARGV[a + 9])
  if ARGV[a + 1] == '0' then redis.call('ZADD', KEYS[2], ARGV[a + 10], id) end
  if prev_goal ~= '' and prev_goal ~= goal then redis.call('SREM', KEYS[k + 2], id) end
  if goal ~= '' then redis.call('SADD', KEYS[k + 3], id) end
  -- Due entry (another slot: see the REDIS CLUSTER note above this script).
  -- Moving or removing the entry also drops a dispatcher's lease on it (dispatch_store.h): the
  -- dispatcher's completion then finds its lease gone and leaves the new entry alone.
  if ARGV[a + 11] == '-' then
    redis.call('ZREM', KEYS[k + 4], ARGV[a + 12])
    redis.call('HDEL', KEYS[k + 8], ARGV[a + 12])
    -- Ending also drops pending snooze re-deliveries.
    local snoozes = redis.call('SMEMBERS', KEYS[k + 7])
    for _, member in ipairs(snoozes) do
      redis.call('ZREM', KEYS[k + 4], member)
      redis.call('HDEL', KEYS[k + 8], member)
    end
    redis.call('DEL', KEYS[k + 7])
  elseif ARGV[a + 11] ~= '' then
    redis.call('ZADD', KEYS[k + 4], ARGV[a + 11], ARGV[a + 12])
    redis.call('HDEL', KEYS[k + 8], ARGV[a + 12])
  end
  for ms, st in string.gmatch(ARGV[a + 14], '(%d+)=([%w_]+)') do
    if redis.call('HSETNX', KEYS[k + 5], ms, st) == 1 then
      redis.call('ZADD', KEYS[k + 6], ms, ms)
    end
  end
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
end
return {0, ''}
)lua"));

// KEYS: the rems index.
// ARGV: key prefix, cursor score, cursor id, page size, ",states,", ",kinds,", goal id, clinician,
//       now ms, scan limit.
// Returns {{{blob, revision}...}, next cursor or ''}.
const redis::Script kListScript("reminders_list", R"lua(
local prefix, cs, cid = ARGV[1], ARGV[2], ARGV[3]
local want = tonumber(ARGV[4])
local states, kinds, goal, clinician = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local now = tonumber(ARGV[9])
local limit = tonumber(ARGV[10])
local out = {}
local scanned = 0
local last = ''
local min = '-inf'
if cs ~= '' then min = cs end
local offset = 0
while true do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'WITHSCORES', 'LIMIT', offset, 200)
  if #batch == 0 then return {out, ''} end
  for j = 1, #batch, 2 do
    local id, score = batch[j], batch[j + 1]
    if not (cs ~= '' and tonumber(score) == tonumber(cs) and id <= cid) then
      local m = redis.call('HMGET', prefix .. ':meta:' .. id, 'revision', 'state', 'kind', 'goal',
                           'clinician', 'ps', 'pe')
      local ok = m[1] ~= false
      if ok then
        local eff = '1'
        if m[2] == '3' then
          eff = '3'
        elseif m[6] ~= '' and tonumber(m[6]) <= now and (m[7] == '' or now < tonumber(m[7])) then
          eff = '2'
        end
        if states ~= '' and not string.find(states, ',' .. eff .. ',', 1, true) then ok = false end
        if ok and kinds ~= '' and not string.find(kinds, ',' .. m[3] .. ',', 1, true) then ok = false end
        if ok and goal ~= '' and m[4] ~= goal then ok = false end
        if ok and clinician ~= '' and m[5] ~= clinician then ok = false end
      end
      if ok then
        if #out == want then return {out, last} end
        out[#out + 1] = {redis.call('GET', prefix .. ':rem:' .. id), m[1]}
      end
      last = score .. '|' .. id
      scanned = scanned + 1
      if scanned >= limit then return {out, last} end
    end
  end
  offset = offset + 200
end
)lua", redis::ScriptAccess::kRead);

// KEYS: goal set, rems index. ARGV: key prefix, limit. Returns {{blob, revision}...} oldest first.
const redis::Script kByGoalScript("reminders_by_goal", R"lua(
local ids = redis.call('SMEMBERS', KEYS[1])
local scored = {}
for _, id in ipairs(ids) do
  scored[#scored + 1] = {tonumber(redis.call('ZSCORE', KEYS[2], id) or '0'), id}
end
table.sort(scored, function(x, y)
  if x[1] ~= y[1] then return x[1] < y[1] end
  return x[2] < y[2]
end)
local out = {}
for i = 1, math.min(#scored, tonumber(ARGV[2])) do
  local id = scored[i][2]
  local blob = redis.call('GET', ARGV[1] .. ':rem:' .. id)
  if blob then
    out[#out + 1] = {blob, redis.call('HGET', ARGV[1] .. ':meta:' .. id, 'revision')}
  end
end
return out
)lua", redis::ScriptAccess::kRead);

// KEYS: rems index. ARGV: key prefix, from ms, to ms, limit, id ('' = every reminder).
// Returns {{blob, revision, {ms, state, completion or ''}...}...}; {} when `id` is absent.
const redis::Script kOccurrencesScript("reminders_occurrences", R"lua(
local prefix = ARGV[1]
local ids
if ARGV[5] ~= '' then
  ids = {ARGV[5]}
else
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)
end
local out = {}
for _, id in ipairs(ids) do
  local blob = redis.call('GET', prefix .. ':rem:' .. id)
  if blob then
    local entry = {blob, redis.call('HGET', prefix .. ':meta:' .. id, 'revision'), {}}
    local times = redis.call('ZRANGEBYSCORE', prefix .. ':occt:' .. id, ARGV[2], ARGV[3])
    for _, ms in ipairs(times) do
      local st = redis.call('HGET', prefix .. ':occ:' .. id, ms) or ''
      local comp = redis.call('HGET', prefix .. ':comp:' .. id, ms) or ''
      table.insert(entry[3], ms)
      table.insert(entry[3], st)
      table.insert(entry[3], comp)
    end
    out[#out + 1] = entry
  end
end
return out
)lua", redis::ScriptAccess::kRead);

// KEYS: [1] request record (or occ), [2] occ, [3] occt, [4] comp, [5] due bucket, [6] snz,
//       [7] outbox, [8] outbox pending index.
// ARGV: [1] has request, [2] fingerprint, [3] result, [4] ttl, [5] scheduled ms,
//       [6] expected state, [7] new state, [8] completion blob, [9] snooze due ms ('' none),
//       [10] snooze due member, [11] replay only ('1': answer a replay, write nothing),
//       [12] outbox entry ('' none), [13] patient tag.
// The snooze due entry lies in another slot: see the REDIS CLUSTER note on kWriteScript.
const redis::Script kCompletionScript("reminders_completion", audit::Audited(R"lua(
if ARGV[1] == '1' then
  local prev = redis.call('GET', KEYS[1])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, 1, sep - 1) ~= ARGV[2] then
      return redis.error_reply('ALREADY_EXISTS:REQUEST_ID_REUSED request_id was already used for a different request')
    end
    -- A replay writes too (the record's own TTL again): a WAIT behind it then also covers the
    -- original write, which may not have reached the replicas (replicated durability).
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
    return {1, string.sub(prev, sep + 1)}
  end
end
if ARGV[11] == '1' then return {2, ''} end
local cur = redis.call('HGET', KEYS[2], ARGV[5]) or ''
if cur ~= ARGV[6] then
  return redis.error_reply('ABORTED the occurrence changed meanwhile; try again')
end
redis.call('HSET', KEYS[2], ARGV[5], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[8])
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[10])
  redis.call('SADD', KEYS[6], ARGV[10])
end
-- The measurement a DONE with a value records, through the outbox (another slot for the pending
-- index: see common/outbox/outbox.h).
if ARGV[12] ~= '' then
  redis.call('RPUSH', KEYS[7], ARGV[12])
  redis.call('ZADD', KEYS[8], 'NX', 0, ARGV[13])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
end
return {0, ''}
)lua"));

// The id at the end of "patients/{p}/reminders/{id}" (or ".../goals/{id}").
std::string IdOf(absl::string_view name) {
  size_t slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name : name.substr(slash + 1));
}

absl::Status Corrupt() {
  return WithReason(absl::InternalError("stored reminder could not be read"), "STORE_ERROR");
}

int64_t ScoreOf(const trellis::v1::Reminder& r) {
  return r.create_time().seconds() * 1000 + r.create_time().nanos() / 1000000;
}

int64_t MillisOf(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1000000;
}

absl::StatusOr<StoredReminder> DecodeEntry(const Reply& entry) {
  if (!entry.is_array() || entry.elements.size() != 2 || !entry.elements[0].is_string()) {
    return Corrupt();
  }
  StoredReminder out;
  if (!out.reminder.ParseFromString(entry.elements[0].str)) return Corrupt();
  if (!absl::SimpleAtoi(entry.elements[1].str, &out.revision)) return Corrupt();
  return out;
}

}  // namespace

int DueBucket(absl::string_view tenant, absl::string_view patient) {
  uint32_t h = 2166136261u;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(tenant);
  mix(":");
  mix(patient);
  return static_cast<int>(h % static_cast<uint32_t>(kDueBuckets));
}

int DueBucketOf(const redis::RedisClient& redis, absl::string_view tenant,
                absl::string_view patient) {
  return redis.Clustered() ? redis::KeySlot(redis::PatientKeys(kService, tenant, patient).prefix())
                           : DueBucket(tenant, patient);
}

redis::SlotIndex ClusterDueIndex() { return redis::SlotIndex(kService, "due"); }

std::string SingleDueKey(int bucket) { return absl::StrCat("trellis:rem:{due:", bucket, "}:due"); }

std::string SingleDueLeaseKey(int bucket) {
  return absl::StrCat("trellis:rem:{due:", bucket, "}:lease");
}

std::string DueKey(const redis::RedisClient& redis, int bucket) {
  if (redis.Clustered()) return ClusterDueIndex().SlotKey(bucket);
  return SingleDueKey(bucket);
}

std::string DueLeaseKey(const redis::RedisClient& redis, int bucket) {
  if (redis.Clustered()) return redis::SlotIndex(kService, "due_lease").SlotKey(bucket);
  return SingleDueLeaseKey(bucket);
}

std::string DueMember(absl::string_view tenant, absl::string_view patient,
                      absl::string_view reminder_id) {
  return absl::StrCat(tenant, "|", patient, "|", reminder_id);
}

std::string EtagFor(int64_t revision) { return absl::StrCat("r", revision); }

std::optional<int64_t> ParseEtag(absl::string_view etag) {
  int64_t revision;
  if (!absl::ConsumePrefix(&etag, "r") || !absl::SimpleAtoi(etag, &revision) || revision <= 0) {
    return std::nullopt;
  }
  return revision;
}

int64_t ToUnixMillisFloor(absl::Time t) {
  return absl::ToInt64Milliseconds(absl::Floor(t - absl::UnixEpoch(), absl::Milliseconds(1)));
}

void ReminderStore::Write(ReminderWrite write, Callback<ReminderWriteResult> done,
                          absl::Time deadline) {
  redis::PatientKeys keys(kService, write.tenant, write.patient);
  bool has_request = !write.request_id.empty();
  const int bucket = DueBucketOf(*redis_, write.tenant, write.patient);
  const std::string due_key = DueKey(*redis_, bucket);
  const std::string lease_key = DueLeaseKey(*redis_, bucket);
  std::vector<std::string> k = {
      has_request ? keys.Key({"req", write.method, write.request_id}) : keys.Key({"rems"}),
      keys.Key({"rems"})};
  std::vector<std::string> a = {has_request ? "1" : "0", write.fingerprint, write.result,
                                absl::StrCat(absl::ToInt64Seconds(kRequestIdTtl)),
                                absl::StrCat(write.changes.size())};
  k.reserve(k.size() + write.changes.size() * kKeysPerChange);
  a.reserve(a.size() + write.changes.size() * kArgsPerChange);
  for (const ReminderChange& c : write.changes) {
    const trellis::v1::Reminder& r = c.reminder;
    std::string id = IdOf(r.name());
    std::string goal_id = r.goal().empty() ? "" : IdOf(r.goal());
    k.push_back(keys.Key({"rem", id}));
    k.push_back(keys.Key({"meta", id}));
    k.push_back(keys.Key({"goal", c.previous_goal_id.empty() ? goal_id : c.previous_goal_id}));
    k.push_back(keys.Key({"goal", goal_id}));
    k.push_back(due_key);
    k.push_back(keys.Key({"occ", id}));
    k.push_back(keys.Key({"occt", id}));
    k.push_back(keys.Key({"snz", id}));
    k.push_back(lease_key);
    std::string occurrences;
    for (const auto& [t, state] : c.occurrences) {
      absl::StrAppend(&occurrences, ToUnixMillisFloor(t), "=", state, ";");
    }
    a.push_back(id);
    a.push_back(absl::StrCat(c.expected_revision));
    a.push_back(absl::StrCat(c.revision));
    a.push_back(r.SerializeAsString());
    a.push_back(absl::StrCat(static_cast<int>(r.state())));
    a.push_back(absl::StrCat(static_cast<int>(r.kind())));
    a.push_back(goal_id);
    a.push_back(r.clinician());
    a.push_back(r.has_pause() && r.pause().has_start_time()
                    ? absl::StrCat(MillisOf(r.pause().start_time()))
                    : "");
    a.push_back(r.has_pause() && r.pause().has_end_time()
                    ? absl::StrCat(MillisOf(r.pause().end_time()))
                    : "");
    a.push_back(absl::StrCat(ScoreOf(r)));
    switch (c.due_update) {
      case ReminderChange::DueUpdate::kKeep:
        a.push_back("");
        break;
      case ReminderChange::DueUpdate::kSet:
        a.push_back(absl::StrCat(ToUnixMillisFloor(c.due)));
        break;
      case ReminderChange::DueUpdate::kRemove:
        a.push_back("-");
        break;
    }
    a.push_back(DueMember(write.tenant, write.patient, id));
    a.push_back(c.previous_goal_id);
    a.push_back(std::move(occurrences));
  }
  audit::RunAuditedWrite<ReminderWriteResult>(*redis_, kWriteScript, std::move(k), std::move(a),
                                              write.audit, std::move(done), deadline);
}

void ReminderStore::Get(const std::string& tenant, const std::string& patient,
                        const std::string& id, Callback<StoredReminder> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Execute({"GET", keys.Key({"rem", id})},
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    if (reply->is_nil()) return done(NotFoundError("reminder not found"));
                    if (!reply->is_string()) return done(Corrupt());
                    StoredReminder out;
                    if (!out.reminder.ParseFromString(reply->str)) return done(Corrupt());
                    auto revision = ParseEtag(out.reminder.etag());
                    if (!revision.has_value()) return done(Corrupt());
                    out.revision = *revision;
                    done(std::move(out));
                  },
                  {deadline});
}

void ReminderStore::List(const std::string& tenant, const std::string& patient,
                         const ReminderFilter& filter, int page_size, const std::string& cursor,
                         absl::Time now, Callback<ReminderListPage> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::string cursor_score, cursor_id;
  if (size_t bar = cursor.find('|'); bar != std::string::npos) {
    cursor_score = cursor.substr(0, bar);
    cursor_id = cursor.substr(bar + 1);
  }
  auto join = [](const std::vector<int>& v) {
    return v.empty() ? std::string() : absl::StrCat(",", absl::StrJoin(v, ","), ",");
  };
  redis_->Eval(kListScript, {keys.Key({"rems"})},
               {keys.prefix(), cursor_score, cursor_id, absl::StrCat(page_size),
                join(filter.states), join(filter.kinds), filter.goal_id, filter.clinician,
                absl::StrCat(ToUnixMillisFloor(now)), "5000"},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 ReminderListPage page;
                 for (const Reply& entry : reply->elements[0].elements) {
                   auto r = DecodeEntry(entry);
                   if (!r.ok()) return done(r.status());
                   page.reminders.push_back(*std::move(r));
                 }
                 page.next_cursor = reply->elements[1].str;
                 done(std::move(page));
               },
               {deadline});
}

void ReminderStore::ReadOccurrences(const std::string& tenant, const std::string& patient,
                                    const std::string& id, int64_t from_ms, int64_t to_ms,
                                    Callback<std::vector<ReminderWithOccurrences>> done,
                                    absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(kOccurrencesScript, {keys.Key({"rems"})},
               {keys.prefix(), absl::StrCat(from_ms), absl::StrCat(to_ms),
                absl::StrCat(kMaxRemindersPerPatient), id},
               [single = !id.empty(), done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array()) return done(Corrupt());
                 if (single && reply->elements.empty())
                   return done(NotFoundError("reminder not found"));
                 std::vector<ReminderWithOccurrences> out;
                 for (Reply& entry : reply->elements) {
                   if (!entry.is_array() || entry.elements.size() != 3) return done(Corrupt());
                   Reply occurrences = std::move(entry.elements[2]);
                   entry.elements.pop_back();
                   auto r = DecodeEntry(entry);
                   if (!r.ok()) return done(r.status());
                   ReminderWithOccurrences item;
                   item.reminder = *std::move(r);
                   const auto& e = occurrences.elements;
                   for (size_t i = 0; i + 2 < e.size(); i += 3) {
                     OccurrenceEntry o;
                     if (!absl::SimpleAtoi(e[i].str, &o.scheduled_ms)) return done(Corrupt());
                     o.state = e[i + 1].str;
                     o.completion = e[i + 2].str;
                     item.occurrences.push_back(std::move(o));
                   }
                   out.push_back(std::move(item));
                 }
                 done(std::move(out));
               },
               {deadline});
}

void ReminderStore::WriteCompletion(CompletionWrite write, Callback<ReminderWriteResult> done,
                                    absl::Time deadline) {
  redis::PatientKeys keys(kService, write.tenant, write.patient);
  bool has_request = !write.request_id.empty();
  std::string occ = keys.Key({"occ", write.reminder_id});
  std::vector<std::string> k = {
      has_request ? keys.Key({"req", write.method, write.request_id}) : occ,
      occ,
      keys.Key({"occt", write.reminder_id}),
      keys.Key({"comp", write.reminder_id}),
      DueKey(*redis_, DueBucketOf(*redis_, write.tenant, write.patient)),
      keys.Key({"snz", write.reminder_id}),
      outbox::OutboxKey(kService, write.tenant, write.patient),
      outbox::PendingKey(*redis_, kService, write.tenant, write.patient)};
  std::vector<std::string> a = {
      has_request ? "1" : "0",
      write.fingerprint,
      write.result,
      absl::StrCat(absl::ToInt64Seconds(kRequestIdTtl)),
      absl::StrCat(write.scheduled_ms),
      write.expected_state,
      write.state,
      write.completion,
      write.snooze_until.has_value() ? absl::StrCat(ToUnixMillisFloor(*write.snooze_until)) : "",
      absl::StrCat(DueMember(write.tenant, write.patient, write.reminder_id), "|snooze|",
                   write.scheduled_ms),
      write.replay_only ? "1" : "0",
      write.effect.has_value() ? outbox::EncodeEntry(*write.effect) : "",
      outbox::PatientTag(write.tenant, write.patient)};
  audit::RunAuditedWrite<ReminderWriteResult>(*redis_, kCompletionScript, std::move(k),
                                              std::move(a), write.audit, std::move(done), deadline);
}

void ReminderStore::ListByGoal(const std::string& tenant, const std::string& patient,
                               const std::string& goal_id,
                               Callback<std::vector<StoredReminder>> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(kByGoalScript, {keys.Key({"goal", goal_id}), keys.Key({"rems"})},
               {keys.prefix(), absl::StrCat(kMaxRemindersPerGoal)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 std::vector<StoredReminder> out;
                 if (reply->is_nil()) return done(std::move(out));
                 if (!reply->is_array()) return done(Corrupt());
                 for (const Reply& entry : reply->elements) {
                   auto r = DecodeEntry(entry);
                   if (!r.ok()) return done(r.status());
                   out.push_back(*std::move(r));
                 }
                 done(std::move(out));
               },
               {deadline});
}

}  // namespace trellis::reminders
