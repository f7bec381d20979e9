#pragma once

// The benchmark's scenarios (tests/perf, issue 9): what one call of each is, and the data each
// needs in place before its timed run. Every scenario talks to a real service binary (or the
// baseline server) through `channels`; every Trellis call carries a real bearer token minted with
// the project's auth library (common/auth) from the services' HS256 secret.
//
// Names, the service each calls, and the call:
//   Baseline            BaselineService    Empty (same metadata as the others; the server ignores
//   it) CreateGoal          GoalService        an ACTIVE PHQ-9 goal that passes SMART, unique
//   request id GetGoal             GoalService        one of `patients` goals created in setup
//   RecordMeasurement   MeasurementService a mood rating with a note, by the client itself (one
//                                          token per patient), unique request id
//   SubmitQuestionnaire MeasurementService a PHQ-9 by the client itself, unique request id
//   GetGoalProgress     MeasurementService progress of a goal whose series holds `points` PHQ-9s
//   ListMeasurements    MeasurementService first page of 100 of a 1 000-point series
//   CreateReminder      ReminderService    a daily 20:00 Europe/London practice reminder
// ReminderDispatch is not a per-call scenario: see reminder_dispatch.h.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/auth/authenticator.h"
#include "tests/perf/load_driver.h"
#include "trellis/v1/common.pb.h"

namespace trellis::perf {

struct ScenarioEnv {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  // GoalService, for scenarios of another service that need a goal (GetGoalProgress).
  std::shared_ptr<grpc::Channel> goals_channel;
  auth::AuthOptions auth;  // hs256_secret: the services' secret
  std::string tenant = "bench";
  std::string run_id;   // unique per run: prefixes patients and request ids
  int patients = 1000;  // distinct patients the calls spread over
  int points = 1000;    // GetGoalProgress: points in the series
  absl::Duration deadline = absl::Seconds(5);

  // A bearer token of this tenant, valid for two hours.
  std::string Token(v1::Role role, const std::string& patient = "") const;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // Puts the data the calls need in place (synchronous calls); not timed.
  virtual absl::Status Setup() { return absl::OkStatus(); }
  // Starts call `seq` asynchronously; `done` runs exactly once.
  virtual void Start(uint64_t seq, CallDone done) = 0;
};

// The scenario called `name` (above), or INVALID_ARGUMENT listing the names.
absl::StatusOr<std::unique_ptr<Scenario>> MakeScenario(const std::string& name,
                                                       const ScenarioEnv& env);

std::vector<std::string> ScenarioNames();

}  // namespace trellis::perf
