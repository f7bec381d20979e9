#include "services/goals/metric_catalog.h"

#include "absl/strings/str_cat.h"
#include "common/clinical/instruments.h"
#include "common/status/status.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::goals {

namespace v1 = ::trellis::v1;

MetricCatalog::MetricCatalog(std::shared_ptr<grpc::Channel> measurements, auth::AuthOptions auth)
    : channel_(std::move(measurements)), auth_(std::move(auth)) {}

MetricInfo MetricCatalog::FromMetric(const v1::Metric& m) {
  MetricInfo info;
  info.known = true;
  info.display_name = m.display_name();
  info.min = m.min_value();
  info.max = m.max_value();
  info.better_direction =
      m.better_direction() == v1::BETTER_DIRECTION_LOWER    ? v1::MEASURE_DIRECTION_DECREASE
      : m.better_direction() == v1::BETTER_DIRECTION_HIGHER ? v1::MEASURE_DIRECTION_INCREASE
                                                            : v1::MEASURE_DIRECTION_UNSPECIFIED;
  info.symptom_scale = m.kind() == v1::METRIC_KIND_QUESTIONNAIRE;
  return info;
}

void MetricCatalog::Lookup(const auth::Identity& who, const std::string& metric_id,
                           absl::Time deadline, Callback done) const {
  if (metric_id.empty()) return done(MetricInfo{});
  if (const v1::Metric* builtin = clinical::FindBuiltIn(metric_id); builtin != nullptr) {
    return done(FromMetric(*builtin));
  }
  if (channel_ == nullptr || !auth_.has_value()) return done(MetricInfo{});

  // Owns everything the asynchronous call needs until its callback runs.
  struct Call {
    grpc::ClientContext ctx;
    v1::GetMetricRequest request;
    v1::Metric response;
    Callback done;
  };
  auto* call = new Call();
  call->request.set_id(metric_id);
  call->done = std::move(done);
  auth::PrepareServiceCall(call->ctx, *auth_, who.tenant, "trellis-goals", deadline, who.trace);
  v1::MeasurementService::NewStub(channel_)->async()->GetMetric(
      &call->ctx, &call->request, &call->response, [call](grpc::Status status) {
        std::unique_ptr<Call> owned(call);
        if (status.ok()) return owned->done(FromMetric(owned->response));
        if (status.error_code() == grpc::StatusCode::NOT_FOUND) return owned->done(MetricInfo{});
        if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          return owned->done(MetricInfo{});  // not a metric id the catalogue knows
        }
        owned->done(UnavailableError("the metric catalogue (MeasurementService) is unavailable",
                                     "PEER_UNAVAILABLE"));
      });
}

}  // namespace trellis::goals
