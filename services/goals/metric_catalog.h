#pragma once

// What SMART needs to know about a goal's metric (range, direction, symptom scale): built-in
// instruments from the shared clinical catalogue, a tenant's own metrics from
// MeasurementService.GetMetric over gRPC (asynchronously: handlers never block).

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/auth/authenticator.h"
#include "services/goals/domain/smart.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::goals {

class MetricCatalog {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<MetricInfo>)>;

  // Built-ins only: every other metric is unknown (SMART's M then fails).
  MetricCatalog() = default;
  // Built-ins, then `measurements` for the rest, with service tokens minted from `auth`.
  MetricCatalog(std::shared_ptr<grpc::Channel> measurements, auth::AuthOptions auth);

  // `done` gets the metric's info (known = false when no such metric exists), or UNAVAILABLE
  // with reason PEER_UNAVAILABLE when the measurement service cannot answer. Asks for `who`'s
  // tenant, in its call's trace. Runs inline for built-ins and empty ids.
  void Lookup(const auth::Identity& who, const std::string& metric_id, absl::Time deadline,
              Callback done) const;

  static MetricInfo FromMetric(const trellis::v1::Metric& metric);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::optional<auth::AuthOptions> auth_;
};

}  // namespace trellis::goals
