#include "services/measurements/store/measurement_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clinical/instruments.h"
#include "common/outbox/outbox.h"
#include "common/redis/keys.h"
#include "common/status/status.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/tenant_settings.h"

namespace trellis::measurements {
namespace {

namespace v1 = ::trellis::v1;
using redis::Reply;

constexpr absl::string_view kService = "meas";

// KEYS: [1] request record (or any key of the slot), [2] m:<id>, [3] series:<metric>, [4] all,
//       [5] val, [6] goal index (or `all` again), [7] latest, [8] flags, [9] openflags,
//       [10] events, then one flag:<id> per flag.
// ARGV: [1] has request, [2] fingerprint, [3] the patient's "m:" key prefix (a replay answers
//       the measurement its request record names), [4] request ttl, [5] id, [6] blob,
//       [7] score, [8] value, [9] metric, [10] has goal, [11] flag count, [12] events maxlen,
//       [13] measurement name, then per flag: id, blob, name.
const redis::Script kWriteScript("meas_write", audit::Audited(R"lua(
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
    local stored = string.sub(prev, sep + 1)
    -- '@<id>': the response is the measurement itself (immutable), read from its key.
    if string.sub(stored, 1, 1) == '@' then
      stored = redis.call('GET', ARGV[3] .. string.sub(stored, 2))
      if not stored then
        return redis.error_reply('INTERNAL:STORED_RESULT_MISSING the measurement recorded under this request_id is missing')
      end
    end
    return {1, stored}
  end
end
local id, score = ARGV[5], ARGV[7]
redis.call('SET', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], score, id)
redis.call('ZADD', KEYS[4], score, id)
redis.call('HSET', KEYS[5], id, ARGV[8])
if ARGV[10] == '1' then redis.call('ZADD', KEYS[6], score, id) end
redis.call('HINCRBY', KEYS[7], 'n:' .. ARGV[9], 1)
local t = redis.call('HGET', KEYS[7], 't:' .. ARGV[9])
if (not t) or tonumber(t) <= tonumber(score) then
  redis.call('HSET', KEYS[7], 't:' .. ARGV[9], score, 'b:' .. ARGV[9], ARGV[6])
end
local n = tonumber(ARGV[11])
for i = 0, n - 1 do
  local a = 14 + i * 3
  redis.call('SET', KEYS[11 + i], ARGV[a + 1])
  redis.call('ZADD', KEYS[8], score, ARGV[a])
  redis.call('ZADD', KEYS[9], score, ARGV[a])
  redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[12], '*', 'kind', 'SAFETY_FLAG_RAISED',
             'flag', ARGV[a + 2], 'measurement', ARGV[13], 'metric', ARGV[9])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2] .. '|@' .. id, 'EX', ARGV[4])
end
return {0, ''}
)lua"));

