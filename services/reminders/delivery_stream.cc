#include "services/reminders/delivery_stream.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ids/ids.h"
#include "common/log/log.h"
#include "common/status/status.h"
#include "services/reminders/reminder_convert.h"
#include "services/reminders/store/reminder_store.h"

namespace trellis::reminders {

namespace v1 = trellis::v1;

class DueStream final : public grpc::ServerWriteReactor<v1::Delivery> {
 public:
  DueStream(DeliveryStreams* owner, std::string tenant, std::string subscriber,
            std::vector<int> kinds, int max_unacked, std::string consumer, int start_bucket)
      : owner_(owner),
        tenant_(std::move(tenant)),
        subscriber_(std::move(subscriber)),
        kinds_(std::move(kinds)),
        max_unacked_(max_unacked),
        consumer_(std::move(consumer)),
        start_bucket_(start_bucket) {}

  // Registers the subscriber (filter check, consumer groups), then polls.
  void Begin() {
    {
      absl::MutexLock lock(&mu_);
      busy_ = true;
    }
    owner_->store().Subscribe(
        tenant_, subscriber_, kinds_,
        [this](absl::StatusOr<bool> r) {
          {
            absl::MutexLock lock(&mu_);
            busy_ = false;
            if (!r.ok() && !end_.has_value()) end_ = r.status();
          }
          Step();
        },
        absl::Now() + owner_->options().redis_timeout);
  }

  // Ends the stream with `status` at its next step (drain, lost store).
  // Only marks the stream: whatever is in flight (at most a poll interval for the timer) takes
  // the next step, which finishes. The timer is not cancelled: Alarm::Cancel may run the callback
  // on the calling thread, and a stream finishing there could be gone before Cancel returns.
  void RequestEnd(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (!end_.has_value()) end_ = status;
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok) {
        queue_.pop_front();
      } else if (!end_.has_value()) {
        end_ = absl::CancelledError("the client went away");
      }
    }
    Step();
  }

  void OnCancel() override { RequestEnd(absl::CancelledError("cancelled by the client")); }

  void OnDone() override {
    owner_->Remove(this);
    delete this;
  }

 private:
  enum class Action { kNone, kWrite, kPoll, kTimer, kFinish };

  // Decides and starts the next operation (never under mu_: gRPC and Redis calls run outside).
  void Step() {
    Action action = Action::kNone;
    absl::Status finish_status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_ || busy_ || timer_set_) return;
      if (end_.has_value()) {
        finished_ = true;
        action = Action::kFinish;
        finish_status = *end_;
      } else if (DropExpired(); !queue_.empty()) {
        writing_ = true;
        action = Action::kWrite;
      } else if (poll_now_) {
        busy_ = true;
        action = Action::kPoll;
      } else {
        timer_set_ = true;
        action = Action::kTimer;
      }
    }
    switch (action) {
      case Action::kWrite:
        owner_->CountSent(queue_.front().attempt());
        StartWrite(&queue_.front());
        break;
      case Action::kPoll:
        Poll();
        break;
      case Action::kTimer:
        alarm_.Set(absl::ToChronoTime(absl::Now() + owner_->options().poll_interval), [this](bool) {
          {
            absl::MutexLock lock(&mu_);
            timer_set_ = false;
            poll_now_ = true;
          }
          Step();
        });
        break;
      case Action::kFinish:
        // A cancelled call's status is not seen by the client; a drained one is.
        Finish(ToGrpcStatus(finish_status));
        break;
      case Action::kNone:
        break;
    }
  }

  // Drops queued deliveries whose ack deadline has passed before they were written (the stream
  // stalled: a frozen process, a slow client). They are due to any stream of the subscriber again
  // and may already be delivered and acknowledged there; writing them late would hand the
  // platform a copy after its ack. Still pending in Redis, they are not lost.
  void DropExpired() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = owner_->clock()->Now();
    while (!queue_.empty() && ToTime(queue_.front().ack_deadline()) <= now) queue_.pop_front();
  }

  void Poll() {
    const DeliveryOptions& o = owner_->options();
    absl::Time now = owner_->clock()->Now();
    PollRequest req;
    req.tenant = tenant_;
    req.subscriber = subscriber_;
    req.consumer = consumer_;
    req.now = now;
    req.ack_deadline = now + o.visibility_timeout;
    req.cutoff = now - o.catch_up.grace_window;
    req.max_unacked = max_unacked_;
    req.max_batch = o.max_batch;
    req.start_bucket = start_bucket_++;
    owner_->store().Poll(
        req, kinds_,
        [this, ack_deadline = ToProto(req.ack_deadline)](absl::StatusOr<PollResult> r) {
          {
            absl::MutexLock lock(&mu_);
            busy_ = false;
            if (!r.ok()) {
              if (!end_.has_value()) {
                log::Warn("delivery stream lost the store",
                          {{"subscriber", subscriber_},
                           {"code", absl::StatusCodeToString(r.status().code())}});
                end_ = absl::UnavailableError("the store is unavailable; reconnect with backoff");
              }
            } else {
              poll_now_ = static_cast<int>(r->deliveries.size()) >= owner_->options().max_batch;
              for (StreamedDelivery& d : r->deliveries) {
                v1::Delivery msg;
                if (!msg.ParseFromString(d.payload)) {
                  log::Error("unreadable delivery entry skipped", {{"entry", d.entry_id}});
                  continue;
                }
                msg.set_attempt(d.attempt);
                *msg.mutable_ack_deadline() = ack_deadline;
                queue_.push_back(std::move(msg));
              }
            }
          }
          Step();
        },
        absl::Now() + o.redis_timeout);
  }

  DeliveryStreams* owner_;
  const std::string tenant_;
  const std::string subscriber_;
  const std::vector<int> kinds_;
  const int max_unacked_;
  const std::string consumer_;
  int start_bucket_;  // Step's thread only (one operation at a time)
  grpc::Alarm alarm_;

  absl::Mutex mu_;
  // The front element is being written while writing_ (its address is stable in a deque).
  std::deque<v1::Delivery> queue_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // a Redis call in flight
  bool timer_set_ ABSL_GUARDED_BY(mu_) = false;
  bool poll_now_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
};

