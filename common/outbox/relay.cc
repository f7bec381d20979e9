#include "common/outbox/relay.h"

#include "absl/strings/str_cat.h"
#include "common/ids/ids.h"
#include "common/log/log.h"
#include "common/redis/keys.h"
#include "common/redis/slot_index.h"
#include "common/redis/sync_redis.h"

namespace trellis::outbox {
namespace {

// Finds the patients due in one chunk of the pending index (slot_index.h): KEYS[1] routes the
// call; ARGV: [1] now ms, [2] at most this many, [3..] the chunk's parts. Returns {patients listed
// in the chunk, {due "tenant:patient"...}}. An empty part costs one lookup.
const redis::Script kDueScript("outbox_due", R"lua(
local room, total, due = tonumber(ARGV[2]), 0, {}
for i = 3, #ARGV do
  local n = redis.call('ZCARD', ARGV[i])
  if n > 0 then
    total = total + n
    if room > 0 then
      local tags = redis.call('ZRANGEBYSCORE', ARGV[i], '-inf', ARGV[1], 'LIMIT', 0, room)
      for _, t in ipairs(tags) do due[#due + 1] = t end
      room = room - #tags
    end
  end
end
return {total, due}
)lua", redis::ScriptAccess::kRead);

// Removes the patient from the pending index only if its outbox is empty (an entry written since
// the last read keeps it pending). KEYS: outbox, pending. ARGV: tag.
const redis::Script kSettleScript("outbox_settle", R"lua(
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
)lua");

// Takes the patient's lease, or renews it, for `token` ("<owner>|<drain serial>"): when it is
// free or held by this relay (the same "<owner>|" prefix: a drain of ours whose release never
// arrived, e.g. Redis went away mid-drain, or the renewal during a drain). Another relay's lease
// is left alone (NX semantics between relays). KEYS: lease. ARGV: "<owner>|", token, lease ms.
// Returns 1 when this relay holds the lease now, else 0.
const redis::Script kAcquireScript("outbox_acquire", R"lua(
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
)lua");

// Releases the lease only if this drain still holds it. KEYS: lease. ARGV: token.
const redis::Script kReleaseScript("outbox_release", R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }

// UNAUTHENTICATED is retried too: between our own services it means keys or clocks disagree for
// a while (a JWKS rotated on one service before another, skew), which an operator fixes; the
// effect must then still arrive rather than sit among the dead letters.
bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s) ||
         absl::IsAborted(s) || absl::IsUnauthenticated(s);
}

}  // namespace

OutboxRelay::OutboxRelay(redis::RedisClient* redis, const Clock* clock, RelayOptions options,
                         DeliverFn deliver, prometheus::Registry* registry)
    : redis_(redis),
      clock_(clock),
      options_(std::move(options)),
      deliver_(std::move(deliver)),
      owner_(NewId()) {
  if (registry == nullptr) return;
  prometheus::Labels outbox = {{"outbox", options_.service}};
  backlog_ = &prometheus::BuildGauge()
                  .Name("trellis_outbox_backlog_patients")
                  .Help(
                      "Patients with outbox entries not yet delivered to their peer service, "
                      "sampled by the relay at every pass.")
                  .Register(*registry)
                  .Add(outbox);
  auto& deliveries = prometheus::BuildCounter()
                         .Name("trellis_outbox_deliveries_total")
                         .Help(
                             "Outbox entries handed to their peer service, by result: "
                             "delivered, retry (tried again later), dead_letter (refused for "
                             "good and parked).")
                         .Register(*registry);
  delivered_ = &deliveries.Add({{"outbox", options_.service}, {"result", "delivered"}});
  retried_ = &deliveries.Add({{"outbox", options_.service}, {"result", "retry"}});
  dead_lettered_ = &deliveries.Add({{"outbox", options_.service}, {"result", "dead_letter"}});
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) RunOnce();
  });
}

void OutboxRelay::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int OutboxRelay::RunOnce() {
  redis::SyncRedis sync(redis_);
  const int64_t now = Millis(clock_->Now());
  if (redis_->Clustered()) {
    if (absl::Now() - last_walk_ < options_.walk_interval) return 0;
    last_walk_ = absl::Now();
    AdoptSingleIndex();
  }
  auto walked = redis::WalkIndex(*redis_, PendingIndex(options_.service), kDueScript,
                                 {absl::StrCat(now), absl::StrCat(options_.patients_per_pass)});
  if (!walked.ok()) return 0;  // Redis is down, or the slot map is moving: the next pass tries
  int64_t backlog = 0;
  std::vector<std::string> due;
  // Each walk starts at another chunk, so that a backlog larger than a pass is taken from every
  // node's slots in turn rather than from the first chunks only.
  const size_t n = walked->size();
  const size_t first = n == 0 ? 0 : walks_++ % n;
  for (size_t i = 0; i < n; ++i) {
    const redis::Reply& chunk = (*walked)[(first + i) % n];
    if (!chunk.is_array() || chunk.elements.size() != 2) continue;
    backlog += chunk.elements[0].integer;
    for (const redis::Reply& tag : chunk.elements[1].elements) {
      if (static_cast<int>(due.size()) < options_.patients_per_pass) due.push_back(tag.str);
    }
  }
  if (backlog_ != nullptr) backlog_->Set(static_cast<double>(backlog));
  // A full page: more may be due; the next pass walks again instead of waiting the interval.
  if (static_cast<int>(due.size()) == options_.patients_per_pass) last_walk_ = absl::InfinitePast();
  int delivered = 0;
  for (const std::string& tag : due) {
    if (stop_.HasBeenNotified() || peer_down_) break;
    delivered += DrainPatient(tag);
  }
  // A peer that is down for one patient is down for all: the next pass tries again.
  peer_down_ = false;
  return delivered;
}