// KEYS: [1] index. ARGV: [1] key prefix, [2] lo, [3] hi, [4] desc, [5] cursor score,
// [6] cursor id, [7] page size, [8] blob key infix ("m" or "flag").
// Returns {{blobs}, next cursor or ''}.
const redis::Script kPageScript("meas_page", R"lua(
local idx, prefix = KEYS[1], ARGV[1]
local lo, hi, desc = ARGV[2], ARGV[3], ARGV[4] == '1'
local cs, cid = ARGV[5], ARGV[6]
local want = tonumber(ARGV[7])
if cs ~= '' then
  if desc then hi = cs else lo = cs end
end
local out = {}
local last = ''
local offset = 0
while true do
  local batch
  if desc then
    batch = redis.call('ZREVRANGEBYSCORE', idx, hi, lo, 'WITHSCORES', 'LIMIT', offset, want + 50)
  else
    batch = redis.call('ZRANGEBYSCORE', idx, lo, hi, 'WITHSCORES', 'LIMIT', offset, want + 50)
  end
  if #batch == 0 then return {out, ''} end
  for j = 1, #batch, 2 do
    local id, score = batch[j], batch[j + 1]
    local skip = false
    if cs ~= '' and tonumber(score) == tonumber(cs) then
      if desc then skip = id >= cid else skip = id <= cid end
    end
    if not skip then
      if #out == want then return {out, last} end
      local blob = redis.call('GET', prefix .. ':' .. ARGV[8] .. ':' .. id)
      if blob then out[#out + 1] = blob end
      last = score .. '|' .. id
    end
  end
  offset = offset + #batch / 2
end
)lua", redis::ScriptAccess::kRead);

// Shared by the window scripts: the points of `ids` (a WITHSCORES reply) packed into one string of
// "id score value" lines, so that a window of 1 000 points is one bulk reply to copy and scan, not
// 4 000 reply objects (docs/performance.md, GetGoalProgress profile).
constexpr absl::string_view kPackLua = R"lua(
local function trellis_pack(ids, vals_key)
  if #ids == 0 then return '' end
  local plain = {}
  for j = 1, #ids, 2 do plain[#plain + 1] = ids[j] end
  local vals = redis.call('HMGET', vals_key, unpack(plain))
  local lines = {}
  for j = 1, #ids, 2 do
    lines[#lines + 1] = ids[j] .. ' ' .. ids[j + 1] .. ' ' .. (vals[(j + 1) / 2] or '')
  end
  return table.concat(lines, '\n')
end
)lua";

// KEYS: [1] series, [2] val, [3] latest, [4] progress cache. ARGV: [1] window, [2] start score,
// [3] metric, [4] tag prefix, [5] now (ms), [6] time to live (ms; 0: no cache).
// Returns {1, payload, tag} from the cache, or {0, packed recent points newest first (window +
// 1 at most), packed first point at or after the start (or ''), tag}.
const redis::Script kProgressScript("meas_progress", absl::StrCat(kPackLua, R"lua(
local tag = ARGV[4] .. '|' .. (redis.call('HGET', KEYS[3], 'n:' .. ARGV[3]) or '0')
local ttl, now = tonumber(ARGV[6]), tonumber(ARGV[5])
if ttl > 0 then
  local c = redis.call('GET', KEYS[4])
  if c then
    local a = string.find(c, '\n', 1, true)
    local b = a and string.find(c, '\n', a + 1, true)
    if b and string.sub(c, 1, a - 1) == tag then
      local at = tonumber(string.sub(c, a + 1, b - 1))
      if at and at <= now and now - at < ttl then return {1, string.sub(c, b + 1), tag} end
    end
  end
end
local n = tonumber(ARGV[1])
local recent = trellis_pack(redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, n + 1), KEYS[2])
local first = trellis_pack(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1), KEYS[2])
return {0, recent, first, tag}
)lua"), redis::ScriptAccess::kRead);

