#pragma once

// The only code that knows the reminder service's Redis keys (DESIGN.md §5).
//
// Per patient, all in one hash-tag slot ("trellis:rem:{tenant:patient}"):
//   rem:<id>             serialized trellis.v1.Reminder (etag "r<revision>")
//   meta:<id>            hash: revision, state (stored ReminderState), kind, goal (goal id or ''),
//                        clinician, ps / pe (pause window start / end in Unix ms, '' = none /
//                        open-ended): list filters and etag checks without decoding protobuf in Lua
//   rems                 zset of reminder ids, score = create time (ms): list order
//   goal:<goal id>       set of the ids of the reminders linked to that goal (EndGoalReminders)
//   occ:<id>             hash: scheduled instant (Unix ms) -> occurrence state name
//                        ("skipped_paused", written by ResumeReminder with HSETNX so it never
//                        overwrites an outcome; RecordCompletion writes "done", "skipped",
//                        "snoozed", with "+s" appended once the occurrence was snoozed: "done+s";
//                        the dispatcher adds "missed" and "skipped_paused"; a delivery adds
//                        nothing: see dispatch_plan.h)
//   occt:<id>            zset of the same instants (member = score = Unix ms): the bounded window
//                        reads of GetAdherence (ZRANGEBYSCORE) without scanning the hash
//   snz:<id>             set of the reminder's pending snooze members in the due index (below), so
//                        ending the reminder removes them too (the dispatcher SREMs on delivery)
//   comp:<id>            hash: scheduled instant (Unix ms) -> serialized trellis.v1.Completion
//                        (the latest outcome recorded by RecordCompletion)
//   req:<method>:<rid>   request_id record: "<fingerprint>|<serialized result>", expires
//   outbox               effects for other services (common/outbox): RecordMeasurement of a
//                        DONE with a value; the service's pending index is
//                        "trellis:rem:outbox:pending"
//
// The due index, for the dispatcher (next round), bucketed so one key is never the hot spot:
//   trellis:rem:{due:<b>}:due   zset, member "<tenant>|<patient>|<reminder id>", score = Unix ms of
//                               the reminder's next schedule occurrence still to be processed,
//                               b = DueBucket(tenant, patient) in [0, kDueBuckets).
// Exactly one schedule member per ACTIVE or PAUSED reminder (a reminder is one member, so ZADD
// moves it); ENDED reminders have none. For a PAUSED reminder the entry stays at the next schedule
// occurrence even when it falls inside the pause: the dispatcher, on claiming it, records it in
// occ:<id> as skipped_paused and advances to the next one (the next occurrence is computed when the
// previous one is claimed, never a precomputed list). ResumeReminder moves the entry to the first
// occurrence after now and records the pause's past occurrences as skipped_paused itself.
// A snoozed occurrence adds a second member "<tenant>|<patient>|<id>|snooze|<scheduled ms>",
// score = snooze_until (ms), in the same bucket (RecordCompletion; listed in snz:<id>): the
// dispatcher delivers it once as "<occurrence id>/snooze" and removes it.
// On a single Redis the due key lies in another hash slot than the patient's keys, which one
// script may write together; on Redis Cluster the bucket is the patient's slot (DueBucketOf).
//
// Every write is one EVALSHA: etag (revision) or request_id checks, value, meta, indexes, due entry
// and occurrence records change together or not at all.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/audit/audit.h"
#include "common/outbox/outbox.h"
#include "common/redis/client.h"
#include "common/redis/slot_index.h"
#include "services/reminders/domain/dispatch_plan.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::reminders {

// Number of due-index buckets on a single Redis, and of delivery buckets (the subscribers'
// streams, dispatch_store.h) in both layouts. The one place this constant lives. Changing it
// moves reminders between buckets (a migration).
inline constexpr int kDueBuckets = 16;

