#include "services/goals/goal_service.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ids/ids.h"
#include "common/outbox/relay.h"
#include "common/server/admit.h"
#include "common/server/flags.h"
#include "common/server/page_token.h"
#include "common/server/peer.h"
#include "common/server/rpc.h"
#include "common/status/status.h"
#include "google/protobuf/util/time_util.h"
#include "services/goals/domain/attainment.h"
#include "services/goals/domain/dates.h"
#include "services/goals/domain/fhir.h"
#include "services/goals/domain/lifecycle.h"
#include "services/goals/domain/names.h"
#include "services/goals/domain/update_mask.h"
#include "services/goals/domain/validation.h"
#include "services/goals/reminder_effects.h"
#include "trellis/v1/reminders.pb.h"

namespace trellis::goals {
namespace {

namespace v1 = ::trellis::v1;
using server::DeadlineOf;
using server::DecodePageToken;
using server::EncodePageToken;
using server::Finish;
using server::FinishWrite;

// Internal read-modify-write loops (ratings, write-backs) retry a lost race this many times.
constexpr int kMaxWriteAttempts = 3;

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(
      static_cast<int32_t>((t - absl::FromUnixSeconds(ts.seconds())) / absl::Nanoseconds(1)));
  return ts;
}

absl::Status PermissionDenied(absl::string_view what) {
  return WithReason(absl::PermissionDeniedError(what), "PERMISSION_DENIED");
}

bool IsClient(const auth::Identity& who) { return who.role == v1::ROLE_CLIENT; }

v1::GoalRevision NewRevision(const v1::Goal& goal, v1::GoalRevisionKind kind,
                             const auth::Identity& who, absl::Time now, absl::string_view reason,
                             std::vector<std::string> changed) {
  v1::GoalRevision r;
  r.set_name(absl::StrCat(goal.name(), "/revisions/", goal.revision()));
  r.set_revision(goal.revision());
  r.set_kind(kind);
  *r.mutable_actor() = who.ToActor();
  *r.mutable_create_time() = ToProto(now);
  r.set_reason(std::string(reason));
  for (auto& f : changed) r.add_changed_fields(std::move(f));
  *r.mutable_snapshot() = goal;
  r.mutable_snapshot()->clear_objectives();
  return r;
}

// Advances `goal` to its next revision at `now`.
void Advance(v1::Goal& goal, absl::Time now) {
  goal.set_revision(goal.revision() + 1);
  goal.set_etag(EtagFor(goal.revision()));
  *goal.mutable_update_time() = ToProto(now);
}

// The outbox entry that ends `goal`'s reminders, recorded by the call of `who`.
OutboxEntry EndRemindersEffect(const v1::Goal& goal, absl::string_view reason,
                               const auth::Identity& who) {
  OutboxEntry e;
  e.id = NewId();
  e.kind = "EndGoalReminders";
  v1::EndGoalRemindersRequest req;
  req.set_goal(goal.name());
  req.set_reason(std::string(reason));
  req.set_request_id(e.id);
  e.payload = req.SerializeAsString();
  return outbox::WithOrigin(std::move(e), who.trace);
}

absl::Status EtagMismatch() {
  return WithReason(absl::AbortedError("the goal has changed; read it again and reapply"),
                    "ETAG_MISMATCH");
}

}  // namespace

GoalServiceHandler::GoalServiceHandler(const server::ServiceEnv& env, GoalServiceOptions options,
                                       MetricCatalog catalog)
    : env_(env),
      options_(options),
      smart_(options.smart),
      store_(env.redis),
      catalog_(std::move(catalog)) {}

void GoalServiceHandler::EvaluateThen(const auth::Identity& who, const v1::Goal& goal,
                                      ParentLookup parent, absl::Time now, absl::Time deadline,
                                      grpc::ServerUnaryReactor* reactor,
                                      absl::AnyInvocable<void(SmartEvaluation)> then) const {
  catalog_.Lookup(who, goal.measure().metric(), deadline,
                  [this, goal, parent, now, reactor,
                   then = std::move(then)](absl::StatusOr<MetricInfo> metric) mutable {
                    if (!metric.ok()) return Finish(reactor, metric.status());
                    then(smart_.Evaluate(goal, SmartInputs{now, *metric, parent}));
                  });
}