// KEYS: [1] latest, [2] openflags, [3] val, then one series key per metric.
// ARGV: [1] key prefix, [2] window.
// Returns {{latest blobs}, {open flag blobs oldest first}, {packed points newest first, per metric}}.
const redis::Script kSummaryScript("meas_summary", absl::StrCat(kPackLua, R"lua(
local latest = {}
local all = redis.call('HGETALL', KEYS[1])
for j = 1, #all, 2 do
  if string.sub(all[j], 1, 2) == 'b:' then latest[#latest + 1] = all[j + 1] end
end
local flags = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 499)) do
  local blob = redis.call('GET', ARGV[1] .. ':flag:' .. id)
  if blob then flags[#flags + 1] = blob end
end
local n = tonumber(ARGV[2])
local windows = {}
for k = 4, #KEYS do
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[k], '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, n + 1)
  windows[#windows + 1] = trellis_pack(ids, KEYS[3])
end
return {latest, flags, windows}
)lua"), redis::ScriptAccess::kRead);

// KEYS: [1] metric:<id>, [2] metrics index, [3] request record (or metric key).
// ARGV: [1] has request, [2] fingerprint, [3] blob, [4] id, [5] ttl.
// Returns {0, ''} created, {1, blob} replayed request, {2, blob} the id already exists.
const redis::Script kDefineMetricScript("meas_define_metric", R"lua(
if ARGV[1] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    if string.sub(prev, 1, sep - 1) ~= ARGV[2] then
      return redis.error_reply('ALREADY_EXISTS:REQUEST_ID_REUSED request_id was already used for a different request')
    end
    local cur = redis.call('GET', KEYS[1])
    if cur then return {1, cur} end
  end
end
local cur = redis.call('GET', KEYS[1])
if cur then return {2, cur} end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
if ARGV[1] == '1' then
  redis.call('SET', KEYS[3], ARGV[2] .. '|', 'EX', ARGV[5])
end
return {0, ''}
)lua");

// KEYS: [1] metrics index. ARGV: [1] prefix, [2] limit. Returns blobs by id.
const redis::Script kListMetricsScript("meas_list_metrics", R"lua(
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local blob = redis.call('GET', ARGV[1] .. ':metric:' .. id)
  if blob then out[#out + 1] = blob end
end
return out
)lua", redis::ScriptAccess::kRead);

// KEYS: [1] flag:<id>, [2] openflags, [3] events. ARGV: [1] new blob, [2] id, [3] name,
// [4] events maxlen. Returns {0, stored blob} unchanged (already acknowledged) or {1, new blob}.
const redis::Script kAckScript("meas_ack_flag", audit::Audited(R"lua(
local cur = redis.call('GET', KEYS[1])
if not cur then return redis.error_reply('NOT_FOUND safety flag not found') end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) == false then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'SAFETY_FLAG_ACKNOWLEDGED',
           'flag', ARGV[3])
return {1, ARGV[1]}
)lua"));

// KEYS: [1] settings. ARGV: [1] expected etag, [2] new etag, [3] blob, [4] etag of the defaults.
const redis::Script kWriteSettingsScript("meas_write_settings", R"lua(
local cur = redis.call('HGET', KEYS[1], 'etag') or ARGV[4]
if cur ~= ARGV[1] then
  return redis.error_reply('ABORTED:ETAG_MISMATCH the settings have changed; read them again and reapply')
end
redis.call('HSET', KEYS[1], 'etag', ARGV[2], 'blob', ARGV[3])
return 1
)lua");

// KEYS: [1] outbox, [2] wb:<goal>, [3] the service's outbox pending index (common/outbox).
// ARGV: [1] status, [2] entry, [3] patient tag. Returns 1 when enqueued.
const redis::Script kWriteBackScript("meas_write_back", R"lua(
if redis.call('GET', KEYS[2]) == ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 'NX', 0, ARGV[3])
return 1
)lua");

absl::Status Corrupt() {
  return WithReason(absl::InternalError("stored data could not be read"), "STORE_ERROR");
}

std::string IdOf(absl::string_view name) {
  size_t slash = name.rfind('/');
  return std::string(slash == absl::string_view::npos ? name : name.substr(slash + 1));
}

std::string ValueString(double v) { return absl::StrFormat("%.17g", v); }

// Which decoded points carry their measurement's resource name: building one per point was a
// fifth of a progress read's instructions, and progress reports only two points (DataPoint of the
// baseline and the latest).
struct Naming {
  bool all = false;
  // Else: the newest point and the first at or after this time (the goal's start).
  int64_t first_from_ms = 0;
};

// Decodes packed "id score value" lines (kPackLua; newest first when `reverse`) into points,
// ascending.
absl::StatusOr<std::vector<SeriesPoint>> DecodePoints(absl::string_view packed,
                                                      const std::string& patient, bool reverse,
                                                      Naming naming) {
  std::vector<SeriesPoint> out;
  if (packed.empty()) return out;
  const size_t lines = 1 + static_cast<size_t>(std::count(packed.begin(), packed.end(), '\n'));
  out.resize(lines);
  std::vector<absl::string_view> ids(lines);
  // Scores are whole milliseconds and most values whole numbers: the integer parse first.
  auto number = [](absl::string_view text, double* v) {
    const char* end = text.data() + text.size();
    int64_t whole = 0;
    auto [ptr, ec] = std::from_chars(text.data(), end, whole);
    if (ec == std::errc() && ptr == end) {
      *v = static_cast<double>(whole);
      return true;
    }
    auto [dptr, dec] = std::from_chars(text.data(), end, *v);
    return dec == std::errc() && dptr == end && std::isfinite(*v);
  };
  size_t k = 0;
  size_t pos = 0;
  while (pos <= packed.size()) {
    size_t eol = packed.find('\n', pos);
    if (eol == absl::string_view::npos) eol = packed.size();
    absl::string_view line = packed.substr(pos, eol - pos);
    pos = eol + 1;
    size_t a = line.find(' ');
    size_t b = a == absl::string_view::npos ? a : line.find(' ', a + 1);
    if (b == absl::string_view::npos || a == 0 || k == lines) return Corrupt();
    double score = 0, value = 0;
    if (!number(line.substr(a + 1, b - a - 1), &score) || !number(line.substr(b + 1), &value)) {
      return Corrupt();
    }
    // Ascending either way: newest-first input fills from the back.
    const size_t at = reverse ? lines - 1 - k : k;
    out[at].time = absl::FromUnixMillis(static_cast<int64_t>(score));
    out[at].value = value;
    ids[at] = line.substr(0, a);
    ++k;
  }
  if (k != lines) return Corrupt();
  auto name = [&](size_t i) {
    out[i].measurement = absl::StrCat("patients/", patient, "/measurements/", ids[i]);
  };
  if (naming.all) {
    for (size_t i = 0; i < out.size(); ++i) name(i);
  } else {
    name(out.size() - 1);
    auto first = std::lower_bound(
        out.begin(), out.end(), absl::FromUnixMillis(naming.first_from_ms),
        [](const SeriesPoint& p, absl::Time t) { return p.time < t; });
    if (first != out.end()) name(static_cast<size_t>(first - out.begin()));
  }
  return out;
}

template <typename M>
absl::StatusOr<std::vector<M>> DecodeBlobs(const Reply& blobs) {
  std::vector<M> out;
  out.reserve(blobs.elements.size());
  for (const Reply& b : blobs.elements) {
    M m;
    if (!m.ParseFromString(b.str)) return Corrupt();
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

void MeasurementStore::DefineMetric(const std::string& tenant, const v1::Metric& metric,
                                    const std::string& request_id, const std::string& fingerprint,
                                    Callback<DefineResult> done, absl::Time deadline) {
  redis::TenantKeys keys(kService, tenant);
  bool has_request = !request_id.empty();
  std::string metric_key = keys.Key({"metric", metric.id()});
  redis_->Eval(kDefineMetricScript,
               {metric_key, keys.Key({"metrics"}),
                has_request ? keys.Key({"req", "DefineMetric", request_id}) : metric_key},
               {has_request ? "1" : "0", fingerprint, metric.SerializeAsString(), metric.id(),
                absl::StrCat(absl::ToInt64Seconds(kRequestIdTtl))},
               [metric, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 DefineResult result;
                 int64_t code = reply->elements[0].integer;
                 if (code == 0) {
                   result.created = true;
                   result.metric = metric;
                 } else {
                   result.replayed = code == 1;
                   if (!result.metric.ParseFromString(reply->elements[1].str))
                     return done(Corrupt());
                 }
                 done(std::move(result));
               },
               {deadline});
}

void MeasurementStore::GetMetric(const std::string& tenant, const std::string& id,
                                 Callback<v1::Metric> done, absl::Time deadline) {
  if (const v1::Metric* builtin = clinical::FindBuiltIn(id); builtin != nullptr) {
    return done(*builtin);
  }
  std::string cache_key = absl::StrCat(tenant, "\n", id);
  std::optional<v1::Metric> cached;
  {
    absl::MutexLock lock(&mu_);
    auto it = metric_cache_.find(cache_key);
    if (it != metric_cache_.end()) cached = it->second;
  }
  if (cached.has_value()) return done(*std::move(cached));
  redis::TenantKeys keys(kService, tenant);
  redis_->Execute({"GET", keys.Key({"metric", id})},
                  [this, cache_key, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    if (reply->is_nil()) return done(NotFoundError("metric not found"));
                    v1::Metric metric;
                    if (!metric.ParseFromString(reply->str)) return done(Corrupt());
                    {
                      absl::MutexLock lock(&mu_);
                      if (metric_cache_.size() < 100000) metric_cache_[cache_key] = metric;
                    }
                    done(std::move(metric));
                  },
                  {deadline});
}

void MeasurementStore::ListTenantMetrics(const std::string& tenant,
                                         Callback<std::vector<v1::Metric>> done,
                                         absl::Time deadline) {
  redis::TenantKeys keys(kService, tenant);
  redis_->Eval(kListMetricsScript, {keys.Key({"metrics"})},
               {keys.prefix(), absl::StrCat(kMaxTenantMetrics)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array()) return done(Corrupt());
                 done(DecodeBlobs<v1::Metric>(*reply));
               },
               {deadline});
}

void MeasurementStore::GetSettings(const std::string& tenant,
                                   Callback<std::optional<v1::MeasurementSettings>> done,
                                   absl::Time deadline) {
  redis_->Execute({"HGET", redis::TenantKeys(kService, tenant).Key({"settings"}), "blob"},
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    if (reply->is_nil()) return done(std::optional<v1::MeasurementSettings>());
                    v1::MeasurementSettings settings;
                    if (!settings.ParseFromString(reply->str)) return done(Corrupt());
                    done(std::optional<v1::MeasurementSettings>(std::move(settings)));
                  },
                  {deadline});
}

void MeasurementStore::WriteSettings(const std::string& tenant,
                                     const v1::MeasurementSettings& settings,
                                     const std::string& expected_etag,
                                     Callback<v1::MeasurementSettings> done, absl::Time deadline) {
  redis_->Eval(kWriteSettingsScript, {redis::TenantKeys(kService, tenant).Key({"settings"})},
               {expected_etag, settings.etag(), settings.SerializeAsString(),
                std::string(kDefaultSettingsEtag)},
               [settings, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 done(settings);
               },
               {deadline});
}

void MeasurementStore::WriteMeasurement(MeasurementWrite write, Callback<WriteResult> done,
                                        absl::Time deadline) {
  const v1::Measurement& m = write.measurement;
  redis::PatientKeys keys(kService, write.tenant, m.patient());
  std::string id = IdOf(m.name());
  std::string goal_id = m.goal().empty() ? "" : IdOf(m.goal());
  bool has_request = !write.request_id.empty();
  std::vector<std::string> k = {
      has_request ? keys.Key({"req", write.method, write.request_id}) : keys.Key({"all"}),
      keys.Key({"m", id}),
      keys.Key({"series", m.metric()}),
      keys.Key({"all"}),
      keys.Key({"val"}),
      goal_id.empty() ? keys.Key({"all"}) : keys.Key({"goal", goal_id}),
      keys.Key({"latest"}),
      keys.Key({"flags"}),
      keys.Key({"openflags"}),
      keys.Key({"events"})};
  std::string blob = m.SerializeAsString();
  std::vector<std::string> a = {has_request ? "1" : "0",
                                write.fingerprint,
                                absl::StrCat(keys.prefix(), ":m:"),
                                absl::StrCat(absl::ToInt64Seconds(kRequestIdTtl)),
                                id,
                                blob,
                                absl::StrCat(ToMillis(ToAbslTime(m.observe_time()))),
                                ValueString(m.value()),
                                m.metric(),
                                goal_id.empty() ? "0" : "1",
                                absl::StrCat(write.flags.size()),
                                absl::StrCat(kEventsMaxLen),
                                m.name()};
  for (const v1::SafetyFlag& f : write.flags) {
    std::string fid = IdOf(f.name());
    k.push_back(keys.Key({"flag", fid}));
    a.push_back(fid);
    a.push_back(f.SerializeAsString());
    a.push_back(f.name());
  }
  audit::RunAuditedWrite<WriteResult>(*redis_, kWriteScript, std::move(k), std::move(a),
                                      write.audit, std::move(done), deadline);
}

void MeasurementStore::ListMeasurements(const std::string& tenant, const std::string& patient,
                                        const MeasurementQuery& query,
                                        Callback<MeasurementPage> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::string index = !query.goal_id.empty()  ? keys.Key({"goal", query.goal_id})
                      : !query.metric.empty() ? keys.Key({"series", query.metric})
                                              : keys.Key({"all"});
  std::string cursor_score, cursor_id;
  if (size_t bar = query.cursor.find('|'); bar != std::string::npos) {
    cursor_score = query.cursor.substr(0, bar);
    cursor_id = query.cursor.substr(bar + 1);
  }
  std::string lo = query.start_ms ? absl::StrCat(*query.start_ms) : "-inf";
  std::string hi = query.end_ms ? absl::StrCat("(", *query.end_ms) : "+inf";
  // A metric filter on a goal index is applied here (the page may come back short).
  std::string metric_filter = query.goal_id.empty() ? "" : query.metric;
  redis_->Eval(kPageScript, {index},
               {keys.prefix(), lo, hi, query.newest_first ? "1" : "0", cursor_score, cursor_id,
                absl::StrCat(query.page_size), "m"},
               [metric_filter, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 auto ms = DecodeBlobs<v1::Measurement>(reply->elements[0]);
                 if (!ms.ok()) return done(ms.status());
                 MeasurementPage page;
                 for (auto& m : *ms) {
                   if (metric_filter.empty() || m.metric() == metric_filter) {
                     page.measurements.push_back(std::move(m));
                   }
                 }
                 page.next_cursor = reply->elements[1].str;
                 done(std::move(page));
               },
               {deadline});
}

namespace {

// The window of a kProgressScript reply: packed recent points (newest first, one more than
// the window when older ones exist) and the packed first point since the start.
absl::StatusOr<ProgressSeries> WindowOf(const Reply& recent_packed, const Reply& first_packed,
                                        const std::string& patient, int64_t start_ms) {
  auto recent = DecodePoints(recent_packed.str, patient, /*reverse=*/true,
                             Naming{.first_from_ms = start_ms});
  if (!recent.ok()) return recent.status();
  auto first = DecodePoints(first_packed.str, patient, false, Naming{});
  if (!first.ok()) return first.status();
  ProgressSeries series;
  series.recent = *std::move(recent);
  if (series.recent.size() > static_cast<size_t>(MeasurementStore::kProgressWindow)) {
    series.truncated = true;
    series.recent.erase(series.recent.begin());
  }
  // Only needed when the window may not reach back to the goal's start.
  if (series.truncated && !first->empty()) series.first_since_start = first->front();
  return series;
}

}  // namespace

void MeasurementStore::ReadProgress(const std::string& tenant, const std::string& patient,
                                    const std::string& metric, const std::string& goal_id,
                                    int64_t start_ms, const std::string& tag_prefix,
                                    absl::Time now, absl::Duration ttl,
                                    Callback<ProgressRead> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(
      kProgressScript,
      {keys.Key({"series", metric}), keys.Key({"val"}), keys.Key({"latest"}),
       keys.Key({"progress", goal_id})},
      {absl::StrCat(kProgressWindow), absl::StrCat(start_ms), metric, tag_prefix,
       absl::StrCat(ToMillis(now)), absl::StrCat(absl::ToInt64Milliseconds(ttl))},
      [patient, start_ms, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        if (!reply->is_array() || reply->elements.size() < 3) return done(Corrupt());
        ProgressRead read;
        if (reply->elements[0].integer == 1) {
          read.cached = std::move(reply->elements[1].str);
          read.tag = std::move(reply->elements[2].str);
          return done(std::move(read));
        }
        if (reply->elements.size() != 4) return done(Corrupt());
        auto series = WindowOf(reply->elements[1], reply->elements[2], patient, start_ms);
        if (!series.ok()) return done(series.status());
        read.series = *std::move(series);
        read.tag = std::move(reply->elements[3].str);
        done(std::move(read));
      },
      {deadline});
}

void MeasurementStore::StoreProgress(const std::string& tenant, const std::string& patient,
                                     const std::string& goal_id, const std::string& tag,
                                     absl::Time computed, const std::string& payload,
                                     absl::Duration ttl, Callback<bool> done,
                                     absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Execute({"SET", keys.Key({"progress", goal_id}),
                   absl::StrCat(tag, "\n", ToMillis(computed), "\n", payload), "PX",
                   absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl * 2)))},
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    done(true);
                  },
                  {deadline});
}

