#pragma once

// The conventional gRPC server series (the names go-grpc-prometheus made standard, which
// dashboards already read): grpc_server_started_total, grpc_server_handled_total{grpc_code} and
// grpc_server_handling_seconds, labelled by grpc_service, grpc_method and grpc_type.

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/rpc_observer.h"

namespace trellis::metrics {

class RpcMetrics final : public RpcObserver {
 public:
  explicit RpcMetrics(prometheus::Registry& registry);
  void OnRpcStart(absl::string_view method, absl::string_view type) override;
  void OnRpcEnd(absl::string_view method, absl::string_view type, grpc::StatusCode code,
                absl::Duration latency) override;

  // Distinct methods with series of their own; calls of further ones (a client naming methods
  // that do not exist) share the labels grpc_service="unknown", grpc_method="unknown".
  static constexpr size_t kMaxMethods = 256;

 private:
  // One method's series, made on its first call and reused by every later one.
  struct MethodSeries {
    prometheus::Counter* started = nullptr;
    prometheus::Histogram* handling = nullptr;
    std::array<std::atomic<prometheus::Counter*>, 17> handled{};  // by code, made on first use
    prometheus::Labels labels;
  };
  MethodSeries& SeriesOf(absl::string_view method, absl::string_view type);

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> methods_ ABSL_GUARDED_BY(mu_);
};

// "/trellis.v1.GoalService/GetGoal" -> {"trellis.v1.GoalService", "GetGoal"}.
std::pair<std::string, std::string> SplitMethod(absl::string_view method);
// gRPC code names as Prometheus dashboards spell them: "OK", "NotFound", "Unavailable", ...
absl::string_view PrometheusCodeName(grpc::StatusCode code);

}  // namespace trellis::metrics
