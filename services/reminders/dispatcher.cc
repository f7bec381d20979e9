#include "services/reminders/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/log/log.h"
#include "common/redis/cluster_slots.h"
#include "common/redis/script.h"
#include "common/redis/sync_redis.h"
#include "services/reminders/domain/dispatch_plan.h"
#include "services/reminders/domain/occurrence_id.h"
#include "services/reminders/domain/schedule.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/store/reminder_store.h"

namespace trellis::reminders {
namespace {

// Redis Cluster: which due buckets of a chunk (one node's slots) have an entry due.
// KEYS[1]: the chunk's first part (routes the call). ARGV: [1] now ms, [2..] the chunk's parts.
// Returns the parts with an entry due; an empty part costs one lookup.
const redis::Script kDueBucketsScript("reminders_due_buckets", R"lua(
local out = {}
for i = 2, #ARGV do
  if #redis.call('ZRANGEBYSCORE', ARGV[i], '-inf', ARGV[1], 'LIMIT', 0, 1) > 0 then
    out[#out + 1] = ARGV[i]
  end
end
return out
)lua", redis::ScriptAccess::kRead);

namespace v1 = trellis::v1;

// Dispatch lag buckets, in seconds: on time (well under the dispatch interval) to an hour late
// (the catch-up after an outage).
const std::vector<double>& LagBuckets() {
  static const auto* buckets =
      new std::vector<double>{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
  return *buckets;
}

// A stored schedule that no longer compiles (e.g. a zone removed from tzdata) is retried this
// much later instead of spinning on every pass.
constexpr absl::Duration kBrokenScheduleRetry = absl::Hours(1);

// Waits for a store callback (the dispatcher's own threads only; never a Redis loop).
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  absl::Notification done;
  absl::StatusOr<T> out = absl::UnknownError("no reply");
  start([&](absl::StatusOr<T> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

}  // namespace

DispatchStats& DispatchStats::operator+=(const DispatchStats& o) {
  claimed += o.claimed;
  completed += o.completed;
  lost += o.lost;
  delivered += o.delivered;
  late += o.late;
  missed += o.missed;
  skipped_paused += o.skipped_paused;
  ended += o.ended;
  errors += o.errors;
  return *this;
}

Dispatcher::Dispatcher(redis::RedisClient* redis, const Clock* clock, DispatcherOptions options,
                       prometheus::Registry* registry)
    : redis_(redis), clock_(clock), options_(std::move(options)), store_(redis, options_.store) {
  options_.batch = std::clamp(options_.batch, 1, kMaxDispatchBatch);
  if (registry == nullptr) return;
  auto& dispatched = prometheus::BuildCounter()
                         .Name("trellis_reminders_dispatched_total")
                         .Help(
                             "Occurrences processed by this replica's dispatcher, by outcome "
                             "(delivered, late, missed, skipped_paused, ended).")
                         .Register(*registry);
  series_.delivered = &dispatched.Add({{"outcome", "delivered"}});
  series_.late = &dispatched.Add({{"outcome", "late"}});
  series_.missed = &dispatched.Add({{"outcome", "missed"}});
  series_.skipped_paused = &dispatched.Add({{"outcome", "skipped_paused"}});
  series_.ended = &dispatched.Add({{"outcome", "ended"}});
  series_.lost_leases = &prometheus::BuildCounter()
                             .Name("trellis_reminders_dispatch_lost_leases_total")
                             .Help(
                                 "Claimed due entries whose lease was gone at completion "
                                 "(another replica took them over, or an edit moved them).")
                             .Register(*registry)
                             .Add({});
  series_.errors = &prometheus::BuildCounter()
                        .Name("trellis_reminders_dispatch_errors_total")
                        .Help("Failed dispatcher calls to Redis.")
                        .Register(*registry)
                        .Add({});
  series_.lag = &prometheus::BuildHistogram()
                     .Name("trellis_reminders_dispatch_lag_seconds")
                     .Help(
                         "Seconds from an occurrence's due time to its delivery entering the "
                         "tenant's delivery stream (on time, late or caught up after an "
                         "outage).")
                     .Register(*registry)
                     .Add({}, LagBuckets());
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this, i, n] {
      while (!stop_.HasBeenNotified()) {
        DispatchStats s = RunOnce(i, n);
        // Busy: go on at once. Idle or failing: wait (a failing Redis is retried every interval).
        if (s.claimed > 0 && s.errors == 0) continue;
        stop_.WaitForNotificationWithTimeout(options_.idle_interval);
      }
    });
  }
}

void Dispatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

DispatchStats Dispatcher::RunOnce(int shard, int shards) {
  DispatchStats total;
  bool walked = false;
  std::vector<int> staged;  // cluster: buckets whose completions staged deliveries
  for (int b : BucketsToClaim(shard, shards, total, walked)) {
    while (!stop_.HasBeenNotified()) {
      DispatchStats s = RunBatch(b);
      total += s;
      if (s.delivered > 0 && (staged.empty() || staged.back() != b)) staged.push_back(b);
      if (s.errors > 0 || s.claimed < options_.batch) break;
    }
  }
  // Redis Cluster: staged deliveries go on to their streams: those this pass staged at once,
  // every slot's (a replica that died before moving its own) with the walks.
  if (redis_->Clustered() && !stop_.HasBeenNotified()) {
    absl::StatusOr<int> moved = walked && shard == 0 ? store_.MoveStagedDeliveries()
                                                     : store_.MoveStagedDeliveries(staged);
    if (!moved.ok()) ++total.errors;
  }
  Record(total);
  return total;
}

void Dispatcher::AdoptSingleLayout() {
  // Due entries of data moved from a single Redis sit in its 16 "{due:b}" buckets, which a
  // cluster's dispatcher would never claim: each moves to its patient's slot bucket (NX: an entry
  // a write set there since wins), with its original due time if it was claimed, then leaves the
  // old bucket. Added before removed, so none is lost in between; an empty bucket costs one call.
  redis::SyncRedis sync(redis_);
  const absl::Time deadline = absl::Now() + options_.redis_timeout;
  for (int b = 0; b < kDueBuckets; ++b) {
    auto listed = sync.Run({"ZRANGE", SingleDueKey(b), "0", "199", "WITHSCORES"}, {deadline});
    if (!listed.ok()) continue;
    for (size_t i = 0; i + 1 < listed->elements.size(); i += 2) {
      const std::string& member = listed->elements[i].str;
      std::string due = listed->elements[i + 1].str;
      if (due.find('.') != std::string::npos) {  // claimed: its due time is in the lease hash
        auto before = sync.Run({"HGET", SingleDueLeaseKey(b), member}, {deadline});
        due = before.ok() && !before->str.empty() ? before->str : due.substr(0, due.find('.'));
      }
      std::vector<std::string> parts = absl::StrSplit(member, '|');
      if (parts.size() < 3) continue;
      std::string to = DueKey(*redis_, DueBucketOf(*redis_, parts[0], parts[1]));
      if (!sync.Run({"ZADD", to, "NX", due, member}, {deadline}).ok()) continue;
      sync.Run({"ZREM", SingleDueKey(b), member}, {deadline}).IgnoreError();
      sync.Run({"HDEL", SingleDueLeaseKey(b), member}, {deadline}).IgnoreError();
    }
  }
}

std::vector<int> Dispatcher::BucketsToClaim(int shard, int shards, DispatchStats& stats,
                                            bool& walked) {
  std::vector<int> buckets;
  if (!redis_->Clustered()) {
    // 16 buckets: trying each is as cheap as asking which are due.
    for (int b = shard; b < kDueBuckets; b += shards) buckets.push_back(b);
    return buckets;
  }
  // 16 384 buckets (one per slot): one script per chunk of a node's slots finds those with an
  // entry due; this shard takes every shards-th chunk. At most once per walk_interval.
  {
    absl::MutexLock lock(&walks_mu_);
    if (static_cast<int>(last_walk_.size()) < shards) last_walk_.resize(shards, absl::InfinitePast());
    if (absl::Now() - last_walk_[shard] < options_.walk_interval) return buckets;
    last_walk_[shard] = absl::Now();
  }
  walked = true;
  if (shard == 0) AdoptSingleLayout();
  const std::string now = absl::StrCat(absl::ToUnixMillis(clock_->Now()));
  redis::SyncRedis sync(redis_);
  std::vector<std::vector<std::string>> chunks = ClusterDueIndex().Chunks(*redis_);
  for (size_t c = shard; c < chunks.size(); c += shards) {
    std::vector<std::string> args = {now};
    args.insert(args.end(), chunks[c].begin(), chunks[c].end());
    auto due = sync.Eval(kDueBucketsScript, {chunks[c].front()}, std::move(args),
                         {absl::Now() + options_.redis_timeout});
    if (!due.ok()) {
      ++stats.errors;
      continue;
    }
    for (const redis::Reply& key : due->elements) buckets.push_back(redis::KeySlot(key.str));
  }
  return buckets;
}

absl::StatusOr<std::vector<ClaimedEntry>> Dispatcher::ClaimOnlyForTest(int bucket, int limit) {
  absl::Time now = clock_->Now();
  return Claim(bucket, now, LeaseScore(now + options_.lease), limit);
}

absl::StatusOr<std::vector<ClaimedEntry>> Dispatcher::Claim(int bucket, absl::Time now,
                                                            const std::string& lease, int limit) {
  return Await<std::vector<ClaimedEntry>>([&](auto cb) {
    store_.Claim(bucket, now, lease, limit, std::move(cb), absl::Now() + options_.redis_timeout);
  });
}

DispatchStats Dispatcher::RunBatch(int bucket) {
  DispatchStats stats;
  absl::Time now = clock_->Now();
  std::string lease = LeaseScore(now + options_.lease);
  auto claimed = Claim(bucket, now, lease, options_.batch);
  if (!claimed.ok()) {
    ++stats.errors;
    log::Warn("dispatch claim failed",
              {{"bucket", bucket}, {"code", absl::StatusCodeToString(claimed.status().code())}});
    return stats;
  }
  stats.claimed = static_cast<int>(claimed->size());
  if (claimed->empty()) return stats;
  std::vector<EntryCompletion> items;
  items.reserve(claimed->size());
  for (const ClaimedEntry& e : *claimed) items.push_back(Plan(e, now, stats));
  auto done = Await<CompleteResult>([&](auto cb) {
    store_.Complete(bucket, lease, items, std::move(cb), absl::Now() + options_.redis_timeout);
  });
  if (!done.ok()) {
    // The leases run out and another pass (here or elsewhere) takes the entries over.
    ++stats.errors;
    stats.delivered = stats.late = stats.missed = stats.skipped_paused = stats.ended = 0;
    log::Warn("dispatch completion failed",
              {{"bucket", bucket}, {"code", absl::StatusCodeToString(done.status().code())}});
    return stats;
  }
  stats.completed = done->completed;
  stats.lost = done->lost;
  stats.delivered = done->delivered;
  RecordLag(items, now);
  if (done->lost > 0) {
    log::Info("dispatch leases lost", {{"bucket", bucket}, {"entries", done->lost}});
  }
  return stats;
}

EntryCompletion Dispatcher::Plan(const ClaimedEntry& e, absl::Time now,
                                 DispatchStats& stats) const {
  EntryCompletion c;
  c.entry = &e;
  c.due = EntryCompletion::Due::kRemove;
  v1::Reminder r;
  if (e.reminder.empty() || !r.ParseFromString(e.reminder) ||
      r.state() == v1::REMINDER_STATE_ENDED) {
    return c;  // gone or ended: the entry is stale
  }
  c.revision = ParseEtag(r.etag()).value_or(0);
  auto schedule = ReminderSchedule::FromStored(SpecOf(r.schedule()));
  if (!schedule.ok()) {
    log::Error("stored schedule does not compile; retrying later",
               {{"reminder", r.name()}, {"error", std::string(schedule.status().message())}});
    if (!e.snooze) {
      c.due = EntryCompletion::Due::kSet;
      c.next_due_ms = ToUnixMillisFloor(now + kBrokenScheduleRetry);
    }
    return c;
  }
  DueEntry due{.snooze = e.snooze,
               .scheduled = absl::FromUnixMillis(e.scheduled_ms),
               .due = absl::FromUnixMillis(e.due_ms)};
  DispatchPlan plan =
      PlanDueEntry(*schedule, PauseOf(r), due, now, options_.catch_up, options_.max_steps);
  for (auto& [t, state] : plan.records) {
    if (state == kOccurrenceMissed) ++stats.missed;
    if (state == kOccurrenceSkippedPaused) ++stats.skipped_paused;
    c.records.emplace_back(ToUnixMillisFloor(t), std::move(state));
  }
  switch (plan.next) {
    case DispatchPlan::Next::kSet:
      c.due = EntryCompletion::Due::kSet;
      c.next_due_ms = ToUnixMillisFloor(plan.next_due);
      *r.mutable_next_occurrence_time() = ToProto(plan.next_due);
      break;
    case DispatchPlan::Next::kRemove:
      c.due = EntryCompletion::Due::kRemove;
      break;
    case DispatchPlan::Next::kEnd: {
      c.due = EntryCompletion::Due::kEnd;
      ++stats.ended;
      r.clear_next_occurrence_time();
      v1::Reminder ended = r;
      ended.set_state(v1::REMINDER_STATE_ENDED);
      ended.set_end_reason(v1::REMINDER_END_REASON_SCHEDULE_EXHAUSTED);
      *ended.mutable_end_time() = ToProto(now);
      *ended.mutable_update_time() = ToProto(now);
      ended.set_etag(EtagFor(c.revision + 1));
      c.ended_reminder = ended.SerializeAsString();
      break;
    }
  }
  for (const PlannedDelivery& d : plan.deliveries) {
    if (d.late) ++stats.late;
    v1::Delivery out;
    std::string occurrence = OccurrenceId(r.name(), d.scheduled);
    out.set_delivery_id(d.snooze ? SnoozeDeliveryId(occurrence) : occurrence);
    out.set_occurrence_id(std::move(occurrence));
    *out.mutable_reminder() = r;
    *out.mutable_scheduled_time() = ToProto(d.scheduled);
    *out.mutable_due_time() = ToProto(d.due);
    out.set_local_time(schedule->LocalTimeText(d.scheduled));
    out.set_late(d.late);
    out.set_snoozed(d.snooze);
    c.deliveries.push_back({.scheduled_ms = ToUnixMillisFloor(d.scheduled),
                            .snooze = d.snooze,
                            .kind = static_cast<int>(r.kind()),
                            .due_ms = ToUnixMillisFloor(d.due),
                            .payload = out.SerializeAsString()});
  }
  return c;
}

void Dispatcher::Record(const DispatchStats& s) {
  if (series_.delivered == nullptr) return;
  // `delivered` counts stream entries; those that were late are also counted as late.
  series_.delivered->Increment(s.delivered);
  series_.late->Increment(s.late);
  series_.missed->Increment(s.missed);
  series_.skipped_paused->Increment(s.skipped_paused);
  series_.ended->Increment(s.ended);
  series_.lost_leases->Increment(s.lost);
  series_.errors->Increment(s.errors);
}

void Dispatcher::RecordLag(const std::vector<EntryCompletion>& items, absl::Time now) {
  if (series_.lag == nullptr) return;
  // An entry whose lease was lost meanwhile is counted here and again by the replica that
  // delivers it; leases are rarely lost, so the histogram keeps its shape.
  int64_t now_ms = absl::ToUnixMillis(now);
  for (const EntryCompletion& item : items) {
    for (const auto& d : item.deliveries) {
      series_.lag->Observe(static_cast<double>(std::max<int64_t>(0, now_ms - d.due_ms)) / 1000);
    }
  }
}

}  // namespace trellis::reminders
