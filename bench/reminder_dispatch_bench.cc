// Benchmark: N occurrences (default 100 000, issue 5) due at the same instant, from the due
// instant until a subscriber has received and acknowledged every one of them.
//
// Setup is the integration tests' harness (tests/support/service_fixture.h): a private
// redis-server, the real asynchronous Redis layer, the ReminderService in-process on port 0 with
// its dispatcher running (the production defaults: 2 threads, claims of 256), and a FakeClock the
// benchmark moves. N reminders (one per patient, spread over every due bucket) are written through
// the store's own write path, all due at T. Subscriber streams (StreamDueReminders, one subscriber
// id, --streams streams) are open before the clock moves to T; each delivery is acknowledged at
// once with an asynchronous AckDelivery.
//
// Prints when the last occurrence was entered for delivery, received and acknowledged (seconds
// after the clock reached T), the rates, and the checks: losses (occurrences never received),
// duplicates (deliveries received again after their acknowledgement, and ids received twice at
// all) and stream entries. The clock stays at T during the run, so no visibility timeout expires:
// every delivery is a first hand-over. Nothing timed is asserted (DESIGN.md §9); the exit code is 1
// when a check fails.
//
//   make bench
//   build/bench/trellis_bench_reminder_dispatch --reminders=100000 --streams=4

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log/log.h"
#include "common/redis/sync_redis.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/reminder_service.h"
#include "services/reminders/store/reminder_store.h"
#include "tests/support/service_fixture.h"
#include "trellis/v1/reminders.grpc.pb.h"

ABSL_FLAG(int, reminders, 100000, "Reminders due at the same instant.");
ABSL_FLAG(int, streams, 4, "Subscriber streams (one subscriber id).");
ABSL_FLAG(int, max_unacked, 10000, "max_unacked of each stream.");
ABSL_FLAG(int, ackers, 2,
          "Subscriber threads acknowledging (AckDeliveries, one call in flight each).");
ABSL_FLAG(int, ack_batch, 1000, "Deliveries per AckDeliveries call (at most what is queued).");
ABSL_FLAG(bool, ack, true, "Acknowledge each delivery (off: measure delivery alone).");
ABSL_FLAG(bool, rewrite_in_window, false,
          "Let Redis start an automatic append-only-file rewrite during the timed window (on this "
          "2-core machine the rewrite child takes a core from the service; a production Redis host "
          "runs it on a core of its own). Off: rewrite after seeding, then no automatic rewrite.");
ABSL_FLAG(bool, redis_stats, false, "Print Redis's per-command statistics after the run.");

namespace trellis::bench {
namespace {

namespace v1 = ::trellis::v1;
using reminders::ToProto;

const absl::Time kDue =
    absl::FromCivil(absl::CivilSecond(2026, 3, 2, 7, 30, 0), absl::UTCTimeZone());

// A daily 07:30 UTC practice reminder of patient p<i>, written as CreateReminder stores it.
reminders::ReminderWrite Seed(int i, absl::Time now) {
  v1::Reminder r;
  std::string patient = absl::StrCat("p", i);
  r.set_name(absl::StrCat("patients/", patient, "/reminders/r", i));
  r.set_patient(patient);
  r.set_kind(v1::REMINDER_KIND_PRACTICE);
  r.set_text("Breathing exercise: 10 minutes");
  r.set_channel(v1::REMINDER_CHANNEL_PUSH);
  r.set_state(v1::REMINDER_STATE_ACTIVE);
  auto* s = r.mutable_schedule();
  s->mutable_start()->set_year(2026);
  s->mutable_start()->set_month(3);
  s->mutable_start()->set_day(2);
  s->mutable_start()->set_hours(7);
  s->mutable_start()->set_minutes(30);
  s->set_time_zone("UTC");
  s->set_rrule("FREQ=DAILY");
  *r.mutable_next_occurrence_time() = ToProto(kDue);
  *r.mutable_create_time() = ToProto(now);
  *r.mutable_update_time() = ToProto(now);
  r.set_etag(reminders::EtagFor(1));
  reminders::ReminderWrite w;
  w.tenant = "t1";
  w.patient = patient;
  reminders::ReminderChange c;
  c.reminder = std::move(r);
  c.revision = 1;
  c.expected_revision = 0;
  c.due_update = reminders::ReminderChange::DueUpdate::kSet;
  c.due = kDue;
  w.changes.push_back(std::move(c));
  return w;
}

// Bounds the calls in flight.
class Window {
 public:
  explicit Window(int size) : size_(size), free_(size) {}
  void Acquire() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Window::HasRoom));
    --free_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    ++free_;
  }
  // Waits until nothing is in flight.
  void Drain() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &Window::Idle));
  }

 private:
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return free_ > 0; }
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return free_ == size_; }

  const int size_;
  absl::Mutex mu_;
  int free_ ABSL_GUARDED_BY(mu_);
};