void MeasurementStore::ReadSummary(const std::string& tenant, const std::string& patient,
                                   const std::vector<std::string>& metrics,
                                   Callback<SummaryData> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::vector<std::string> k = {keys.Key({"latest"}), keys.Key({"openflags"}), keys.Key({"val"})};
  for (const auto& m : metrics) k.push_back(keys.Key({"series", m}));
  redis_->Eval(kSummaryScript, std::move(k), {keys.prefix(), absl::StrCat(kProgressWindow)},
               [patient, metrics, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 3 ||
                     reply->elements[2].elements.size() != metrics.size()) {
                   return done(Corrupt());
                 }
                 SummaryData data;
                 auto latest = DecodeBlobs<v1::Measurement>(reply->elements[0]);
                 if (!latest.ok()) return done(latest.status());
                 data.latest = *std::move(latest);
                 auto flags = DecodeBlobs<v1::SafetyFlag>(reply->elements[1]);
                 if (!flags.ok()) return done(flags.status());
                 data.open_flags = *std::move(flags);
                 for (size_t i = 0; i < metrics.size(); ++i) {
                   // The summary computes several goals' progress from one window per metric.
                   auto points = DecodePoints(reply->elements[2].elements[i].str, patient, true,
                                              Naming{.all = true});
                   if (!points.ok()) return done(points.status());
                   ProgressSeries series;
                   series.recent = *std::move(points);
                   if (series.recent.size() > static_cast<size_t>(kProgressWindow)) {
                     series.truncated = true;
                     series.recent.erase(series.recent.begin());
                   }
                   data.windows[metrics[i]] = std::move(series);
                 }
                 done(std::move(data));
               },
               {deadline});
}

