#include "tests/perf/load_driver.h"

#include <chrono>
#include <thread>

#include "absl/time/clock.h"

namespace trellis::perf {

const char* CodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? kNames[code] : "UNKNOWN";
}

uint64_t LoadResult::errors() const {
  uint64_t n = 0;
  for (size_t c = 1; c < codes.size(); ++c) n += codes[c];
  return n;
}

LoadDriver::LoadDriver(LoadOptions options, CallStarter start)
    : options_(std::move(options)), start_(std::move(start)) {
  for (auto& c : codes_) c.store(0);
}

int64_t LoadDriver::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void LoadDriver::Record(int64_t intended, const grpc::Status& status) {
  int64_t now = NowNanos();
  calls_total_.fetch_add(1, std::memory_order_relaxed);
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code >= 17) code = grpc::StatusCode::UNKNOWN;
  if (code == 0) calls_ok_total_.fetch_add(1, std::memory_order_relaxed);
  if (intended < window_start_ || intended >= window_end_) return;
  codes_[code].fetch_add(1, std::memory_order_relaxed);
  int64_t seen = last_done_.load(std::memory_order_relaxed);
  while (now > seen && !last_done_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
  if (code == 0) {
    latency_->Record(now - intended);
  } else {
    absl::MutexLock lock(&mu_);
    first_error_.try_emplace(code, status.error_message());
  }
}

// One closed-loop slot: start the next call, or retire the slot when the run is over.
void LoadDriver::ClosedNext() {
  int64_t now = NowNanos();
  uint64_t seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
  bool over =
      options_.calls > 0 ? seq >= static_cast<uint64_t>(options_.calls) : now >= window_end_;
  if (over) {
    Release();
    return;
  }
  start_(seq, [this, now](const grpc::Status& status) {
    Record(now, status);
    ClosedNext();
  });
}

void LoadDriver::Release() {
  absl::MutexLock lock(&mu_);
  --active_;
}

void LoadDriver::RunOpen() {
  const double period = 1e9 / options_.rate;
  const int64_t t0 = NowNanos();
  for (uint64_t i = 0;; ++i) {
    const int64_t intended = t0 + static_cast<int64_t>(static_cast<double>(i) * period);
    if (options_.calls > 0 ? i >= static_cast<uint64_t>(options_.calls) : intended >= window_end_) {
      break;
    }
    int64_t wait = intended - NowNanos();
    if (wait > 200000) absl::SleepFor(absl::Nanoseconds(wait - 100000));
    while (NowNanos() < intended) std::this_thread::yield();
    bool counted = false;
    while (in_flight_.load(std::memory_order_relaxed) >= options_.max_in_flight) {
      if (!counted) ++held_back_;
      counted = true;
      absl::SleepFor(absl::Microseconds(100));
    }
    int now_in_flight = in_flight_.fetch_add(1) + 1;
    int peak = peak_in_flight_.load(std::memory_order_relaxed);
    while (now_in_flight > peak && !peak_in_flight_.compare_exchange_weak(peak, now_in_flight)) {
    }
    {
      absl::MutexLock lock(&mu_);
      ++active_;
    }
    start_(i, [this, intended](const grpc::Status& status) {
      Record(intended, status);
      in_flight_.fetch_sub(1);
      Release();
    });
  }
}

LoadResult LoadDriver::Run() {
  const int64_t start = NowNanos();
  if (options_.calls > 0) {
    window_start_ = start;
    window_end_ = INT64_MAX;
  } else {
    window_start_ = start + absl::ToInt64Nanoseconds(options_.warmup);
    window_end_ = window_start_ + absl::ToInt64Nanoseconds(options_.duration);
  }
  std::thread announcer;
  if (options_.on_measure) {
    announcer = std::thread([this] {
      const int64_t wait = window_start_ - NowNanos();
      if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
      options_.on_measure();
    });
  }
  if (options_.open_loop) {
    RunOpen();
  } else {
    {
      absl::MutexLock lock(&mu_);
      active_ = options_.concurrency;
    }
    peak_in_flight_ = options_.concurrency;
    for (int i = 0; i < options_.concurrency; ++i) ClosedNext();
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
  }
  if (announcer.joinable()) announcer.join();
  LoadResult r;
  int64_t end = options_.calls > 0 ? last_done_.load() : window_end_;
  r.window_seconds = static_cast<double>(end - window_start_) / 1e9;
  for (size_t c = 0; c < codes_.size(); ++c) r.codes[c] = codes_[c].load();
  r.calls_ok = r.codes[0];
  r.calls_total = calls_total_.load();
  r.calls_ok_total = calls_ok_total_.load();
  r.peak_in_flight = peak_in_flight_.load();
  r.held_back = held_back_;
  {
    absl::MutexLock lock(&mu_);
    r.first_error = first_error_;
  }
  r.latency = std::move(latency_);
  return r;
}

}  // namespace trellis::perf
