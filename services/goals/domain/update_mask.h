#pragma once

// UpdateGoal: which paths a field mask may name, and how a mask turns the stored goal and the
// request into the updated goal plus the list of fields that really changed (the revision's
// changed_fields). Pure: etag checks, status rules (CheckUpdateAllowed in lifecycle.h) and the
// SMART regression check (CheckUpdateKeepsSmart) are separate steps the handler runs.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/field_mask.pb.h"
#include "services/goals/domain/names.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

// Checks `mask` and returns its paths in canonical form: duplicates removed, a "measure.<field>"
// path dropped when "measure" is also named, ordered by Goal (then Measure) field number.
// Accepted paths: the writable fields of WritableGoalFields() and "measure.<field>" for every
// Measure field. Every other path is INVALID_ARGUMENT naming "update_mask", all of them in one
// status: an empty mask, "*", unknown fields, sub-paths of non-message fields ("due_date.year"),
// immutable fields (patient, parent) and output-only fields (name, lifecycle_status — use
// TransitionGoal —, objectives, needs_review_reason, status_reason, status_time,
// achievement_status_time, latest_attainment, revision, etag, create_time, update_time).
absl::StatusOr<std::vector<std::string>> ValidateUpdateMask(
    const google::protobuf::FieldMask& mask);

// An UpdateGoalRequest whose form is valid.
struct ValidatedUpdate {
  GoalName name;
  // Canonical mask paths (ValidateUpdateMask).
  std::vector<std::string> paths;
};

// Checks the form of UpdateGoalRequest, collecting every violation: "goal.name" (a goal name),
// "update_mask" (ValidateUpdateMask), "etag" (required), "reason" (<= 1000 code points), and the
// values of the masked fields in `goal` ("goal.title", "goal.measure.target", ... as
// CheckGoalFieldValues). Fields outside the mask are ignored, whatever they hold.
absl::StatusOr<ValidatedUpdate> ValidateUpdateGoalRequest(
    const trellis::v1::UpdateGoalRequest& request);

// The result of applying a mask.
struct GoalUpdate {
  // `current` with the masked fields taken from the request. Output-only fields (etag, revision,
  // update_time) are as in `current`: the store sets them when it writes the revision.
  trellis::v1::Goal goal;
  // Goal field paths whose value differs from `current`, in canonical order. "measure" in the
  // mask is reported per sub-field ("measure.target"); clearing needs_review_reason (a side
  // effect of needs_review = false) is listed too. Empty when nothing changed: the update then
  // writes no revision and keeps the etag (UpdateGoal's contract).
  std::vector<std::string> changed_fields;

  bool changed() const { return !changed_fields.empty(); }
};

// Applies the masked fields of `patch` (the request's goal) to `current` (the stored goal).
// Precondition: `paths` came from ValidateUpdateGoalRequest / ValidateUpdateMask. Setting
// needs_review to false clears needs_review_reason. Fails with INVALID_ARGUMENT naming
// "goal.measure.<field>" when the merged measure is inconsistent (CheckMeasureConsistency), e.g.
// a mask of "measure.direction" = REACH_RANGE on a goal that still has a `target`.
absl::StatusOr<GoalUpdate> ApplyUpdate(const trellis::v1::Goal& current,
                                       const trellis::v1::Goal& patch,
                                       const std::vector<std::string>& paths);

}  // namespace trellis::goals
