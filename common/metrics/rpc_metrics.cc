#include "common/metrics/rpc_metrics.h"

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

RpcMetrics::RpcMetrics(Registry* registry) : registry_(registry) {
  registry_->Describe("grpc_server_started_total", "counter",
                      "Total number of RPCs started on the server.");
  registry_->Describe("grpc_server_handled_total", "counter",
                      "Total number of RPCs completed on the server, regardless of success or "
                      "failure.");
  registry_->Describe("grpc_server_handling_seconds", "histogram",
                      "Histogram of response latency (seconds) of gRPC that had been application-"
                      "level handled by the server.",
                      Registry::LatencyBuckets());
}

void RpcMetrics::OnRpcStart(absl::string_view method, absl::string_view type) {
  auto [service, name] = SplitMethod(method);
  registry_->Add("grpc_server_started_total",
                 {{"grpc_method", name}, {"grpc_service", service}, {"grpc_type", std::string(type)}});
}

void RpcMetrics::OnRpcEnd(absl::string_view method, absl::string_view type,
                          grpc::StatusCode code, absl::Duration latency) {
  auto [service, name] = SplitMethod(method);
  registry_->Add("grpc_server_handled_total", {{"grpc_code", std::string(PrometheusCodeName(code))},
                                               {"grpc_method", name},
                                               {"grpc_service", service},
                                               {"grpc_type", std::string(type)}});
  registry_->Observe("grpc_server_handling_seconds",
                     {{"grpc_method", name}, {"grpc_service", service}, {"grpc_type", std::string(type)}},
                     absl::ToDoubleSeconds(latency));
}

}  // namespace trellis::metrics
