#pragma once

// The Redis side of dispatch and delivery (DESIGN.md §3 ReminderService; reminders.proto,
// "Occurrences and delivery"). The only code that knows these keys; reminder_store.h owns the
// reminder keys and the due index itself.
//
// Per due bucket b (hash tag "{due:<b>}", the same slot as the bucket's due index):
//   trellis:rem:{due:<b>}:due            the due index (reminder_store.h): member -> due ms; while
//                                        claimed, the score is LeaseScore(lease expiry), "<ms>.5"
//   trellis:rem:{due:<b>}:lease          hash: member -> its due ms before its latest claim (read
//                                        only when a lease ran out: a fractional score)
//   trellis:rem:{due:<b>}:out:<tenant>   stream of deliveries of the bucket's patients of a tenant:
//                                        fields u (due ms), k (ReminderKind), m (delivery key,
//                                        DeliveryKey), d (serialized trellis.v1.Delivery without
//                                        attempt and ack_deadline); one consumer group per
//                                        subscriber (group = subscriber id, read with NOACK: the
//                                        group is the subscriber's cursor, `inf`/`own` below its
//                                        pending list); trimmed by age (MINID, stream_retention)
//   trellis:rem:{due:<b>}:inf:<tenant>:<subscriber>
//                                        zset: delivery key -> ack deadline (ms) of its latest
//                                        hand-over: the deliveries outstanding for the subscriber
//   trellis:rem:{due:<b>}:own:<tenant>:<subscriber>
//                                        hash: delivery key -> "<consumer>|<attempt>|<entry id>"
//                                        (which stream holds it, how often it was handed over,
//                                        where it is) and "#<consumer>" -> number of deliveries
//                                        that stream holds (its max_unacked)
// Per tenant ("{<tenant>}"):
//   trellis:rem:{<tenant>}:subs          hash: subscriber -> kinds filter (",1,3," or "" for all),
//                                        fixed by the subscriber's first stream
// Per patient (the reminder keys' slot, "trellis:rem:{<tenant>:<patient>}"):
//   ack:<id>                             hash: "<subscriber>|<dlv field>" -> ack time (ms)
//   occ:<id>, occt:<id>                  occurrence records (reminder_store.h): the dispatcher adds
//                                        "missed" and "skipped_paused", and delivers nothing whose
//                                        record is final (done, skipped*)
//
// Claim: the due entries of a bucket with score <= now get score = LeaseScore(now + lease) and
// their due time in the lease hash; a dispatcher that dies leaves them to come due again at the
// expiry, when another one claims them with the original due time. Complete: only for entries
// whose score is still the claim's lease score (a later claim has a later one; a write that moved
// the entry set a whole number), one EVALSHA per batch enters the deliveries into the tenant's
// stream, adds the occurrence records and moves (or removes) the due entry: an occurrence enters a
// stream at most once. The scripts use variadic calls per batch where they can (ZADD, HSET, MGET,
// ZMSCORE): per-call overhead in Lua, more than the work itself, is what a burst of 100 000
// occurrences pays for.
//
// Redis Cluster (docs/scaling.md): a due bucket is a slot (DueBucketOf), so the claim and
// complete scripts read and write patients of that slot only; the deliveries they complete are
// staged in the slot (DeliveryStaging) and moved into the delivery buckets' streams, whose keys
// above are the same in both layouts; subscribe, poll and ack run one script per delivery
// bucket, and a delivery's ack record sits beside the subscriber's pending list of its bucket.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/client.h"
#include "common/redis/slot_index.h"

