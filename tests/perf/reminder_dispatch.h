#pragma once

// The reminder dispatch scenario (tests/perf, issue 9): N occurrences due at one instant, all
// delivered to one subscriber and acknowledged, through a real trellis-reminders binary on the
// wall clock.
//
// 1. Calibrate: create a few reminders (in a tenant of their own, due next year) to learn how fast
//    this machine creates reminders, and pick the due instant T far enough ahead that all N are
//    stored before it (`lead`, unless given).
// 2. Seed: N reminders (one patient each, daily at T UTC): N CreateReminder calls, closed loop,
//    or, given the service's Redis, the reminder store's own write path (setup, not measured).
// 3. Subscribe: `streams` StreamDueReminders streams of one subscriber (a service token), opened
//    before T; `ackers` threads acknowledge what arrives with AckDeliveries in batches, as a
//    platform handling a burst would.
// 4. From T, wait until every occurrence has been received and acknowledged (or `timeout`).
//
// The checks are the issue's: none missing, none received again after its acknowledgement (and,
// reported separately, none received twice at all), no failed acknowledgement.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/perf/scenarios.h"

namespace trellis::perf {

struct DispatchOptions {
  int reminders = 1000;
  int streams = 4;
  int max_unacked = 10000;
  int ackers = 2;
  int ack_batch = 1000;
  int create_concurrency = 64;
  absl::Duration lead = absl::ZeroDuration();  // zero: from the calibration
  absl::Duration timeout = absl::Seconds(120);
  // Set: the reminders are seeded straight into this Redis through the reminder store's own
  // write path (what CreateReminder stores, many scripts in flight), which is much faster than
  // N CreateReminder calls; the CreateReminder scenario measures those. Empty: CreateReminder.
  std::string redis_url;
};

struct DispatchResult {
  int reminders = 0;
  double seed_seconds = 0;
  double seed_rate = 0;             // reminders stored per second while seeding
  std::string seeded_through;       // "CreateReminder" or "store"
  double lead_seconds = 0;          // from the start of seeding to T
  double idle_before_due = 0;       // seconds between the end of seeding and T
  double all_received_seconds = 0;  // after T
  double all_acked_seconds = 0;     // after T
  int received = 0;
  int lost = 0;
  int received_twice = 0;
  int received_after_ack = 0;
  int ack_errors = 0;
  int already_acked = 0;
  bool finished = false;
  std::map<std::string, uint64_t> seed_errors;  // by code name

  bool ok() const {
    return finished && lost == 0 && received_after_ack == 0 && ack_errors == 0 &&
           seed_errors.empty();
  }
};

// `env.channels` reach the ReminderService.
absl::StatusOr<DispatchResult> RunReminderDispatch(const ScenarioEnv& env,
                                                   const DispatchOptions& options);

}  // namespace trellis::perf
