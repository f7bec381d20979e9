#include "services/goals/domain/lifecycle.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "services/goals/domain/codes.h"

namespace trellis::goals {
namespace {

using trellis::v1::Goal;
using trellis::v1::GoalLifecycleStatus;

constexpr GoalLifecycleStatus kProposed = trellis::v1::GOAL_LIFECYCLE_STATUS_PROPOSED;
constexpr GoalLifecycleStatus kPlanned = trellis::v1::GOAL_LIFECYCLE_STATUS_PLANNED;
constexpr GoalLifecycleStatus kAccepted = trellis::v1::GOAL_LIFECYCLE_STATUS_ACCEPTED;
constexpr GoalLifecycleStatus kActive = trellis::v1::GOAL_LIFECYCLE_STATUS_ACTIVE;
constexpr GoalLifecycleStatus kOnHold = trellis::v1::GOAL_LIFECYCLE_STATUS_ON_HOLD;
constexpr GoalLifecycleStatus kCompleted = trellis::v1::GOAL_LIFECYCLE_STATUS_COMPLETED;
constexpr GoalLifecycleStatus kCancelled = trellis::v1::GOAL_LIFECYCLE_STATUS_CANCELLED;
constexpr GoalLifecycleStatus kEnteredInError = trellis::v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR;
constexpr GoalLifecycleStatus kRejected = trellis::v1::GOAL_LIFECYCLE_STATUS_REJECTED;

constexpr std::array kFromProposed = {kPlanned, kAccepted, kActive, kEnteredInError, kRejected};
constexpr std::array kFromPlanned = {kAccepted, kActive, kCancelled, kEnteredInError};
constexpr std::array kFromAccepted = {kActive, kOnHold, kCancelled, kEnteredInError};
constexpr std::array kFromActive = {kOnHold, kCompleted, kCancelled, kEnteredInError};
constexpr std::array kFromOnHold = {kActive, kCancelled, kEnteredInError};
constexpr std::array kFromFinal = {kEnteredInError};

// A status carrying an ErrorInfo with `reason` and `metadata`. WithReason (common/status) has no
// metadata, and the contract of TransitionGoal needs it.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const std::map<std::string, std::string>& metadata) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [key, value] : metadata) (*info.mutable_metadata())[key] = value;
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

std::string CodeList(absl::Span<const GoalLifecycleStatus> statuses, absl::string_view sep) {
  return absl::StrJoin(statuses, sep, [](std::string* out, GoalLifecycleStatus s) {
    absl::StrAppend(out, LifecycleStatusCode(s));
  });
}

std::string Code(GoalLifecycleStatus status) {
  absl::string_view code = LifecycleStatusCode(status);
  return code.empty() ? absl::StrCat("status ", static_cast<int>(status)) : std::string(code);
}

absl::Status SmartFailure(absl::string_view message,
                          const std::vector<trellis::v1::SmartFinding>& failures) {
  google::rpc::PreconditionFailure details;
  std::vector<std::string> letters;
  for (const trellis::v1::SmartFinding& f : failures) {
    auto* v = details.add_violations();
    v->set_type("SMART");
    v->set_subject(std::string(SmartLetterSubject(f.letter())));
    v->set_description(f.message());
    letters.push_back(absl::StrCat(SmartLetterSubject(f.letter()), ":", f.rule()));
  }
  absl::Status status =
      absl::FailedPreconditionError(absl::StrCat(message, " (", absl::StrJoin(letters, ", "), ")"));
  status.SetPayload(kPreconditionFailureTypeUrl, absl::Cord(details.SerializeAsString()));
  return WithReason(std::move(status), "SMART_CHECK_FAILED");
}

}  // namespace

absl::Span<const GoalLifecycleStatus> AllowedTransitions(GoalLifecycleStatus from) {
  switch (from) {
    case kProposed:
      return kFromProposed;
    case kPlanned:
      return kFromPlanned;
    case kAccepted:
      return kFromAccepted;
    case kActive:
      return kFromActive;
    case kOnHold:
      return kFromOnHold;
    case kCompleted:
    case kCancelled:
    case kRejected:
      return kFromFinal;
    default:
      return {};
  }
}

bool IsTransitionAllowed(GoalLifecycleStatus from, GoalLifecycleStatus to) {
  absl::Span<const GoalLifecycleStatus> allowed = AllowedTransitions(from);
  return std::find(allowed.begin(), allowed.end(), to) != allowed.end();
}

absl::Status CheckTransition(GoalLifecycleStatus from, GoalLifecycleStatus to) {
  if (IsTransitionAllowed(from, to)) return absl::OkStatus();
  absl::Span<const GoalLifecycleStatus> allowed = AllowedTransitions(from);
  const std::string why = from == to ? " (it is already there)" : "";
  const std::string targets = allowed.empty() ? "none, it is final" : CodeList(allowed, ", ");
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat("cannot move a goal from ", Code(from), " to ",
                                                 Code(to), why, "; allowed: ", targets)),
      "ILLEGAL_TRANSITION",
      {{"from", Code(from)}, {"to", Code(to)}, {"allowed", CodeList(allowed, ",")}});
}