// Bucket of a patient: FNV-1a (32 bit) of "<tenant>:<patient>" mod kDueBuckets. Stable across
// processes and versions (std::hash is not). Its delivery bucket always; its due bucket on a
// single Redis.
int DueBucket(absl::string_view tenant, absl::string_view patient);

// The due index in `redis`'s layout. A single Redis: kDueBuckets buckets tagged "{due:<b>}". Redis
// Cluster: one bucket per slot (16 384), in the slot of the patients it lists, so that a
// patient's script may write its due entry and the dispatcher's scripts may read and write the
// patients of the bucket they claim (docs/scaling.md).
int DueBucketOf(const redis::RedisClient& redis, absl::string_view tenant,
                absl::string_view patient);
// "trellis:rem:{due:<bucket>}:due", or on a cluster "trellis:rem:{<slot tag>}:due".
std::string DueKey(const redis::RedisClient& redis, int bucket);
// "trellis:rem:{due:<bucket>}:lease" (cluster: "trellis:rem:{<slot tag>}:due_lease"): the
// dispatcher's leases on claimed due entries (dispatch_store.h). A write that moves or removes a
// due entry deletes its lease.
std::string DueLeaseKey(const redis::RedisClient& redis, int bucket);
// The cluster layout's due index, walked by the dispatcher to find the buckets with entries due.
redis::SlotIndex ClusterDueIndex();
// The single-server layout's keys whatever the client: on a cluster the dispatcher moves what
// they still hold (data moved from a single Redis) into the per-slot buckets.
std::string SingleDueKey(int bucket);
std::string SingleDueLeaseKey(int bucket);
// "<tenant>|<patient>|<reminder id>" ('|' is outside the id alphabet).
std::string DueMember(absl::string_view tenant, absl::string_view patient,
                      absl::string_view reminder_id);

// One reminder written by a ReminderWrite.
struct ReminderChange {
  trellis::v1::Reminder reminder;  // complete new value (etag already advanced)
  int64_t revision = 1;            // the new revision (its etag is EtagFor(revision))
  int64_t expected_revision = 0;   // 0: the reminder must not exist yet (create)
  std::string previous_goal_id;    // goal index the reminder leaves ('' none)
  // The due-index entry (the next schedule occurrence to process): left as it is, set to `due`,
  // or removed (ENDED).
  enum class DueUpdate { kKeep, kSet, kRemove };
  DueUpdate due_update = DueUpdate::kKeep;
  absl::Time due;
  // Occurrence records to add (kept if one already exists for the instant).
  std::vector<std::pair<absl::Time, std::string>> occurrences;
};

struct ReminderWrite {
  std::string tenant;
  std::string patient;
  std::vector<ReminderChange> changes;  // all of one patient
  // Idempotency: when set, a repeat of the same method+request_id returns the stored result.
  std::string method;
  std::string request_id;
  std::string fingerprint;  // of the request; a different one is REQUEST_ID_REUSED
  std::string result;       // serialized response stored for repeats
  // The call's audit entry, written with the change (null: none).
  std::shared_ptr<audit::Note> audit;
};

struct ReminderWriteResult {
  bool replayed = false;  // true: an earlier call with this request_id; `result` is its response
  std::string result;
};

// A stored reminder and its revision.
struct StoredReminder {
  trellis::v1::Reminder reminder;
  int64_t revision = 0;
};

struct ReminderFilter {
  std::vector<int> states;  // effective ReminderState values; empty: any
  std::vector<int> kinds;   // ReminderKind values; empty: any
  std::string goal_id;      // '' any
  std::string clinician;    // '' any
};

struct ReminderListPage {
  std::vector<StoredReminder> reminders;
  std::string next_cursor;  // empty at the end
};

// One occurrence record (occ:<id>) and its completion (comp:<id>), if any.
struct OccurrenceEntry {
  int64_t scheduled_ms = 0;
  std::string state;       // "" when there is no record
  std::string completion;  // serialized trellis.v1.Completion, "" when none
};

