#pragma once

// The only code that knows the goal service's Redis keys (DESIGN.md §5). Per patient, all in one
// hash-tag slot ("trellis:goals:{tenant:patient}"):
//   goal:<id>            serialized trellis.v1.Goal
//   meta:<id>            hash: revision, status, category, needs_review, parent (list filters,
//                        etag checks and parent checks without decoding protobuf in Lua)
//   goals                zset of goal ids, score = create time (ms): list order
//   children:<id>        zset of a goal's objectives
//   revs:<id>            list of serialized GoalRevision, oldest first (revision n at index n-1)
//   req:<method>:<rid>   request_id record: "<fingerprint>|<serialized result>", expires
//   outbox               cross-service effects waiting for the relay (common/outbox, §4)
// and the shared cache entry trellis:cache:{tenant:patient}:goal:<id> (§5.3), which this store
// rewrites in the same script as every change, so the cache never serves a goal older than an
// acknowledged change.
//
// Every write is one EVALSHA: etag (revision) checks, values, indexes, revisions, cache and outbox
// change together or not at all.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/audit/audit.h"
#include "common/outbox/outbox.h"
#include "common/redis/client.h"
#include "common/time/clock.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

using outbox::OutboxEntry;

// One goal written by a GoalWrite: the new value, the revision it replaces, its history entry.
struct GoalChange {
  trellis::v1::Goal goal;              // complete new value (revision and etag already advanced)
  int64_t expected_revision = 0;       // 0: the goal must not exist yet (create)
  trellis::v1::GoalRevision revision;  // appended to the goal's history
};

struct GoalWrite {
  std::string tenant;
  std::string patient;
  std::vector<GoalChange> changes;  // all of one patient
  std::vector<OutboxEntry> outbox;
  // Idempotency: when set, a repeat of the same method+request_id returns the stored result.
  std::string method;
  std::string request_id;
  std::string fingerprint;  // of the request; a different one is REQUEST_ID_REUSED
  std::string result;       // serialized response stored for repeats
  // Only answer a repeat; record nothing (a request that failed must not be remembered as done).
  bool replay_only = false;
  // The call's audit entry, written with the change (null: none).
  std::shared_ptr<audit::Note> audit;
};

struct GoalWriteResult {
  bool replayed = false;  // true: an earlier call with this request_id; `result` is its response
  std::string result;
};

struct GoalListPage {
  std::vector<trellis::v1::Goal> goals;
  std::string next_cursor;  // empty at the end
};

struct RevisionPage {
  std::vector<trellis::v1::GoalRevision> revisions;  // newest first
  int64_t next_before = 0;                           // 0 at the end
};

struct GoalFilter {
  std::string parent_id;  // only this goal's objectives
  bool top_level_only = false;
  std::vector<int> statuses;  // GoalLifecycleStatus values; empty: any
  int category = 0;           // 0: any
  std::optional<bool> needs_review;
};

class GoalStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  // How long request_id records and cache entries live.
  static constexpr absl::Duration kRequestIdTtl = absl::Hours(48);
  static constexpr absl::Duration kCacheTtl = absl::Minutes(10);
  // Upper bound on goals read for whole-patient operations (export, attainment score).
  static constexpr int kMaxGoalsPerPatient = 2000;

  explicit GoalStore(redis::RedisClient* redis) : redis_(redis) {}

  // Atomically applies `write`. Errors: ABORTED (ETAG_MISMATCH) when a goal's revision is not the
  // expected one, NOT_FOUND when an updated goal does not exist, ALREADY_EXISTS when a created id
  // exists or the request_id was used for another request (REQUEST_ID_REUSED), FAILED_PRECONDITION
  // when a new objective's parent is missing, itself an objective, or closed; UNAVAILABLE when
  // Redis is.
  void Write(GoalWrite write, Callback<GoalWriteResult> done, absl::Time deadline);

  // The goal with its objectives filled in; NOT_FOUND if absent. Refreshes the cache entry.
  void Get(const std::string& tenant, const std::string& patient, const std::string& id,
           Callback<trellis::v1::Goal> done, absl::Time deadline);

  // One page in creation order, starting after `cursor` (empty: from the start).
  void List(const std::string& tenant, const std::string& patient, const GoalFilter& filter,
            int page_size, const std::string& cursor, Callback<GoalListPage> done,
            absl::Time deadline);

  // History newest first; `before` is the revision to start below (0: from the newest).
  void ListRevisions(const std::string& tenant, const std::string& patient, const std::string& id,
                     int page_size, int64_t before, Callback<RevisionPage> done,
                     absl::Time deadline);

 private:
  redis::RedisClient* redis_;
};

// "r<revision>": the etag of a goal at a revision. ParseEtag returns nullopt for anything else.
std::string EtagFor(int64_t revision);
std::optional<int64_t> ParseEtag(absl::string_view etag);

}  // namespace trellis::goals
