#pragma once

// Delivers outbox entries (outbox.h) to peer services: a background worker of the service that
// recorded them. Every replica runs one; a short lease per patient keeps two replicas from
// delivering the same patient's entries at once (a lost lease only costs a duplicate delivery,
// which receivers absorb). A relay re-enters a lease of its own that was left behind (its release
// failed, e.g. during a Redis outage) instead of waiting for it to expire, and renews the lease
// before each entry of a drain. Entries of one patient go out in order; a failing peer is retried
// with exponential backoff per patient, without blocking other patients.
//
// Metrics (when given a registry), labelled outbox="<service>":
//   trellis_outbox_backlog_patients   patients with undelivered entries (the pending index),
//                                     sampled at every pass
//   trellis_outbox_deliveries_total{result}   delivered, retry (the peer failed; tried again
//                                     later) or dead_letter (refused for good; an operator's
//                                     matter)

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/outbox/outbox.h"
#include "common/redis/client.h"
#include "common/server/host.h"
#include "common/time/clock.h"

namespace trellis::outbox {

struct Delivery {
  std::string tenant;
  std::string patient;
  OutboxEntry entry;
};

// Sends one entry to its peer and waits for the answer (it runs on the relay's own thread).
// OK: confirmed. UNAVAILABLE or DEADLINE_EXCEEDED: retried later. Anything else: the entry can
// never succeed; it is moved to the patient's dead-letter list and logged.
using DeliverFn = std::function<absl::Status(const Delivery&)>;

struct RelayOptions {
  std::string service;  // "goals", "meas", "rem"
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::Duration min_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration lease = absl::Seconds(30);
  int patients_per_pass = 64;
  int entries_per_patient = 32;
  // Redis Cluster: the least time between two walks of the pending index (every slot; a pass in
  // between does nothing). 0: every pass walks.
  absl::Duration walk_interval = absl::ZeroDuration();
};

class OutboxRelay final : public server::Worker {
 public:
  // `registry` may be null (no metrics).
  OutboxRelay(redis::RedisClient* redis, const Clock* clock, RelayOptions options,
              DeliverFn deliver, prometheus::Registry* registry = nullptr);
  ~OutboxRelay() override;

  void Start() override;
  void Stop() override;

  // One pass over the patients due now; returns the number of entries delivered. Tests drive the
  // relay with this and an injected clock instead of Start().
  int RunOnce();

 private:
  int DrainPatient(const std::string& tag);
  void AdoptSingleIndex();

  redis::RedisClient* redis_;
  const Clock* clock_;
  RelayOptions options_;
  DeliverFn deliver_;
  std::string owner_;    // lease values are "<owner_>|<drain serial>": unique per relay and drain
  uint64_t drains_ = 0;  // relay thread only
  absl::flat_hash_map<std::string, absl::Duration> backoff_;  // relay thread only
  bool peer_down_ = false;                                    // relay thread only
  absl::Time last_walk_ = absl::InfinitePast();               // relay thread only
  uint64_t walks_ = 0;                                        // relay thread only
  // Null without a registry.
  prometheus::Gauge* backlog_ = nullptr;
  prometheus::Counter* delivered_ = nullptr;
  prometheus::Counter* retried_ = nullptr;
  prometheus::Counter* dead_lettered_ = nullptr;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace trellis::outbox