// Delivery ids received and not yet acknowledged.
struct AckQueue {
  absl::Mutex mu;
  std::vector<std::string> ids ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !ids.empty() || stop; }
};

struct Tally {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, int> received ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, bool> acked ABSL_GUARDED_BY(mu);
  int received_after_ack ABSL_GUARDED_BY(mu) = 0;
  int received_twice ABSL_GUARDED_BY(mu) = 0;
  int ack_errors ABSL_GUARDED_BY(mu) = 0;
  int already_acked ABSL_GUARDED_BY(mu) = 0;
  absl::Time last_received ABSL_GUARDED_BY(mu);
  absl::Time last_acked ABSL_GUARDED_BY(mu);
};

int Run() {
  const int n = absl::GetFlag(FLAGS_reminders);
  testing::ServiceFixture fixture(kDue - absl::Minutes(1));
  fixture.Start([](const server::ServiceEnv& env) {
    // The service's own flags (--dispatch_threads, --dispatch_batch, ...) apply.
    return reminders::BuildReminderServiceWith(env, reminders::ReminderOptionsFromFlags());
  });

  // Seed through the store's write path (one EVALSHA each, many in flight).
  absl::Time seed_start = absl::Now();
  {
    reminders::ReminderStore store(&fixture.pool());
    Window window(500);
    std::atomic<int> failed{0};
    for (int i = 0; i < n; ++i) {
      window.Acquire();
      store.Write(
          Seed(i, fixture.clock().Now()),
          [&](absl::StatusOr<reminders::ReminderWriteResult> r) {
            if (!r.ok()) failed.fetch_add(1);
            window.Release();
          },
          absl::Now() + absl::Seconds(30));
    }
    window.Drain();
    if (failed.load() > 0) {
      std::fprintf(stderr, "seeding failed for %d reminders\n", failed.load());
      return 1;
    }
  }
  std::printf("seeded %d reminders due at the same instant in %.1f s\n", n,
              absl::ToDoubleSeconds(absl::Now() - seed_start));
  // Seeding grows the append-only file past Redis's rewrite threshold; rewrite it now rather than
  // in the timed window (a rewrite forks a child that takes a core of this 2-core machine).
  if (fixture.redis_server().Command({"BGREWRITEAOF"}).ok()) {
    for (int i = 0; i < 600; ++i) {
      auto info = fixture.redis_server().Command({"INFO", "persistence"});
      if (info.ok() && info->find("aof_rewrite_in_progress:0") != std::string::npos &&
          info->find("aof_rewrite_scheduled:0") != std::string::npos) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  if (!absl::GetFlag(FLAGS_rewrite_in_window)) {
    fixture.redis_server()
        .Command({"CONFIG", "SET", "auto-aof-rewrite-percentage", "0"})
        .IgnoreError();
  }

  auto stub = v1::ReminderService::NewStub(fixture.channel());
  std::string token = fixture.Token("t1", v1::ROLE_SERVICE);
  Tally tally;
  std::atomic<int> done_acks{0};
  absl::Notification all_acked;
  // Readers queue the delivery ids; ackers acknowledge them in batches (AckDeliveries), as a
  // platform handling a burst would.
  AckQueue pending;
  std::vector<std::thread> ackers;
  for (int a = 0; a < absl::GetFlag(FLAGS_ackers) && absl::GetFlag(FLAGS_ack); ++a) {
    ackers.emplace_back([&] {
      while (true) {
        std::vector<std::string> batch;
        {
          absl::MutexLock lock(&pending.mu);
          pending.mu.Await(absl::Condition(&pending, &AckQueue::Ready));
          if (pending.ids.empty()) return;
          size_t take = std::min<size_t>(pending.ids.size(), absl::GetFlag(FLAGS_ack_batch));
          batch.assign(std::make_move_iterator(pending.ids.end() - take),
                       std::make_move_iterator(pending.ids.end()));
          pending.ids.resize(pending.ids.size() - take);
        }
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
        v1::AckDeliveriesRequest req;
        req.set_subscriber("bench-platform");
        for (auto& id : batch) req.add_delivery_ids(std::move(id));
        v1::AckDeliveriesResponse resp;
        grpc::Status status = stub->AckDeliveries(&ctx, req, &resp);
        absl::MutexLock lock(&tally.mu);
        if (!status.ok()) {
          tally.ack_errors += req.delivery_ids_size();
          continue;
        }
        for (const auto& r : resp.results()) {
          if (r.has_error()) {
            ++tally.ack_errors;
            continue;
          }
          if (r.already_acknowledged()) ++tally.already_acked;
          tally.acked[r.delivery_id()] = true;
        }
        tally.last_acked = absl::Now();
        if (done_acks.fetch_add(resp.results_size()) + resp.results_size() >= n) {
          all_acked.Notify();
        }
      }
    });
  }
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> readers;
  absl::Time t0;
  absl::Notification started;
  for (int s = 0; s < absl::GetFlag(FLAGS_streams); ++s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    grpc::ClientContext* raw = ctx.get();
    contexts.push_back(std::move(ctx));
    readers.emplace_back([&, raw] {
      v1::StreamDueRemindersRequest req;
      req.set_subscriber("bench-platform");
      req.set_max_unacked(absl::GetFlag(FLAGS_max_unacked));
      auto reader = stub->StreamDueReminders(raw, req);
      v1::Delivery d;
      while (reader->Read(&d)) {
        {
          absl::MutexLock lock(&tally.mu);
          int& count = tally.received[d.delivery_id()];
          if (++count > 1) ++tally.received_twice;
          if (tally.acked.contains(d.delivery_id())) ++tally.received_after_ack;
          tally.last_received = absl::Now();
        }
        if (!absl::GetFlag(FLAGS_ack)) {
          if (done_acks.fetch_add(1) + 1 == n) all_acked.Notify();
          continue;
        }
        {
          absl::MutexLock lock(&pending.mu);
          pending.ids.push_back(d.delivery_id());
        }
      }
      reader->Finish();
    });
  }
  auto stream_entries = [&] {
    int entries = 0;
    for (int b = 0; b < reminders::kDueBuckets; ++b) {
      auto len = fixture.redis_server().Command({"XLEN", reminders::OutStreamKey(b, "t1")});
      if (len.ok()) entries += std::stoi(*len);
    }
    return entries;
  };
  // Let the streams register before the instant comes.
  absl::SleepFor(absl::Milliseconds(500));
  fixture.redis_server().Command({"CONFIG", "RESETSTAT"}).IgnoreError();
  if (absl::GetFlag(FLAGS_redis_stats)) {
    fixture.redis_server().Command({"CONFIG", "SET", "slowlog-log-slower-than", "0"}).IgnoreError();
    fixture.redis_server().Command({"CONFIG", "SET", "slowlog-max-len", "100000"}).IgnoreError();
    fixture.redis_server().Command({"SLOWLOG", "RESET"}).IgnoreError();
  }
  t0 = absl::Now();
  fixture.clock().Set(kDue);
  absl::Time dispatched = absl::InfiniteFuture();
  std::thread watcher([&] {
    while (absl::Now() - t0 < absl::Seconds(120)) {
      if (stream_entries() >= n) {
        dispatched = absl::Now();
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  // Without streams only the dispatch is measured.
  bool finished = absl::GetFlag(FLAGS_streams) == 0
                      ? (watcher.join(), dispatched != absl::InfiniteFuture())
                      : all_acked.WaitForNotificationWithTimeout(absl::Seconds(120));
  for (auto& ctx : contexts) ctx->TryCancel();
  for (auto& t : readers) t.join();
  {
    absl::MutexLock lock(&pending.mu);
    pending.stop = true;
    pending.ids.clear();
  }
  for (auto& t : ackers) t.join();

  if (watcher.joinable()) watcher.join();
  int entries = stream_entries();
  absl::MutexLock lock(&tally.mu);
  int lost = n - static_cast<int>(tally.received.size());
  std::printf("streams %d, max_unacked %d, ackers %d, ack batch <= %d\n",
              absl::GetFlag(FLAGS_streams), absl::GetFlag(FLAGS_max_unacked),
              absl::GetFlag(FLAGS_ackers), absl::GetFlag(FLAGS_ack_batch));
  std::printf("all entered for delivery (dispatched) after %.2f s\n",
              absl::ToDoubleSeconds(dispatched - t0));
  std::printf("all received after %.2f s (%.0f deliveries/s)\n",
              absl::ToDoubleSeconds(tally.last_received - t0),
              n / absl::ToDoubleSeconds(tally.last_received - t0));
  std::printf("all acknowledged after %.2f s%s\n", absl::ToDoubleSeconds(tally.last_acked - t0),
              finished ? "" : " (TIMED OUT)");
  std::printf(
      "stream entries %d (want %d); lost %d; received twice %d; after ack %d; "
      "ack errors %d; already acknowledged %d\n",
      entries, n, lost, tally.received_twice, tally.received_after_ack, tally.ack_errors,
      tally.already_acked);
  if (absl::GetFlag(FLAGS_redis_stats)) {
    auto stats = fixture.redis_server().Command({"INFO", "commandstats"});
    if (stats.ok()) std::printf("%s\n", stats->c_str());
    // Time in Redis per script (slowlog entries: id, time, microseconds, args...).
    auto slow = redis::SyncRedis(&fixture.pool()).Run({"SLOWLOG", "GET", "1000000"});
    absl::flat_hash_map<std::string, std::pair<int64_t, int64_t>> per_script;
    if (slow.ok()) {
      for (const redis::Reply& e : slow->elements) {
        if (e.elements.size() < 4 || e.elements[3].elements.size() < 2) continue;
        if (e.elements[3].elements[0].str != "EVALSHA" &&
            e.elements[3].elements[0].str != "evalsha") {
          continue;
        }
        auto& [calls, usec] = per_script[e.elements[3].elements[1].str.substr(0, 8)];
        ++calls;
        usec += e.elements[2].integer;
      }
    }
    for (const auto& [sha, cu] : per_script) {
      std::printf("script %s: %lld calls, %lld us, %.1f us/call\n", sha.c_str(),
                  static_cast<long long>(cu.first), static_cast<long long>(cu.second),
                  static_cast<double>(cu.second) / cu.first);
    }
  }
  if (absl::GetFlag(FLAGS_streams) == 0) return finished && entries == n ? 0 : 1;
  bool ok = finished && entries == n && lost == 0 && tally.received_twice == 0 &&
            tally.received_after_ack == 0 && tally.ack_errors == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace trellis::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  trellis::log::Configure("bench", trellis::log::Level::kWarn);
  return trellis::bench::Run();
}
