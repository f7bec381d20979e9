#include "common/audit/audit.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "common/calls/call_map.h"
#include "common/log/log.h"
#include "common/redis/script.h"
#include "common/redis/staging.h"
#include "common/status/status.h"

namespace trellis::audit {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Calls in flight, by server context.
calls::CallMap<Note>& Calls() {
  static auto* calls = new calls::CallMap<Note>();
  return *calls;
}

// Appends one entry to `key` with an id that follows the services' clock (so time filters are id
// ranges), never below the stream's newest id (so a replica whose clock lags cannot be refused by
// XADD). Used by Audited() write scripts.
constexpr absl::string_view kAppendLua = R"lua(
local function trellis_audit_append(key, minid, ms, fields)
  local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #top > 0 then
    local last = tonumber(string.match(top[1][1], '^(%d+)'))
    if last > tonumber(ms) then ms = string.format('%d', last) end
  end
  redis.call('XADD', key, 'MINID', '~', minid, ms .. '-*', unpack(fields))
end
)lua";

// Appends a batch of entries to KEYS[1]. ARGV: min id, then per entry its ms, its number of field
// and value strings, and those. Same ids as trellis_audit_append; the stream's newest id is read once.
const redis::Script kAppendBatchScript("audit_append_batch", R"lua(
local key, minid = KEYS[1], ARGV[1]
local floor = 0
local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if #top > 0 then floor = tonumber(string.match(top[1][1], '^(%d+)')) end
local i = 2
while i <= #ARGV do
  local ms, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if ms < floor then ms = floor end
  floor = ms
  local fields = {}
  for k = 1, n do fields[k] = ARGV[i + 1 + k] end
  redis.call('XADD', key, 'MINID', '~', minid, string.format('%d', ms) .. '-*', unpack(fields))
  i = i + 2 + n
end
return 1
)lua");

// Redis Cluster: appends staged entries (AppendScriptArgs' JSON arrays) to their tenant's stream
// (redis::MoveStaged). KEYS: [1] the tenant's stream, [2] its cursor hash. ARGV: [1] the part,
// then staged id and entry pairs. Returns the number appended.
const redis::Script kMoveScript("audit_move", absl::StrCat(kAppendLua, redis::kStagedEachLua, R"lua(
return trellis_staged_each(2, function(entry)
  local f = cjson.decode(entry)
  local fields = {}
  for k = 3, #f do fields[#fields + 1] = f[k] end
  trellis_audit_append(KEYS[1], f[1], f[2], fields)
end)
)lua"));

// At most this many entries per batch script call (bounds the script's run time and arguments).
constexpr size_t kMaxBatch = 256;

// Pages read the stream newest first, at most this many entries per call.
constexpr int kScanLimit = 5000;

// KEYS: stream. ARGV: max id ('+' or an exclusive '(id'), min id ('-' or ms), patient filter,
// page size, scan limit. Returns {{id, fields}..., next cursor or ''}.
const redis::Script kListScript("audit_list", R"lua(
local max, min, patient = ARGV[1], ARGV[2], ARGV[3]
local want, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local out, scanned = {}, 0
while true do
  local batch = redis.call('XREVRANGE', KEYS[1], max, min, 'COUNT', 200)
  if #batch == 0 then return {out, ''} end
  for _, e in ipairs(batch) do
    local id, f = e[1], e[2]
    local keep = patient == ''
    if not keep then
      for i = 1, #f, 2 do
        if f[i] == 'p' then keep = f[i + 1] == patient break end
      end
    end
    if keep then
      if #out == want then return {out, max} end
      out[#out + 1] = e
    end
    max = '(' .. id
    scanned = scanned + 1
    if scanned >= limit then return {out, max} end
  end
end
)lua", redis::ScriptAccess::kRead);

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(grpc::experimental::ServerRpcInfo* info, const AuditLog* log)
      : ctx_(info->server_context()), log_(log), note_(std::make_shared<Note>()) {
    note_->log = log;
    Calls().Put(ctx_, note_);
  }
  ~AuditInterceptor() override { Calls().Erase(ctx_); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      return methods->Proceed();
    }
    if (!note_->admitted || note_->stored.load()) return methods->Proceed();
    grpc::Status status = methods->GetSendStatus();
    log_->Append(
        *note_, CodeName(status.error_code()),
        [methods, ok = status.ok(), note = note_](absl::Status appended) {
          if (!appended.ok()) {
            log::Error("audit append failed", {{"tenant", note->tenant},
                                               {"action", note->action},
                                               {"error", std::string(appended.message())}});
            if (ok) {
              methods->ModifySendStatus(ToGrpcStatus(
                  WithReason(absl::UnavailableError("the audit trail is unavailable; retry"),
                             "AUDIT_UNAVAILABLE")));
            }
          }
          methods->Proceed();
        });
  }

 private:
  const void* ctx_;
  const AuditLog* log_;
  std::shared_ptr<Note> note_;
};

}  // namespace