void MeasurementStore::ListSafetyFlags(const std::string& tenant, const std::string& patient,
                                       bool open_only, int64_t start_ms, int page_size,
                                       const std::string& cursor, Callback<SafetyFlagPage> done,
                                       absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::string cursor_score, cursor_id;
  if (size_t bar = cursor.find('|'); bar != std::string::npos) {
    cursor_score = cursor.substr(0, bar);
    cursor_id = cursor.substr(bar + 1);
  }
  redis_->Eval(kPageScript, {keys.Key({open_only ? "openflags" : "flags"})},
               {keys.prefix(), absl::StrCat(start_ms), "+inf", "0", cursor_score, cursor_id,
                absl::StrCat(page_size), "flag"},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 auto flags = DecodeBlobs<v1::SafetyFlag>(reply->elements[0]);
                 if (!flags.ok()) return done(flags.status());
                 SafetyFlagPage page;
                 page.flags = *std::move(flags);
                 page.next_cursor = reply->elements[1].str;
                 done(std::move(page));
               },
               {deadline});
}

void MeasurementStore::IndexTenantFlags(const std::string& tenant,
                                        const std::vector<v1::SafetyFlag>& flags,
                                        Callback<bool> done, absl::Time deadline) {
  if (flags.empty()) return done(true);
  std::vector<std::string> args = {"ZADD", redis::TenantKeys(kService, tenant).Key({"flags"})};
  for (const v1::SafetyFlag& f : flags) {
    args.push_back(absl::StrCat(ToMillis(ToAbslTime(f.raise_time()))));
    args.push_back(absl::StrCat(f.patient(), "/", IdOf(f.name())));
  }
  redis_->Execute(std::move(args),
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    done(true);
                  },
                  {deadline});
}

