#include "services/reminders/peers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clinical/instruments.h"
#include "common/status/status.h"
#include "trellis/v1/goals.grpc.pb.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::reminders {

namespace v1 = ::trellis::v1;

namespace {

constexpr absl::string_view kSubject = "trellis-reminders";

// Owns one asynchronous unary call until its callback runs.
template <typename Request, typename Response>
struct Call {
  grpc::ClientContext ctx;
  Request request;
  Response response;
  absl::AnyInvocable<void(absl::Status)> done;
};

bool Closed(v1::GoalLifecycleStatus s) {
  return s == v1::GOAL_LIFECYCLE_STATUS_COMPLETED || s == v1::GOAL_LIFECYCLE_STATUS_CANCELLED ||
         s == v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR || s == v1::GOAL_LIFECYCLE_STATUS_REJECTED;
}

}  // namespace

void ReminderPeers::Check(const auth::Identity& who, const v1::Reminder& reminder,
                          bool check_metric, bool check_goal, absl::Time deadline,
                          absl::AnyInvocable<void(absl::Status)> done) const {
  std::string metric =
      check_metric && clinical::FindBuiltIn(reminder.metric()) == nullptr ? reminder.metric() : "";
  std::string goal = check_goal ? reminder.goal() : "";
  CheckMetric(who, metric, deadline,
              [this, who, goal, deadline, done = std::move(done)](absl::Status s) mutable {
                if (!s.ok()) return done(s);
                CheckGoal(who, goal, deadline, std::move(done));
              });
}

void ReminderPeers::CheckMetric(const auth::Identity& who, const std::string& metric,
                                absl::Time deadline,
                                absl::AnyInvocable<void(absl::Status)> done) const {
  if (metric.empty() || !options_.measurements || !options_.auth.has_value()) {
    return done(absl::OkStatus());
  }
  auto* call = new Call<v1::GetMetricRequest, v1::Metric>();
  call->request.set_id(metric);
  call->done = std::move(done);
  auth::PrepareServiceCall(call->ctx, *options_.auth, who.tenant, kSubject,
                           std::min(deadline, absl::Now() + options_.timeout), who.trace);
  v1::MeasurementService::NewStub(options_.measurements())
      ->async()
      ->GetMetric(&call->ctx, &call->request, &call->response, [call](grpc::Status status) {
        std::unique_ptr<Call<v1::GetMetricRequest, v1::Metric>> owned(call);
        if (status.ok()) {
          if (owned->response.kind() == v1::METRIC_KIND_QUESTIONNAIRE) {
            return owned->done(InvalidField(
                "reminder.metric", "must not be a questionnaire (use CHECK_IN_QUESTIONNAIRE)"));
          }
          return owned->done(absl::OkStatus());
        }
        if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
            status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          return owned->done(InvalidField("reminder.metric", "is not a metric of this tenant"));
        }
        owned->done(
            UnavailableError("MeasurementService could not check the metric", "PEER_UNAVAILABLE"));
      });
}

void ReminderPeers::CheckGoal(const auth::Identity& who, const std::string& goal,
                              absl::Time deadline,
                              absl::AnyInvocable<void(absl::Status)> done) const {
  if (goal.empty() || !options_.goals || !options_.auth.has_value()) {
    return done(absl::OkStatus());
  }
  auto* call = new Call<v1::GetGoalRequest, v1::Goal>();
  call->request.set_name(goal);
  call->done = std::move(done);
  auth::PrepareServiceCall(call->ctx, *options_.auth, who.tenant, kSubject,
                           std::min(deadline, absl::Now() + options_.timeout), who.trace);
  v1::GoalService::NewStub(options_.goals())
      ->async()
      ->GetGoal(&call->ctx, &call->request, &call->response, [call](grpc::Status status) {
        std::unique_ptr<Call<v1::GetGoalRequest, v1::Goal>> owned(call);
        if (status.ok()) {
          if (Closed(owned->response.lifecycle_status())) {
            return owned->done(WithReason(
                absl::FailedPreconditionError("the goal is closed; reminders need an open goal"),
                "RESOURCE_CLOSED"));
          }
          return owned->done(absl::OkStatus());
        }
        if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
          return owned->done(NotFoundError("goal not found"));
        }
        owned->done(UnavailableError("GoalService could not check the goal", "PEER_UNAVAILABLE"));
      });
}

}  // namespace trellis::reminders
