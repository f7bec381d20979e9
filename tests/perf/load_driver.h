#pragma once

// Drives one scenario's calls (tests/perf, issue 9) and measures them.
//
// Closed loop: `concurrency` calls are always in flight; each completion starts the next call
// (from the gRPC callback thread, no extra thread per call). Throughput is what the server
// sustains at that concurrency; latency is measured from each call's actual start.
//
// Open loop: calls start on a fixed schedule (`rate` per second) whatever the server does, and
// each call's latency is measured from its *intended* start on that schedule, not from when the
// pacer got round to it. So a server that stalls is charged for every call that should have
// started during the stall (no coordinated omission). `max_in_flight` bounds memory if the server
// falls far behind; calls held back by it still count from their intended start.
//
// Only calls intended to start inside the measurement window (after the warm-up, before the end)
// are counted; calls of the warm-up run the same way but are only tallied in `calls_total`. With
// `calls` > 0 the run makes exactly that many calls with no warm-up (used to insert a known
// number of records).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/perf/latency_histogram.h"

namespace trellis::perf {

// Completion of one call; must be called exactly once.
using CallDone = std::function<void(const grpc::Status&)>;

// Starts call number `seq` (0, 1, ...) asynchronously.
using CallStarter = std::function<void(uint64_t seq, CallDone done)>;

struct LoadOptions {
  bool open_loop = false;
  int concurrency = 64;       // closed loop
  double rate = 1000;         // open loop, calls per second
  int max_in_flight = 20000;  // open loop
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(5);
  int64_t calls = 0;  // > 0: exactly this many calls, no warm-up
  // Called once when the measurement window opens (after the warm-up; with `calls`, at once).
  std::function<void()> on_measure;
};

struct LoadResult {
  double window_seconds = 0;
  uint64_t calls_ok = 0;                   // in the window
  uint64_t calls_total = 0;                // every completed call, warm-up included
  uint64_t calls_ok_total = 0;             // every successful call, warm-up included
  std::array<uint64_t, 17> codes{};        // in the window, by grpc::StatusCode
  std::map<int, std::string> first_error;  // code -> the first message seen
  int peak_in_flight = 0;
  uint64_t held_back = 0;                     // open loop: starts delayed by max_in_flight
  std::unique_ptr<LatencyHistogram> latency;  // successful calls in the window

  double throughput() const { return window_seconds > 0 ? calls_ok / window_seconds : 0; }
  uint64_t errors() const;
};

class LoadDriver {
 public:
  LoadDriver(LoadOptions options, CallStarter start);
  LoadResult Run();

 private:
  static int64_t NowNanos();
  void ClosedNext();
  void RunOpen();
  void Record(int64_t intended, const grpc::Status& status);
  void Release();

  const LoadOptions options_;
  const CallStarter start_;
  int64_t window_start_ = 0;
  int64_t window_end_ = 0;
  std::atomic<uint64_t> next_seq_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> peak_in_flight_{0};
  std::atomic<uint64_t> calls_total_{0};
  std::atomic<uint64_t> calls_ok_total_{0};
  std::atomic<int64_t> last_done_{0};
  std::array<std::atomic<uint64_t>, 17> codes_{};
  std::unique_ptr<LatencyHistogram> latency_ = std::make_unique<LatencyHistogram>();
  uint64_t held_back_ = 0;

  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;  // closed-loop slots still running; open: calls in flight
  std::map<int, std::string> first_error_ ABSL_GUARDED_BY(mu_);
};

// "OK", "DEADLINE_EXCEEDED", ...
const char* CodeName(int code);

}  // namespace trellis::perf
