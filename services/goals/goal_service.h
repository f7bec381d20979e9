#pragma once

// The gRPC edge of trellis.v1.GoalService: authenticate, validate (domain), call the store, map
// the status. Handlers never block: every store call completes the reactor from its callback.

#include <memory>

#include "common/auth/authenticator.h"
#include "common/server/run.h"
#include "services/goals/domain/smart.h"
#include "services/goals/metric_catalog.h"
#include "services/goals/store/goal_store.h"
#include "trellis/v1/goals.grpc.pb.h"

namespace trellis::goals {

struct GoalServiceOptions {
  SmartConfig smart;
  double attainment_rho = 0.3;
};

class GoalServiceHandler final : public trellis::v1::GoalService::CallbackService {
 public:
  GoalServiceHandler(const server::ServiceEnv& env, GoalServiceOptions options = {},
                     MetricCatalog catalog = {});

  grpc::ServerUnaryReactor* CreateGoal(grpc::CallbackServerContext* ctx,
                                       const trellis::v1::CreateGoalRequest* request,
                                       trellis::v1::Goal* response) override;
  grpc::ServerUnaryReactor* GetGoal(grpc::CallbackServerContext* ctx,
                                    const trellis::v1::GetGoalRequest* request,
                                    trellis::v1::Goal* response) override;
  grpc::ServerUnaryReactor* ListGoals(grpc::CallbackServerContext* ctx,
                                      const trellis::v1::ListGoalsRequest* request,
                                      trellis::v1::ListGoalsResponse* response) override;
  grpc::ServerUnaryReactor* UpdateGoal(grpc::CallbackServerContext* ctx,
                                       const trellis::v1::UpdateGoalRequest* request,
                                       trellis::v1::Goal* response) override;
  grpc::ServerUnaryReactor* TransitionGoal(grpc::CallbackServerContext* ctx,
                                           const trellis::v1::TransitionGoalRequest* request,
                                           trellis::v1::TransitionGoalResponse* response) override;
  grpc::ServerUnaryReactor* ListGoalRevisions(
      grpc::CallbackServerContext* ctx, const trellis::v1::ListGoalRevisionsRequest* request,
      trellis::v1::ListGoalRevisionsResponse* response) override;
  grpc::ServerUnaryReactor* EvaluateSmart(grpc::CallbackServerContext* ctx,
                                          const trellis::v1::EvaluateSmartRequest* request,
                                          trellis::v1::EvaluateSmartResponse* response) override;
  grpc::ServerUnaryReactor* RateGoalAttainment(
      grpc::CallbackServerContext* ctx, const trellis::v1::RateGoalAttainmentRequest* request,
      trellis::v1::AttainmentRating* response) override;
  grpc::ServerUnaryReactor* GetAttainmentScore(
      grpc::CallbackServerContext* ctx, const trellis::v1::GetAttainmentScoreRequest* request,
      trellis::v1::GetAttainmentScoreResponse* response) override;
  grpc::ServerUnaryReactor* ExportGoalsFhir(
      grpc::CallbackServerContext* ctx, const trellis::v1::ExportGoalsFhirRequest* request,
      trellis::v1::ExportGoalsFhirResponse* response) override;
  grpc::ServerUnaryReactor* SetAchievementStatus(
      grpc::CallbackServerContext* ctx, const trellis::v1::SetAchievementStatusRequest* request,
      trellis::v1::SetAchievementStatusResponse* response) override;

 private:
  // Looks up the goal's metric (for `who`'s tenant, in its call's trace), evaluates SMART and
  // passes the evaluation to `then`; finishes `reactor` with the lookup's error instead when the
  // catalogue is unavailable.
  void EvaluateThen(const auth::Identity& who, const trellis::v1::Goal& goal, ParentLookup parent,
                    absl::Time now, absl::Time deadline, grpc::ServerUnaryReactor* reactor,
                    absl::AnyInvocable<void(SmartEvaluation)> then) const;

  server::ServiceEnv env_;
  GoalServiceOptions options_;
  SmartEvaluator smart_;
  GoalStore store_;
  MetricCatalog catalog_;
};

// Everything this service runs in its process.
server::ServiceParts BuildGoalService(const server::ServiceEnv& env);

}  // namespace trellis::goals
