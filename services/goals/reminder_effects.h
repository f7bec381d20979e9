#pragma once

// Delivers the goal service's outbox entries: a closed goal ends its reminders
// (ReminderService.EndGoalReminders). Runs on the outbox relay's thread, so it may block.

#include <memory>

#include <grpcpp/grpcpp.h>

#include "common/auth/authenticator.h"
#include "common/outbox/relay.h"

namespace trellis::goals {

class ReminderEffects {
 public:
  // `reminders` is a channel to ReminderService; tokens for it are minted per tenant with `auth`.
  ReminderEffects(std::shared_ptr<grpc::Channel> reminders, auth::AuthOptions auth,
                  absl::Duration timeout = absl::Seconds(5));

  // OK once the reminder service confirmed; its status (as absl) otherwise. Unknown kinds are
  // INVALID_ARGUMENT (never deliverable).
  absl::Status Deliver(const outbox::Delivery& delivery) const;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  auth::AuthOptions auth_;
  absl::Duration timeout_;
};

}  // namespace trellis::goals