FailedStream::FailedStream(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

DeliveryStreams::DeliveryStreams(redis::RedisClient* redis, const Clock* clock,
                                 DeliveryOptions options, prometheus::Registry* registry)
    : store_(redis), clock_(clock), options_(std::move(options)), replica_(NewId()) {
  if (registry == nullptr) return;
  open_streams_ = &prometheus::BuildGauge()
                       .Name("trellis_reminders_open_streams")
                       .Help("Open StreamDueReminders calls on this replica.")
                       .Register(*registry)
                       .Add({});
  auto& sent = prometheus::BuildCounter()
                   .Name("trellis_reminders_deliveries_sent_total")
                   .Help(
                       "Deliveries written to subscribers: attempt=\"first\" hand-overs and "
                       "attempt=\"retry\" redeliveries of deliveries not acknowledged within "
                       "the visibility timeout.")
                   .Register(*registry);
  sent_first_ = &sent.Add({{"attempt", "first"}});
  sent_again_ = &sent.Add({{"attempt", "retry"}});
}

void DeliveryStreams::CountSent(int attempt) const {
  if (sent_first_ == nullptr) return;
  (attempt <= 1 ? sent_first_ : sent_again_)->Increment();
}

grpc::ServerWriteReactor<v1::Delivery>* DeliveryStreams::Open(std::string tenant,
                                                              std::string subscriber,
                                                              std::vector<int> kinds,
                                                              int max_unacked) {
  uint64_t n = next_stream_.fetch_add(1);
  auto* stream =
      new DueStream(this, std::move(tenant), std::move(subscriber), std::move(kinds), max_unacked,
                    absl::StrCat(replica_, "-", n), static_cast<int>(n % kDueBuckets));
  size_t open = 0;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      delete stream;
      return new FailedStream(
          absl::UnavailableError("the server is shutting down; reconnect with backoff"));
    }
    open_.insert(stream);
    open = open_.size();
  }
  if (open_streams_ != nullptr) open_streams_->Set(static_cast<double>(open));
  stream->Begin();
  return stream;
}

void DeliveryStreams::Remove(DueStream* stream) {
  size_t open = 0;
  {
    absl::MutexLock lock(&mu_);
    open_.erase(stream);
    open = open_.size();
  }
  if (open_streams_ != nullptr) open_streams_->Set(static_cast<double>(open));
}

void DeliveryStreams::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  // RequestEnd only marks the stream; the stream finishes (and removes itself, taking mu_) from
  // another thread once its operation in flight completes.
  for (DueStream* s : open_) {
    s->RequestEnd(absl::UnavailableError("the server is shutting down; reconnect with backoff"));
  }
}

}  // namespace trellis::reminders
