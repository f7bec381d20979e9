#include "services/goals/goal_service.h"

namespace trellis::goals {

server::ServiceParts BuildGoalService(const server::ServiceEnv& env) {
  server::ServiceParts parts;
  parts.services.push_back(std::make_unique<GoalServiceHandler>(env));
  parts.health_names.push_back("trellis.v1.GoalService");
  return parts;
}

}  // namespace trellis::goals
