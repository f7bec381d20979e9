#pragma once

// Input validation of GoalService requests. Every function here checks the form of a request
// (sizes, UTF-8, enum values, calendar dates, ids and names, page sizes, filters) and nothing that
// needs the store: whether a named goal exists, its current status and etag are checked by the
// handler and lifecycle.h. Whether a goal is a good goal is SMART's business (smart.h), not a
// validation error: a draft may be vague, unmeasured or overdue.
//
// Every rejection is INVALID_ARGUMENT (ErrorInfo reason INVALID_FIELD) built with
// FieldViolations, and every function collects all violations of its input before returning, so
// a client fixes a request in one round trip. Field paths are request field paths: "goal.title",
// "goal.addresses[2].code.system", "page_size", "weights[patients/p1/goals/g1]".
//
// Output-only Goal fields (name, objectives, needs_review_reason, status_reason, status_time,
// achievement_status_time, latest_attainment, revision, etag, create_time, update_time) are
// ignored on create, as AIP-203 asks and CreateGoal documents: a client may send back a goal it
// read. NewGoalFromRequest() clears them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/types/span.h"
#include "common/status/status.h"
#include "services/goals/domain/names.h"
#include "trellis/v1/goals.pb.h"

namespace trellis::goals {

// Limits, in Unicode code points (common.proto: lengths count code points).
inline constexpr size_t kMaxTitleLength = 200;
inline constexpr size_t kMaxDescriptionLength = 4000;
inline constexpr size_t kMaxConcerns = 10;
inline constexpr size_t kMaxConcernTextLength = 500;
inline constexpr size_t kMaxCodingSystemLength = 200;
inline constexpr size_t kMaxCodingCodeLength = 100;
inline constexpr size_t kMaxCodingDisplayLength = 200;
inline constexpr size_t kMaxReasonLength = 1000;
inline constexpr size_t kMaxRatingNoteLength = 2000;
inline constexpr size_t kMaxNeedsReviewReasonLength = 500;
inline constexpr size_t kMaxEtagLength = 128;
inline constexpr size_t kMaxPageTokenLength = 1024;
inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxPageSize = 500;
inline constexpr int kMinAttainmentRating = -2;
inline constexpr int kMaxAttainmentRating = 2;
// A GAS weight lies in (0, kMaxAttainmentWeight].
inline constexpr double kMaxAttainmentWeight = 100.0;

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Number of code points in `text`. Precondition: IsValidUtf8(text).
size_t CodePointCount(absl::string_view text);

// --- Goals -----------------------------------------------------------------------------------

// The writable top-level Goal fields (the updatable paths of UpdateGoal), in field-number order:
// title, description, category, priority, achievement_status, measure, start_date, due_date,
// addresses, expressed_by, agreement, review_date, needs_review.
const std::vector<std::string>& WritableGoalFields();

// The Measure fields, in field-number order ("metric", "direction", ...): the sub-paths an update
// mask may name as "measure.<field>".
const std::vector<std::string>& MeasureFields();

// CreateGoal's `goal`, fields named "goal.<field>":
//   patient     required, ValidateId.
//   title       required (not blank), <= 200 code points, no control characters.
//   description <= 4000 code points; control characters other than tab and line breaks rejected.
//   category, priority, achievement_status, expressed_by, agreement: a known enum value
//               (UNSPECIFIED allowed: none of them is required).
//   lifecycle_status  UNSPECIFIED (= PROPOSED), PROPOSED, PLANNED, ACCEPTED or ACTIVE.
//   measure     form only (common.proto Measure): metric id syntax when set, known direction,
//               finite numbers, a valid baseline_time, `target` only for DECREASE/INCREASE,
//               `target_low`/`target_high` only for REACH_RANGE with low <= high. With no
//               direction yet (a draft), either form is accepted but not both at once.
//   start_date, due_date, review_date: absent or a real calendar date (1900-9999). Their order
//               and distance from today are SMART "T" findings, not validation errors.
//   addresses   <= 10 concerns, each with text (<= 500) or a code; a code needs `code` (<= 100)
//               and `system` (<= 200), display <= 200.
//   parent      empty, or a goal name of the same patient ("goal.parent").
// Whether the parent exists, is top-level and open is checked against the store
// (CheckParentAcceptsObjective in lifecycle.h). Output-only fields are ignored.
absl::Status ValidateGoalForCreate(const trellis::v1::Goal& goal);

// The per-field checks behind ValidateGoalForCreate and UpdateGoal, for the writable Goal fields
// named by `paths` (top-level field names as in an update mask, or "measure.<field>"): adds a
// violation "goal.<path>" for each bad value. Not covered here: patient, parent and
// lifecycle_status (create-only rules) and the cross-field rules of CheckMeasureConsistency.
void CheckGoalFieldValues(const trellis::v1::Goal& goal, absl::Span<const std::string> paths,
                          FieldViolations* violations);

// The cross-field rules of a Measure (target vs range by direction, target_low <= target_high),
// as violations "goal.measure.<field>".
void CheckMeasureConsistency(const trellis::v1::Measure& measure, FieldViolations* violations);

// EvaluateSmart's draft `goal`: only malformed input is rejected (sizes, UTF-8, enum values,
// impossible dates, malformed names). Unlike create, patient and title may be empty, the
// lifecycle status is ignored, and a parent of another patient is accepted (the SMART "R" rule
// reports it as PARENT_UNKNOWN).
absl::Status ValidateGoalDraft(const trellis::v1::Goal& goal);

// The goal to store for a CreateGoal whose `goal` passed ValidateGoalForCreate: a copy with every
// output-only field cleared and lifecycle_status UNSPECIFIED turned into PROPOSED. The caller
// assigns name, etag, revision and the times.
trellis::v1::Goal NewGoalFromRequest(const trellis::v1::Goal& requested);

// CreateGoalRequest: `goal` as ValidateGoalForCreate, and `request_id` (optional, ValidateId).
absl::Status ValidateCreateGoalRequest(const trellis::v1::CreateGoalRequest& request);

// EvaluateSmartRequest: `goal` as ValidateGoalDraft.
absl::Status ValidateEvaluateSmartRequest(const trellis::v1::EvaluateSmartRequest& request);

// GetGoalRequest: returns the parsed `name`.
absl::StatusOr<GoalName> ValidateGetGoalRequest(const trellis::v1::GetGoalRequest& request);

// TransitionGoalRequest: `name`; `lifecycle_status` a known value, not UNSPECIFIED; `reason`
// 1-1000 code points, not blank; `etag` required; `open_objectives` a known value; `request_id`
// optional. Whether the transition is allowed from the goal's current status is
// CheckTransition's business (lifecycle.h). Returns the parsed name.
absl::StatusOr<GoalName> ValidateTransitionGoalRequest(
    const trellis::v1::TransitionGoalRequest& request);

// --- Pages and list filters ------------------------------------------------------------------

// page_size 0 means kDefaultPageSize; above kMaxPageSize it is lowered to kMaxPageSize;
// negative is INVALID_ARGUMENT naming `field`.
absl::StatusOr<int32_t> NormalizePageSize(absl::string_view field, int32_t page_size);

// The lifecycle statuses a list or export returns: `requested` when non-empty (duplicates
// removed, enum order), otherwise every status except ENTERED_IN_ERROR. Precondition: the values
// passed validation (known, not UNSPECIFIED).
std::vector<trellis::v1::GoalLifecycleStatus> EffectiveStatusFilter(
    const google::protobuf::RepeatedField<int>& requested);

// ListGoals after validation, with defaults applied.
struct ListGoalsQuery {
  std::string patient;
  // Only objectives of this goal (same patient).
  std::optional<GoalName> parent;
  bool top_level_only = false;
  // Never empty (EffectiveStatusFilter).
  std::vector<trellis::v1::GoalLifecycleStatus> statuses;
  // UNSPECIFIED: any category.
  trellis::v1::GoalCategory category = trellis::v1::GOAL_CATEGORY_UNSPECIFIED;
  std::optional<bool> needs_review;
  int32_t page_size = kDefaultPageSize;
  // Opaque; decoded (and bound to FilterFingerprint) by the store.
  std::string page_token;

