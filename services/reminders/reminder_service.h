#pragma once

#include <memory>

#include "common/server/run.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::reminders {

// The gRPC handler of trellis.v1.ReminderService (thin: authenticate, validate, call the domain,
// map the status). RPCs not yet implemented answer UNIMPLEMENTED.
class ReminderServiceHandler final : public trellis::v1::ReminderService::CallbackService {
 public:
  explicit ReminderServiceHandler(const server::ServiceEnv& env) : env_(env) {}

 private:
  server::ServiceEnv env_;
};

// Everything this service runs in its process.
server::ServiceParts BuildReminderService(const server::ServiceEnv& env);

}  // namespace trellis::reminders
