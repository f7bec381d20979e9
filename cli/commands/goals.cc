// trellisctl goals: GoalService (proto/trellis/v1/goals.proto).

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/commands/invocation.h"
#include "cli/proto_input.h"
#include "cli/proto_output.h"
#include "cli/table.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using google::protobuf::Descriptor;

// The writable fields of a goal, under `prefix` ("goal.") of `request`.
std::vector<Flag> GoalFieldFlags(const Descriptor* request, bool with_patient) {
  std::vector<Flag> f;
  if (with_patient) f.push_back(FieldFlag(request, "patient", "goal.patient", "Patient id."));
  f.push_back(FieldFlag(request, "title", "goal.title", "Title, 1-200 characters."));
  f.push_back(FieldFlag(request, "description", "goal.description",
                        "What the goal is, concretely (the SMART S rule reads it)."));
  f.push_back(FieldFlag(request, "category", "goal.category", "Category."));
  f.push_back(FieldFlag(request, "priority", "goal.priority", "Priority."));
  if (with_patient) {
    f.push_back(FieldFlag(request, "parent", "goal.parent",
                          "Makes this an objective of that goal (patients/P/goals/G)."));
  }
  f.push_back(FieldFlag(request, "metric", "goal.measure.metric",
                        "Metric or instrument measuring it (phq9, gad7, mood, suds, or a tenant "
                        "metric; see `trellisctl metrics list`)."));
  f.push_back(FieldFlag(request, "direction", "goal.measure.direction",
                        "Which way the measure should move."));
  f.push_back(FieldFlag(request, "baseline", "goal.measure.baseline", "Baseline value."));
  f.push_back(FieldFlag(request, "baseline_from_first",
                        "goal.measure.baseline_from_first_measurement",
                        "Take the first measurement after the start as the baseline."));
  f.push_back(FieldFlag(request, "target", "goal.measure.target",
                        "Target value (decrease and increase goals)."));
  f.push_back(FieldFlag(request, "target_low", "goal.measure.target_low",
                        "Lower bound of the target range (reach-range goals)."));
  f.push_back(FieldFlag(request, "target_high", "goal.measure.target_high",
                        "Upper bound of the target range (reach-range goals)."));
  f.push_back(FieldFlag(request, "start", "goal.start_date", "Start date."));
  f.push_back(FieldFlag(request, "due", "goal.due_date", "Due date."));
  f.push_back(FieldFlag(request, "review", "goal.review_date", "Next review date."));
  f.push_back(FieldFlag(request, "concern", "goal.addresses.text",
                        "A presenting concern the goal addresses, as free text."));
  f.push_back(FieldFlag(request, "expressed_by", "goal.expressed_by", "Who expressed the goal."));
  f.push_back(FieldFlag(request, "agreement", "goal.agreement", "Whether the client agreed."));
  return f;
}

std::string GoalsTable(const google::protobuf::RepeatedPtrField<v1::Goal>& goals) {
  return RenderRows(goals, {{"NAME", "name"},
                            {"TITLE", "title"},
                            {"STATUS", "lifecycle_status"},
                            {"ACHIEVEMENT", "achievement_status"},
                            {"METRIC", "measure.metric"},
                            {"BASELINE", "measure.baseline", true},
                            {"TARGET", "measure.target", true},
                            {"DUE", "due_date"},
                            {"NEEDS REVIEW", "needs_review"}});
}

// Reads the goal's current etag when the request has none (the update applies to the goal as it
// is now). Returns an exit status when the read failed.
std::optional<int> FillEtag(Invocation& inv, const std::string& name, std::string* etag) {
  if (!etag->empty()) return std::nullopt;
  if (name.empty()) return inv.UsageError(absl::InvalidArgumentError("--name is required"));
  v1::GetGoalRequest get;
  get.set_name(name);
  v1::Goal current;
  grpc::Status status = inv.Call(&v1::GoalService::Stub::GetGoal, get, &current);
  if (!status.ok()) return inv.RpcError(status);
  *etag = current.etag();
  return std::nullopt;
}