bool IsClosed(GoalLifecycleStatus status) {
  return status == kCompleted || status == kCancelled || status == kEnteredInError ||
         status == kRejected;
}

bool IsInitialStatus(GoalLifecycleStatus status) {
  return status == trellis::v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED || status == kProposed ||
         status == kPlanned || status == kAccepted || status == kActive;
}

bool RequiresSmart(GoalLifecycleStatus to) { return to == kActive; }

absl::Status CheckActivation(const SmartEvaluation& evaluation) {
  if (evaluation.passes) return absl::OkStatus();
  return SmartFailure("the goal cannot become active: it fails SMART", evaluation.Failures());
}

absl::Status CheckUpdateAllowed(GoalLifecycleStatus status, absl::Span<const std::string> paths) {
  static const auto* const kClosedUpdatable =
      new std::set<std::string>{"achievement_status", "review_date", "needs_review"};
  std::vector<std::string> refused;
  if (status == kRejected || status == kEnteredInError) {
    refused.assign(paths.begin(), paths.end());
  } else if (status == kCompleted || status == kCancelled) {
    for (const std::string& path : paths) {
      if (kClosedUpdatable->count(path) == 0) refused.push_back(path);
    }
  }
  if (refused.empty()) return absl::OkStatus();
  const std::string allowed = (status == kCompleted || status == kCancelled)
                                  ? "only achievement_status, review_date and needs_review"
                                  : "nothing";
  return WithReason(absl::FailedPreconditionError(
                        absl::StrCat("the goal is ", Code(status), ": ", allowed,
                                     " may change (refused: ", absl::StrJoin(refused, ", "), ")")),
                    "RESOURCE_CLOSED");
}

absl::Status CheckUpdateKeepsSmart(GoalLifecycleStatus status, const SmartEvaluation& before,
                                   const SmartEvaluation& after) {
  if (status != kActive && status != kOnHold) return absl::OkStatus();
  std::set<std::pair<int, std::string>> old_failures;
  for (const trellis::v1::SmartFinding& f : before.Failures()) {
    old_failures.emplace(f.letter(), f.rule());
  }
  std::vector<trellis::v1::SmartFinding> new_failures;
  for (const trellis::v1::SmartFinding& f : after.Failures()) {
    if (old_failures.count({f.letter(), f.rule()}) == 0) new_failures.push_back(f);
  }
  if (new_failures.empty()) return absl::OkStatus();
  return SmartFailure(absl::StrCat("the update would make the ", Code(status), " goal fail SMART"),
                      new_failures);
}

absl::Status CheckParentAcceptsObjective(const Goal& parent, absl::string_view patient) {
  if (parent.patient() != patient) {
    return InvalidField("goal.parent", "must name a goal of the same patient");
  }
  if (!parent.parent().empty()) {
    return InvalidField("goal.parent",
                        "names an objective; objectives can only be added to top-level goals");
  }
  if (IsClosed(parent.lifecycle_status())) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat("the parent goal is ",
                                                                 Code(parent.lifecycle_status()),
                                                                 " and takes no new objectives")),
                      "RESOURCE_CLOSED");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ObjectivesToCancel(
    GoalLifecycleStatus to, trellis::v1::OpenObjectivesAction action,
    const std::vector<Goal>& objectives) {
  std::vector<std::string> open;
  if (!IsClosed(to)) return open;
  for (const Goal& objective : objectives) {
    if (!IsClosed(objective.lifecycle_status())) open.push_back(objective.name());
  }
  if (open.empty() || action == trellis::v1::OPEN_OBJECTIVES_ACTION_CANCEL) return open;
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          "the goal has ", open.size(), " open objective(s): ", absl::StrJoin(open, ", "),
          "; close them first or pass open_objectives = CANCEL")),
      "OPEN_OBJECTIVES", {{"objectives", absl::StrJoin(open, ",")}});
}

}  // namespace trellis::goals
