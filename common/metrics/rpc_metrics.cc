#include "common/metrics/rpc_metrics.h"

#include "common/metrics/buckets.h"

namespace trellis::metrics {

std::pair<std::string, std::string> SplitMethod(absl::string_view method) {
  if (!method.empty() && method[0] == '/') method.remove_prefix(1);
  size_t slash = method.find('/');
  if (slash == absl::string_view::npos) return {std::string(method), ""};
  return {std::string(method.substr(0, slash)), std::string(method.substr(slash + 1))};
}

absl::string_view PrometheusCodeName(grpc::StatusCode code) {
  static constexpr absl::string_view kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  int c = static_cast<int>(code);
  return (c >= 0 && c <= 16) ? kNames[c] : "Unknown";
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or "
                         "failure.")
                   .Register(registry)),
      handling_(prometheus::BuildHistogram()
                    .Name("grpc_server_handling_seconds")
                    .Help("Histogram of response latency (seconds) of gRPC that had been "
                          "application-level handled by the server.")
                    .Register(registry)) {}

RpcMetrics::MethodSeries& RpcMetrics::SeriesOf(absl::string_view method, absl::string_view type) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = methods_.find(method);
    if (it != methods_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  auto it = methods_.find(method);
  if (it != methods_.end()) return *it->second;
  auto [service, name] = SplitMethod(method);
  std::string key(method);
  if (methods_.size() >= kMaxMethods) {
    service = name = key = "unknown";
    if (auto unknown = methods_.find(key); unknown != methods_.end()) return *unknown->second;
  }
  auto series = std::make_unique<MethodSeries>();
  series->labels = {
      {"grpc_service", service}, {"grpc_method", name}, {"grpc_type", std::string(type)}};
  series->started = &started_.Add(series->labels);
  series->handling = &handling_.Add(series->labels, LatencyBuckets());
  MethodSeries& out = *series;
  methods_.emplace(std::move(key), std::move(series));
  return out;
}

void RpcMetrics::OnRpcStart(absl::string_view method, absl::string_view type) {
  SeriesOf(method, type).started->Increment();
}

void RpcMetrics::OnRpcEnd(absl::string_view method, absl::string_view type,
                          grpc::StatusCode code, absl::Duration latency) {
  MethodSeries& series = SeriesOf(method, type);
  int c = static_cast<int>(code);
  if (c < 0 || c > 16) c = static_cast<int>(grpc::StatusCode::UNKNOWN);
  prometheus::Counter* handled = series.handled[c].load(std::memory_order_acquire);
  if (handled == nullptr) {
    // Family::Add returns the existing counter when another thread made it first.
    prometheus::Labels labels = series.labels;
    labels["grpc_code"] = std::string(PrometheusCodeName(static_cast<grpc::StatusCode>(c)));
    handled = &handled_.Add(labels);
    series.handled[c].store(handled, std::memory_order_release);
  }
  handled->Increment();
  series.handling->Observe(absl::ToDoubleSeconds(latency));
}

}  // namespace trellis::metrics