// Entries appended after a call (reads, refusals, failed writes), grouped per tenant stream: one
// batch script call in flight per stream; entries arriving meanwhile wait and go out together in
// the next call. Under load a read's entry then costs a share of one Redis command instead of a
// command of its own, and at low load an entry goes out at once, as before. Each call still gets
// its answer only when Redis has its entry.
struct AuditLog::Batches {
  struct Entry {
    int64_t ms = 0;
    std::vector<std::string> fields;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  struct Queue {
    bool in_flight = false;
    std::vector<Entry> pending;
  };

  explicit Batches(redis::RedisClient* redis) : redis(redis) {}

  void Add(std::shared_ptr<Batches> self, const std::string& key, std::string min_id,
           Entry entry) {
    {
      absl::MutexLock lock(&mu);
      Queue& q = queues[key];
      if (q.in_flight) {
        q.pending.push_back(std::move(entry));
        return;
      }
      q.in_flight = true;
    }
    std::vector<Entry> batch;
    batch.push_back(std::move(entry));
    Send(std::move(self), key, std::move(min_id), std::move(batch));
  }

  // Sends `batch` (the queue of `key` is marked in flight); when it is answered, sends what
  // waited meanwhile or marks the queue idle. Never holds the lock while calling Redis: a
  // command that cannot be sent answers inline.
  static void Send(std::shared_ptr<Batches> self, std::string key, std::string min_id,
                   std::vector<Entry> batch) {
    std::vector<std::string> args;
    args.reserve(1 + batch.size() * 16);
    args.push_back(min_id);
    for (Entry& e : batch) {
      args.push_back(absl::StrCat(e.ms));
      args.push_back(absl::StrCat(e.fields.size()));
      for (std::string& f : e.fields) args.push_back(std::move(f));
    }
    redis::RedisClient* redis = self->redis;
    redis->Eval(
        kAppendBatchScript, {key}, std::move(args),
        [self = std::move(self), key, min_id = std::move(min_id),
         batch = std::move(batch)](absl::StatusOr<redis::Reply> reply) mutable {
          for (Entry& e : batch) e.done(reply.status());
          std::vector<Entry> next;
          {
            absl::MutexLock lock(&self->mu);
            auto it = self->queues.find(key);
            Queue& q = it->second;
            if (q.pending.empty()) {
              self->queues.erase(it);
              return;
            }
            if (q.pending.size() <= kMaxBatch) {
              next.swap(q.pending);
            } else {
              auto cut = q.pending.begin() + kMaxBatch;
              next.assign(std::make_move_iterator(q.pending.begin()), std::make_move_iterator(cut));
              q.pending.erase(q.pending.begin(), cut);
            }
          }
          Send(std::move(self), std::move(key), std::move(min_id), std::move(next));
        },
        redis::CallOptions{absl::Now() + absl::Seconds(2)});
  }

