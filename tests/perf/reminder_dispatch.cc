#include "tests/perf/reminder_dispatch.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/config/redis_url.h"
#include "common/redis/async_pool.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/store/reminder_store.h"
#include "tests/perf/load_driver.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::perf {
namespace {

namespace v1 = ::trellis::v1;

struct CreateCall {
  grpc::ClientContext ctx;
  v1::CreateReminderRequest req;
  v1::Reminder resp;
};

// A daily practice reminder whose first occurrence is `due` (UTC).
v1::Reminder DailyAt(absl::Time due) {
  v1::Reminder r;
  r.set_kind(v1::REMINDER_KIND_PRACTICE);
  r.set_text("Breathing exercise: 10 minutes");
  r.set_channel(v1::REMINDER_CHANNEL_PUSH);
  absl::CivilSecond at = absl::ToCivilSecond(due, absl::UTCTimeZone());
  auto* s = r.mutable_schedule();
  s->mutable_start()->set_year(static_cast<int>(at.year()));
  s->mutable_start()->set_month(at.month());
  s->mutable_start()->set_day(at.day());
  s->mutable_start()->set_hours(at.hour());
  s->mutable_start()->set_minutes(at.minute());
  s->mutable_start()->set_seconds(at.second());
  s->set_time_zone("UTC");
  s->set_rrule("FREQ=DAILY");
  return r;
}

// Creates `n` reminders of `tenant` due at `due`, `concurrency` calls in flight.
LoadResult CreateReminders(const ScenarioEnv& env, const std::string& tenant,
                           const std::string& prefix, int n, absl::Time due, int concurrency) {
  ScenarioEnv t = env;
  t.tenant = tenant;
  const std::string token = t.Token(v1::ROLE_CLINICIAN);
  std::vector<std::unique_ptr<v1::ReminderService::Stub>> stubs;
  for (const auto& ch : env.channels) stubs.push_back(v1::ReminderService::NewStub(ch));
  const v1::Reminder templ = DailyAt(due);
  LoadOptions options;
  options.concurrency = concurrency;
  options.calls = n;
  LoadDriver driver(options, [&](uint64_t seq, CallDone done) {
    auto* c = new CreateCall;
    c->ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    *c->req.mutable_reminder() = templ;
    c->req.mutable_reminder()->set_patient(absl::StrCat(prefix, "-p", seq));
    c->req.set_request_id(absl::StrCat(prefix, "-r", seq));
    stubs[seq % stubs.size()]->async()->CreateReminder(&c->ctx, &c->req, &c->resp,
                                                       [c, done = std::move(done)](grpc::Status s) {
                                                         done(s);
                                                         delete c;
                                                       });
  });
  return driver.Run();
}

// The write CreateReminder makes for a daily reminder of `patient` first due at `due`.
reminders::ReminderWrite StoredReminder(const std::string& tenant, const std::string& patient,
                                        int i, absl::Time due) {
  v1::Reminder r = DailyAt(due);
  const absl::Time now = absl::Now();
  r.set_name(absl::StrCat("patients/", patient, "/reminders/r", i));
  r.set_patient(patient);
  r.set_state(v1::REMINDER_STATE_ACTIVE);
  *r.mutable_next_occurrence_time() = reminders::ToProto(due);
  *r.mutable_create_time() = reminders::ToProto(now);
  *r.mutable_update_time() = reminders::ToProto(now);
  r.set_etag(reminders::EtagFor(1));
  reminders::ReminderWrite w;
  w.tenant = tenant;
  w.patient = patient;
  reminders::ReminderChange c;
  c.reminder = std::move(r);
  c.revision = 1;
  c.expected_revision = 0;
  c.due_update = reminders::ReminderChange::DueUpdate::kSet;
  c.due = due;
  w.changes.push_back(std::move(c));
  return w;
}

// Bounds the store writes in flight.
struct WriteWindow {
  absl::Mutex mu;
  int size = 0;
  int free ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return free > 0; }
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return free == size; }
};

// Stores `n` reminders through the reminder store, `in_flight` scripts at a time. Returns how many
// failed.
int StoreReminders(redis::RedisClient* redis, const std::string& tenant, const std::string& prefix,
                   int n, absl::Time due, int in_flight) {
  reminders::ReminderStore store(redis);
  WriteWindow w;
  w.size = in_flight;
  {
    absl::MutexLock lock(&w.mu);
    w.free = in_flight;
  }
  for (int i = 0; i < n; ++i) {
    {
      absl::MutexLock lock(&w.mu);
      w.mu.Await(absl::Condition(&w, &WriteWindow::HasRoom));
      --w.free;
    }
    store.Write(
        StoredReminder(tenant, absl::StrCat(prefix, "-p", i), i, due),
        [&w](absl::StatusOr<reminders::ReminderWriteResult> r) {
          absl::MutexLock lock(&w.mu);
          if (!r.ok()) ++w.failed;
          ++w.free;
        },
        absl::Now() + absl::Seconds(30));
  }
  absl::MutexLock lock(&w.mu);
  w.mu.Await(absl::Condition(&w, &WriteWindow::Idle));
  return w.failed;
}

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

}  // namespace

