#pragma once

// The conventional gRPC server series (the names go-grpc-prometheus made standard, which
// dashboards already read): grpc_server_started_total, grpc_server_handled_total{grpc_code} and
// grpc_server_handling_seconds, labelled by grpc_service, grpc_method and grpc_type.

#include "common/metrics/registry.h"
#include "common/metrics/rpc_observer.h"

namespace trellis::metrics {

class RpcMetrics final : public RpcObserver {
 public:
  explicit RpcMetrics(Registry* registry);
  void OnRpcStart(absl::string_view method, absl::string_view type) override;
  void OnRpcEnd(absl::string_view method, absl::string_view type, grpc::StatusCode code,
                absl::Duration latency) override;

 private:
  Registry* registry_;
};

// "/trellis.v1.GoalService/GetGoal" -> {"trellis.v1.GoalService", "GetGoal"}.
std::pair<std::string, std::string> SplitMethod(absl::string_view method);
// gRPC code names as Prometheus dashboards spell them: "OK", "NotFound", "Unavailable", ...
absl::string_view PrometheusCodeName(grpc::StatusCode code);

}  // namespace trellis::metrics