  redis::RedisClient* const redis;
  absl::Mutex mu;
  absl::flat_hash_map<std::string, Queue> queues ABSL_GUARDED_BY(mu);
};

std::shared_ptr<Note> NoteOf(const void* ctx) { return Calls().Get(ctx); }

std::string Audited(absl::string_view body) {
  return absl::StrCat(kAppendLua, "local function trellis_body()\n", body, R"lua(
end
local r = trellis_body()
local a = ARGV[#ARGV]
if a ~= '' and not (type(r) == 'table' and r.err) then
  if string.sub(a, 1, 1) == 'S' then
    -- Redis Cluster: into the staging part of the patient's slot (redis/staging.h),
    -- "S<tenant's stream>\n<entry>".
    local nl = string.find(a, '\n', 1, true)
    redis.call('XADD', KEYS[#KEYS], '*', 'k', string.sub(a, 2, nl - 1), 'v', string.sub(a, nl + 1))
  else
    local f = cjson.decode(a)
    local fields = {}
    for i = 3, #f do fields[#fields + 1] = f[i] end
    trellis_audit_append(KEYS[#KEYS], f[1], f[2], fields)
  end
end
return r
)lua");
}

void AppendScriptArgs(const Note* note, std::vector<std::string>& keys,
                      std::vector<std::string>& args) {
  if (note == nullptr || note->log == nullptr || !note->admitted) {
    keys.push_back(keys.front());
    args.push_back("");
    return;
  }
  absl::Time now = note->log->clock()->Now();
  // A JSON array of strings (decoded by cjson in the script), written directly: building a
  // nlohmann array was a tenth of a RecordMeasurement's instructions.
  std::string entry = "[";
  log::AppendJsonString(entry, note->log->MinId(now));
  entry.push_back(',');
  log::AppendJsonString(entry, absl::StrCat(absl::ToUnixMillis(now)));
  for (const std::string& f : AuditLog::Fields(*note, "OK", now)) {
    entry.push_back(',');
    log::AppendJsonString(entry, f);
  }
  entry.push_back(']');
  const redis::RedisClient* redis = note->log->redis();
  if (redis != nullptr && redis->Clustered()) {
    // The tenant's stream lies in another slot: stage the entry in the patient's (`keys.front()`
    // carries the patient's hash tag); the AuditRelay moves it on.
    keys.push_back(StagingIndex().KeyFor(*redis, keys.front()));
    args.push_back(absl::StrCat("S", AuditLog::StreamKey(note->tenant), "\n", entry));
    return;
  }
  keys.push_back(AuditLog::StreamKey(note->tenant));
  args.push_back(std::move(entry));
}

redis::SlotIndex StagingIndex() { return redis::SlotIndex("audit", "staged"); }

AuditLog::AuditLog(redis::RedisClient* redis, const Clock* clock, AuditOptions options)
    : redis_(redis),
      clock_(clock),
      options_(options),
      batches_(std::make_shared<Batches>(redis)) {}

AuditLog::~AuditLog() = default;

std::string AuditLog::StreamKey(absl::string_view tenant) {
  return absl::StrCat("trellis:audit:{", tenant, "}:events");
}

std::vector<std::string> AuditLog::Fields(const Note& note, absl::string_view code,
                                          absl::Time now) {
  return {"t", absl::StrCat(absl::ToUnixMillis(now)),
          "s", note.subject,
          "r", absl::StrCat(static_cast<int>(note.role)),
          "a", note.action,
          "n", note.resource,
          "p", note.patient,
          "c", std::string(code)};
}

std::string AuditLog::MinId(absl::Time now) const {
  return absl::StrCat(std::max<int64_t>(0, absl::ToUnixMillis(now - options_.retention)));
}

void AuditLog::Append(const Note& note, absl::string_view code,
                      absl::AnyInvocable<void(absl::Status)> done) const {
  absl::Time now = clock_->Now();
  Batches::Entry entry;
  entry.ms = absl::ToUnixMillis(now);
  entry.fields = Fields(note, code, now);
  entry.done = std::move(done);
  batches_->Add(batches_, StreamKey(note.tenant), MinId(now), std::move(entry));
}

absl::StatusOr<int> AuditLog::MoveStaged(int per_part) const {
  if (!redis_->Clustered()) return 0;
  return redis::MoveStaged(*redis_, StagingIndex(), kMoveScript, {}, per_part);
}

void AuditLog::List(const ListQuery& query, absl::AnyInvocable<void(absl::StatusOr<ListPage>)> done,
                    absl::Time deadline) const {
  std::string max = query.cursor;
  if (max.empty()) {
    max = query.end == absl::InfiniteFuture()
              ? "+"
              : absl::StrCat("(", absl::ToUnixMillis(query.end), "-0");
  }
  std::string min =
      query.start == absl::InfinitePast() ? "-" : absl::StrCat(absl::ToUnixMillis(query.start));
  redis_->Eval(
      kListScript, {StreamKey(query.tenant)},
      {max, min, query.patient, absl::StrCat(query.page_size), absl::StrCat(kScanLimit)},
      [done = std::move(done)](absl::StatusOr<redis::Reply> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        if (!reply->is_array() || reply->elements.size() != 2) {
          return done(absl::InternalError("unexpected audit page"));
        }
        ListPage page;
        for (const redis::Reply& e : reply->elements[0].elements) {
          if (e.elements.size() != 2) continue;
          trellis::v1::AuditEvent event;
          event.set_id(e.elements[0].str);
          const auto& f = e.elements[1].elements;
          for (size_t i = 0; i + 1 < f.size(); i += 2) {
            const std::string& k = f[i].str;
            const std::string& v = f[i + 1].str;
            if (k == "t") {
              int64_t ms = 0;
              if (absl::SimpleAtoi(v, &ms)) {
                event.mutable_time()->set_seconds(ms / 1000);
                event.mutable_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
              }
            } else if (k == "s") {
              event.mutable_actor()->set_subject(v);
            } else if (k == "r") {
              int role = 0;
              if (absl::SimpleAtoi(v, &role) && trellis::v1::Role_IsValid(role)) {
                event.mutable_actor()->set_role(static_cast<trellis::v1::Role>(role));
              }
            } else if (k == "a") {
              event.set_action(v);
            } else if (k == "n") {
              event.set_resource(v);
            } else if (k == "p") {
              event.set_patient(v);
            } else if (k == "c") {
              event.set_result_code(v);
            }
          }
          page.events.push_back(std::move(event));
        }
        page.next_cursor = reply->elements[1].str;
        done(std::move(page));
      },
      redis::CallOptions{deadline});
}

grpc::experimental::Interceptor* AuditInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new AuditInterceptor(info, log_);
}

}  // namespace trellis::audit