namespace trellis::reminders {

struct DispatchStoreOptions {
  // Stream entries older than this (by the Redis server's clock) are trimmed. Longer than the
  // grace window plus the visibility timeout: nothing older can still be delivered.
  absl::Duration stream_retention = absl::Hours(3);
};

// One claimed due entry.
struct ClaimedEntry {
  std::string member;  // the due member, as claimed
  std::string tenant;
  std::string patient;
  std::string reminder_id;
  bool snooze = false;
  int64_t due_ms = 0;        // due time before the claim (lease-independent)
  int64_t scheduled_ms = 0;  // the occurrence: due_ms, or the snoozed occurrence's instant
  std::string reminder;      // serialized trellis.v1.Reminder; empty when it no longer exists
};

// A delivery to enter into the tenant's stream.
struct DeliveryWrite {
  int64_t scheduled_ms = 0;
  bool snooze = false;
  int kind = 0;  // ReminderKind, for subscriber filters
  int64_t due_ms = 0;
  std::string payload;  // serialized trellis.v1.Delivery
};

// What to do with one claimed entry.
struct EntryCompletion {
  const ClaimedEntry* entry = nullptr;  // not owned
  int64_t revision = 0;                 // the reminder's revision as claimed (kEnd checks it)
  enum class Due { kSet, kRemove, kEnd };
  Due due = Due::kRemove;
  int64_t next_due_ms = 0;     // kSet
  std::string ended_reminder;  // kEnd: the reminder ended, at revision entry->revision + 1
  std::vector<std::pair<int64_t, std::string>> records;  // occurrence records (HSETNX)
  std::vector<DeliveryWrite> deliveries;
};

struct CompleteResult {
  int completed = 0;  // entries whose lease was still held
  int lost = 0;       // entries whose lease had expired or was dropped by a write: left alone
  int delivered = 0;  // deliveries entered into streams
};

// One hand-over to a subscriber's stream.
struct StreamedDelivery {
  int bucket = 0;
  std::string entry_id;
  int attempt = 1;
  std::string payload;  // serialized trellis.v1.Delivery (attempt and ack_deadline unset)
};

struct PollRequest {
  std::string tenant;
  std::string subscriber;
  std::string consumer;  // the stream's own id (unique per open stream)
  absl::Time now;
  absl::Time ack_deadline;  // now + visibility timeout
  absl::Time cutoff;        // entries due before this are past the grace window: not delivered
  int max_unacked = 1000;
  int max_batch = 500;
  int start_bucket = 0;  // fairness: the bucket read first
};

struct PollResult {
  std::vector<StreamedDelivery> deliveries;
  int outstanding = 0;  // held by this consumer after the poll
};

// One delivery to acknowledge: the reminder and DeliveryField of the delivery.
struct AckItem {
  std::string patient;
  std::string reminder_id;
  std::string field;
};

struct AckOutcome {
  bool found = false;    // false: never handed to the subscriber (or trimmed before delivery)
  bool already = false;  // acknowledged before
  int64_t ack_ms = 0;    // the (first) acknowledgement
};

class DispatchStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  explicit DispatchStore(redis::RedisClient* redis, DispatchStoreOptions options = {})
      : redis_(redis), options_(options) {}

  // Claims up to `limit` entries of `bucket` due at `now`, giving them score `lease`
  // (LeaseScore of the lease expiry).
  void Claim(int bucket, absl::Time now, const std::string& lease, int limit,
             Callback<std::vector<ClaimedEntry>> done, absl::Time deadline);

  // Applies completions of entries claimed from `bucket` with `lease` (one EVALSHA).
  void Complete(int bucket, const std::string& lease, const std::vector<EntryCompletion>& items,
                Callback<CompleteResult> done, absl::Time deadline);

  // Redis Cluster: enters up to `per_part` deliveries staged by Complete in each slot into their
  // streams (see kDeliveriesMoveScript); returns how many. Blocking: for a background thread.
  // Nothing to do on a single Redis.
  absl::StatusOr<int> MoveStagedDeliveries(int per_part = 512);
  // The same for the staging parts of `buckets` only (those a pass just completed into).
  absl::StatusOr<int> MoveStagedDeliveries(const std::vector<int>& buckets, int per_part = 512);

  // Registers `subscriber` with `kinds` (sorted ReminderKind values; empty: all) and creates its
  // consumer groups. FAILED_PRECONDITION (SUBSCRIBER_FILTER_MISMATCH) when it was registered with
  // another filter.
  void Subscribe(const std::string& tenant, const std::string& subscriber,
                 const std::vector<int>& kinds, Callback<bool> done, absl::Time deadline);

  // Hands the subscriber's next deliveries to `consumer`: first those whose ack deadline has
  // passed (attempt + 1), then new ones, while the consumer holds fewer than max_unacked.
  void Poll(const PollRequest& request, const std::vector<int>& kinds, Callback<PollResult> done,
            absl::Time deadline);

  // Acknowledges deliveries of `subscriber` (one EVALSHA for all of them); an outcome per item, in
  // order.
  void Ack(const std::string& tenant, const std::string& subscriber,
           const std::vector<AckItem>& items, absl::Time now,
           Callback<std::vector<AckOutcome>> done, absl::Time deadline);

 private:
  // options_.stream_retention in ms, as the scripts take it.
  std::string RetentionMs() const;

  redis::RedisClient* redis_;
  DispatchStoreOptions options_;
};

// "<scheduled ms>" or "<scheduled ms>s": identifies a delivery among its reminder's (ack:<id>).
std::string DeliveryField(int64_t scheduled_ms, bool snooze);

// "<patient>|<reminder id>|<dlv field>": a delivery's key in a subscriber's pending list.
std::string DeliveryKey(absl::string_view patient, absl::string_view reminder_id,
                        absl::string_view field);

// "<Unix ms of lease_until>.5": the score of a claimed due entry.
std::string LeaseScore(absl::Time lease_until);

// The bucket's stream of a tenant: "trellis:rem:{due:<b>}:out:<tenant>" (b: the delivery bucket,
// DueBucket).
std::string OutStreamKey(int bucket, const std::string& tenant);

// Redis Cluster: deliveries completed in a due bucket (a slot) wait in that slot's part until
// MoveStagedDeliveries enters them into their streams.
redis::SlotIndex DeliveryStaging();

}  // namespace trellis::reminders