// A reminder and its occurrence records in a window.
struct ReminderWithOccurrences {
  StoredReminder reminder;
  std::vector<OccurrenceEntry> occurrences;  // by scheduled time
};

// The write of one RecordCompletion.
struct CompletionWrite {
  std::string tenant;
  std::string patient;
  std::string reminder_id;
  int64_t scheduled_ms = 0;
  std::string expected_state;  // the record read before ("" none); another one is ABORTED
  std::string state;           // the new record
  std::string completion;      // serialized trellis.v1.Completion
  std::optional<absl::Time> snooze_until;  // adds the snooze due entry
  // A cross-service effect recorded with the completion (common/outbox): the measurement a DONE
  // with a value records in MeasurementService.
  std::optional<outbox::OutboxEntry> effect;
  // Only answer a replay of request_id; write nothing otherwise (result: replayed = false).
  bool replay_only = false;
  std::string method;
  std::string request_id;
  std::string fingerprint;
  std::string result;
  std::shared_ptr<audit::Note> audit;  // written with the completion (null: none)
};

class ReminderStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  static constexpr absl::Duration kRequestIdTtl = absl::Hours(48);
  // Upper bound on the reminders of one goal ended by one EndGoalReminders.
  static constexpr int kMaxRemindersPerGoal = 1000;

  explicit ReminderStore(redis::RedisClient* redis) : redis_(redis) {}

  // Atomically applies `write`. Errors: ABORTED (ETAG_MISMATCH) when a reminder's revision is not
  // the expected one, NOT_FOUND when an updated reminder does not exist, ALREADY_EXISTS when a
  // created id exists or the request_id was used for another request (REQUEST_ID_REUSED);
  // UNAVAILABLE when Redis is.
  void Write(ReminderWrite write, Callback<ReminderWriteResult> done, absl::Time deadline);

  // One reminder; NOT_FOUND if absent. One GET.
  void Get(const std::string& tenant, const std::string& patient, const std::string& id,
           Callback<StoredReminder> done, absl::Time deadline);

  // One page in creation order (create time, then id), starting after `cursor` (empty: from the
  // start). States are matched against the effective state at `now` (a pause window that has
  // ended reads ACTIVE).
  void List(const std::string& tenant, const std::string& patient, const ReminderFilter& filter,
            int page_size, const std::string& cursor, absl::Time now,
            Callback<ReminderListPage> done, absl::Time deadline);

  // Reminders with their occurrence records (and completions) scheduled in [from_ms, to_ms]:
  // one reminder (`id` set; NOT_FOUND if absent) or all of a patient's reminders (`id` empty;
  // oldest first, at most kMaxRemindersPerPatient). One EVALSHA.
  void ReadOccurrences(const std::string& tenant, const std::string& patient, const std::string& id,
                       int64_t from_ms, int64_t to_ms,
                       Callback<std::vector<ReminderWithOccurrences>> done, absl::Time deadline);

  // Records a completion (record, completion, snooze due entry, request_id) in one EVALSHA.
  void WriteCompletion(CompletionWrite write, Callback<ReminderWriteResult> done,
                       absl::Time deadline);

  static constexpr int kMaxRemindersPerPatient = 1000;

  // Every reminder linked to a goal (any state), oldest first, at most kMaxRemindersPerGoal.
  void ListByGoal(const std::string& tenant, const std::string& patient, const std::string& goal_id,
                  Callback<std::vector<StoredReminder>> done, absl::Time deadline);

 private:
  redis::RedisClient* redis_;
};

// "r<revision>": the etag of a reminder at a revision. ParseEtag returns nullopt for anything else.
std::string EtagFor(int64_t revision);
std::optional<int64_t> ParseEtag(absl::string_view etag);

// Unix milliseconds (floor) of an instant.
int64_t ToUnixMillisFloor(absl::Time t);

}  // namespace trellis::reminders