  // Whether `goal` passes every filter (not the patient, which selects the key space).
  bool Matches(const trellis::v1::Goal& goal) const;
  // A canonical string of the filters (not page size or token): a page token minted for one
  // fingerprint must be refused for another (common.proto: "used with different filters").
  std::string FilterFingerprint() const;
};

// ListGoalsRequest: "patient" (ValidateId); "parent" a goal name of the same patient;
// "top_level_only" not together with parent; "lifecycle_statuses[i]" known, not UNSPECIFIED;
// "category" known; "page_size" as NormalizePageSize; "page_token" <= 1024 bytes.
absl::StatusOr<ListGoalsQuery> ValidateListGoalsRequest(
    const trellis::v1::ListGoalsRequest& request);

// ListGoalRevisions after validation.
struct ListRevisionsQuery {
  GoalName goal;
  int32_t page_size = kDefaultPageSize;
  std::string page_token;
};

// ListGoalRevisionsRequest: "name", "page_size", "page_token".
absl::StatusOr<ListRevisionsQuery> ValidateListGoalRevisionsRequest(
    const trellis::v1::ListGoalRevisionsRequest& request);

// --- Attainment, export, write-back ----------------------------------------------------------

// RateGoalAttainmentRequest: "name"; "rating" an integer in -2..+2; "review_date" required, a
// calendar date not after `today` + 1 day (`today` in the service's zone); "weight" when present
// finite and in (0, 100]; "note" <= 2000 code points; "request_id" optional. Returns the name.
absl::StatusOr<GoalName> ValidateRateGoalAttainmentRequest(
    const trellis::v1::RateGoalAttainmentRequest& request, absl::CivilDay today);

// GetAttainmentScoreRequest: "patient"; "weights[<key>]" where the key is a goal name of the
// patient and the value finite in (0, 100]; "rho" when present finite in [0, 1); "goals[i]" goal
// names of the patient. Whether the named goals exist is the handler's business.
absl::Status ValidateGetAttainmentScoreRequest(
    const trellis::v1::GetAttainmentScoreRequest& request);

// ExportGoalsFhirRequest: "patient"; "lifecycle_statuses[i]" known, not UNSPECIFIED.
absl::Status ValidateExportGoalsFhirRequest(const trellis::v1::ExportGoalsFhirRequest& request);

// How far in the future a write-back's evaluate_time may be (clock skew between replicas). A
// later one would make every real write-back until then look stale and be ignored.
inline constexpr absl::Duration kMaxEvaluateTimeSkew = absl::Minutes(5);

// SetAchievementStatusRequest: "name"; "achievement_status" known, not UNSPECIFIED;
// "needs_review_reason" <= 500; "evaluate_time" set, valid and not after now +
// kMaxEvaluateTimeSkew; "reason" <= 1000; "request_id" required. Returns the name.
absl::StatusOr<GoalName> ValidateSetAchievementStatusRequest(
    const trellis::v1::SetAchievementStatusRequest& request, absl::Time now);

}  // namespace trellis::goals