void MeasurementStore::ListTenantSafetyFlags(const std::string& tenant, bool open_only,
                                             int64_t start_ms, int page_size,
                                             const std::string& cursor,
                                             Callback<SafetyFlagPage> done, absl::Time deadline) {
  std::string cursor_score, cursor_member;
  if (size_t bar = cursor.find('|'); bar != std::string::npos) {
    cursor_score = cursor.substr(0, bar);
    cursor_member = cursor.substr(bar + 1);
  }
  std::string lo = cursor_score.empty() ? absl::StrCat(start_ms) : cursor_score;
  // Read past the page: entries sharing the cursor's score are skipped, and entries of flags
  // that were never stored (or closed ones, with open_only) do not fill the page.
  constexpr int kSlack = 200;
  int fetch = page_size + kSlack + (cursor_score.empty() ? 0 : 1000);
  redis_->Execute(
      {"ZRANGEBYSCORE", redis::TenantKeys(kService, tenant).Key({"flags"}), lo, "+inf",
       "WITHSCORES", "LIMIT", "0", absl::StrCat(fetch)},
      [this, tenant, open_only, page_size, fetch, cursor_score, cursor_member, deadline,
       done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        if (!reply->is_array()) return done(Corrupt());
        struct Entry {
          std::string member, score;
        };
        std::vector<Entry> entries;
        for (size_t j = 0; j + 1 < reply->elements.size(); j += 2) {
          Entry e{reply->elements[j].str, reply->elements[j + 1].str};
          if (!cursor_score.empty() && e.score == cursor_score && e.member <= cursor_member) {
            continue;
          }
          entries.push_back(std::move(e));
        }
        bool more_in_index = reply->elements.size() / 2 >= static_cast<size_t>(fetch);
        if (entries.empty()) {
          return done(SafetyFlagPage{{}, ""});
        }
        // One GET per entry, each in its patient's slot; answered when all are back.
        struct Gather {
          absl::Mutex mu;
          std::vector<Entry> entries;
          std::vector<std::optional<v1::SafetyFlag>> flags;
          size_t remaining = 0;
          absl::Status error;
          Callback<SafetyFlagPage> done;
        };
        auto g = std::make_shared<Gather>();
        g->entries = std::move(entries);
        g->flags.resize(g->entries.size());
        g->remaining = g->entries.size();
        g->done = std::move(done);
        auto finish = [g, open_only, page_size, more_in_index]() {
          if (!g->error.ok()) return g->done(g->error);
          SafetyFlagPage page;
          size_t i = 0;
          for (; i < g->flags.size(); ++i) {
            auto& f = g->flags[i];
            if (!f.has_value()) continue;  // never stored: skipped
            if (open_only && f->state() != v1::SAFETY_FLAG_STATE_OPEN) continue;
            if (page.flags.size() == static_cast<size_t>(page_size)) break;
            page.flags.push_back(*std::move(f));
            page.next_cursor = absl::StrCat(g->entries[i].score, "|", g->entries[i].member);
          }
          if (i == g->flags.size()) {
            // Every fetched entry was used: more only when the index had more than we read.
            if (more_in_index) {
              page.next_cursor =
                  absl::StrCat(g->entries.back().score, "|", g->entries.back().member);
            } else {
              page.next_cursor.clear();
            }
          }
          g->done(std::move(page));
        };
        for (size_t i = 0; i < g->entries.size(); ++i) {
          const std::string& member = g->entries[i].member;
          size_t slash = member.find('/');
          std::string patient = member.substr(0, slash);
          std::string id = slash == std::string::npos ? "" : member.substr(slash + 1);
          redis_->Execute({"GET", redis::PatientKeys(kService, tenant, patient).Key({"flag", id})},
                          [g, i, finish](absl::StatusOr<Reply> r) {
                            bool last = false;
                            {
                              absl::MutexLock lock(&g->mu);
                              if (!r.ok()) {
                                if (g->error.ok()) g->error = r.status();
                              } else if (r->is_string()) {
                                v1::SafetyFlag flag;
                                if (flag.ParseFromString(r->str)) g->flags[i] = std::move(flag);
                              }
                              last = --g->remaining == 0;
                            }
                            if (last) finish();
                          },
                          {deadline});
        }
      },
      {deadline});
}

