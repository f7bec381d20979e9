#pragma once

// The subscriber side of delivery: StreamDueReminders streams (one reactor each) and the registry
// that ends them when the replica drains. A stream polls its subscriber's deliveries
// (DispatchStore::Poll: redeliveries past their ack deadline first, then new entries of the
// subscriber's consumer group), writes them one at a time, and polls again at once while it gets
// full batches, else after the poll interval. Any replica serves any subscriber: the streams and
// pending lists live in Redis.
//
// Life of a reactor: at every moment exactly one of these is in flight until it finishes: a Redis
// call, a write, or the poll timer. Each completion takes the next step, so ending (client cancel,
// drain, lost store) only has to mark the end; the next step finishes.

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/server/host.h"
#include "common/time/clock.h"
#include "services/reminders/domain/delivery_policy.h"
#include "services/reminders/store/dispatch_store.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::reminders {

struct DeliveryOptions {
  // Deliveries not acknowledged within this are handed over again (Delivery.ack_deadline).
  absl::Duration visibility_timeout = absl::Seconds(30);
  // Wait between polls that came back short.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Deliveries per poll.
  int max_batch = 500;
  // The grace window: older deliveries are not handed over (nor again).
  CatchUpPolicy catch_up;
  absl::Duration redis_timeout = absl::Seconds(5);
};

class DueStream;

// The open streams of this replica. A worker so that shutdown drains them first.
class DeliveryStreams final : public server::Worker {
 public:
  // `registry` may be null (no metrics).
  DeliveryStreams(redis::RedisClient* redis, const Clock* clock, DeliveryOptions options,
                  prometheus::Registry* registry);

  void Start() override {}
  // Ends every open stream with UNAVAILABLE and refuses new ones.
  void Drain() override;
  void Stop() override { Drain(); }

  // Starts a stream for an admitted, validated request (or one that fails at once with UNAVAILABLE
  // while draining).
  grpc::ServerWriteReactor<trellis::v1::Delivery>* Open(std::string tenant, std::string subscriber,
                                                        std::vector<int> kinds, int max_unacked);

  DispatchStore& store() { return store_; }
  const DeliveryOptions& options() const { return options_; }
  const Clock* clock() const { return clock_; }
  // Called by a stream when it is done.
  void Remove(DueStream* stream);
  // Called by a stream as it writes a delivery to its subscriber (`attempt` 1: the first
  // hand-over; more: a redelivery of one not acknowledged in time).
  void CountSent(int attempt) const;

 private:
  DispatchStore store_;
  const Clock* clock_;
  DeliveryOptions options_;
  // Null without a registry.
  prometheus::Gauge* open_streams_ = nullptr;
  prometheus::Counter* sent_first_ = nullptr;
  prometheus::Counter* sent_again_ = nullptr;
  std::string replica_;
  std::atomic<uint64_t> next_stream_{0};
  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<DueStream*> open_ ABSL_GUARDED_BY(mu_);
};

// A reactor that fails at once (validation, auth, draining).
class FailedStream final : public grpc::ServerWriteReactor<trellis::v1::Delivery> {
 public:
  explicit FailedStream(const absl::Status& status);
  void OnDone() override { delete this; }
};

}  // namespace trellis::reminders
