#pragma once

// The goal lifecycle (FHIR Goal.lifecycleStatus): which transitions are legal, which statuses
// are closed, what may still be updated in each, the SMART gate on activation and what closing a
// goal does to its open objectives. The table is the one documented on TransitionGoal in
// goals.proto; change both together.
//
//   proposed          -> planned, accepted, active, rejected, entered-in-error
//   planned           -> accepted, active, cancelled, entered-in-error
//   accepted          -> active, on-hold, cancelled, entered-in-error
//   active            -> on-hold, completed, cancelled, entered-in-error
//   on-hold           -> active, cancelled, entered-in-error
//   completed         -> entered-in-error
//   cancelled         -> entered-in-error
//   rejected          -> entered-in-error
//   entered-in-error  -> (none: terminal)
//
// Why: a proposal is either taken up (planned/accepted/active) or rejected, never "cancelled"
// (nothing was started). Completed, cancelled and rejected are final outcomes; reopening one
// would rewrite history, so a new goal is created instead, and the only way out is correcting a
// mistake (entered-in-error). Entered-in-error is the end of the line. A transition to the
// current status is illegal (it would write an empty revision). on-hold -> completed is not
// allowed: resume first, so the completion is judged on an active goal.
//
// Errors carry google.rpc details as absl::Status payloads (see common/status/status.h):
// ErrorInfo with a stable reason and metadata, and for SMART_CHECK_FAILED a
// google.rpc.PreconditionFailure under kPreconditionFailureTypeUrl.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "services/goals/domain/smart.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

inline constexpr absl::string_view kPreconditionFailureTypeUrl =
    "type.googleapis.com/google.rpc.PreconditionFailure";

// The statuses `from` may move to, in enum order; empty for entered-in-error, UNSPECIFIED and
// unknown values.
absl::Span<const trellis::v1::GoalLifecycleStatus> AllowedTransitions(
    trellis::v1::GoalLifecycleStatus from);

bool IsTransitionAllowed(trellis::v1::GoalLifecycleStatus from,
                         trellis::v1::GoalLifecycleStatus to);

// OK when `from` -> `to` is in the table. Otherwise FAILED_PRECONDITION with ErrorInfo reason
// ILLEGAL_TRANSITION, metadata {"from": code, "to": code, "allowed": comma-separated FHIR codes
// ("" when none)} and a message naming the allowed targets, e.g.
// "cannot move a goal from active to proposed; allowed: on-hold, completed, cancelled,
// entered-in-error".
absl::Status CheckTransition(trellis::v1::GoalLifecycleStatus from,
                             trellis::v1::GoalLifecycleStatus to);

// Closed statuses: completed, cancelled, entered-in-error, rejected. Reaching one ends the
// goal's reminders; a closed goal takes no new objectives.
bool IsClosed(trellis::v1::GoalLifecycleStatus status);

// Statuses CreateGoal accepts: UNSPECIFIED (meaning proposed), proposed, planned, accepted,
// active.
bool IsInitialStatus(trellis::v1::GoalLifecycleStatus status);

// Whether entering `to` requires the goal to pass SMART: only active does.
bool RequiresSmart(trellis::v1::GoalLifecycleStatus to);

// The SMART gate of activation (CreateGoal as ACTIVE, TransitionGoal to ACTIVE): OK when
// `evaluation` passes; otherwise FAILED_PRECONDITION reason SMART_CHECK_FAILED with a
// PreconditionFailure holding one violation per FAIL finding (type "SMART", subject the letter
// "S".."T", description the finding's message). WARN findings never block.
absl::Status CheckActivation(const SmartEvaluation& evaluation);

// Which fields an UpdateGoal may change in `status` (UpdateGoal's status rules). `paths` are
// canonical mask paths (ValidateUpdateMask). Completed and cancelled goals accept only
// achievement_status, review_date and needs_review; rejected and entered-in-error goals accept
// nothing. Otherwise FAILED_PRECONDITION reason RESOURCE_CLOSED, naming the refused paths.
absl::Status CheckUpdateAllowed(trellis::v1::GoalLifecycleStatus status,
                                absl::Span<const std::string> paths);

// The SMART rule of UpdateGoal for active and on-hold goals: the update is refused when the
// updated goal has a FAIL finding (same letter and rule) that the goal before the update did not
// have, so an update cannot break an active goal but need not fix older problems first.
// FAILED_PRECONDITION reason SMART_CHECK_FAILED with a PreconditionFailure of the new failures.
// OK for any other status.
absl::Status CheckUpdateKeepsSmart(trellis::v1::GoalLifecycleStatus status,
                                   const SmartEvaluation& before, const SmartEvaluation& after);

// Whether `parent` (the stored goal named by a new objective's `parent`) can take an objective
// of `patient`. INVALID_ARGUMENT naming "goal.parent" when it belongs to another patient or is
// itself an objective (depth is goal -> objective, so cycles cannot form);
// FAILED_PRECONDITION reason RESOURCE_CLOSED when it is closed.
absl::Status CheckParentAcceptsObjective(const trellis::v1::Goal& parent,
                                         absl::string_view patient);

// What closing a goal does to its objectives. `to` is the goal's target status, `objectives`
// the goal's objectives as stored. When `to` is not closed, or no objective is open, the result
// is empty. Otherwise, for REFUSE and UNSPECIFIED: FAILED_PRECONDITION reason OPEN_OBJECTIVES
// with ErrorInfo metadata {"objectives": comma-separated names of the open objectives}; for
// CANCEL: the names of the open objectives (in the given order), each to be moved to CANCELLED
// with the parent's reason in the same atomic write. The cascade is not a TransitionGoal of the
// objective, so the table above does not apply to it (a proposed objective is cancelled too).
absl::StatusOr<std::vector<std::string>> ObjectivesToCancel(
    trellis::v1::GoalLifecycleStatus to, trellis::v1::OpenObjectivesAction action,
    const std::vector<trellis::v1::Goal>& objectives);

}  // namespace trellis::goals