absl::StatusOr<DispatchResult> RunReminderDispatch(const ScenarioEnv& env,
                                                   const DispatchOptions& options) {
  const int n = options.reminders;
  const std::string tenant = absl::StrCat(env.tenant, "-dispatch-", env.run_id);
  DispatchResult result;
  result.reminders = n;

  std::unique_ptr<redis::RedisPool> pool;
  if (!options.redis_url.empty()) {
    auto endpoint = config::ParseRedisUrl(options.redis_url);
    if (!endpoint.ok()) return endpoint.status();
    redis::PoolOptions o;
    o.endpoint = *endpoint;
    o.command_timeout = absl::Seconds(30);
    pool = std::make_unique<redis::RedisPool>(o);
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!pool->Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
    if (!pool->Ready()) return absl::UnavailableError("cannot connect to --redis_url");
  }
  result.seeded_through = pool ? "store" : "CreateReminder";
  // Seeds `count` reminders due at `due`; the errors by code name.
  auto seed = [&](const std::string& in_tenant, const std::string& prefix, int count,
                  absl::Time due) {
    std::map<std::string, uint64_t> errors;
    if (pool) {
      int failed = StoreReminders(pool.get(), in_tenant, prefix, count, due, 500);
      if (failed > 0) errors["store"] = failed;
      return errors;
    }
    LoadResult r = CreateReminders(env, in_tenant, prefix, count, due, options.create_concurrency);
    for (size_t c = 1; c < r.codes.size(); ++c) {
      if (r.codes[c] > 0) errors[CodeName(static_cast<int>(c))] = r.codes[c];
    }
    return errors;
  };

  absl::Duration lead = options.lead;
  if (lead == absl::ZeroDuration()) {
    const int probe = std::clamp(n / 20, 1, pool ? 5000 : 300);
    const absl::Time t0 = absl::Now();
    auto errors = seed(absl::StrCat(tenant, "-calib"), absl::StrCat(env.run_id, "-calib"), probe,
                       absl::Now() + absl::Hours(24 * 300));
    if (!errors.empty()) {
      return absl::UnavailableError(
          absl::StrCat("calibration: seeding failed (", errors.begin()->first, ")"));
    }
    const double rate = probe / std::max(absl::ToDoubleSeconds(absl::Now() - t0), 1e-3);
    // 1.5 times what the calibration predicts (the machine is shared), plus room to open streams.
    lead = absl::Seconds(3) + absl::Seconds(1.5 * n / rate);
  }
  const absl::Time seed_start = absl::Now();
  // Whole seconds: a schedule's start is a local date-time to the second.
  const absl::Time due = absl::FromUnixSeconds(absl::ToUnixSeconds(seed_start + lead) + 1);
  result.lead_seconds = absl::ToDoubleSeconds(due - seed_start);

  result.seed_errors = seed(tenant, env.run_id, n, due);
  const absl::Time seeded = absl::Now();
  if (pool) pool->Stop();
  result.seed_seconds = absl::ToDoubleSeconds(seeded - seed_start);
  result.seed_rate = n / std::max(result.seed_seconds, 1e-3);
  result.idle_before_due = absl::ToDoubleSeconds(due - seeded);
  if (seeded > due - absl::Milliseconds(500)) {
    return absl::DeadlineExceededError(
        absl::StrCat("seeding ", n, " reminders took ", result.seed_seconds,
                     " s, past the due instant; give a longer --dispatch_lead"));
  }

  ScenarioEnv t = env;
  t.tenant = tenant;
  const std::string token = t.Token(v1::ROLE_SERVICE);
  auto stub = v1::ReminderService::NewStub(env.channels[0]);
  Tally tally;
  AckQueue pending;
  std::atomic<int> done_acks{0};
  absl::Notification all_acked;
  std::vector<std::thread> ackers;
  for (int a = 0; a < options.ackers; ++a) {
    ackers.emplace_back([&, a] {
      auto ack_stub = v1::ReminderService::NewStub(env.channels[a % env.channels.size()]);
      while (true) {
        std::vector<std::string> batch;
        {
          absl::MutexLock lock(&pending.mu);
          pending.mu.Await(absl::Condition(&pending, &AckQueue::Ready));
          if (pending.ids.empty()) return;
          size_t take = std::min<size_t>(pending.ids.size(), options.ack_batch);
          batch.assign(std::make_move_iterator(pending.ids.end() - take),
                       std::make_move_iterator(pending.ids.end()));
          pending.ids.resize(pending.ids.size() - take);
        }
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::AckDeliveriesRequest req;
        req.set_subscriber("bench-platform");
        for (auto& id : batch) req.add_delivery_ids(std::move(id));
        v1::AckDeliveriesResponse resp;
        grpc::Status status = ack_stub->AckDeliveries(&ctx, req, &resp);
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
  for (int s = 0; s < options.streams; ++s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    grpc::ClientContext* raw = ctx.get();
    contexts.push_back(std::move(ctx));
    readers.emplace_back([&, raw] {
      v1::StreamDueRemindersRequest req;
      req.set_subscriber("bench-platform");
      req.set_max_unacked(options.max_unacked);
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
        absl::MutexLock lock(&pending.mu);
        pending.ids.push_back(d.delivery_id());
      }
      (void)reader->Finish();
    });
  }
  absl::SleepFor(due - absl::Now());
  result.finished = all_acked.WaitForNotificationWithTimeout(options.timeout);
  // A little longer: anything delivered again after its acknowledgement shows up here.
  absl::SleepFor(absl::Milliseconds(500));
  for (auto& ctx : contexts) ctx->TryCancel();
  for (auto& th : readers) th.join();
  {
    absl::MutexLock lock(&pending.mu);
    pending.stop = true;
    pending.ids.clear();
  }
  for (auto& th : ackers) th.join();

  absl::MutexLock lock(&tally.mu);
  result.received = static_cast<int>(tally.received.size());
  result.lost = n - result.received;
  result.received_twice = tally.received_twice;
  result.received_after_ack = tally.received_after_ack;
  result.ack_errors = tally.ack_errors;
  result.already_acked = tally.already_acked;
  result.all_received_seconds = absl::ToDoubleSeconds(tally.last_received - due);
  result.all_acked_seconds = absl::ToDoubleSeconds(tally.last_acked - due);
  return result;
}

}  // namespace trellis::perf
