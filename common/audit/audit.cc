#include "common/audit/audit.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/calls/call_map.h"
#include "common/log/log.h"
#include "common/redis/script.h"
#include "common/status/status.h"
#include "nlohmann/json.hpp"

namespace trellis::audit {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Calls in flight, by server context.
calls::CallMap<Note>& Calls() {
  static auto* calls = new calls::CallMap<Note>();
  return *calls;
}

// Appends one entry (ARGV: min id, ms, then field/value pairs) to KEYS[1] with an id that follows
// the services' clock (so time filters are id ranges), never below the stream's newest id (so a
// replica whose clock lags cannot be refused by XADD).
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

const redis::Script kAppendScript("audit_append", absl::StrCat(kAppendLua, R"lua(
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
trellis_audit_append(KEYS[1], ARGV[1], ARGV[2], fields)
return 1
)lua"));

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
)lua");

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
        },
        absl::Now() + absl::Seconds(2));
  }

 private:
  const void* ctx_;
  const AuditLog* log_;
  std::shared_ptr<Note> note_;
};

}  // namespace

std::shared_ptr<Note> NoteOf(const void* ctx) { return Calls().Get(ctx); }

std::string Audited(absl::string_view body) {
  return absl::StrCat(kAppendLua, "local function trellis_body()\n", body, R"lua(
end
local r = trellis_body()
local a = ARGV[#ARGV]
if a ~= '' and not (type(r) == 'table' and r.err) then
  local f = cjson.decode(a)
  local fields = {}
  for i = 3, #f do fields[#fields + 1] = f[i] end
  trellis_audit_append(KEYS[#KEYS], f[1], f[2], fields)
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
  nlohmann::json entry = nlohmann::json::array();
  entry.push_back(note->log->MinId(now));
  entry.push_back(absl::StrCat(absl::ToUnixMillis(now)));
  for (std::string& f : AuditLog::Fields(*note, "OK", now)) entry.push_back(std::move(f));
  keys.push_back(AuditLog::StreamKey(note->tenant));
  args.push_back(entry.dump());
}

AuditLog::AuditLog(redis::RedisClient* redis, const Clock* clock, AuditOptions options)
    : redis_(redis), clock_(clock), options_(options) {}

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
                      absl::AnyInvocable<void(absl::Status)> done, absl::Time deadline) const {
  absl::Time now = clock_->Now();
  std::vector<std::string> args = {MinId(now), absl::StrCat(absl::ToUnixMillis(now))};
  for (std::string& f : Fields(note, code, now)) args.push_back(std::move(f));
  redis_->Eval(
      kAppendScript, {StreamKey(note.tenant)}, std::move(args),
      [done = std::move(done)](absl::StatusOr<redis::Reply> reply) mutable {
        done(reply.status());
      },
      redis::CallOptions{deadline});
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
