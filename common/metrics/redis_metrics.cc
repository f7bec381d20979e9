#include "common/metrics/redis_metrics.h"

#include <prometheus/metric_family.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/buckets.h"

namespace trellis::metrics {
namespace {

class ConnectionGauges final : public prometheus::Collectable {
 public:
  explicit ConnectionGauges(std::function<int()> ready) : ready_(std::move(ready)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    int ready = ready_();
    return {
        Gauge("trellis_redis_up",
              "1 while at least one Redis connection is established and ready, else 0.",
              ready > 0 ? 1 : 0),
        Gauge("trellis_redis_connections_ready", "Redis connections ready for commands.", ready)};
  }

 private:
  static prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
    prometheus::MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
    return family;
  }

  std::function<int()> ready_;
};

}  // namespace

absl::string_view ErrorKindName(redis::CommandError error) {
  switch (error) {
    case redis::CommandError::kNone:
      return "";
    case redis::CommandError::kIo:
      return "io";
    case redis::CommandError::kTimeout:
      return "timeout";
    case redis::CommandError::kTransient:
      return "transient";
    case redis::CommandError::kRedirect:
      return "redirect";
    case redis::CommandError::kReply:
      return "reply";
  }
  return "reply";
}

RedisMetrics::RedisMetrics(prometheus::Registry& registry)
    : duration_(prometheus::BuildHistogram()
                    .Name("trellis_redis_command_duration_seconds")
                    .Help("Time from issuing a Redis command (or Lua script) to its completion, "
                          "failures included.")
                    .Register(registry)),
      errors_(prometheus::BuildCounter()
                  .Name("trellis_redis_command_errors_total")
                  .Help("Redis commands that failed, by kind: io (no or lost connection), timeout "
                        "(no reply in time), transient (LOADING, BUSY, OOM, ...), redirect (MOVED "
                        "or ASK from a Redis Cluster node: the attempt went to a node that no "
                        "longer serves the slot, and the client followed; not a failed call), "
                        "reply (any other error reply). A script's domain answer (NOT_FOUND, "
                        "ABORTED, ...) is not an error.")
                  .Register(registry)) {}

RedisMetrics::CommandSeries& RedisMetrics::SeriesOf(absl::string_view name, bool script) {
  {
    absl::ReaderMutexLock lock(&mu_);
    const SeriesMap& map = script ? scripts_ : commands_;
    auto it = map.find(name);
    if (it != map.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  SeriesMap& map = script ? scripts_ : commands_;
  auto it = map.find(name);
  if (it != map.end()) return *it->second;
  if (labels_ >= kMaxCommands) {
    if (other_ == nullptr) {
      other_ = std::make_unique<CommandSeries>();
      other_->label = "other";
      other_->duration = &duration_.Add({{"command", "other"}}, LatencyBuckets());
    }
    return *other_;  // not remembered: the maps stay bounded
  }
  auto series = std::make_unique<CommandSeries>();
  series->label = script ? absl::StrCat("script:", name) : absl::AsciiStrToUpper(name);
  // Another spelling of a known command ("get" after "GET") gets the same histogram back.
  series->duration = &duration_.Add({{"command", series->label}}, LatencyBuckets());
  ++labels_;
  CommandSeries& out = *series;
  map.emplace(std::string(name), std::move(series));
  return out;
}

void RedisMetrics::OnCommand(absl::string_view name, bool script, absl::Duration latency,
                             redis::CommandError error) {
  CommandSeries& series = SeriesOf(name, script);
  series.duration->Observe(absl::ToDoubleSeconds(latency));
  if (error == redis::CommandError::kNone) return;
  auto& slot = series.errors[static_cast<size_t>(error)];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter =
        &errors_.Add({{"command", series.label}, {"kind", std::string(ErrorKindName(error))}});
    slot.store(counter, std::memory_order_release);
  }
  counter->Increment();
}

std::shared_ptr<prometheus::Collectable> RedisConnectionGauges(
    std::function<int()> ready_connections) {
  return std::make_shared<ConnectionGauges>(std::move(ready_connections));
}

}  // namespace trellis::metrics
