#pragma once

// The Redis side of dispatch and delivery (DESIGN.md §3 ReminderService; reminders.proto,
// "Occurrences and delivery"). The only code that knows these keys; reminder_store.h owns the
// reminder keys and the due index itself.
//
// Per due bucket b (hash tag "{due:<b>}", the same slot as the bucket's due index):
//   trellis:rem:{due:<b>}:due            the due index (reminder_store.h): member -> due ms; while
//                                        claimed, the score is the lease expiry instead
//   trellis:rem:{due:<b>}:lease          hash: member -> "<due ms before the claim>|<claim token>"
//   trellis:rem:{due:<b>}:out:<tenant>   stream of deliveries of the bucket's patients of a tenant:
//                                        fields u (due ms), k (ReminderKind), d (serialized
//                                        trellis.v1.Delivery without attempt and ack_deadline);
//                                        one consumer group per subscriber (group = subscriber id,
//                                        read with NOACK: the group is the subscriber's cursor,
//                                        `inf`/`own` below are its pending list); trimmed by age
//                                        (MINID, DispatchStoreOptions::stream_retention)
//   trellis:rem:{due:<b>}:inf:<tenant>:<subscriber>
//                                        zset: stream entry id -> ack deadline (ms) of its latest
//                                        hand-over: the deliveries outstanding for the subscriber
//   trellis:rem:{due:<b>}:own:<tenant>:<subscriber>
//                                        hash: entry id -> "<consumer>|<attempt>" (which stream
//                                        holds it, how often it was handed over) and "#<consumer>"
//                                        -> number of entries that stream holds (its max_unacked)
// Per tenant ("{<tenant>}"):
//   trellis:rem:{<tenant>}:subs          hash: subscriber -> kinds filter (",1,3," or "" for all),
//                                        fixed by the subscriber's first stream
// Per patient (the reminder keys' slot, "trellis:rem:{<tenant>:<patient>}"):
//   dlv:<id>                             hash: "<scheduled ms>" or "<scheduled ms>s" (snooze) ->
//                                        stream entry id: the delivery exists (never entered
//                                        twice) and where AckDelivery finds it
//   ack:<id>                             hash: "<subscriber>|<dlv field>" -> ack time (ms)
//
// Claim: the due entries of a bucket with score <= now get score = lease expiry and a lease
// record; a dispatcher that dies leaves them to come due again at the expiry, when another one
// claims them with the original due time (kept in the lease record). Complete: only with the
// claim's token still in the lease record (a write that moved the entry meanwhile deleted it),
// one EVALSHA per batch enters the deliveries into the tenant's stream, adds the occurrence records
// and moves (or removes) the due entry: an occurrence enters a stream at most once.
//
// REDIS CLUSTER: the claim and complete scripts read and write the patients' keys besides the
// bucket's, like the reminder write script (see the note in reminder_store.cc); the poll script
// reads all buckets' streams of a tenant at once. Both are fine on the single Redis (or Sentinel)
// of this deployment and must be split by slot for Redis Cluster.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/client.h"

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
  int64_t revision = 0;
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

struct AckResult {
  bool already = false;
  int64_t ack_ms = 0;
};

class DispatchStore {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  explicit DispatchStore(redis::RedisClient* redis, DispatchStoreOptions options = {})
      : redis_(redis), options_(options) {}

  // Claims up to `limit` entries of `bucket` due at `now` under `token` until `lease_until`.
  void Claim(int bucket, absl::Time now, absl::Time lease_until, const std::string& token,
             int limit, Callback<std::vector<ClaimedEntry>> done, absl::Time deadline);

  // Applies completions of entries claimed from `bucket` under `token` (one EVALSHA).
  void Complete(int bucket, const std::string& token, const std::vector<EntryCompletion>& items,
                Callback<CompleteResult> done, absl::Time deadline);

  // Registers `subscriber` with `kinds` (sorted ReminderKind values; empty: all) and creates its
  // consumer groups. FAILED_PRECONDITION (SUBSCRIBER_FILTER_MISMATCH) when it was registered with
  // another filter.
  void Subscribe(const std::string& tenant, const std::string& subscriber,
                 const std::vector<int>& kinds, Callback<bool> done, absl::Time deadline);

  // Hands the subscriber's next deliveries to `consumer`: first those whose ack deadline has
  // passed (attempt + 1), then new ones, while the consumer holds fewer than max_unacked.
  void Poll(const PollRequest& request, const std::vector<int>& kinds, Callback<PollResult> done,
            absl::Time deadline);

  // Acknowledges the delivery `field` ("<scheduled ms>" or "<scheduled ms>s") of a reminder for
  // `subscriber`. NOT_FOUND when it was never handed to the subscriber.
  void Ack(const std::string& tenant, const std::string& patient, const std::string& reminder_id,
           const std::string& field, const std::string& subscriber, absl::Time now,
           Callback<AckResult> done, absl::Time deadline);

 private:
  redis::RedisClient* redis_;
  DispatchStoreOptions options_;
};

// "<scheduled ms>" or "<scheduled ms>s": a delivery's field in dlv:<id> and ack:<id>.
std::string DeliveryField(int64_t scheduled_ms, bool snooze);

// The bucket's stream of a tenant: "trellis:rem:{due:<b>}:out:<tenant>".
std::string OutStreamKey(int bucket, const std::string& tenant);

}  // namespace trellis::reminders