void MeasurementStore::GetSafetyFlag(const std::string& tenant, const std::string& patient,
                                     const std::string& flag_id, Callback<v1::SafetyFlag> done,
                                     absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Execute({"GET", keys.Key({"flag", flag_id})},
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    if (reply->is_nil()) return done(NotFoundError("safety flag not found"));
                    v1::SafetyFlag flag;
                    if (!flag.ParseFromString(reply->str)) return done(Corrupt());
                    done(std::move(flag));
                  },
                  {deadline});
}

void MeasurementStore::AcknowledgeSafetyFlag(const std::string& tenant, const std::string& patient,
                                             const std::string& flag_id, const v1::SafetyFlag& ack,
                                             std::shared_ptr<audit::Note> audit,
                                             Callback<v1::SafetyFlag> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  std::vector<std::string> k = {keys.Key({"flag", flag_id}), keys.Key({"openflags"}),
                                keys.Key({"events"})};
  std::vector<std::string> a = {ack.SerializeAsString(), flag_id, ack.name(),
                                absl::StrCat(kEventsMaxLen)};
  audit::AppendScriptArgs(audit.get(), k, a);
  redis_->Eval(kAckScript, std::move(k), std::move(a),
               [done = std::move(done), audit](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 if (!reply->is_array() || reply->elements.size() != 2) return done(Corrupt());
                 audit::MarkStored(audit.get());
                 v1::SafetyFlag flag;
                 if (!flag.ParseFromString(reply->elements[1].str)) return done(Corrupt());
                 done(std::move(flag));
               },
               {deadline});
}

