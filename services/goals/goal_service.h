#pragma once

#include <memory>

#include "common/server/run.h"
#include "trellis/v1/goals.grpc.pb.h"

namespace trellis::goals {

// The gRPC handler of trellis.v1.GoalService (thin: authenticate, validate, call the domain, map
// the status). RPCs not yet implemented answer UNIMPLEMENTED.
class GoalServiceHandler final : public trellis::v1::GoalService::CallbackService {
 public:
  explicit GoalServiceHandler(const server::ServiceEnv& env) : env_(env) {}

 private:
  server::ServiceEnv env_;
};

// Everything this service runs in its process.
server::ServiceParts BuildGoalService(const server::ServiceEnv& env);

}  // namespace trellis::goals
