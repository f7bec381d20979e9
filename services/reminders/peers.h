#pragma once

// What CreateReminder and UpdateReminder check with the other services before writing: the
// reminder's metric (MeasurementService.GetMetric: it exists for the tenant and is not a
// questionnaire) and its goal (GoalService.GetGoal: it exists and is not closed). Asynchronous,
// like every handler path; a peer that cannot answer is UNAVAILABLE (retry may help).

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/auth/authenticator.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::reminders {

struct PeerOptions {
  // Channel factories; null: that check is skipped (tests of this service alone).
  std::function<std::shared_ptr<grpc::Channel>()> goals;
  std::function<std::shared_ptr<grpc::Channel>()> measurements;
  // Service tokens for the calls are minted with these; unset: no checks at all.
  std::optional<auth::AuthOptions> auth;
  // Longest wait for a peer (also capped by the caller's deadline).
  absl::Duration timeout = absl::Seconds(2);
};

class ReminderPeers {
 public:
  explicit ReminderPeers(PeerOptions options) : options_(std::move(options)) {}

  // OK, or the answer for the caller: INVALID_ARGUMENT naming "reminder.metric" (unknown, or a
  // questionnaire); NOT_FOUND (goal); FAILED_PRECONDITION reason RESOURCE_CLOSED (goal closed);
  // UNAVAILABLE reason PEER_UNAVAILABLE. Checks the metric when `check_metric` and it is not
  // built in, the goal when `check_goal` and it is set, for `who`'s tenant and in its call's
  // trace. `done` may run inline.
  void Check(const auth::Identity& who, const trellis::v1::Reminder& reminder, bool check_metric,
             bool check_goal, absl::Time deadline,
             absl::AnyInvocable<void(absl::Status)> done) const;

 private:
  void CheckMetric(const auth::Identity& who, const std::string& metric, absl::Time deadline,
                   absl::AnyInvocable<void(absl::Status)> done) const;
  void CheckGoal(const auth::Identity& who, const std::string& goal, absl::Time deadline,
                 absl::AnyInvocable<void(absl::Status)> done) const;

  PeerOptions options_;
};

}  // namespace trellis::reminders