// The update_mask path of a Goal field a flag set: the path itself, or the repeated field it lies
// in ("addresses.text" -> "addresses": a list is replaced as a whole).
std::string MaskPath(const std::string& path) {
  const Descriptor* type = v1::Goal::descriptor();
  std::string out;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const google::protobuf::FieldDescriptor* field =
        type == nullptr ? nullptr : type->FindFieldByName(std::string(part));
    if (field == nullptr) return path;
    absl::StrAppend(&out, out.empty() ? "" : ".", part);
    if (field->is_repeated()) return out;
    type = field->message_type();
  }
  return out;
}

Command Create() {
  const Descriptor* d = v1::CreateGoalRequest::descriptor();
  std::vector<Flag> flags = GoalFieldFlags(d, /*with_patient=*/true);
  flags.push_back(FieldFlag(d, "status", "goal.lifecycle_status",
                            "Initial status: proposed (default), planned, accepted or active "
                            "(active requires a SMART goal)."));
  flags.push_back(RequestIdFlag(d));
  return UnaryCommand(
      {.name = "create",
       .summary = "Create a goal, or an objective of --parent (CreateGoal).",
       .description =
           "Example:\n\n"
           "  trellisctl goals create --patient p1 --title 'Reduce GAD-7 from 15 to 7' \\\n"
           "      --description 'Practise breathing 15 minutes daily' --metric gad7 \\\n"
           "      --direction decrease --baseline 15 --target 7 --start today \\\n"
           "      --due today+12w --concern 'generalised anxiety' --category "
           "symptom-management"},
      &v1::GoalService::Stub::CreateGoal, flags);
}

Command Get() {
  const Descriptor* d = v1::GetGoalRequest::descriptor();
  return UnaryCommand(
      {.name = "get", .summary = "Show one goal or objective (GetGoal).", .positional = "name"},
      &v1::GoalService::Stub::GetGoal,
      {FieldFlag(d, "name", "name", "The goal: patients/P/goals/G.")});
}

Command List() {
  const Descriptor* d = v1::ListGoalsRequest::descriptor();
  return UnaryCommand(
      {.name = "list",
       .summary = "List a patient's goals and objectives, oldest first (ListGoals).",
       .positional = "patient"},
      &v1::GoalService::Stub::ListGoals,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "parent", "parent", "Only the objectives of this goal."),
       FieldFlag(d, "top_level_only", "top_level_only", "Only goals, no objectives."),
       FieldFlag(d, "status", "lifecycle_statuses",
                 "Only these statuses (default: all but entered-in-error)."),
       FieldFlag(d, "category", "category", "Only this category."),
       FieldFlag(d, "needs_review", "needs_review",
                 "Only goals that need review (--needs_review=false: only those that do not).")},
      [](const v1::ListGoalsResponse& r) { return GoalsTable(r.goals()); });
}

Command Update() {
  const Descriptor* d = v1::UpdateGoalRequest::descriptor();
  std::vector<Flag> flags{FieldFlag(d, "name", "goal.name", "The goal: patients/P/goals/G.")};
  for (Flag& f : GoalFieldFlags(d, /*with_patient=*/false)) flags.push_back(std::move(f));
  flags.push_back(FieldFlag(d, "needs_review", "goal.needs_review",
                            "Mark for review, or clear the mark (--needs_review=false)."));
  flags.push_back(FieldFlag(d, "reason", "reason", "Why (kept in the revision)."));
  flags.push_back(FieldFlag(d, "etag", "etag",
                            "The etag last read; without it the goal is read first and the "
                            "change applies to it as it is now."));
  flags.push_back(FieldFlag(d, "update_mask", "update_mask",
                            "The fields to change; default: those given as flags."));
  return UnaryCommand(
      {.name = "update",
       .summary = "Change fields of a goal; writes a revision (UpdateGoal).",
       .description = "Only the fields given as flags change (or those of --update_mask, taking "
                      "their values from --json).\n\n"
                      "  trellisctl goals update patients/p1/goals/g1 --target 6 --reason "
                      "'agreed at review'",
       .positional = "name"},
      &v1::GoalService::Stub::UpdateGoal, flags, nullptr,
      [](Invocation& inv, v1::UpdateGoalRequest& req, const std::vector<std::string>& paths) {
        if (req.update_mask().paths().empty()) {
          for (const std::string& p : paths) {
            if (absl::StartsWith(p, "goal.") && p != "goal.name") {
              std::string mask = MaskPath(p.substr(5));
              bool seen = false;
              for (const std::string& m : req.update_mask().paths()) seen = seen || m == mask;
              if (!seen) req.mutable_update_mask()->add_paths(mask);
            }
          }
        }
        if (req.update_mask().paths().empty()) {
          return std::optional<int>(inv.UsageError(absl::InvalidArgumentError(
              "nothing to update: give the fields to change (e.g. --title) or --update_mask")));
        }
        return FillEtag(inv, req.goal().name(), req.mutable_etag());
      });
}

