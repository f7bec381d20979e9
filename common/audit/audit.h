#pragma once

// The audit trail (DESIGN.md §6): every call that reached a verified caller appends
// {time, tenant, actor sub and role, action, resource, patient, result code} to its tenant's Redis
// stream `trellis:audit:{<tenant>}:events`, trimmed by age (MINID) to the retention setting.
//
// How an entry is written:
//  - The admission helper (server::Admit) fills the call's Note as soon as the token is verified:
//    who, which method, which patient and resource.
//  - A write whose store script is wrapped with Audited() appends the entry inside that same
//    script, so the change and its audit entry are one atomic step; the store then marks the note
//    stored.
//  - For every other admitted call (reads, refusals, failed writes, writes without an audited
//    script) the audit interceptor appends the entry when the call finishes and releases the
//    response only once Redis has it. If the append fails, an otherwise successful call answers
//    UNAVAILABLE (reason AUDIT_UNAVAILABLE): no record is served without its audit entry.
// On Redis Cluster a script may only touch one slot, and the tenant's stream lies in another than
// the patient's keys. There an Audited() script appends the entry to a staging stream in the
// patient's slot (StagingIndex(): one per slot, "trellis:audit:{<slot tag>}:staged"), still in
// the same atomic step as the change, and the AuditRelay (server/audit_service.h) of every
// replica moves staged entries into their tenants' streams exactly once (redis/staging.h; the
// cursor hash is "trellis:audit:{<tenant>}:events:moved"). A write's entry then shows in
// ListAuditEvents after the relay's next pass (a fraction of a second) instead of at once, and
// the trail is in the order entries reached it (each keeps its own time).
// Calls that never reach a verified caller (no or bad token, health, reflection) have no tenant
// and are left to the access log.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/client.h"
#include "common/redis/script.h"
#include "common/redis/slot_index.h"
#include "common/time/clock.h"
#include "trellis/v1/audit.pb.h"

namespace trellis::audit {

class AuditLog;

// What one call did, as far as the audit trail is concerned. Filled by server::Admit.
struct Note {
  const AuditLog* log = nullptr;  // set by the interceptor
  bool admitted = false;          // a verified caller: worth an entry
  std::string tenant;
  std::string subject;
  trellis::v1::Role role = trellis::v1::ROLE_UNSPECIFIED;
  std::string action;    // "GoalService.GetGoal"
  std::string resource;  // "patients/p1/goals/g1", or the patient, or "" for tenant-level calls
  std::string patient;
  std::atomic<bool> stored{false};  // the store wrote the entry with the change
};

// The note of the call running on `ctx` (a grpc::ServerContextBase), or null when the server
// has no audit interceptor.
std::shared_ptr<Note> NoteOf(const void* ctx);

// Wraps a store script so that, when it succeeds (returns anything but an error reply), it also
// appends the audit entry passed as the last key and argument (see AppendScriptArgs). The script
// must not read #KEYS or #ARGV.
std::string Audited(absl::string_view body);

// Appends the audit key and argument to an Audited() script's call: the note's entry when there
// is one, else a no-op marker (`keys` must then hold at least one key of the script).
void AppendScriptArgs(const Note* note, std::vector<std::string>& keys,
                      std::vector<std::string>& args);

// The staging streams of Audited() writes on a cluster (see above).
redis::SlotIndex StagingIndex();

// After an Audited() script succeeded: the entry is in Redis.
inline void MarkStored(Note* note) {
  if (note != nullptr) note->stored.store(true);
}

// Runs an Audited() idempotent write script (reply {1 if replayed else 0, stored response}) with
// `note`'s entry, and answers a `Result` with `bool replayed` and `std::string result`.
template <typename Result>
void RunAuditedWrite(redis::RedisClient& redis, const redis::Script& script,
                     std::vector<std::string> keys, std::vector<std::string> args,
                     std::shared_ptr<Note> note,
                     absl::AnyInvocable<void(absl::StatusOr<Result>)> done, absl::Time deadline) {
  AppendScriptArgs(note.get(), keys, args);
  redis.Eval(
      script, std::move(keys), std::move(args),
      [done = std::move(done), note = std::move(note)](absl::StatusOr<redis::Reply> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        if (!reply->is_array() || reply->elements.size() != 2) {
          return done(absl::InternalError("unexpected reply of a write script"));
        }
        MarkStored(note.get());
        Result result;
        result.replayed = reply->elements[0].integer == 1;
        result.result = std::move(reply->elements[1].str);
        done(std::move(result));
      },
      redis::CallOptions{deadline});
}

struct AuditOptions {
  absl::Duration retention = absl::Hours(24 * 366);
};

struct ListQuery {
  std::string tenant;
  std::string patient;  // empty: every patient and tenant-level action
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();  // exclusive
  int page_size = 100;
  std::string cursor;  // stream id to continue below (exclusive); empty: from `end`
};

struct ListPage {
  std::vector<trellis::v1::AuditEvent> events;  // newest first
  std::string next_cursor;                      // empty at the end
};

class AuditLog {
 public:
  AuditLog(redis::RedisClient* redis, const Clock* clock, AuditOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  static std::string StreamKey(absl::string_view tenant);
  // Stream fields of `note`'s entry with result `code` at `now`, as XADD arguments after the id.
  static std::vector<std::string> Fields(const Note& note, absl::string_view code, absl::Time now);
  // The MINID argument that trims entries older than the retention.
  std::string MinId(absl::Time now) const;

  // Appends `note`'s entry with result `code`; `done` runs once Redis has it (or with the error,
  // UNAVAILABLE after at most 2 s). Entries of one tenant arriving while one of its appends is
  // under way are batched into the next script call.
  void Append(const Note& note, absl::string_view code,
              absl::AnyInvocable<void(absl::Status)> done) const;

  // One page of a tenant's entries, newest first, filtered by patient and time; reads at most a
  // bounded number of entries per call (the page may then be short, with a cursor).
  void List(const ListQuery& query, absl::AnyInvocable<void(absl::StatusOr<ListPage>)> done,
            absl::Time deadline) const;

  // Redis Cluster: moves up to `per_part` staged entries of every staging part into their
  // tenants' streams (see above); returns how many it appended. Blocking: for a background thread
  // (server::AuditRelay). Nothing to do, and 0, on a single Redis.
  absl::StatusOr<int> MoveStaged(int per_part = 256) const;

  const Clock* clock() const { return clock_; }
  redis::RedisClient* redis() const { return redis_; }
  const AuditOptions& options() const { return options_; }

 private:
  struct Batches;

  redis::RedisClient* redis_;
  const Clock* clock_;
  AuditOptions options_;
  std::shared_ptr<Batches> batches_;
};

// Installs the audit step on a server: registers each call's Note and appends the entry of
// admitted calls the store did not already write.
class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuditInterceptorFactory(const AuditLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const AuditLog* log_;
};

}  // namespace trellis::audit