void OutboxRelay::AdoptSingleIndex() {
  // Data moved from a single Redis to a cluster brings the pending index's single key along:
  // its patients move to their slots' parts (added before removed, so none is lost in between).
  redis::SyncRedis sync(redis_);
  const std::string single = PendingIndex(options_.service).single_key();
  auto listed = sync.Run({"ZRANGE", single, "0", "99", "WITHSCORES"});
  if (!listed.ok()) return;
  for (size_t i = 0; i + 1 < listed->elements.size(); i += 2) {
    const std::string& tag = listed->elements[i].str;
    size_t colon = tag.find(':');
    if (colon == std::string::npos) continue;
    std::string part =
        PendingKey(*redis_, options_.service, tag.substr(0, colon), tag.substr(colon + 1));
    if (sync.Run({"ZADD", part, "NX", listed->elements[i + 1].str, tag}).ok()) {
      sync.Run({"ZREM", single, tag}).IgnoreError();
    }
  }
}

int OutboxRelay::DrainPatient(const std::string& tag) {
  redis::SyncRedis sync(redis_);
  size_t colon = tag.find(':');
  if (colon == std::string::npos) return 0;
  std::string tenant = tag.substr(0, colon), patient = tag.substr(colon + 1);
  std::string list = OutboxKey(options_.service, tenant, patient);
  std::string pending = PendingKey(*redis_, options_.service, tenant, patient);
  std::string lease = redis::PatientKeys(options_.service, tenant, patient).Key({"outbox_lease"});
  // A token per drain: a late release of an earlier drain (stuck in a frozen Redis) cannot drop
  // this one's lease; the owner prefix lets this relay re-enter a lease it left behind.
  const std::string prefix = absl::StrCat(owner_, "|");
  const std::string token = absl::StrCat(prefix, ++drains_);
  const std::string lease_ms = absl::StrCat(absl::ToInt64Milliseconds(options_.lease));
  auto hold = [&] {
    auto held = sync.Eval(kAcquireScript, {lease}, {prefix, token, lease_ms});
    return held.ok() && held->is_integer() && held->integer == 1;
  };
  if (!hold()) return 0;  // another replica is on it (or Redis is away: the next pass tries)

  int delivered = 0;
  bool failed = false;
  bool lost = false;
  auto entries = sync.Run({"LRANGE", list, "0", absl::StrCat(options_.entries_per_patient - 1)});
  if (entries.ok()) {
    for (const redis::Reply& raw : entries->elements) {
      // Renewed before each further entry, so a long drain keeps its lease; if it ran out and
      // another relay took it, that relay goes on from here (no two drains of one patient).
      if (&raw != &entries->elements.front() && !hold()) {
        lost = true;
        break;
      }
      auto entry = DecodeEntry(raw.str);
      absl::Status status =
          entry.ok() ? deliver_(Delivery{tenant, patient, *entry}) : entry.status();
      if (status.ok()) {
        sync.Run({"LREM", list, "1", raw.str}).IgnoreError();
        ++delivered;
        if (delivered_ != nullptr) delivered_->Increment();
        continue;
      }
      if (Retryable(status)) {
        absl::Duration& backoff = backoff_[tag];
        backoff = backoff == absl::ZeroDuration() ? options_.min_backoff
                                                  : std::min(backoff * 2, options_.max_backoff);
        sync.Run({"ZADD", pending, "XX",
                  absl::StrCat(Millis(clock_->Now() + backoff)), tag})
            .IgnoreError();
        log::Warn("outbox delivery will be retried",
                  {{"service", options_.service},
                   {"entry", entry.ok() ? entry->id : ""},
                   {"kind", entry.ok() ? entry->kind : ""},
                   {"code", absl::StatusCodeToString(status.code())},
                   {"retry_in_ms", absl::ToInt64Milliseconds(backoff)}});
        if (retried_ != nullptr) retried_->Increment();
        failed = true;
        peer_down_ = absl::IsUnavailable(status);
        break;  // keep this patient's effects in order
      }
      // Can never succeed: park it where an operator can see it, and go on.
      log::Error("outbox entry rejected by its peer; moved to dead letters",
                 {{"service", options_.service},
                  {"entry", entry.ok() ? entry->id : ""},
                  {"code", absl::StatusCodeToString(status.code())}});
      std::string dead = redis::PatientKeys(options_.service, tenant, patient).Key({"outbox_dead"});
      sync.Run({"RPUSH", dead, raw.str}).IgnoreError();
      sync.Run({"LREM", list, "1", raw.str}).IgnoreError();
      if (dead_lettered_ != nullptr) dead_lettered_->Increment();
    }
  }
  if (!failed && !lost && entries.ok()) {
    backoff_.erase(tag);
    sync.Eval(kSettleScript, {list, pending}, {tag}).IgnoreError();
  }
  // If this fails (Redis away), the lease stays until it expires, but only other relays wait for
  // it: this one re-enters it on its next pass.
  sync.Eval(kReleaseScript, {lease}, {token}).IgnoreError();
  return delivered;
}

}  // namespace trellis::outbox
