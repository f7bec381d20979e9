// trellis-goals: the goal service binary.

#include "common/server/run.h"
#include "services/goals/goal_service.h"

int main(int argc, char** argv) {
  return trellis::server::RunService(
      argc, argv,
      {.name = "goals",
       .default_port = 50051,
       .default_metrics_port = 9101,
       .usage = "trellis-goals: Trellis goal service (trellis.v1.GoalService).",
       .build = trellis::goals::BuildGoalService});
}
