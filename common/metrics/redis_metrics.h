#pragma once

// Redis command series, fed by the Redis client (redis::CommandObserver):
//   trellis_redis_command_duration_seconds{command}      histogram, every command
//   trellis_redis_command_errors_total{command,kind}     kind: io, timeout, transient,
//                                                        redirect, reply
// `command` is the command name ("GET", "XREADGROUP") or "script:<name>" for a registered Lua
// script: a fixed set, named by the code, never by data. Plus, sampled at scrape time,
//   trellis_redis_up                     1 while at least one connection is ready, else 0
//   trellis_redis_connections_ready      connections ready (of --redis_connections)

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/redis/observer.h"

namespace trellis::metrics {

class RedisMetrics final : public redis::CommandObserver {
 public:
  explicit RedisMetrics(prometheus::Registry& registry);
  void OnCommand(absl::string_view name, bool script, absl::Duration latency,
                 redis::CommandError error) override;

  // Beyond this many distinct names, commands share command="other".
  static constexpr size_t kMaxCommands = 256;

 private:
  struct CommandSeries {
    prometheus::Histogram* duration = nullptr;
    // By CommandError (kReply is its last), each made on first use.
    std::array<std::atomic<prometheus::Counter*>,
               static_cast<size_t>(redis::CommandError::kReply) + 1>
        errors{};
    std::string label;
  };
  CommandSeries& SeriesOf(absl::string_view name, bool script);

  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& errors_;
  using SeriesMap = absl::flat_hash_map<std::string, std::unique_ptr<CommandSeries>>;
  absl::Mutex mu_;
  // Keyed by the name as reported (no string is built on the hot path).
  SeriesMap commands_ ABSL_GUARDED_BY(mu_);
  SeriesMap scripts_ ABSL_GUARDED_BY(mu_);
  size_t labels_ ABSL_GUARDED_BY(mu_) = 0;  // distinct label values so far
  std::unique_ptr<CommandSeries> other_ ABSL_GUARDED_BY(mu_);
};

// The label value of an error kind: "io", "timeout", "transient", "reply" ("" for kNone).
absl::string_view ErrorKindName(redis::CommandError error);

// trellis_redis_up and trellis_redis_connections_ready, computed from `ready_connections` (e.g.
// RedisPool::ReadyConnections) whenever they are scraped. `ready_connections` must stay callable
// while the collectable is served.
std::shared_ptr<prometheus::Collectable> RedisConnectionGauges(
    std::function<int()> ready_connections);

}  // namespace trellis::metrics
