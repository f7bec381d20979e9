#include "services/goals/store/goal_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/outbox/outbox.h"
#include "common/redis/keys.h"
#include "common/status/status.h"

namespace trellis::goals {
namespace {

using redis::Reply;

constexpr absl::string_view kService = "goals";

// KEYS: [1] request record (or any key of the slot), [2] goals index, [3] outbox,
//       [4] the service's outbox pending index (common/outbox),
//       then 6 per change: goal, meta, revs, cache, parent meta, parent children.
// ARGV: [1] request id handling ('0' none, '1' replay or record, '2' replay only), [2] fingerprint,
// [3] result, [4] request ttl, [5] cache ttl,
//       [6] changes, [7] outbox entries, [8] this patient's outbox tag, then 7 per change: id,
//       expected revision, new revision, blob, revision blob,
//       "status,category,needs_review,parent", score; then the outbox blobs.
const redis::Script kWriteScript("goals_write", audit::Audited(R"lua(
if ARGV[1] ~= '0' then
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
local n = tonumber(ARGV[6])
local nout = tonumber(ARGV[7])
local closed = ',6,7,8,9,'
local metas = {}
for i = 0, n - 1 do
  local k = 5 + i * 6
  local a = 9 + i * 7
  local expected = ARGV[a + 1]
  local cur = redis.call('HGET', KEYS[k + 1], 'revision')
  local f = {}
  for v in string.gmatch(ARGV[a + 5], '([^,]*),?') do f[#f + 1] = v end
  metas[i] = f
  if expected == '0' then
    if cur then return redis.error_reply('ALREADY_EXISTS goal already exists') end
    if f[4] ~= '' then
      local p = redis.call('HMGET', KEYS[k + 4], 'revision', 'parent', 'status')
      if not p[1] then return redis.error_reply('NOT_FOUND goal.parent: parent goal not found') end
      if p[2] and p[2] ~= '' then
        return redis.error_reply('FAILED_PRECONDITION:OBJECTIVE_DEPTH goal.parent: an objective cannot have objectives')
      end
      if string.find(closed, ',' .. p[3] .. ',', 1, true) then
        return redis.error_reply('FAILED_PRECONDITION:RESOURCE_CLOSED goal.parent: the parent goal is closed')
      end
    end
  else
    if not cur then return redis.error_reply('NOT_FOUND goal not found') end
    if cur ~= expected then
      return redis.error_reply('ABORTED:ETAG_MISMATCH the goal has changed; read it again and reapply')
    end
  end
end
for i = 0, n - 1 do
  local k = 5 + i * 6
  local a = 9 + i * 7
  local f = metas[i]
  redis.call('SET', KEYS[k], ARGV[a + 3])
  redis.call('HSET', KEYS[k + 1], 'revision', ARGV[a + 2], 'status', f[1], 'category', f[2],
             'needs_review', f[3], 'parent', f[4])
  if ARGV[a + 1] == '0' then
    redis.call('ZADD', KEYS[2], ARGV[a + 6], ARGV[a])
    if f[4] ~= '' then redis.call('ZADD', KEYS[k + 5], ARGV[a + 6], ARGV[a]) end
  end
  redis.call('RPUSH', KEYS[k + 2], ARGV[a + 4])
  redis.call('SET', KEYS[k + 3], ARGV[a + 3], 'EX', ARGV[5])
end
local o = 9 + n * 7
for j = 0, nout - 1 do redis.call('RPUSH', KEYS[3], ARGV[o + j]) end
if nout > 0 then redis.call('ZADD', KEYS[4], 'NX', 0, ARGV[8]) end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
end
return {0, ''}
)lua"));

// KEYS: goal, children, cache. ARGV: cache ttl. Returns nil or {blob, {objective ids}}.
const redis::Script kGetScript("goals_get", R"lua(
local blob = redis.call('GET', KEYS[1])
if not blob then return false end
redis.call('SET', KEYS[3], blob, 'EX', ARGV[1])
return {blob, redis.call('ZRANGE', KEYS[2], 0, -1)}
)lua", redis::ScriptAccess::kRead);

// KEYS: the index to walk (all goals or one goal's children).
// ARGV: key prefix, cursor score, cursor id, page size, top-level only, ",statuses,", category,
//       needs_review ('' any, '0', '1'), scan limit.
// Returns {{{blob, {objective ids}}...}, next cursor or ''}.
const redis::Script kListScript("goals_list", R"lua(
local prefix, cs, cid = ARGV[1], ARGV[2], ARGV[3]
local want = tonumber(ARGV[4])
local top_only, statuses, category, review = ARGV[5] == '1', ARGV[6], ARGV[7], ARGV[8]
local limit = tonumber(ARGV[9])
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
      local m = redis.call('HMGET', prefix .. ':meta:' .. id, 'status', 'category', 'needs_review', 'parent')
      local ok = m[1] ~= false
      if ok and top_only and m[4] ~= '' then ok = false end
      if ok and statuses ~= '' and not string.find(statuses, ',' .. m[1] .. ',', 1, true) then ok = false end
      if ok and category ~= '0' and m[2] ~= category then ok = false end
      if ok and review ~= '' and m[3] ~= review then ok = false end
      if ok then
        if #out == want then return {out, last} end
        out[#out + 1] = {redis.call('GET', prefix .. ':goal:' .. id),
                         redis.call('ZRANGE', prefix .. ':children:' .. id, 0, -1)}
      end
      last = score .. '|' .. id
      scanned = scanned + 1
      if scanned >= limit then return {out, last} end
    end
  end
  offset = offset + 200
end
)lua", redis::ScriptAccess::kRead);

// KEYS: revs. ARGV: before (0: newest), page size. Returns {length, {blobs oldest first}}.
const redis::Script kRevisionsScript("goals_revisions", R"lua(
local len = redis.call('LLEN', KEYS[1])
local before = tonumber(ARGV[1])
if before == 0 or before > len + 1 then before = len + 1 end
local hi = before - 2
if hi < 0 then return {len, {}} end
local lo = math.max(0, hi - tonumber(ARGV[2]) + 1)
return {len, redis.call('LRANGE', KEYS[1], lo, hi)}
)lua", redis::ScriptAccess::kRead);

std::string CacheKey(const std::string& tenant, const std::string& patient, const std::string& id) {
  return redis::PatientKeys("cache", tenant, patient).Key({"goal", id});
}

int64_t ScoreOf(const trellis::v1::Goal& goal) {
  return goal.create_time().seconds() * 1000 + goal.create_time().nanos() / 1000000;
}

// The id at the end of "patients/{p}/goals/{id}".
std::string IdOf(absl::string_view name) {
  size_t slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name : name.substr(slash + 1));
}

absl::Status Corrupt() {
  return WithReason(absl::InternalError("stored goal could not be read"), "STORE_ERROR");
}

absl::StatusOr<trellis::v1::Goal> DecodeGoal(const Reply& entry, const std::string& patient) {
  if (!entry.is_array() || entry.elements.size() != 2 || !entry.elements[0].is_string()) {
    return Corrupt();
  }
  trellis::v1::Goal goal;
  if (!goal.ParseFromString(entry.elements[0].str)) return Corrupt();
  goal.clear_objectives();
  for (const Reply& child : entry.elements[1].elements) {
    goal.add_objectives(absl::StrCat("patients/", patient, "/goals/", child.str));
  }
  return goal;
}

}  // namespace

std::string EtagFor(int64_t revision) { return absl::StrCat("r", revision); }

std::optional<int64_t> ParseEtag(absl::string_view etag) {
  int64_t revision;
  if (!absl::ConsumePrefix(&etag, "r") || !absl::SimpleAtoi(etag, &revision) || revision <= 0) {
    return std::nullopt;
  }
  return revision;
}

void GoalStore::Write(GoalWrite write, Callback<GoalWriteResult> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, write.tenant, write.patient);
  bool has_request = !write.request_id.empty();
  std::vector<std::string> k = {
      has_request ? keys.Key({"req", write.method, write.request_id}) : keys.Key({"goals"}),
      keys.Key({"goals"}), outbox::OutboxKey(kService, write.tenant, write.patient),
      outbox::PendingKey(*redis_, kService, write.tenant, write.patient)};
  std::vector<std::string> a = {!has_request        ? "0"
                                : write.replay_only ? "2"
                                                    : "1",
                                write.fingerprint,
                                write.result,
                                absl::StrCat(absl::ToInt64Seconds(kRequestIdTtl)),
                                absl::StrCat(absl::ToInt64Seconds(kCacheTtl)),
                                absl::StrCat(write.changes.size()),
                                absl::StrCat(write.outbox.size()),
                                outbox::PatientTag(write.tenant, write.patient)};
  for (const GoalChange& c : write.changes) {
    std::string id = IdOf(c.goal.name());
    std::string parent_id = c.goal.parent().empty() ? "" : IdOf(c.goal.parent());
    k.push_back(keys.Key({"goal", id}));
    k.push_back(keys.Key({"meta", id}));
    k.push_back(keys.Key({"revs", id}));
    k.push_back(CacheKey(write.tenant, write.patient, id));
    k.push_back(keys.Key({"meta", parent_id.empty() ? id : parent_id}));
    k.push_back(keys.Key({"children", parent_id.empty() ? id : parent_id}));
    a.push_back(id);
    a.push_back(absl::StrCat(c.expected_revision));
    a.push_back(absl::StrCat(c.goal.revision()));
    a.push_back(c.goal.SerializeAsString());
    a.push_back(c.revision.SerializeAsString());
    a.push_back(absl::StrCat(static_cast<int>(c.goal.lifecycle_status()), ",",
                             static_cast<int>(c.goal.category()), ",",
                             c.goal.needs_review() ? 1 : 0, ",", parent_id));
    a.push_back(absl::StrCat(ScoreOf(c.goal)));
  }
  for (const OutboxEntry& e : write.outbox) {
    a.push_back(outbox::EncodeEntry(e));
  }
  audit::RunAuditedWrite<GoalWriteResult>(*redis_, kWriteScript, std::move(k), std::move(a),
                                          write.audit, std::move(done), deadline);
}

void GoalStore::Get(const std::string& tenant, const std::string& patient, const std::string& id,
                    Callback<trellis::v1::Goal> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(kGetScript,
               {keys.Key({"goal", id}), keys.Key({"children", id}), CacheKey(tenant, patient, id)},
               {absl::StrCat(absl::ToInt64Seconds(kCacheTtl))},
               [patient, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (reply->is_nil()) return done(NotFoundError("goal not found"));
                 done(DecodeGoal(*reply, patient));
               },
               {deadline});
}

void GoalStore::List(const std::string& tenant, const std::string& patient,
                     const GoalFilter& filter, int page_size, const std::string& cursor,
                     Callback<GoalListPage> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::string cursor_score, cursor_id;
  if (size_t bar = cursor.find('|'); bar != std::string::npos) {
    cursor_score = cursor.substr(0, bar);
    cursor_id = cursor.substr(bar + 1);
  }
  std::string statuses;
  if (!filter.statuses.empty())
    statuses = absl::StrCat(",", absl::StrJoin(filter.statuses, ","), ",");
  std::string index =
      filter.parent_id.empty() ? keys.Key({"goals"}) : keys.Key({"children", filter.parent_id});
  redis_->Eval(kListScript, {index},
               {keys.prefix(), cursor_score, cursor_id, absl::StrCat(page_size),
                filter.top_level_only ? "1" : "0", statuses, absl::StrCat(filter.category),
                filter.needs_review.has_value() ? (*filter.needs_review ? "1" : "0") : "", "5000"},
               [patient, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 GoalListPage page;
                 for (const Reply& entry : reply->elements[0].elements) {
                   auto goal = DecodeGoal(entry, patient);
                   if (!goal.ok()) return done(goal.status());
                   page.goals.push_back(*std::move(goal));
                 }
                 page.next_cursor = reply->elements[1].str;
                 done(std::move(page));
               },
               {deadline});
}

void GoalStore::ListRevisions(const std::string& tenant, const std::string& patient,
                              const std::string& id, int page_size, int64_t before,
                              Callback<RevisionPage> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(kRevisionsScript, {keys.Key({"revs", id})},
               {absl::StrCat(before), absl::StrCat(page_size)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 if (reply->elements[0].integer == 0) return done(NotFoundError("goal not found"));
                 RevisionPage page;
                 const auto& blobs = reply->elements[1].elements;
                 for (auto it = blobs.rbegin(); it != blobs.rend(); ++it) {
                   trellis::v1::GoalRevision revision;
                   if (!revision.ParseFromString(it->str)) return done(Corrupt());
                   page.revisions.push_back(std::move(revision));
                 }
                 if (!page.revisions.empty() && page.revisions.back().revision() > 1) {
                   page.next_before = page.revisions.back().revision();
                 }
                 done(std::move(page));
               },
               {deadline});
}

}  // namespace trellis::goals
