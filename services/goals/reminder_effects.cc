#include "services/goals/reminder_effects.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/status.h"
#include "trellis/v1/reminders.grpc.pb.h"

namespace trellis::goals {

ReminderEffects::ReminderEffects(std::shared_ptr<grpc::Channel> reminders, auth::AuthOptions auth,
                                 absl::Duration timeout)
    : channel_(std::move(reminders)), auth_(std::move(auth)), timeout_(timeout) {}

absl::Status ReminderEffects::Deliver(const outbox::Delivery& delivery) const {
  if (delivery.entry.kind != "EndGoalReminders") {
    return absl::InvalidArgumentError(absl::StrCat("unknown effect ", delivery.entry.kind));
  }
  trellis::v1::EndGoalRemindersRequest request;
  if (!request.ParseFromString(delivery.entry.payload)) {
    return absl::InvalidArgumentError("malformed EndGoalReminders effect");
  }
  grpc::ClientContext ctx;
  auth::PrepareServiceCall(ctx, auth_, delivery.tenant, "trellis-goals", absl::Now() + timeout_,
                           outbox::OriginOf(delivery.entry));
  trellis::v1::EndGoalRemindersResponse response;
  auto stub = trellis::v1::ReminderService::NewStub(channel_);
  return FromGrpcStatus(stub->EndGoalReminders(&ctx, request, &response));
}

}  // namespace trellis::goals