grpc::ServerUnaryReactor* GoalServiceHandler::CreateGoal(grpc::CallbackServerContext* ctx,
                                                         const v1::CreateGoalRequest* request,
                                                         v1::Goal* response) {
  auto* reactor = ctx->DefaultReactor();
  const std::string& patient = request->goal().patient();
  auto who = server::Admit(env_, *ctx, "GoalService.CreateGoal",
                           ValidateCreateGoalRequest(*request), patient);
  if (!who.ok()) return Finish(reactor, who.status()), reactor;

  v1::Goal goal = NewGoalFromRequest(request->goal());
  if (goal.lifecycle_status() == v1::GOAL_LIFECYCLE_STATUS_UNSPECIFIED) {
    goal.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_PROPOSED);
  }
  if (IsClient(*who) && goal.lifecycle_status() != v1::GOAL_LIFECYCLE_STATUS_PROPOSED) {
    return Finish(reactor, PermissionDenied("clients may only propose goals")), reactor;
  }
  absl::Time now = env_.clock->Now();
  std::string id = NewId();
  goal.set_name(FormatGoalName(patient, id));
  goal.set_revision(1);
  goal.set_etag(EtagFor(1));
  *goal.mutable_create_time() = ToProto(now);
  *goal.mutable_update_time() = ToProto(now);
  *goal.mutable_status_time() = ToProto(now);

  absl::Time deadline = DeadlineOf(*ctx);
  auto write = [this, reactor, response, who = *who, request, deadline, now](
                   v1::Goal goal, ParentLookup parent) mutable {
    auto store = [this, reactor, response, who, request, deadline, now](v1::Goal goal) {
      GoalWrite w;
      w.tenant = who.tenant;
      w.audit = who.audit_note;
      w.patient = goal.patient();
      w.method = "CreateGoal";
      w.request_id = request->request_id();
      w.fingerprint = Fingerprint(*request);
      w.result = goal.SerializeAsString();
      w.changes.push_back(
          {goal, 0, NewRevision(goal, v1::GOAL_REVISION_KIND_CREATE, who, now, "", {})});
      store_.Write(
          std::move(w),
          [reactor, response, goal](absl::StatusOr<GoalWriteResult> r) {
            FinishWrite(reactor, response, r, goal);
          },
          deadline);
    };
    if (!RequiresSmart(goal.lifecycle_status())) return store(std::move(goal));
    EvaluateThen(who, goal, parent, now, deadline, reactor,
                 [reactor, goal, store](SmartEvaluation evaluation) mutable {
                   if (auto s = CheckActivation(evaluation); !s.ok()) return Finish(reactor, s);
                   store(std::move(goal));
                 });
  };

  if (goal.parent().empty()) {
    write(std::move(goal), ParentLookup::kNotLookedUp);
    return reactor;
  }
  auto parent_name = ParseGoalName("goal.parent", goal.parent());
  if (!parent_name.ok()) return Finish(reactor, parent_name.status()), reactor;
  store_.Get(
      who->tenant, parent_name->patient, parent_name->goal,
      [reactor, goal = std::move(goal),
       write = std::move(write)](absl::StatusOr<v1::Goal> parent) mutable {
        if (absl::IsNotFound(parent.status())) {
          return Finish(reactor, NotFoundError("goal.parent: parent goal not found"));
        }
        if (!parent.ok()) return Finish(reactor, parent.status());
        if (auto s = CheckParentAcceptsObjective(*parent, goal.patient()); !s.ok()) {
          return Finish(reactor, s);
        }
        write(std::move(goal), ParentLookup::kFound);
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::GetGoal(grpc::CallbackServerContext* ctx,
                                                      const v1::GetGoalRequest* request,
                                                      v1::Goal* response) {
  auto* reactor = ctx->DefaultReactor();
  auto name = ValidateGetGoalRequest(*request);
  auto who = server::Admit(env_, *ctx, "GoalService.GetGoal", name.status(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  store_.Get(
      who->tenant, name->patient, name->goal,
      [reactor, response](absl::StatusOr<v1::Goal> goal) {
        if (!goal.ok()) return Finish(reactor, goal.status());
        *response = *std::move(goal);
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::ListGoals(grpc::CallbackServerContext* ctx,
                                                        const v1::ListGoalsRequest* request,
                                                        v1::ListGoalsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto query = ValidateListGoalsRequest(*request);
  auto who = server::Admit(env_, *ctx, "GoalService.ListGoals", query.status(),
                           query.ok() ? query->patient : "");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  std::string filters = query->FilterFingerprint();
  auto cursor = DecodePageToken(query->page_token, filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;

  GoalFilter filter;
  if (query->parent.has_value()) filter.parent_id = query->parent->goal;
  filter.top_level_only = query->top_level_only;
  for (auto s : query->statuses) filter.statuses.push_back(static_cast<int>(s));
  filter.category = static_cast<int>(query->category);
  filter.needs_review = query->needs_review;

  absl::Time deadline = DeadlineOf(*ctx);
  auto list = [this, reactor, response, tenant = who->tenant, patient = query->patient, filter,
               page_size = query->page_size, cursor = *cursor, filters, deadline]() {
    store_.List(
        tenant, patient, filter, page_size, cursor,
        [reactor, response, filters](absl::StatusOr<GoalListPage> page) {
          if (!page.ok()) return Finish(reactor, page.status());
          for (auto& g : page->goals) *response->add_goals() = std::move(g);
          response->set_next_page_token(EncodePageToken(page->next_cursor, filters));
          Finish(reactor, absl::OkStatus());
        },
        deadline);
  };
  if (!query->parent.has_value() || !cursor->empty()) {
    list();
    return reactor;
  }
  // A parent filter naming a goal that does not exist is NOT_FOUND, not an empty page.
  store_.Get(
      who->tenant, query->patient, query->parent->goal,
      [reactor, list = std::move(list)](absl::StatusOr<v1::Goal> parent) {
        if (absl::IsNotFound(parent.status())) {
          return Finish(reactor, NotFoundError("parent: goal not found"));
        }
        if (!parent.ok()) return Finish(reactor, parent.status());
        list();
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::UpdateGoal(grpc::CallbackServerContext* ctx,
                                                         const v1::UpdateGoalRequest* request,
                                                         v1::Goal* response) {
  auto* reactor = ctx->DefaultReactor();
  auto update = ValidateUpdateGoalRequest(*request);
  auto who = server::Admit(env_, *ctx, "GoalService.UpdateGoal", update.status(),
                           update.ok() ? update->name.patient : "");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  std::optional<int64_t> expected = ParseEtag(request->etag());
  if (!expected.has_value()) return Finish(reactor, EtagMismatch()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  store_.Get(
      who->tenant, update->name.patient, update->name.goal,
      [this, reactor, response, request, who = *who, paths = update->paths, expected = *expected,
       deadline](absl::StatusOr<v1::Goal> current) {
        if (!current.ok()) return Finish(reactor, current.status());
        if (current->revision() != expected) return Finish(reactor, EtagMismatch());
        if (IsClient(who)) {
          bool agreement_only = paths.size() == 1 && paths[0] == "agreement";
          if (current->lifecycle_status() != v1::GOAL_LIFECYCLE_STATUS_PROPOSED &&
              !agreement_only) {
            return Finish(reactor, PermissionDenied("clients may change only their proposed "
                                                    "goals, and the agreement of any goal"));
          }
        }
        if (auto s = CheckUpdateAllowed(current->lifecycle_status(), paths); !s.ok()) {
          return Finish(reactor, s);
        }
        auto applied = ApplyUpdate(*current, request->goal(), paths);
        if (!applied.ok()) return Finish(reactor, applied.status());
        if (!applied->changed()) {
          *response = *current;
          return Finish(reactor, absl::OkStatus());
        }
        absl::Time now = env_.clock->Now();
        auto store = [this, reactor, response, request, who, expected, deadline, now,
                      changed = applied->changed_fields](v1::Goal goal) {
          Advance(goal, now);
          GoalWrite w;
          w.tenant = who.tenant;
          w.audit = who.audit_note;
          w.patient = goal.patient();
          w.changes.push_back({goal, expected,
                               NewRevision(goal, v1::GOAL_REVISION_KIND_UPDATE, who, now,
                                           request->reason(), changed)});
          store_.Write(
              std::move(w),
              [reactor, response, goal](absl::StatusOr<GoalWriteResult> r) {
                if (!r.ok()) return Finish(reactor, r.status());
                *response = goal;
                Finish(reactor, absl::OkStatus());
              },
              deadline);
        };
        auto status = current->lifecycle_status();
        if (status != v1::GOAL_LIFECYCLE_STATUS_ACTIVE &&
            status != v1::GOAL_LIFECYCLE_STATUS_ON_HOLD) {
          return store(std::move(applied->goal));
        }
        // An update must not break a goal that is in force: compare SMART before and after.
        EvaluateThen(who, *current, ParentLookup::kNotLookedUp, now, deadline, reactor,
                     [this, reactor, who, now, deadline, status, after = std::move(applied->goal),
                      store](SmartEvaluation before) mutable {
                       EvaluateThen(who, after, ParentLookup::kNotLookedUp, now, deadline, reactor,
                                    [reactor, status, before = std::move(before), after,
                                     store](SmartEvaluation evaluated) mutable {
                                      if (auto s = CheckUpdateKeepsSmart(status, before, evaluated);
                                          !s.ok()) {
                                        return Finish(reactor, s);
                                      }
                                      store(std::move(after));
                                    });
                     });
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::TransitionGoal(
    grpc::CallbackServerContext* ctx, const v1::TransitionGoalRequest* request,
    v1::TransitionGoalResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto name = ValidateTransitionGoalRequest(*request);
  auto who = server::Admit(env_, *ctx, "GoalService.TransitionGoal", name.status(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  std::optional<int64_t> expected = ParseEtag(request->etag());
  absl::Time deadline = DeadlineOf(*ctx);
  GoalFilter children;
  children.parent_id = name->goal;

  // Reads the goal and its objectives, decides, then writes everything in one step.
  store_.Get(
      who->tenant, name->patient, name->goal,
      [this, reactor, response, request, who = *who, expected, deadline, children,
       name = *name](absl::StatusOr<v1::Goal> current) {
        if (!current.ok()) return Finish(reactor, current.status());
        // A retry with the same request_id is answered by the store even when the etag moved.
        bool retry_possible = !request->request_id().empty();
        if (!retry_possible && (!expected.has_value() || current->revision() != *expected)) {
          return Finish(reactor, EtagMismatch());
        }
        // Activation needs the metric's facts for SMART; other transitions do not.
        std::string metric_id = RequiresSmart(request->lifecycle_status())
                                    ? current->measure().metric()
                                    : std::string();
        catalog_.Lookup(
            who, metric_id, deadline,
            [this, reactor, response, request, who, expected, deadline, children, name,
             current = *current](absl::StatusOr<MetricInfo> metric) mutable {
              store_.List(
                  who.tenant, name.patient, children, GoalStore::kMaxGoalsPerPatient, "",
                  [this, reactor, response, request, who, expected, deadline, current,
                   metric = std::move(metric)](absl::StatusOr<GoalListPage> objectives) mutable {
                    if (!objectives.ok()) return Finish(reactor, objectives.status());
                    absl::Time now = env_.clock->Now();
                    v1::GoalLifecycleStatus to = request->lifecycle_status();
                    GoalWrite w;
                    w.tenant = who.tenant;
                    w.audit = who.audit_note;
                    w.patient = current.patient();
                    w.method = "TransitionGoal";
                    w.request_id = request->request_id();
                    w.fingerprint = Fingerprint(*request);
                    bool stale = !expected.has_value() || current.revision() != *expected;
                    absl::Status decision =
                        stale ? EtagMismatch() : CheckTransition(current.lifecycle_status(), to);
                    if (decision.ok() && RequiresSmart(to)) {
                      if (!metric.ok()) return Finish(reactor, metric.status());
                      SmartInputs inputs{now, *metric,
                                         current.parent().empty() ? ParentLookup::kNotLookedUp
                                                                  : ParentLookup::kFound};
                      decision = CheckActivation(smart_.Evaluate(current, inputs));
                    }
                    std::vector<std::string> cancel;
                    if (decision.ok()) {
                      auto to_cancel =
                          ObjectivesToCancel(to, request->open_objectives(), objectives->goals);
                      if (to_cancel.ok()) {
                        cancel = *to_cancel;
                      } else {
                        decision = to_cancel.status();
                      }
                    }
                    v1::TransitionGoalResponse result;
                    if (decision.ok()) {
                      v1::Goal goal = current;
                      goal.set_lifecycle_status(to);
                      goal.set_status_reason(request->reason());
                      *goal.mutable_status_time() = ToProto(now);
                      Advance(goal, now);
                      w.changes.push_back(
                          {goal, current.revision(),
                           NewRevision(goal, v1::GOAL_REVISION_KIND_TRANSITION, who, now,
                                       request->reason(), {"lifecycle_status"})});
                      if (IsClosed(to))
                        w.outbox.push_back(EndRemindersEffect(goal, request->reason(), who));
                      for (const v1::Goal& objective : objectives->goals) {
                        if (std::find(cancel.begin(), cancel.end(), objective.name()) ==
                            cancel.end()) {
                          continue;
                        }
                        v1::Goal o = objective;
                        int64_t before = o.revision();
                        o.set_lifecycle_status(v1::GOAL_LIFECYCLE_STATUS_CANCELLED);
                        o.set_status_reason(request->reason());
                        *o.mutable_status_time() = ToProto(now);
                        Advance(o, now);
                        w.changes.push_back(
                            {o, before,
                             NewRevision(o, v1::GOAL_REVISION_KIND_TRANSITION, who, now,
                                         request->reason(), {"lifecycle_status"})});
                        w.outbox.push_back(EndRemindersEffect(o, request->reason(), who));
                        *result.add_cancelled_objectives() = o;
                      }
                      *result.mutable_goal() = goal;
                    } else if (w.request_id.empty()) {
                      return Finish(reactor, decision);
                    } else {
                      // Only a replay of an earlier success can still answer this request:
                      // record nothing, and let the store return the stored result if any.
                      w.changes.clear();
                      w.outbox.clear();
                      w.replay_only = true;
                    }
                    w.result = result.SerializeAsString();
                    store_.Write(
                        std::move(w),
                        [reactor, response, result, decision](absl::StatusOr<GoalWriteResult> r) {
                          if (!r.ok()) return Finish(reactor, r.status());
                          if (r->replayed) {
                            response->ParseFromString(r->result);
                            return Finish(reactor, absl::OkStatus());
                          }
                          if (!decision.ok()) return Finish(reactor, decision);
                          *response = result;
                          Finish(reactor, absl::OkStatus());
                        },
                        deadline);
                  },
                  deadline);
            });
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::ListGoalRevisions(
    grpc::CallbackServerContext* ctx, const v1::ListGoalRevisionsRequest* request,
    v1::ListGoalRevisionsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto query = ValidateListGoalRevisionsRequest(*request);
  auto name = ParseGoalName("name", request->name());
  absl::Status valid = query.ok() ? name.status() : query.status();
  auto who = server::Admit(env_, *ctx, "GoalService.ListGoalRevisions", valid,
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  auto cursor = DecodePageToken(query->page_token, request->name());
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  int64_t before = 0;
  if (!cursor->empty() && (!absl::SimpleAtoi(*cursor, &before) || before <= 0)) {
    return Finish(reactor, InvalidField("page_token", "is not a page token of this call")), reactor;
  }
  store_.ListRevisions(
      who->tenant, name->patient, name->goal, query->page_size, before,
      [reactor, response, goal_name = request->name()](absl::StatusOr<RevisionPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        for (auto& r : page->revisions) *response->add_revisions() = std::move(r);
        if (page->next_before > 0) {
          response->set_next_page_token(
              EncodePageToken(absl::StrCat(page->next_before), goal_name));
        }
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::EvaluateSmart(grpc::CallbackServerContext* ctx,
                                                            const v1::EvaluateSmartRequest* request,
                                                            v1::EvaluateSmartResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  const v1::Goal& goal = request->goal();
  auto who = server::Admit(env_, *ctx, "GoalService.EvaluateSmart",
                           ValidateEvaluateSmartRequest(*request), goal.patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time now = env_.clock->Now();
  absl::Time deadline = DeadlineOf(*ctx);
  auto evaluate = [this, reactor, response, request, now, deadline,
                   who = *who](ParentLookup parent) {
    EvaluateThen(who, request->goal(), parent, now, deadline, reactor,
                 [reactor, response](SmartEvaluation evaluation) {
                   *response = evaluation.ToResponse();
                   Finish(reactor, absl::OkStatus());
                 });
  };
  auto parent_name = ParseGoalName("goal.parent", goal.parent());
  if (goal.parent().empty() || goal.patient().empty() || !parent_name.ok() ||
      parent_name->patient != goal.patient()) {
    evaluate(goal.parent().empty() ? ParentLookup::kNotLookedUp : ParentLookup::kNotFound);
    return reactor;
  }
  store_.Get(
      who->tenant, parent_name->patient, parent_name->goal,
      [reactor, evaluate](absl::StatusOr<v1::Goal> parent) {
        if (absl::IsNotFound(parent.status())) return evaluate(ParentLookup::kNotFound);
        if (!parent.ok()) return Finish(reactor, parent.status());
        evaluate(ParentLookup::kFound);
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::RateGoalAttainment(
    grpc::CallbackServerContext* ctx, const v1::RateGoalAttainmentRequest* request,
    v1::AttainmentRating* response) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time now = env_.clock->Now();
  auto name = ValidateRateGoalAttainmentRequest(*request, DayIn(now, options_.smart.time_zone));
  auto who = server::Admit(env_, *ctx, "GoalService.RateGoalAttainment", name.status(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;

  // The rating is decided once, so a lost race (the goal changed in between) retries the write
  // with the same rating id.
  v1::AttainmentRating rating;
  rating.set_name(absl::StrCat(request->name(), "/ratings/", NewId()));
  rating.set_goal(request->name());
  rating.set_rating(request->rating());
  *rating.mutable_review_date() = request->review_date();
  if (request->has_weight()) rating.set_weight(request->weight());
  rating.set_note(request->note());
  *rating.mutable_rater() = who->ToActor();
  *rating.mutable_create_time() = ToProto(now);

  struct Attempt {
    GoalServiceHandler* self;
    grpc::ServerUnaryReactor* reactor;
    v1::AttainmentRating* response;
    const v1::RateGoalAttainmentRequest* request;
    auth::Identity who;
    GoalName name;
    v1::AttainmentRating rating;
    absl::Time now;
    absl::Time deadline;
    int attempt = 0;

    void Run(std::shared_ptr<Attempt> self_ptr) {
      self->store_.Get(
          who.tenant, name.patient, name.goal,
          [self_ptr](absl::StatusOr<v1::Goal> current) {
            Attempt& a = *self_ptr;
            if (!current.ok()) return Finish(a.reactor, current.status());
            auto status = current->lifecycle_status();
            if (status == v1::GOAL_LIFECYCLE_STATUS_PROPOSED ||
                status == v1::GOAL_LIFECYCLE_STATUS_REJECTED ||
                status == v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR) {
              return Finish(a.reactor,
                            WithReason(absl::FailedPreconditionError(
                                           "goals that are proposed, rejected or entered in error "
                                           "cannot be rated"),
                                       "RESOURCE_CLOSED"));
            }
            v1::Goal goal = *current;
            int64_t before = goal.revision();
            const auto& latest = goal.latest_attainment();
            if (!goal.has_latest_attainment() ||
                ToCivilDay(a.rating.review_date()) >= ToCivilDay(latest.review_date())) {
              *goal.mutable_latest_attainment() = a.rating;
            }
            Advance(goal, a.now);
            v1::GoalRevision rev = NewRevision(goal, v1::GOAL_REVISION_KIND_RATING, a.who, a.now,
                                               a.request->note(), {"latest_attainment"});
            *rev.mutable_rating() = a.rating;
            GoalWrite w;
            w.tenant = a.who.tenant;
            w.audit = a.who.audit_note;
            w.patient = goal.patient();
            w.method = "RateGoalAttainment";
            w.request_id = a.request->request_id();
            w.fingerprint = Fingerprint(*a.request);
            w.result = a.rating.SerializeAsString();
            w.changes.push_back({goal, before, std::move(rev)});
            a.self->store_.Write(
                std::move(w),
                [self_ptr](absl::StatusOr<GoalWriteResult> r) {
                  Attempt& a = *self_ptr;
                  if (absl::IsAborted(r.status()) && ++a.attempt < kMaxWriteAttempts) {
                    return a.Run(self_ptr);
                  }
                  FinishWrite(a.reactor, a.response, r, a.rating);
                },
                a.deadline);
          },
          deadline);
    }
  };
  auto attempt = std::make_shared<Attempt>(Attempt{this, reactor, response, request, *who, *name,
                                                   std::move(rating), now, DeadlineOf(*ctx)});
  attempt->Run(attempt);
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::GetAttainmentScore(
    grpc::CallbackServerContext* ctx, const v1::GetAttainmentScoreRequest* request,
    v1::GetAttainmentScoreResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = server::Admit(env_, *ctx, "GoalService.GetAttainmentScore",
                           ValidateGetAttainmentScoreRequest(*request), request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  double rho = request->has_rho() ? request->rho() : options_.attainment_rho;
  store_.List(
      who->tenant, request->patient(), GoalFilter{}, GoalStore::kMaxGoalsPerPatient, "",
      [reactor, response, request, rho](absl::StatusOr<GoalListPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        std::vector<AttainmentTerm> terms;
        for (const v1::Goal& g : page->goals) {
          if (!g.has_latest_attainment()) continue;
          auto status = g.lifecycle_status();
          if (status == v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR ||
              status == v1::GOAL_LIFECYCLE_STATUS_REJECTED) {
            continue;
          }
          if (request->goals_size() > 0 &&
              std::find(request->goals().begin(), request->goals().end(), g.name()) ==
                  request->goals().end()) {
            continue;
          }
          double weight = 1.0;
          if (auto it = request->weights().find(g.name()); it != request->weights().end()) {
            weight = it->second;
          } else if (g.latest_attainment().has_weight()) {
            weight = g.latest_attainment().weight();
          }
          terms.push_back({g.latest_attainment().rating(), weight});
          auto* term = response->add_terms();
          term->set_goal(g.name());
          *term->mutable_rating() = g.latest_attainment();
          term->set_weight(weight);
        }
        response->set_n(static_cast<int32_t>(terms.size()));
        response->set_rho(rho);
        if (!terms.empty()) {
          auto t = AttainmentTScore(terms, rho);
          if (!t.ok()) return Finish(reactor, t.status());
          response->set_t_score(*t);
        }
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::ExportGoalsFhir(
    grpc::CallbackServerContext* ctx, const v1::ExportGoalsFhirRequest* request,
    v1::ExportGoalsFhirResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = server::Admit(env_, *ctx, "GoalService.ExportGoalsFhir",
                           ValidateExportGoalsFhirRequest(*request), request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  GoalFilter filter;
  for (int s : request->lifecycle_statuses()) filter.statuses.push_back(s);
  absl::Time now = env_.clock->Now();
  store_.List(
      who->tenant, request->patient(), filter, GoalStore::kMaxGoalsPerPatient, "",
      [reactor, response, now](absl::StatusOr<GoalListPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        FhirExportOptions options;
        options.timestamp = now;
        response->set_bundle_json(GoalsToFhirBundleJson(page->goals, options));
        response->set_goal_count(static_cast<int32_t>(page->goals.size()));
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* GoalServiceHandler::SetAchievementStatus(
    grpc::CallbackServerContext* ctx, const v1::SetAchievementStatusRequest* request,
    v1::SetAchievementStatusResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto name = ValidateSetAchievementStatusRequest(*request, env_.clock->Now());
  auto who = server::Admit(env_, *ctx, "GoalService.SetAchievementStatus", name.status(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time deadline = DeadlineOf(*ctx);
  absl::Time evaluate_time = ToTime(request->evaluate_time());
  store_.Get(
      who->tenant, name->patient, name->goal,
      [this, reactor, response, request, who = *who, deadline,
       evaluate_time](absl::StatusOr<v1::Goal> current) {
        if (!current.ok()) return Finish(reactor, current.status());
        auto status = current->lifecycle_status();
        bool frozen = status == v1::GOAL_LIFECYCLE_STATUS_REJECTED ||
                      status == v1::GOAL_LIFECYCLE_STATUS_ENTERED_IN_ERROR;
        bool stale = current->has_achievement_status_time() &&
                     evaluate_time <= ToTime(current->achievement_status_time());
        v1::SetAchievementStatusResponse result;
        GoalWrite w;
        w.tenant = who.tenant;
        w.audit = who.audit_note;
        w.patient = current->patient();
        w.method = "SetAchievementStatus";
        w.request_id = request->request_id();
        w.fingerprint = Fingerprint(*request);
        if (frozen || stale) {
          *result.mutable_goal() = *current;
          result.set_applied(false);
        } else {
          absl::Time now = env_.clock->Now();
          v1::Goal goal = *current;
          std::vector<std::string> changed = {"achievement_status"};
          goal.set_achievement_status(request->achievement_status());
          *goal.mutable_achievement_status_time() = request->evaluate_time();
          if (request->has_needs_review()) {
            goal.set_needs_review(request->needs_review());
            goal.set_needs_review_reason(request->needs_review() ? request->needs_review_reason()
                                                                 : "");
            changed.push_back("needs_review");
          }
          Advance(goal, now);
          w.changes.push_back({goal, current->revision(),
                               NewRevision(goal, v1::GOAL_REVISION_KIND_ACHIEVEMENT, who, now,
                                           request->reason(), changed)});
          *result.mutable_goal() = goal;
          result.set_applied(true);
        }
        w.result = result.SerializeAsString();
        store_.Write(
            std::move(w),
            [reactor, response, result](absl::StatusOr<GoalWriteResult> r) {
              FinishWrite(reactor, response, r, result);
            },
            deadline);
      },
      deadline);
  return reactor;
}

server::ServiceParts BuildGoalService(const server::ServiceEnv& env) {
  server::ServiceParts parts;
  MetricCatalog catalog;
  if (env.config != nullptr) {
    catalog = MetricCatalog(
        server::PeerChannel(absl::GetFlag(FLAGS_measurements_addr), env.peer_credentials),
        env.config->auth);
  }
  parts.services.push_back(
      std::make_unique<GoalServiceHandler>(env, GoalServiceOptions{}, std::move(catalog)));
  parts.health_names.push_back("trellis.v1.GoalService");
  if (env.config != nullptr) {
    // Closed goals end their reminders through the outbox (DESIGN.md §4).
    auto effects = std::make_shared<ReminderEffects>(
        server::PeerChannel(absl::GetFlag(FLAGS_reminders_addr), env.peer_credentials),
        env.config->auth);
    outbox::RelayOptions relay;
    relay.service = "goals";
    relay.walk_interval = env.config->cluster_walk_interval;
    parts.workers.push_back(std::make_unique<outbox::OutboxRelay>(
        env.redis, env.clock, relay,
        [effects](const outbox::Delivery& d) { return effects->Deliver(d); }, env.registry));
  }
  return parts;
}

}  // namespace trellis::goals