Command Transition() {
  const Descriptor* d = v1::TransitionGoalRequest::descriptor();
  return UnaryCommand(
      {.name = "transition",
       .summary = "Move a goal to another lifecycle status, with a reason (TransitionGoal).",
       .description = "  trellisctl goals transition patients/p1/goals/g1 --to active --reason "
                      "'agreed in session'",
       .positional = "name"},
      &v1::GoalService::Stub::TransitionGoal,
      {FieldFlag(d, "name", "name", "The goal: patients/P/goals/G."),
       FieldFlag(d, "to", "lifecycle_status", "The new status."),
       FieldFlag(d, "reason", "reason", "Why, 1-1000 characters (kept as the status reason)."),
       FieldFlag(d, "etag", "etag", "The etag last read; without it the goal is read first."),
       FieldFlag(d, "open_objectives", "open_objectives",
                 "Closing a goal with open objectives: refuse (default) or cancel them."),
       RequestIdFlag(d)},
      nullptr,
      [](Invocation& inv, v1::TransitionGoalRequest& req, const std::vector<std::string>&) {
        return FillEtag(inv, req.name(), req.mutable_etag());
      });
}

Command History() {
  const Descriptor* d = v1::ListGoalRevisionsRequest::descriptor();
  return UnaryCommand({.name = "history",
                       .summary = "A goal's revisions, newest first: who changed what, when, why "
                                  "(ListGoalRevisions).",
                       .positional = "name"},
                      &v1::GoalService::Stub::ListGoalRevisions,
                      {FieldFlag(d, "name", "name", "The goal: patients/P/goals/G.")},
                      [](const v1::ListGoalRevisionsResponse& r) {
                        return RenderRows(r.revisions(), {{"REVISION", "revision", true},
                                                          {"KIND", "kind"},
                                                          {"TIME", "create_time"},
                                                          {"ACTOR", "actor.subject"},
                                                          {"ROLE", "actor.role"},
                                                          {"CHANGED", "changed_fields"},
                                                          {"REASON", "reason"}});
                      });
}

Command Smart() {
  const Descriptor* d = v1::EvaluateSmartRequest::descriptor();
  std::vector<Flag> flags = GoalFieldFlags(d, /*with_patient=*/true);
  Flag stored{.name = "goal",
              .value_name = "NAME",
              .help =
                  "Check this stored goal (patients/P/goals/G); other flags change the draft "
                  "before the check."};
  flags.insert(flags.begin(), stored);
  return UnaryCommand(
      {.name = "smart",
       .summary = "SMART-check a draft or a stored goal without storing anything "
                  "(EvaluateSmart).",
       .description = "One finding per letter (S, M, A, R, T) with its verdict and a suggested "
                      "fix. Exits 0 whether or not the goal passes; `--output json | jq "
                      ".passes` tells.\n\n"
                      "  trellisctl goals smart --patient p1 --title 'Feel less anxious'",
       .positional = "goal"},
      &v1::GoalService::Stub::EvaluateSmart, flags,
      [](const v1::EvaluateSmartResponse& r) {
        std::string out = RenderRows(r.findings(), {{"LETTER", "letter"},
                                                    {"VERDICT", "verdict"},
                                                    {"RULE", "rule"},
                                                    {"MESSAGE", "message"},
                                                    {"SUGGESTION", "suggestion"}});
        absl::StrAppend(&out, r.passes() ? "passes: yes (it could become active)\n"
                                         : "passes: no (a FAIL finding blocks activation)\n");
        return out;
      },
      [](Invocation& inv, v1::EvaluateSmartRequest& req, const std::vector<std::string>&) {
        std::string name = inv.args().GetOr("goal");
        if (name.empty()) return std::optional<int>();
        v1::GetGoalRequest get;
        get.set_name(name);
        v1::Goal stored;
        grpc::Status status = inv.Call(&v1::GoalService::Stub::GetGoal, get, &stored);
        if (!status.ok()) return std::optional<int>(inv.RpcError(status));
        v1::Goal overrides = req.goal();
        *req.mutable_goal() = stored;
        req.mutable_goal()->MergeFrom(overrides);
        return std::optional<int>();
      });
}

