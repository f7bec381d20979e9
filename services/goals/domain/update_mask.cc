#include "services/goals/domain/update_mask.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status/status.h"
#include "google/protobuf/util/field_mask_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/goals/domain/validation.h"

namespace trellis::goals {
namespace {

using google::protobuf::FieldMask;
using google::protobuf::util::FieldMaskUtil;
using google::protobuf::util::MessageDifferencer;
using trellis::v1::Goal;

constexpr absl::string_view kMaskField = "update_mask";

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool IsImmutable(absl::string_view field) { return field == "patient" || field == "parent"; }

bool IsOutputOnly(absl::string_view field) {
  static const auto* const kOutputOnly = new std::vector<std::string>{"name",
                                                                      "lifecycle_status",
                                                                      "objectives",
                                                                      "needs_review_reason",
                                                                      "status_reason",
                                                                      "status_time",
                                                                      "achievement_status_time",
                                                                      "latest_attainment",
                                                                      "revision",
                                                                      "etag",
                                                                      "create_time",
                                                                      "update_time"};
  return Contains(*kOutputOnly, field);
}

// Why `path` may not be updated; empty when it may.
std::string PathProblem(absl::string_view path) {
  if (path == "*") return "\"*\" is not accepted; name each field to update";
  if (path.empty()) return "contains an empty path";
  const size_t dot = path.find('.');
  const absl::string_view head = path.substr(0, dot);
  if (IsImmutable(head)) return absl::StrCat("\"", path, "\" is immutable");
  if (head == "lifecycle_status") {
    return "\"lifecycle_status\" is output only; change it with TransitionGoal";
  }
  if (IsOutputOnly(head)) return absl::StrCat("\"", path, "\" is output only");
  if (!Contains(WritableGoalFields(), head)) {
    return absl::StrCat("\"", path, "\" is not a field of Goal");
  }
  if (dot == absl::string_view::npos) return "";
  const absl::string_view rest = path.substr(dot + 1);
  if (head != "measure") {
    return absl::StrCat("\"", path, "\" names a part of \"", head, "\"; name \"", head,
                        "\" itself");
  }
  if (!Contains(MeasureFields(), rest)) {
    return absl::StrCat("\"", path, "\" is not a field of Goal");
  }
  return "";
}

// `paths` (all valid) in canonical order, "measure" subsuming "measure.<field>".
std::vector<std::string> Canonical(const std::set<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& field : WritableGoalFields()) {
    if (paths.count(field) > 0) {
      out.push_back(field);
    } else if (field == "measure") {
      for (const std::string& sub : MeasureFields()) {
        std::string path = absl::StrCat("measure.", sub);
        if (paths.count(path) > 0) out.push_back(std::move(path));
      }
    }
  }
  return out;
}

// The leaf paths `paths` covers: "measure" expands to its fields.
std::vector<std::string> Leaves(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    if (path == "measure") {
      for (const std::string& sub : MeasureFields()) out.push_back(absl::StrCat("measure.", sub));
    } else {
      out.push_back(path);
    }
  }
  return out;
}

bool SameAt(const Goal& a, const Goal& b, const std::string& path) {
  FieldMask mask;
  mask.add_paths(path);
  Goal trimmed_a = a;
  Goal trimmed_b = b;
  FieldMaskUtil::TrimMessage(mask, &trimmed_a);
  FieldMaskUtil::TrimMessage(mask, &trimmed_b);
  return MessageDifferencer::Equals(trimmed_a, trimmed_b);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ValidateUpdateMask(const FieldMask& mask) {
  if (mask.paths_size() == 0) {
    return InvalidField(kMaskField, "is required: name the fields to update");
  }
  FieldViolations violations;
  std::set<std::string> paths;
  for (const std::string& path : mask.paths()) {
    if (std::string problem = PathProblem(path); !problem.empty()) {
      violations.Add(kMaskField, problem);
    } else {
      paths.insert(path);
    }
  }
  if (!violations.empty()) return violations.ToStatus();
  return Canonical(paths);
}

absl::StatusOr<ValidatedUpdate> ValidateUpdateGoalRequest(
    const trellis::v1::UpdateGoalRequest& request) {
  FieldViolations violations;
  ValidatedUpdate update;
  if (absl::StatusOr<GoalName> name = ParseGoalName("goal.name", request.goal().name());
      name.ok()) {
    update.name = *std::move(name);
  } else {
    violations.Merge(name.status());
  }
  if (absl::StatusOr<std::vector<std::string>> paths = ValidateUpdateMask(request.update_mask());
      paths.ok()) {
    update.paths = *std::move(paths);
    CheckGoalFieldValues(request.goal(), update.paths, &violations);
  } else {
    violations.Merge(paths.status());
  }
  if (request.etag().empty()) {
    violations.Add("etag", "is required: send the etag of the goal you read");
  } else if (request.etag().size() > kMaxEtagLength || !IsValidUtf8(request.etag())) {
    violations.Add("etag", "is not an etag of this service");
  }
  if (!IsValidUtf8(request.reason())) {
    violations.Add("reason", "must be valid UTF-8");
  } else if (CodePointCount(request.reason()) > kMaxReasonLength) {
    violations.Add("reason", absl::StrCat("must be at most ", kMaxReasonLength, " characters"));
  }
  if (!violations.empty()) return violations.ToStatus();
  return update;
}

absl::StatusOr<GoalUpdate> ApplyUpdate(const Goal& current, const Goal& patch,
                                       const std::vector<std::string>& paths) {
  GoalUpdate update;
  update.goal = current;
  FieldMask mask;
  for (const std::string& path : paths) mask.add_paths(path);
  FieldMaskUtil::MergeOptions options;
  // A masked message or list is replaced as a whole, and a masked field absent from the patch is
  // cleared: AIP-134 update semantics.
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(patch, mask, options, &update.goal);
  if (Contains(paths, "needs_review") && !update.goal.needs_review()) {
    update.goal.clear_needs_review_reason();
  }

  FieldViolations violations;
  CheckMeasureConsistency(update.goal.measure(), &violations);
  if (!violations.empty()) return violations.ToStatus();

  for (const std::string& leaf : Leaves(paths)) {
    if (!SameAt(current, update.goal, leaf)) update.changed_fields.push_back(leaf);
  }
  if (current.needs_review_reason() != update.goal.needs_review_reason()) {
    update.changed_fields.push_back("needs_review_reason");
  }
  return update;
}

}  // namespace trellis::goals
