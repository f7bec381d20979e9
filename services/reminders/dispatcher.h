#pragma once

// The dispatcher: a background worker of every trellis-reminders replica that turns due entries
// into deliveries (store/dispatch_store.h has the Redis side, domain/dispatch_plan.h the
// decisions). Each pass claims the due entries of a bucket in batches under a lease, plans them
// (deliver, deliver late, record missed or skipped_paused, next occurrence or end), and completes
// the batch in one EVALSHA that holds only while the lease does. Replicas race freely: a claim
// gives an entry to exactly one of them, and one that dies mid-batch loses its lease, after which
// the entries come due again for the others with their original due time.
//
// Threads: `threads` worker threads split the buckets (bucket % threads), each claiming with
// blocking calls on the shared Redis pool; planning (libical expansion) runs on them, never on a
// Redis loop.

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/redis/client.h"
#include "common/server/host.h"
#include "common/time/clock.h"
#include "services/reminders/domain/delivery_policy.h"
#include "services/reminders/store/dispatch_store.h"

namespace trellis::reminders {

// The scripts pass a batch to variadic Redis calls through Lua's unpack (two values per entry),
// whose stack limit is 8 000 values.
inline constexpr int kMaxDispatchBatch = 2000;

struct DispatcherOptions {
  CatchUpPolicy catch_up;
  // How long a claim is exclusive; a replica that dies holds its entries this long at most.
  absl::Duration lease = absl::Seconds(30);
  // Wait between passes that found nothing due.
  absl::Duration idle_interval = absl::Milliseconds(200);
  // Entries per claim (and per completing EVALSHA), clamped to 1..kMaxDispatchBatch. A burst of
  // 100 000 due at once dispatched in 8.5-10 s with 1 000 here and 9.4-10.9 s with 256 (the
  // reminder dispatch benchmark on 2 cores); each claim holds Redis for ~40 us per entry.
  int batch = 1000;
  int threads = 2;
  // Occurrences one claim processes per reminder (catch-up after a long outage goes on in the
  // next claim).
  int max_steps = 1000;
  // Redis Cluster: the least time between two searches for due buckets over every slot (each
  // thread's own). 0: every pass searches.
  absl::Duration walk_interval = absl::ZeroDuration();
  absl::Duration redis_timeout = absl::Seconds(5);
  DispatchStoreOptions store;
};

struct DispatchStats {
  int claimed = 0;
  int completed = 0;
  int lost = 0;  // leases lost before completion (another replica took over, or a write moved it)
  int delivered = 0;
  int late = 0;
  int missed = 0;
  int skipped_paused = 0;
  int ended = 0;
  int errors = 0;  // failed Redis calls

  DispatchStats& operator+=(const DispatchStats& o);
};

class Dispatcher final : public server::Worker {
 public:
  // `registry` may be null (tests).
  Dispatcher(redis::RedisClient* redis, const Clock* clock, DispatcherOptions options,
             prometheus::Registry* registry = nullptr);
  ~Dispatcher() override;

  void Start() override;
  void Stop() override;

  // One pass over the buckets b with b % shards == shard: claims and completes batches of each
  // until a claim comes back short. Tests drive the dispatcher with this and an injected clock.
  DispatchStats RunOnce(int shard = 0, int shards = 1);

  // Claims one batch of `bucket` and stops there, as a dispatcher that dies between claim and
  // completion would. For tests.
  absl::StatusOr<std::vector<ClaimedEntry>> ClaimOnlyForTest(int bucket, int limit);

 private:
  // The due buckets of this shard worth a claim now.
  // Sets `walked` when it searched every slot (a cluster).
  std::vector<int> BucketsToClaim(int shard, int shards, DispatchStats& stats, bool& walked);
  // Redis Cluster: moves due entries left in the single-server buckets into the slot buckets.
  void AdoptSingleLayout();
  // One claim of `bucket` (blocking on this thread).
  absl::StatusOr<std::vector<ClaimedEntry>> Claim(int bucket, absl::Time now,
                                                  const std::string& lease, int limit);
  // Claims and completes one batch; returns the stats (claimed < batch: the bucket is drained).
  DispatchStats RunBatch(int bucket);
  EntryCompletion Plan(const ClaimedEntry& entry, absl::Time now, DispatchStats& stats) const;
  void Record(const DispatchStats& stats);
  // The lag of every delivery a completed batch put on its tenant's stream.
  void RecordLag(const std::vector<EntryCompletion>& items, absl::Time now);

  // Series, null without a registry.
  struct Series {
    prometheus::Counter* delivered = nullptr;
    prometheus::Counter* late = nullptr;
    prometheus::Counter* missed = nullptr;
    prometheus::Counter* skipped_paused = nullptr;
    prometheus::Counter* ended = nullptr;
    prometheus::Counter* lost_leases = nullptr;
    prometheus::Counter* errors = nullptr;
    prometheus::Histogram* lag = nullptr;
  };

  redis::RedisClient* redis_;
  const Clock* clock_;
  DispatcherOptions options_;
  DispatchStore store_;
  Series series_;
  absl::Notification stop_;
  std::vector<std::thread> threads_;
  absl::Mutex walks_mu_;
  std::vector<absl::Time> last_walk_ ABSL_GUARDED_BY(walks_mu_);  // per shard
};

}  // namespace trellis::reminders