Command Rate() {
  const Descriptor* d = v1::RateGoalAttainmentRequest::descriptor();
  return UnaryCommand(
      {.name = "rate",
       .summary = "Record a Goal Attainment Scaling rating, -2..+2 (RateGoalAttainment).",
       .description = "  trellisctl goals rate patients/p1/goals/g1 --rating 1 --note 'better "
                      "than expected'",
       .positional = "name"},
      &v1::GoalService::Stub::RateGoalAttainment,
      {FieldFlag(d, "name", "name", "The goal or objective: patients/P/goals/G."),
       FieldFlag(d, "rating", "rating",
                 "-2 much less than expected ... 0 as expected ... +2 much more."),
       FieldFlag(d, "review_date", "review_date",
                 "The review the rating belongs to (default today)."),
       FieldFlag(d, "weight", "weight", "Weight in the T-score, (0, 100] (default 1)."),
       FieldFlag(d, "note", "note", "Note, up to 2000 characters."), RequestIdFlag(d)},
      nullptr,
      [](Invocation& inv, v1::RateGoalAttainmentRequest& req, const std::vector<std::string>&) {
        if (!req.has_review_date()) {
          absl::StatusOr<v1::LocalDate> today = ParseLocalDate("today", inv.now());
          if (today.ok()) *req.mutable_review_date() = *today;
        }
        return std::optional<int>();
      });
}

Command Score() {
  const Descriptor* d = v1::GetAttainmentScoreRequest::descriptor();
  return UnaryCommand(
      {.name = "score",
       .summary = "The GAS T-score over a patient's rated goals (GetAttainmentScore).",
       .description = "Per-goal weights: --json '{\"patient\":\"p1\",\"weights\":"
                      "{\"patients/p1/goals/g1\":2}}'.",
       .positional = "patient"},
      &v1::GoalService::Stub::GetAttainmentScore,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "goal", "goals", "Only these goals (default: every rated goal)."),
       FieldFlag(d, "rho", "rho", "Inter-goal correlation, [0, 1) (default: the service's).")},
      [](const v1::GetAttainmentScoreResponse& r) {
        std::string out = RenderKeyValues(
            {{"t_score", r.has_t_score() ? FormatDouble(r.t_score()) : "- (no rated goals)"},
             {"n", absl::StrCat(r.n())},
             {"rho", FormatDouble(r.rho())}});
        if (r.terms_size() > 0) {
          absl::StrAppend(&out, "\n",
                          RenderRows(r.terms(), {{"GOAL", "goal"},
                                                 {"RATING", "rating.rating", true},
                                                 {"WEIGHT", "weight", true},
                                                 {"REVIEW", "rating.review_date"}}));
        }
        return out;
      });
}

Command Export() {
  const Descriptor* d = v1::ExportGoalsFhirRequest::descriptor();
  return UnaryCommand(
      {.name = "export",
       .summary = "A patient's goals as a FHIR R4 Bundle of Goal resources (ExportGoalsFhir).",
       .description = "--output table prints the bundle itself (FHIR JSON); --output json the "
                      "response message around it.\n\n"
                      "  trellisctl goals export p1 > p1-goals.json",
       .positional = "patient"},
      &v1::GoalService::Stub::ExportGoalsFhir,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "status", "lifecycle_statuses",
                 "Only these statuses (default: all but entered-in-error).")},
      [](const v1::ExportGoalsFhirResponse& r) { return r.bundle_json(); });
}

}  // namespace

Command GoalsCommand() {
  return {.name = "goals",
          .summary = "SMART goals and objectives: create, read, change, rate, export.",
          .subcommands = {Create(), Get(), List(), Update(), Transition(), History(), Smart(),
                          Rate(), Score(), Export()}};
}

}  // namespace trellis::cli