void MeasurementStore::ReadCachedGoal(const std::string& tenant, const std::string& patient,
                                      const std::string& goal_id,
                                      Callback<std::optional<v1::Goal>> done, absl::Time deadline) {
  redis_->Execute({"GET", redis::PatientKeys("cache", tenant, patient).Key({"goal", goal_id})},
                  [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                    if (!reply.ok()) return done(reply.status());
                    if (reply->is_nil()) return done(std::optional<v1::Goal>());
                    v1::Goal goal;
                    // A cache entry that cannot be read counts as a miss: the owner is asked
                    // instead.
                    if (!reply->is_string() || !goal.ParseFromString(reply->str)) {
                      return done(std::optional<v1::Goal>());
                    }
                    done(std::optional<v1::Goal>(std::move(goal)));
                  },
                  {deadline});
}

void MeasurementStore::EnqueueWriteBack(const std::string& tenant, const std::string& patient,
                                        const std::string& goal_id,
                                        const v1::SetAchievementStatusRequest& request,
                                        const std::string& dedupe, const trace::CallContext& origin,
                                        Callback<bool> done, absl::Time deadline) {
  redis::PatientKeys keys(kService, tenant, patient);
  redis_->Eval(kWriteBackScript,
               {outbox::OutboxKey(kService, tenant, patient), keys.Key({"wb", goal_id}),
                outbox::PendingKey(*redis_, kService, tenant, patient)},
               {dedupe,
                outbox::EncodeEntry(outbox::WithOrigin({.id = request.request_id(),
                                                        .kind = "SetAchievementStatus",
                                                        .payload = request.SerializeAsString()},
                                                       origin)),
                outbox::PatientTag(tenant, patient)},
               [done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
                 if (!reply.ok()) return done(reply.status());
                 done(reply->integer == 1);
               },
               {deadline});
}

}  // namespace trellis::measurements
