#include "services/reminders/reminder_service.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/clinical/instruments.h"
#include "common/ids/ids.h"
#include "common/outbox/relay.h"
#include "common/server/admit.h"
#include "common/server/flags.h"
#include "common/server/page_token.h"
#include "common/server/peer.h"
#include "common/server/rpc.h"
#include "common/status/status.h"
#include "services/reminders/domain/adherence.h"
#include "services/reminders/domain/delivery_policy.h"
#include "services/reminders/domain/occurrence_id.h"
#include "services/reminders/reminder_convert.h"
#include "trellis/v1/measurements.grpc.pb.h"

ABSL_FLAG(absl::Duration, min_schedule_interval, absl::Minutes(15),
          "Schedules whose occurrences come closer together than this are refused.");
ABSL_FLAG(absl::Duration, visibility_timeout, absl::Seconds(30),
          "A delivery not acknowledged within this is delivered again (same delivery_id).");
ABSL_FLAG(absl::Duration, catch_up_grace, absl::Hours(1),
          "After downtime, occurrences due within this are delivered late; older ones are "
          "recorded as missed.");
ABSL_FLAG(absl::Duration, lateness_threshold, absl::Minutes(1),
          "Deliveries later than this after their due time are marked late.");
ABSL_FLAG(absl::Duration, dispatch_lease, absl::Seconds(30),
          "How long a dispatcher's claim on due occurrences is exclusive (a replica that dies "
          "holds them this long at most).");
ABSL_FLAG(absl::Duration, dispatch_interval, absl::Milliseconds(200),
          "How often an idle dispatcher looks for due occurrences.");
ABSL_FLAG(int, dispatch_batch, 1000,
          "Due entries per claim, 1-2000. Larger claims dispatch a burst faster; each claim's "
          "scripts hold Redis for about 40 microseconds per entry.");
ABSL_FLAG(int, dispatch_threads, 2, "Dispatcher threads (they split the due buckets).");
ABSL_FLAG(absl::Duration, stream_poll_interval, absl::Milliseconds(100),
          "How often an idle StreamDueReminders stream looks for deliveries.");

namespace trellis::reminders {

namespace v1 = ::trellis::v1;
using server::DeadlineOf;
using server::DecodePageToken;
using server::EncodePageToken;
using server::Finish;
using server::FinishWrite;

struct ReminderServiceHandler::Decision {
  // Answer the current reminder; write nothing.
  bool unchanged = false;
  // The new value and its indexes (when !unchanged). expected_revision is set by Modify.
  ReminderChange change;
};

namespace {

constexpr size_t kMaxTextLength = 1000;
constexpr size_t kMaxPauseReasonLength = 500;
constexpr size_t kMaxEndReasonLength = 1000;
constexpr int kDefaultPageSize = 50;
constexpr int kDefaultMaxUnacked = 1000;
constexpr int kMaxUnacked = 10000;
constexpr int kMaxAcksPerCall = 1000;

// The store's item for a parsed delivery id.
AckItem AckItemOf(const DeliveryRef& d) {
  return {d.occurrence.patient, d.occurrence.reminder_id,
          DeliveryField(ToUnixMillisFloor(d.occurrence.scheduled_time), d.snooze)};
}
constexpr int kMaxPageSize = 500;
constexpr absl::Duration kMaxPauseLength = absl::Hours(24 * 366);
// Resume records at most this many occurrences of the pause as skipped_paused.
constexpr int kMaxSkippedRecords = 500;
// Internal read-modify-write loops (EndGoalReminders) retry a lost race this many times.
constexpr int kMaxWriteAttempts = 3;

bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799 && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

bool IsValidUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    int extra;
    uint32_t cp;
    uint32_t min;
    if (c < 0x80) {
      ++p;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += extra + 1;
  }
  return true;
}

size_t CodePointCount(absl::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
}

// Text of at most `max` code points (and at least one when `required`).
void CheckText(FieldViolations& fv, absl::string_view field, absl::string_view text, size_t max,
               bool required) {
  if (text.empty()) {
    if (required) fv.Add(field, "is required");
    return;
  }
  if (!IsValidUtf8(text)) return fv.Add(field, "must be valid UTF-8");
  if (size_t n = CodePointCount(text); n > max) {
    fv.Add(field, absl::StrCat("must be at most ", max, " characters (has ", n, ")"));
  }
}

absl::Status EtagMismatch() {
  return WithReason(absl::AbortedError("the reminder has changed; read it again and reapply"),
                    "ETAG_MISMATCH");
}

absl::Status Closed() {
  return WithReason(absl::FailedPreconditionError("the reminder has ended"), "RESOURCE_CLOSED");
}

// "patients/{patient}/{collection}/{id}".
struct ResourceName {
  std::string patient;
  std::string id;
};

absl::StatusOr<ResourceName> ParseName(absl::string_view field, absl::string_view name,
                                       absl::string_view collection) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "patients" || parts[2] != collection ||
      !ValidateId(field, parts[1]).ok() || !ValidateId(field, parts[3]).ok()) {
    return InvalidField(
        field, absl::StrCat("must be a name of the form patients/{patient}/", collection, "/{id}"));
  }
  return ResourceName{std::string(parts[1]), std::string(parts[3])};
}

std::string ReminderName(absl::string_view patient, absl::string_view id) {
  return absl::StrCat("patients/", patient, "/reminders/", id);
}

bool InPause(const v1::Reminder& r, absl::Time t) { return PauseOf(r).Contains(t); }

// The next occurrence after `now` that will be delivered: outside the pause window.
std::optional<absl::Time> NextDeliverable(const ReminderSchedule& schedule, const v1::Reminder& r,
                                          absl::Time now) {
  auto next = schedule.NextOccurrence(now);
  if (!next.has_value()) return std::nullopt;
  if (!InPause(r, next->time)) return next->time;
  if (!r.pause().has_end_time()) return std::nullopt;
  next = schedule.NextOccurrence(ToTime(r.pause().end_time()) - absl::Nanoseconds(1));
  if (!next.has_value()) return std::nullopt;
  return next->time;
}

void SetNext(v1::Reminder& r, std::optional<absl::Time> next) {
  if (next.has_value()) {
    *r.mutable_next_occurrence_time() = ToProto(*next);
  } else {
    r.clear_next_occurrence_time();
  }
}

// The reminder as a reader sees it at `now`: effective state (a pause window that began reads
// PAUSED, one that ended reads ACTIVE and is dropped), and next_occurrence_time brought forward
// when the stored one has passed (until the dispatcher advances it).
v1::Reminder Present(v1::Reminder r, absl::Time now) {
  if (r.state() == v1::REMINDER_STATE_ENDED) return r;
  if (r.has_pause() && r.pause().has_end_time() && ToTime(r.pause().end_time()) <= now) {
    r.clear_pause();
  }
  r.set_state(InPause(r, now) ? v1::REMINDER_STATE_PAUSED : v1::REMINDER_STATE_ACTIVE);
  if (!r.has_next_occurrence_time() || ToTime(r.next_occurrence_time()) <= now) {
    auto schedule = ReminderSchedule::FromStored(SpecOf(r.schedule()));
    if (schedule.ok()) SetNext(r, NextDeliverable(*schedule, r, now));
  }
  return r;
}

// The reminder a Delete/Pause/Resume names and the etag it expects (optional); violations go to
// `fv`, which collects the request's other ones too.
struct ChangeTarget {
  std::optional<ResourceName> name;
  std::optional<int64_t> expected;
};

ChangeTarget ParseChangeTarget(FieldViolations& fv, absl::string_view name,
                               absl::string_view etag) {
  ChangeTarget t;
  auto parsed = ParseName("name", name, "reminders");
  if (parsed.ok()) {
    t.name = *std::move(parsed);
  } else {
    fv.Merge(parsed.status());
  }
  t.expected = ParseEtag(etag);
  if (!etag.empty() && !t.expected.has_value()) fv.Add("etag", "is not an etag of a reminder");
  return t;
}

// Admission of a change to the reminder `target` names.
absl::StatusOr<auth::Identity> AdmitChange(const server::ServiceEnv& env,
                                           const grpc::CallbackServerContext& ctx,
                                           absl::string_view method, const FieldViolations& fv,
                                           const ChangeTarget& target) {
  return server::Admit(
      env, ctx, method, fv.ToStatus(), target.name.has_value() ? target.name->patient : "",
      target.name.has_value()
          ? absl::StrCat("patients/", target.name->patient, "/reminders/", target.name->id)
          : "");
}

// Checks the non-schedule fields of a reminder (create, and the merged value of an update).
void CheckReminderFields(FieldViolations& fv, const v1::Reminder& r) {
  bool plan_review = r.kind() == v1::REMINDER_KIND_PLAN_REVIEW;
  bool check_in = r.kind() == v1::REMINDER_KIND_CHECK_IN_QUESTIONNAIRE;
  bool homework = r.kind() == v1::REMINDER_KIND_HOMEWORK || r.kind() == v1::REMINDER_KIND_PRACTICE;
  if (r.kind() == v1::REMINDER_KIND_UNSPECIFIED || !v1::ReminderKind_IsValid(r.kind())) {
    fv.Add("reminder.kind",
           "is required: HOMEWORK, PRACTICE, CHECK_IN_QUESTIONNAIRE or PLAN_REVIEW");
  }
  CheckText(fv, "reminder.text", r.text(), kMaxTextLength, /*required=*/true);
  if (!v1::ReminderChannel_IsValid(r.channel())) fv.Add("reminder.channel", "unknown channel");
  if (plan_review) {
    if (r.clinician().empty()) {
      fv.Add("reminder.clinician", "is required for PLAN_REVIEW");
    } else {
      fv.Merge(ValidateId("reminder.clinician", r.clinician()));
    }
  } else if (!r.clinician().empty()) {
    fv.Add("reminder.clinician", "is only for PLAN_REVIEW reminders");
  }
  if (!r.goal().empty()) {
    auto goal = ParseName("reminder.goal", r.goal(), "goals");
    if (!goal.ok()) {
      fv.Merge(goal.status());
    } else if (goal->patient != r.patient()) {
      fv.Add("reminder.goal", "must be a goal of the same patient");
    }
  }
  if (check_in) {
    const v1::Metric* m = clinical::FindBuiltIn(r.instrument());
    if (r.instrument().empty()) {
      fv.Add("reminder.instrument", "is required for CHECK_IN_QUESTIONNAIRE (e.g. \"phq9\")");
    } else if (m == nullptr || m->kind() != v1::METRIC_KIND_QUESTIONNAIRE) {
      fv.Add("reminder.instrument", "is not a known questionnaire");
    }
  } else if (!r.instrument().empty()) {
    fv.Add("reminder.instrument", "is only for CHECK_IN_QUESTIONNAIRE reminders");
  }
  if (!r.metric().empty()) {
    if (!homework) {
      fv.Add("reminder.metric", "is only for HOMEWORK and PRACTICE reminders");
    } else if (!ValidateId("reminder.metric", r.metric()).ok()) {
      fv.Merge(ValidateId("reminder.metric", r.metric()));
    } else if (const v1::Metric* m = clinical::FindBuiltIn(r.metric());
               m != nullptr && m->kind() == v1::METRIC_KIND_QUESTIONNAIRE) {
      fv.Add("reminder.metric", "must not be a questionnaire (use CHECK_IN_QUESTIONNAIRE)");
    }
  }
}

// Validates a schedule under `prefix`; merges violations into `fv`.
std::optional<ReminderSchedule> CheckSchedule(FieldViolations& fv, const v1::Reminder& r,
                                              absl::Time now, ScheduleOptions options) {
  if (!r.has_schedule()) {
    fv.Add("reminder.schedule", "is required");
    return std::nullopt;
  }
  options.field_prefix = "reminder.schedule";
  auto schedule = ReminderSchedule::FromRequest(SpecOf(r.schedule()), now, options);
  if (!schedule.ok()) {
    size_t before = fv.size();
    fv.Merge(schedule.status());
    if (fv.size() == before) fv.Add("reminder.schedule", "is not a valid schedule");
    return std::nullopt;
  }
  return *std::move(schedule);
}

// Advances `r` to revision `revision` at `now`.
void Advance(v1::Reminder& r, int64_t revision, absl::Time now) {
  r.set_etag(EtagFor(revision));
  *r.mutable_update_time() = ToProto(now);
}

std::string GoalIdOf(const v1::Reminder& r) {
  if (r.goal().empty()) return "";
  return std::string(r.goal().substr(r.goal().rfind('/') + 1));
}

// The reminder ended at `now` for `reason`, with its due entry removed.
ReminderChange EndChange(const StoredReminder& current, v1::ReminderEndReason reason,
                         absl::Time now) {
  ReminderChange c;
  c.reminder = current.reminder;
  c.reminder.set_state(v1::REMINDER_STATE_ENDED);
  c.reminder.set_end_reason(reason);
  *c.reminder.mutable_end_time() = ToProto(now);
  c.reminder.clear_next_occurrence_time();
  c.revision = current.revision + 1;
  c.expected_revision = current.revision;
  c.previous_goal_id = GoalIdOf(current.reminder);
  c.due_update = ReminderChange::DueUpdate::kRemove;
  Advance(c.reminder, c.revision, now);
  return c;
}

constexpr size_t kMaxNoteLength = 2000;
// Occurrences of one reminder expanded for one adherence window (366 days at the 15-minute floor
// is 35 136).
constexpr int kMaxAdherenceOccurrences = 40000;

// Occurrence record states (store/reminder_store.h): a base name, "+s" once snoozed.
struct RecordState {
  std::string base;
  bool snoozed = false;
  bool final() const { return base == "done" || base == "skipped"; }
};

RecordState ParseRecordState(absl::string_view s) {
  RecordState out;
  if (absl::ConsumeSuffix(&s, "+s")) out.snoozed = true;
  out.base = std::string(s);
  if (out.base == "snoozed") out.snoozed = true;
  return out;
}

OccurrenceState ToOccurrenceState(const RecordState& s) {
  if (s.base == "done") return OccurrenceState::kDone;
  if (s.base == "skipped") return OccurrenceState::kSkipped;
  if (s.base == "snoozed") return OccurrenceState::kSnoozed;
  if (s.base == "missed") return OccurrenceState::kMissed;
  if (s.base == kOccurrenceSkippedPaused) return OccurrenceState::kSkippedPaused;
  if (s.base == "delivered") return OccurrenceState::kDelivered;
  return OccurrenceState::kScheduled;
}

absl::string_view OutcomeState(v1::CompletionOutcome outcome) {
  switch (outcome) {
    case v1::COMPLETION_OUTCOME_DONE:
      return "done";
    case v1::COMPLETION_OUTCOME_SKIPPED:
      return "skipped";
    default:
      return "snoozed";
  }
}

absl::Time FromMillis(int64_t ms) { return absl::FromUnixMillis(ms); }

void CopyCounts(const AdherenceCounts& in, v1::AdherenceCounts* out) {
  out->set_scheduled(in.scheduled);
  out->set_done(in.done);
  out->set_skipped(in.skipped);
  out->set_missed(in.missed);
  out->set_skipped_paused(in.skipped_paused);
  out->set_pending(in.pending);
  out->set_snoozed(in.snoozed);
  if (in.adherence_rate.has_value()) out->set_adherence_rate(*in.adherence_rate);
}

}  // namespace

ReminderServiceHandler::ReminderServiceHandler(const server::ServiceEnv& env,
                                               ReminderServiceOptions options,
                                               DeliveryStreams* streams)
    : env_(env),
      options_(std::move(options)),
      store_(env.redis),
      streams_(streams),
      peers_(options_.peers) {}

void ReminderServiceHandler::Modify(grpc::ServerUnaryReactor* reactor, v1::Reminder* response,
                                    const auth::Identity& who, const std::string& patient,
                                    const std::string& id, absl::Time deadline, Decide decide) {
  store_.Get(
      who.tenant, patient, id,
      [this, reactor, response, tenant = who.tenant, audit = who.audit_note, patient, deadline,
       decide = std::move(decide)](absl::StatusOr<StoredReminder> current) {
        if (!current.ok()) return Finish(reactor, current.status());
        absl::Time now = env_.clock->Now();
        auto decision = decide(*current, now);
        if (!decision.ok()) return Finish(reactor, decision.status());
        if (decision->unchanged) {
          *response = Present(current->reminder, now);
          return Finish(reactor, absl::OkStatus());
        }
        ReminderWrite w;
        w.tenant = tenant;
        w.audit = audit;
        w.patient = patient;
        decision->change.expected_revision = current->revision;
        v1::Reminder fresh = Present(decision->change.reminder, now);
        w.changes.push_back(std::move(decision->change));
        store_.Write(
            std::move(w),
            [reactor, response, fresh = std::move(fresh)](absl::StatusOr<ReminderWriteResult> r) {
              FinishWrite(reactor, response, r, fresh);
            },
            deadline);
      },
      deadline);
}

grpc::ServerUnaryReactor* ReminderServiceHandler::CreateReminder(
    grpc::CallbackServerContext* ctx, const v1::CreateReminderRequest* request,
    v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time now = env_.clock->Now();
  const v1::Reminder& in = request->reminder();
  FieldViolations fv;
  fv.Merge(ValidateId("reminder.patient", in.patient()));
  if (!request->request_id().empty()) fv.Merge(ValidateId("request_id", request->request_id()));
  CheckReminderFields(fv, in);
  std::optional<ReminderSchedule> schedule = CheckSchedule(fv, in, now, options_.schedule);
  auto who =
      server::Admit(env_, *ctx, "ReminderService.CreateReminder", fv.ToStatus(), in.patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  auto next = schedule->NextOccurrence(now);
  if (!next.has_value()) {  // FromRequest refuses such schedules; defensive.
    return Finish(reactor, InvalidField("reminder.schedule", "has no occurrence after now")),
           reactor;
  }

  v1::Reminder r;
  r.set_patient(in.patient());
  r.set_clinician(in.clinician());
  r.set_goal(in.goal());
  r.set_kind(in.kind());
  r.set_instrument(in.instrument());
  r.set_metric(in.metric());
  r.set_text(in.text());
  r.set_channel(in.channel());
  *r.mutable_schedule() = in.schedule();
  r.set_name(ReminderName(in.patient(), NewId()));
  r.set_state(v1::REMINDER_STATE_ACTIVE);
  *r.mutable_next_occurrence_time() = ToProto(next->time);
  *r.mutable_create_time() = ToProto(now);
  Advance(r, 1, now);

  ReminderChange c;
  c.reminder = r;
  c.revision = 1;
  c.expected_revision = 0;
  c.due_update = ReminderChange::DueUpdate::kSet;
  c.due = next->time;
  ReminderWrite w;
  w.tenant = who->tenant;
  w.audit = who->audit_note;
  w.patient = in.patient();
  w.method = "CreateReminder";
  w.request_id = request->request_id();
  w.fingerprint = Fingerprint(*request);
  w.result = r.SerializeAsString();
  w.changes.push_back(std::move(c));
  absl::Time deadline = DeadlineOf(*ctx);
  peers_.Check(
      *who, r, /*check_metric=*/true, /*check_goal=*/true, deadline,
      [this, reactor, response, r, w = std::move(w), deadline](absl::Status checked) mutable {
        if (!checked.ok()) return Finish(reactor, checked);
        store_.Write(
            std::move(w),
            [this, reactor, response, r](absl::StatusOr<ReminderWriteResult> written) {
              if (!written.ok()) return Finish(reactor, written.status());
              v1::Reminder out = r;
              if (written->replayed) out.ParseFromString(written->result);
              *response = Present(std::move(out), env_.clock->Now());
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      });
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::GetReminder(grpc::CallbackServerContext* ctx,
                                                              const v1::GetReminderRequest* request,
                                                              v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  auto name = ParseName("name", request->name(), "reminders");
  auto who = server::Admit(env_, *ctx, "ReminderService.GetReminder", name.status(),
                           name.ok() ? name->patient : "", request->name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  store_.Get(
      who->tenant, name->patient, name->id,
      [this, reactor, response](absl::StatusOr<StoredReminder> r) {
        if (!r.ok()) return Finish(reactor, r.status());
        *response = Present(std::move(r->reminder), env_.clock->Now());
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::ListReminders(
    grpc::CallbackServerContext* ctx, const v1::ListRemindersRequest* request,
    v1::ListRemindersResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  fv.Merge(ValidateId("patient", request->patient()));
  ReminderFilter filter;
  if (!request->goal().empty()) {
    auto goal = ParseName("goal", request->goal(), "goals");
    if (!goal.ok()) {
      fv.Merge(goal.status());
    } else if (goal->patient != request->patient()) {
      fv.Add("goal", "must be a goal of the patient");
    } else {
      filter.goal_id = goal->id;
    }
  }
  for (int k : request->kinds()) {
    if (k == v1::REMINDER_KIND_UNSPECIFIED || !v1::ReminderKind_IsValid(k)) {
      fv.Add("kinds", "unknown kind");
    } else {
      filter.kinds.push_back(k);
    }
  }
  for (int s : request->states()) {
    if (s == v1::REMINDER_STATE_UNSPECIFIED || !v1::ReminderState_IsValid(s)) {
      fv.Add("states", "unknown state");
    } else {
      filter.states.push_back(s);
    }
  }
  if (filter.states.empty() && request->states().empty()) {
    filter.states = {v1::REMINDER_STATE_ACTIVE, v1::REMINDER_STATE_PAUSED};
  }
  if (!request->clinician().empty()) fv.Merge(ValidateId("clinician", request->clinician()));
  filter.clinician = request->clinician();
  if (request->page_size() < 0) fv.Add("page_size", "must not be negative");
  int page_size =
      request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  std::sort(filter.kinds.begin(), filter.kinds.end());
  std::sort(filter.states.begin(), filter.states.end());
  auto who =
      server::Admit(env_, *ctx, "ReminderService.ListReminders", fv.ToStatus(), request->patient());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  std::string filters =
      absl::StrCat(request->patient(), "|", filter.goal_id, "|", absl::StrJoin(filter.kinds, ","),
                   "|", absl::StrJoin(filter.states, ","), "|", filter.clinician);
  auto cursor = DecodePageToken(request->page_token(), filters);
  if (!cursor.ok()) return Finish(reactor, cursor.status()), reactor;
  absl::Time now = env_.clock->Now();
  store_.List(
      who->tenant, request->patient(), filter, page_size, *cursor, now,
      [reactor, response, filters, now](absl::StatusOr<ReminderListPage> page) {
        if (!page.ok()) return Finish(reactor, page.status());
        for (auto& r : page->reminders) {
          *response->add_reminders() = Present(std::move(r.reminder), now);
        }
        response->set_next_page_token(EncodePageToken(page->next_cursor, filters));
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::UpdateReminder(
    grpc::CallbackServerContext* ctx, const v1::UpdateReminderRequest* request,
    v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  auto name = ParseName("reminder.name", request->reminder().name(), "reminders");
  if (!name.ok()) fv.Merge(name.status());
  static const std::vector<std::string> kPaths = {
      "text",           "channel",         "goal",
      "instrument",     "metric",          "clinician",
      "schedule",       "schedule.start",  "schedule.time_zone",
      "schedule.rrule", "schedule.exdates"};
  std::vector<std::string> paths;
  if (request->update_mask().paths().empty()) fv.Add("update_mask", "is required");
  for (const std::string& p : request->update_mask().paths()) {
    if (std::find(kPaths.begin(), kPaths.end(), p) == kPaths.end()) {
      fv.Add("update_mask", absl::StrCat("\"", p, "\" is not an updatable field"));
    } else if (std::find(paths.begin(), paths.end(), p) == paths.end()) {
      paths.push_back(p);
    }
  }
  std::optional<int64_t> expected = ParseEtag(request->etag());
  if (request->etag().empty()) {
    fv.Add("etag", "is required");
  } else if (!expected.has_value()) {
    fv.Add("etag", "is not an etag of a reminder");
  }
  auto who = server::Admit(env_, *ctx, "ReminderService.UpdateReminder", fv.ToStatus(),
                           name.ok() ? name->patient : "", request->reminder().name());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  bool new_metric = std::find(paths.begin(), paths.end(), "metric") != paths.end();
  bool new_goal = std::find(paths.begin(), paths.end(), "goal") != paths.end();
  if (new_metric || new_goal) {
    // The new metric or goal is checked with its service first (the merged value is checked
    // again locally below).
    peers_.Check(*who, request->reminder(), new_metric, new_goal, DeadlineOf(*ctx),
                 [this, ctx, reactor, request, response, who = *who, name = *name, paths,
                  expected](absl::Status checked) {
                   if (!checked.ok()) return Finish(reactor, checked);
                   ModifyForUpdate(reactor, request, response, who, name.patient, name.id, paths,
                                   expected, DeadlineOf(*ctx));
                 });
    return reactor;
  }
  ModifyForUpdate(reactor, request, response, *who, name->patient, name->id, paths, expected,
                  DeadlineOf(*ctx));
  return reactor;
}

void ReminderServiceHandler::ModifyForUpdate(grpc::ServerUnaryReactor* reactor,
                                             const v1::UpdateReminderRequest* request,
                                             v1::Reminder* response, const auth::Identity& who,
                                             const std::string& patient, const std::string& id,
                                             const std::vector<std::string>& paths,
                                             std::optional<int64_t> expected, absl::Time deadline) {
  Modify(reactor, response, who, patient, id, deadline,
         [this, request, paths, expected](const StoredReminder& current,
                                          absl::Time now) -> absl::StatusOr<Decision> {
           if (current.reminder.state() == v1::REMINDER_STATE_ENDED) return Closed();
           if (current.revision != *expected) return EtagMismatch();
           const v1::Reminder& patch = request->reminder();
           v1::Reminder r = current.reminder;
           bool schedule_changed = false;
           for (const std::string& p : paths) {
             if (p == "text") r.set_text(patch.text());
             if (p == "channel") r.set_channel(patch.channel());
             if (p == "goal") r.set_goal(patch.goal());
             if (p == "instrument") r.set_instrument(patch.instrument());
             if (p == "metric") r.set_metric(patch.metric());
             if (p == "clinician") r.set_clinician(patch.clinician());
             if (p == "schedule") *r.mutable_schedule() = patch.schedule();
             if (p == "schedule.start")
               *r.mutable_schedule()->mutable_start() = patch.schedule().start();
             if (p == "schedule.time_zone")
               r.mutable_schedule()->set_time_zone(patch.schedule().time_zone());
             if (p == "schedule.rrule") r.mutable_schedule()->set_rrule(patch.schedule().rrule());
             if (p == "schedule.exdates")
               *r.mutable_schedule()->mutable_exdates() = patch.schedule().exdates();
           }
           schedule_changed =
               r.schedule().SerializeAsString() != current.reminder.schedule().SerializeAsString();
           FieldViolations fv;
           CheckReminderFields(fv, r);
           std::optional<ReminderSchedule> schedule;
           if (schedule_changed) schedule = CheckSchedule(fv, r, now, options_.schedule);
           if (!fv.empty()) return fv.ToStatus();
           Decision d;
           if (r.SerializeAsString() == current.reminder.SerializeAsString()) {
             d.unchanged = true;
             return d;
           }
           ReminderChange& c = d.change;
           c.revision = current.revision + 1;
           c.previous_goal_id = GoalIdOf(current.reminder);
           if (schedule_changed) {
             auto due = schedule->NextOccurrence(now);
             if (due.has_value()) {
               c.due_update = ReminderChange::DueUpdate::kSet;
               c.due = due->time;
             } else {
               c.due_update = ReminderChange::DueUpdate::kRemove;
             }
             SetNext(r, NextDeliverable(*schedule, r, now));
           }
           Advance(r, c.revision, now);
           c.reminder = std::move(r);
           return d;
         });
}

grpc::ServerUnaryReactor* ReminderServiceHandler::DeleteReminder(
    grpc::CallbackServerContext* ctx, const v1::DeleteReminderRequest* request,
    v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  ChangeTarget target = ParseChangeTarget(fv, request->name(), request->etag());
  const std::optional<int64_t>& expected = target.expected;
  auto who = AdmitChange(env_, *ctx, "ReminderService.DeleteReminder", fv, target);
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  Modify(reactor, response, *who, target.name->patient, target.name->id, DeadlineOf(*ctx),
         [expected](const StoredReminder& current, absl::Time now) -> absl::StatusOr<Decision> {
           Decision d;
           if (current.reminder.state() == v1::REMINDER_STATE_ENDED) {
             d.unchanged = true;
             return d;
           }
           if (expected.has_value() && current.revision != *expected) return EtagMismatch();
           d.change = EndChange(current, v1::REMINDER_END_REASON_DELETED, now);
           return d;
         });
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::PauseReminder(
    grpc::CallbackServerContext* ctx, const v1::PauseReminderRequest* request,
    v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time now = env_.clock->Now();
  FieldViolations fv;
  ChangeTarget target = ParseChangeTarget(fv, request->name(), request->etag());
  const std::optional<int64_t>& expected = target.expected;
  absl::Time start = now;
  if (request->has_start_time()) {
    if (!ValidTimestamp(request->start_time())) {
      fv.Add("start_time", "is not a valid timestamp");
    } else {
      start = ToTime(request->start_time());
      if (start < now - options_.clock_skew) fv.Add("start_time", "must not be in the past");
    }
  }
  if (request->has_end_time()) {
    if (!ValidTimestamp(request->end_time())) {
      fv.Add("end_time", "is not a valid timestamp");
    } else {
      absl::Time end = ToTime(request->end_time());
      if (end <= start) fv.Add("end_time", "must be after start_time");
      if (end - start > kMaxPauseLength)
        fv.Add("end_time", "must be at most 366 days after start_time");
    }
  }
  CheckText(fv, "reason", request->reason(), kMaxPauseReasonLength, /*required=*/false);
  auto who = AdmitChange(env_, *ctx, "ReminderService.PauseReminder", fv, target);
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  Modify(reactor, response, *who, target.name->patient, target.name->id, DeadlineOf(*ctx),
         [request, expected, start](const StoredReminder& current,
                                    absl::Time now) -> absl::StatusOr<Decision> {
           if (current.reminder.state() == v1::REMINDER_STATE_ENDED) return Closed();
           if (expected.has_value() && current.revision != *expected) return EtagMismatch();
           v1::PauseWindow window;
           *window.mutable_start_time() = ToProto(start);
           if (request->has_end_time()) *window.mutable_end_time() = request->end_time();
           window.set_reason(request->reason());
           Decision d;
           const v1::Reminder& cur = current.reminder;
           if (cur.has_pause()) {
             // The same window again changes nothing (an unset start matches a pause that began).
             bool same_start = request->has_start_time()
                                   ? cur.pause().start_time().SerializeAsString() ==
                                         window.start_time().SerializeAsString()
                                   : ToTime(cur.pause().start_time()) <= now;
             bool same_end = cur.pause().end_time().SerializeAsString() ==
                                 window.end_time().SerializeAsString() &&
                             cur.pause().has_end_time() == window.has_end_time();
             if (same_start && same_end && cur.pause().reason() == window.reason()) {
               d.unchanged = true;
               return d;
             }
           }
           v1::Reminder r = cur;
           *r.mutable_pause() = window;
           r.set_state(InPause(r, now) ? v1::REMINDER_STATE_PAUSED : v1::REMINDER_STATE_ACTIVE);
           auto schedule = ReminderSchedule::FromStored(SpecOf(r.schedule()));
           if (!schedule.ok()) return schedule.status();
           SetNext(r, NextDeliverable(*schedule, r, now));
           // The due entry stays at the next schedule occurrence: the dispatcher records the
           // ones inside the pause as skipped_paused when it reaches them.
           d.change.revision = current.revision + 1;
           d.change.previous_goal_id = GoalIdOf(cur);
           Advance(r, d.change.revision, now);
           d.change.reminder = std::move(r);
           return d;
         });
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::ResumeReminder(
    grpc::CallbackServerContext* ctx, const v1::ResumeReminderRequest* request,
    v1::Reminder* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  ChangeTarget target = ParseChangeTarget(fv, request->name(), request->etag());
  const std::optional<int64_t>& expected = target.expected;
  auto who = AdmitChange(env_, *ctx, "ReminderService.ResumeReminder", fv, target);
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  Modify(reactor, response, *who, target.name->patient, target.name->id, DeadlineOf(*ctx),
         [expected](const StoredReminder& current, absl::Time now) -> absl::StatusOr<Decision> {
           const v1::Reminder& cur = current.reminder;
           if (cur.state() == v1::REMINDER_STATE_ENDED) return Closed();
           if (expected.has_value() && current.revision != *expected) return EtagMismatch();
           Decision d;
           bool pause_over = cur.has_pause() && cur.pause().has_end_time() &&
                             ToTime(cur.pause().end_time()) <= now;
           if (!cur.has_pause() || pause_over) {
             d.unchanged = true;
             return d;
           }
           auto schedule = ReminderSchedule::FromStored(SpecOf(cur.schedule()));
           if (!schedule.ok()) return schedule.status();
           ReminderChange& c = d.change;
           // Occurrences that fell in the pause so far are recorded as skipped_paused (bounded;
           // the dispatcher records any it reaches first, and never overwrites a record).
           absl::Time from = ToTime(cur.pause().start_time());
           absl::Time until = now;
           if (cur.pause().has_end_time()) until = std::min(until, ToTime(cur.pause().end_time()));
           for (auto o = schedule->NextOccurrence(from - absl::Nanoseconds(1));
                o.has_value() && o->time < until &&
                static_cast<int>(c.occurrences.size()) < kMaxSkippedRecords;
                o = schedule->NextOccurrence(o->time)) {
             c.occurrences.emplace_back(o->time, std::string(kOccurrenceSkippedPaused));
           }
           v1::Reminder r = cur;
           r.clear_pause();
           r.set_state(v1::REMINDER_STATE_ACTIVE);
           auto due = schedule->NextOccurrence(now);
           SetNext(r, due.has_value() ? std::optional<absl::Time>(due->time) : std::nullopt);
           if (due.has_value()) {
             c.due_update = ReminderChange::DueUpdate::kSet;
             c.due = due->time;
           }
           c.revision = current.revision + 1;
           c.previous_goal_id = GoalIdOf(cur);
           Advance(r, c.revision, now);
           c.reminder = std::move(r);
           return d;
         });
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::PreviewSchedule(
    grpc::CallbackServerContext* ctx, const v1::PreviewScheduleRequest* request,
    v1::PreviewScheduleResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = server::Admit(env_, *ctx, "ReminderService.PreviewSchedule", absl::OkStatus(), "");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  absl::Time now = env_.clock->Now();
  FieldViolations fv;
  if (request->count() < 0 || request->count() > kMaxPreviewCount) {
    fv.Add("count", absl::StrCat("must be between 0 and ", kMaxPreviewCount));
  }
  absl::Time from = now;
  if (request->has_start_time()) {
    if (!ValidTimestamp(request->start_time())) {
      fv.Add("start_time", "is not a valid timestamp");
    } else {
      from = ToTime(request->start_time());
    }
  }
  std::optional<ReminderSchedule> schedule;
  if (!request->has_schedule()) {
    fv.Add("schedule", "is required");
  } else {
    ScheduleOptions options = options_.schedule;
    options.field_prefix = "schedule";
    auto s = ReminderSchedule::FromRequest(SpecOf(request->schedule()), now, options);
    if (s.ok()) {
      schedule = *std::move(s);
    } else {
      size_t before = fv.size();
      fv.Merge(s.status());
      if (fv.size() == before) fv.Add("schedule", "is not a valid schedule");
    }
  }
  if (!fv.empty()) return Finish(reactor, fv.ToStatus()), reactor;
  // At or after `from`: Preview takes the first occurrences at or after its argument.
  auto preview = schedule->Preview(from, request->count());
  if (!preview.ok()) return Finish(reactor, preview.status()), reactor;
  for (const Occurrence& o : preview->occurrences) {
    auto* out = response->add_occurrences();
    *out->mutable_time() = ToProto(o.time);
    out->set_local_time(o.local_time);
    auto* l = out->mutable_rule_local_time();
    l->set_year(static_cast<int32_t>(o.rule_local_time.year()));
    l->set_month(o.rule_local_time.month());
    l->set_day(o.rule_local_time.day());
    l->set_hours(o.rule_local_time.hour());
    l->set_minutes(o.rule_local_time.minute());
    l->set_seconds(o.rule_local_time.second());
    out->set_shifted(o.shifted);
  }
  response->set_exhausted(preview->exhausted);
  Finish(reactor, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::EndGoalReminders(
    grpc::CallbackServerContext* ctx, const v1::EndGoalRemindersRequest* request,
    v1::EndGoalRemindersResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto who = server::Admit(env_, *ctx, "ReminderService.EndGoalReminders", absl::OkStatus(), "",
                           request->goal());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  FieldViolations fv;
  auto goal = ParseName("goal", request->goal(), "goals");
  if (!goal.ok()) fv.Merge(goal.status());
  CheckText(fv, "reason", request->reason(), kMaxEndReasonLength, /*required=*/false);
  if (request->request_id().empty()) {
    fv.Add("request_id", "is required (the sender's outbox entry id)");
  } else {
    fv.Merge(ValidateId("request_id", request->request_id()));
  }
  if (!fv.empty()) return Finish(reactor, fv.ToStatus()), reactor;

  struct Attempt {
    ReminderServiceHandler* self;
    grpc::ServerUnaryReactor* reactor;
    v1::EndGoalRemindersResponse* response;
    const v1::EndGoalRemindersRequest* request;
    std::string tenant;
    ResourceName goal;
    absl::Time deadline;
    std::shared_ptr<audit::Note> audit;
    int attempt = 0;

    void Run(std::shared_ptr<Attempt> self_ptr) {
      self->store_.ListByGoal(
          tenant, goal.patient, goal.id,
          [self_ptr](absl::StatusOr<std::vector<StoredReminder>> reminders) {
            Attempt& a = *self_ptr;
            if (!reminders.ok()) return Finish(a.reactor, reminders.status());
            absl::Time now = a.self->env_.clock->Now();
            ReminderWrite w;
            w.tenant = a.tenant;
            w.audit = a.audit;
            w.patient = a.goal.patient;
            w.method = "EndGoalReminders";
            w.request_id = a.request->request_id();
            w.fingerprint = Fingerprint(*a.request);
            v1::EndGoalRemindersResponse result;
            for (const StoredReminder& r : *reminders) {
              if (r.reminder.state() == v1::REMINDER_STATE_ENDED) continue;
              // A reminder moved to another goal since is no longer in this goal's index; the
              // check keeps a stale member from ending it.
              if (r.reminder.goal() != a.request->goal()) continue;
              result.add_reminders(r.reminder.name());
              w.changes.push_back(EndChange(r, v1::REMINDER_END_REASON_GOAL_CLOSED, now));
            }
            w.result = result.SerializeAsString();
            a.self->store_.Write(
                std::move(w),
                [self_ptr, result](absl::StatusOr<ReminderWriteResult> written) {
                  Attempt& a = *self_ptr;
                  if (absl::IsAborted(written.status()) && ++a.attempt < kMaxWriteAttempts) {
                    return a.Run(self_ptr);
                  }
                  FinishWrite(a.reactor, a.response, written, result);
                },
                a.deadline);
          },
          deadline);
    }
  };
  auto attempt = std::make_shared<Attempt>(Attempt{this, reactor, response, request, who->tenant,
                                                   *goal, DeadlineOf(*ctx), who->audit_note});
  attempt->Run(attempt);
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::RecordCompletion(
    grpc::CallbackServerContext* ctx, const v1::RecordCompletionRequest* request,
    v1::Completion* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  std::optional<ResourceName> reminder;
  std::optional<OccurrenceRef> occurrence;
  if (!request->reminder().empty()) {
    auto name = ParseName("reminder", request->reminder(), "reminders");
    if (name.ok()) {
      reminder = *name;
    } else {
      fv.Merge(name.status());
    }
  }
  if (!request->occurrence_id().empty()) {
    auto ref = ParseOccurrenceId(request->occurrence_id(), "occurrence_id");
    if (ref.ok()) {
      occurrence = *ref;
      if (!request->reminder().empty() && ref->reminder_name != request->reminder()) {
        fv.Add("occurrence_id", "is not an occurrence of `reminder`");
      }
      if (!reminder.has_value()) reminder = ResourceName{ref->patient, ref->reminder_id};
    } else {
      fv.Merge(ref.status());
    }
  } else if (request->reminder().empty()) {
    fv.Add("reminder", "is required when occurrence_id is empty");
  }
  v1::CompletionOutcome outcome = request->outcome();
  if (outcome == v1::COMPLETION_OUTCOME_UNSPECIFIED || !v1::CompletionOutcome_IsValid(outcome)) {
    fv.Add("outcome", "is required: DONE, SKIPPED or SNOOZED");
  }
  absl::Duration snooze;
  if (outcome == v1::COMPLETION_OUTCOME_SNOOZED) {
    if (!request->has_snooze_duration()) {
      fv.Add("snooze_duration", "is required for SNOOZED");
    } else {
      snooze = absl::Seconds(request->snooze_duration().seconds()) +
               absl::Nanoseconds(request->snooze_duration().nanos());
      fv.Merge(ValidateSnoozeDuration(snooze));
    }
  } else if (request->has_snooze_duration()) {
    fv.Add("snooze_duration", "is only for SNOOZED");
  }
  if (request->has_value()) {
    if (outcome != v1::COMPLETION_OUTCOME_DONE) fv.Add("value", "is only for DONE");
    if (!std::isfinite(request->value())) fv.Add("value", "must be a finite number");
  }
  CheckText(fv, "note", request->note(), kMaxNoteLength, /*required=*/false);
  if (!request->request_id().empty()) fv.Merge(ValidateId("request_id", request->request_id()));
  auto who = server::Admit(env_, *ctx, "ReminderService.RecordCompletion", fv.ToStatus(),
                           reminder.has_value() ? reminder->patient : "");
  if (!who.ok()) return Finish(reactor, who.status()), reactor;

  absl::Time now = env_.clock->Now();
  CompletionPolicy policy;
  int64_t from, to;
  if (occurrence.has_value()) {
    from = to = ToUnixMillisFloor(occurrence->scheduled_time);
  } else {
    from = ToUnixMillisFloor(now - policy.after);
    to = ToUnixMillisFloor(now);
  }
  absl::Time deadline = DeadlineOf(*ctx);
  store_.ReadOccurrences(
      who->tenant, reminder->patient, reminder->id, from, to,
      [this, reactor, response, request, who = *who, occurrence, snooze, now, policy, deadline,
       patient = reminder->patient,
       id = reminder->id](absl::StatusOr<std::vector<ReminderWithOccurrences>> read) {
        if (!read.ok()) return Finish(reactor, read.status());
        const ReminderWithOccurrences& item = read->front();
        const v1::Reminder& r = item.reminder.reminder;
        if (request->has_value() && r.metric().empty()) {
          return Finish(reactor, InvalidField("value", "the reminder has no linked metric"));
        }
        auto schedule = ReminderSchedule::FromStored(SpecOf(r.schedule()));
        if (!schedule.ok()) return Finish(reactor, schedule.status());
        std::map<int64_t, const OccurrenceEntry*> records;
        for (const OccurrenceEntry& e : item.occurrences) records[e.scheduled_ms] = &e;
        absl::Time scheduled;
        if (occurrence.has_value()) {
          scheduled = occurrence->scheduled_time;
          if (!schedule->IsOccurrence(scheduled)) {
            return Finish(reactor, InvalidField("occurrence_id",
                                                "is not an occurrence of the reminder's schedule"));
          }
        } else {
          // The latest occurrence due by now without a final outcome, within the window.
          std::vector<absl::Time> due;
          for (auto o = schedule->NextOccurrence(now - policy.after - absl::Nanoseconds(1));
               o.has_value() && o->time <= now &&
               static_cast<int>(due.size()) < kMaxAdherenceOccurrences;
               o = schedule->NextOccurrence(o->time)) {
            due.push_back(o->time);
          }
          std::optional<absl::Time> pick;
          for (auto it = due.rbegin(); it != due.rend(); ++it) {
            auto rec = records.find(ToUnixMillisFloor(*it));
            if (rec == records.end() || !ParseRecordState(rec->second->state).final()) {
              pick = *it;
              break;
            }
          }
          if (!pick.has_value()) {
            return Finish(
                reactor,
                WithReason(absl::FailedPreconditionError("no due occurrence without an outcome"),
                           "NO_DUE_OCCURRENCE"));
          }
          scheduled = *pick;
        }
        if (auto s = CheckCompletionWindow(scheduled, now, policy); !s.ok()) {
          return Finish(reactor, s);
        }
        int64_t ms = ToUnixMillisFloor(scheduled);
        const OccurrenceEntry* existing = nullptr;
        if (auto it = records.find(ms); it != records.end()) existing = it->second;
        RecordState state = ParseRecordState(existing != nullptr ? existing->state : "");
        v1::CompletionOutcome outcome = request->outcome();
        // The same final outcome again answers the first completion.
        bool same = state.final() && outcome != v1::COMPLETION_OUTCOME_SNOOZED &&
                    OutcomeState(outcome) == state.base && !existing->completion.empty();
        if (same) {
          response->ParseFromString(existing->completion);
          return Finish(reactor, absl::OkStatus());
        }
        absl::Status refusal;
        if (state.final()) {
          refusal = WithReason(
              absl::FailedPreconditionError("the occurrence already has a final outcome"),
              "ALREADY_COMPLETED");
        } else if (outcome == v1::COMPLETION_OUTCOME_SNOOZED && state.snoozed) {
          refusal =
              WithReason(absl::FailedPreconditionError("an occurrence may be snoozed only once"),
                         "SNOOZE_LIMIT");
        }
        if (!refusal.ok() && request->request_id().empty()) return Finish(reactor, refusal);
        std::string occurrence_id = OccurrenceId(r.name(), scheduled);
        v1::Completion c;
        c.set_name(absl::StrCat(occurrence_id, "/completion"));
        c.set_reminder(r.name());
        c.set_occurrence_id(occurrence_id);
        *c.mutable_scheduled_time() = ToProto(scheduled);
        c.set_outcome(outcome);
        std::optional<absl::Time> snooze_until;
        if (outcome == v1::COMPLETION_OUTCOME_SNOOZED) {
          auto until = SnoozeUntil(now, snooze);
          if (!until.ok()) return Finish(reactor, until.status());
          snooze_until = *until;
          *c.mutable_snooze_until() = ToProto(*until);
        }
        std::optional<outbox::OutboxEntry> effect;
        if (request->has_value()) {
          if (r.metric().empty()) {
            return Finish(reactor, InvalidField("value",
                                                "the reminder has no metric to record it "
                                                "in (set reminder.metric)"));
          }
          c.set_value(request->value());
          // The measurement goes to MeasurementService through the outbox, recorded with the
          // completion; the entry id is its request_id there, so a redelivery records it once.
          v1::RecordMeasurementRequest m;
          auto* mm = m.mutable_measurement();
          mm->set_patient(patient);
          mm->set_metric(r.metric());
          mm->set_value(request->value());
          *mm->mutable_observe_time() = ToProto(now);
          mm->set_source(v1::MEASUREMENT_SOURCE_CLIENT);  // the person reports what they did
          mm->set_goal(r.goal());
          mm->set_occurrence(occurrence_id);
          std::string entry_id = NewId();
          m.set_request_id(entry_id);
          effect = outbox::WithOrigin({.id = entry_id,
                                       .kind = std::string(kRecordMeasurementEffect),
                                       .payload = m.SerializeAsString()},
                                      who.trace);
        }
        c.set_note(request->note());
        *c.mutable_actor() = who.ToActor();
        *c.mutable_complete_time() = ToProto(now);
        CompletionWrite w;
        w.tenant = who.tenant;
        w.audit = who.audit_note;
        w.patient = patient;
        w.reminder_id = id;
        w.scheduled_ms = ms;
        w.expected_state = existing != nullptr ? existing->state : "";
        bool snoozed = state.snoozed || outcome == v1::COMPLETION_OUTCOME_SNOOZED;
        w.state = absl::StrCat(OutcomeState(outcome),
                               snoozed && outcome != v1::COMPLETION_OUTCOME_SNOOZED ? "+s" : "");
        w.completion = c.SerializeAsString();
        w.snooze_until = snooze_until;
        w.effect = std::move(effect);
        w.method = "RecordCompletion";
        w.request_id = request->request_id();
        w.fingerprint = Fingerprint(*request);
        w.result = w.completion;
        // A refused request with a request_id may still be the retry of an earlier success: the
        // store answers a replay and otherwise changes nothing.
        w.replay_only = !refusal.ok();
        store_.WriteCompletion(
            std::move(w),
            [reactor, response, c, refusal](absl::StatusOr<ReminderWriteResult> written) {
              if (!written.ok()) return Finish(reactor, written.status());
              if (written->replayed) {
                response->ParseFromString(written->result);
                return Finish(reactor, absl::OkStatus());
              }
              if (!refusal.ok()) return Finish(reactor, refusal);
              *response = c;
              Finish(reactor, absl::OkStatus());
            },
            deadline);
      },
      deadline);
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::GetAdherence(
    grpc::CallbackServerContext* ctx, const v1::GetAdherenceRequest* request,
    v1::AdherenceReport* response) {
  auto* reactor = ctx->DefaultReactor();
  absl::Time now = env_.clock->Now();
  FieldViolations fv;
  std::string patient, id;
  if (request->scope_case() == v1::GetAdherenceRequest::kReminder) {
    auto name = ParseName("reminder", request->reminder(), "reminders");
    if (name.ok()) {
      patient = name->patient;
      id = name->id;
    } else {
      fv.Merge(name.status());
    }
  } else if (request->scope_case() == v1::GetAdherenceRequest::kPatient) {
    fv.Merge(ValidateId("patient", request->patient()));
    patient = request->patient();
  } else {
    fv.Add("reminder", "exactly one of reminder or patient is required");
  }
  std::optional<absl::Time> start, end;
  if (request->interval().has_start_time()) start = ToTime(request->interval().start_time());
  if (request->interval().has_end_time()) end = ToTime(request->interval().end_time());
  auto window = MakeAdherenceWindow(start, end, now);
  if (!window.ok()) fv.Merge(window.status());
  auto who = server::Admit(env_, *ctx, "ReminderService.GetAdherence", fv.ToStatus(), patient);
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  store_.ReadOccurrences(
      who->tenant, patient, id, ToUnixMillisFloor(window->start), ToUnixMillisFloor(window->end),
      [reactor, response, window = *window, now,
       single = !id.empty()](absl::StatusOr<std::vector<ReminderWithOccurrences>> read) {
        if (!read.ok()) return Finish(reactor, read.status());
        std::vector<ReminderOccurrences> input;
        for (const ReminderWithOccurrences& item : *read) {
          const v1::Reminder& r = item.reminder.reminder;
          std::map<int64_t, RecordState> records;
          for (const OccurrenceEntry& e : item.occurrences) {
            records[e.scheduled_ms] = ParseRecordState(e.state);
          }
          // Occurrences the schedule produced in the window up to now (and the reminder's end);
          // recorded ones the current schedule no longer produces are kept too.
          absl::Time from = std::max(window.start, ToTime(r.create_time()));
          absl::Time until = std::min(window.end, now);
          if (r.state() == v1::REMINDER_STATE_ENDED && r.has_end_time()) {
            until = std::min(until, ToTime(r.end_time()));
          }
          std::map<int64_t, OccurrenceRecord> occurrences;
          auto schedule = ReminderSchedule::FromStored(SpecOf(r.schedule()));
          if (schedule.ok() && from < until) {
            int n = 0;
            for (auto o = schedule->NextOccurrence(from - absl::Nanoseconds(1));
                 o.has_value() && o->time < until && n < kMaxAdherenceOccurrences;
                 o = schedule->NextOccurrence(o->time), ++n) {
              OccurrenceRecord rec;
              rec.scheduled_time = o->time;
              rec.state = InPause(r, o->time) ? OccurrenceState::kSkippedPaused
                                              : OccurrenceState::kScheduled;
              occurrences[ToUnixMillisFloor(o->time)] = rec;
            }
          }
          for (const auto& [ms, state] : records) {
            OccurrenceRecord rec;
            rec.scheduled_time = FromMillis(ms);
            rec.state = ToOccurrenceState(state);
            rec.snoozed = state.snoozed;
            occurrences[ms] = rec;
          }
          if (!single && occurrences.empty()) continue;
          ReminderOccurrences ro;
          ro.reminder = r.name();
          for (auto& [ms, rec] : occurrences) ro.occurrences.push_back(rec);
          input.push_back(std::move(ro));
        }
        AdherenceReport report = ComputeAdherence(input, window, now);
        *response->mutable_interval()->mutable_start_time() = ToProto(window.start);
        *response->mutable_interval()->mutable_end_time() = ToProto(window.end);
        CopyCounts(report.totals, response->mutable_totals());
        response->set_current_streak(report.current_streak);
        for (const auto& ra : report.reminders) {
          auto* out = response->add_reminders();
          out->set_reminder(ra.reminder);
          CopyCounts(ra.counts, out->mutable_counts());
          out->set_current_streak(ra.current_streak);
        }
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerWriteReactor<v1::Delivery>* ReminderServiceHandler::StreamDueReminders(
    grpc::CallbackServerContext* ctx, const v1::StreamDueRemindersRequest* request) {
  FieldViolations fv;
  fv.Merge(ValidateId("subscriber", request->subscriber()));
  std::vector<int> kinds;
  for (int k : request->kinds()) {
    if (k == v1::REMINDER_KIND_UNSPECIFIED || !v1::ReminderKind_IsValid(k)) {
      fv.Add("kinds", "unknown kind");
    } else {
      kinds.push_back(k);
    }
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  int max_unacked = request->max_unacked() == 0 ? kDefaultMaxUnacked : request->max_unacked();
  if (request->max_unacked() < 0 || request->max_unacked() > kMaxUnacked) {
    fv.Add("max_unacked",
           absl::StrCat("must be 0 (default ", kDefaultMaxUnacked, ") to ", kMaxUnacked));
  }
  auto who = AdmitService(*ctx, "ReminderService.StreamDueReminders", fv.ToStatus());
  if (!who.ok()) return new FailedStream(who.status());
  return streams_->Open(who->tenant, request->subscriber(), std::move(kinds), max_unacked);
}

grpc::ServerUnaryReactor* ReminderServiceHandler::AckDelivery(grpc::CallbackServerContext* ctx,
                                                              const v1::AckDeliveryRequest* request,
                                                              v1::AckDeliveryResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  auto delivery = ParseDeliveryId(request->delivery_id(), "delivery_id");
  fv.Merge(delivery.status());
  fv.Merge(ValidateId("subscriber", request->subscriber()));
  auto who = AdmitService(*ctx, "ReminderService.AckDelivery", fv.ToStatus());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  streams_->store().Ack(
      who->tenant, request->subscriber(), {AckItemOf(*delivery)}, env_.clock->Now(),
      [reactor, response](absl::StatusOr<std::vector<AckOutcome>> r) {
        if (!r.ok()) return Finish(reactor, r.status());
        const AckOutcome& o = r->front();
        if (!o.found) {
          return Finish(
              reactor,
              WithReason(absl::NotFoundError("no such delivery was made to this subscriber"),
                         "DELIVERY_NOT_FOUND"));
        }
        *response->mutable_ack_time() = ToProto(absl::FromUnixMillis(o.ack_ms));
        response->set_already_acknowledged(o.already);
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

grpc::ServerUnaryReactor* ReminderServiceHandler::AckDeliveries(
    grpc::CallbackServerContext* ctx, const v1::AckDeliveriesRequest* request,
    v1::AckDeliveriesResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  FieldViolations fv;
  fv.Merge(ValidateId("subscriber", request->subscriber()));
  if (request->delivery_ids().empty() || request->delivery_ids_size() > kMaxAcksPerCall) {
    fv.Add("delivery_ids", absl::StrCat("must hold 1 to ", kMaxAcksPerCall, " delivery ids"));
  }
  std::vector<AckItem> items;
  for (int i = 0; i < request->delivery_ids_size() && i < kMaxAcksPerCall; ++i) {
    auto d = ParseDeliveryId(request->delivery_ids(i), absl::StrCat("delivery_ids[", i, "]"));
    if (!d.ok()) {
      fv.Merge(d.status());
    } else {
      items.push_back(AckItemOf(*d));
    }
  }
  auto who = AdmitService(*ctx, "ReminderService.AckDeliveries", fv.ToStatus());
  if (!who.ok()) return Finish(reactor, who.status()), reactor;
  streams_->store().Ack(
      who->tenant, request->subscriber(), items, env_.clock->Now(),
      [reactor, request, response](absl::StatusOr<std::vector<AckOutcome>> r) {
        if (!r.ok()) return Finish(reactor, r.status());
        for (size_t i = 0; i < r->size(); ++i) {
          const AckOutcome& o = (*r)[i];
          v1::AckDeliveryResult* out = response->add_results();
          out->set_delivery_id(request->delivery_ids(static_cast<int>(i)));
          if (!o.found) {
            out->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
            out->mutable_error()->set_message("no such delivery was made to this subscriber");
            continue;
          }
          *out->mutable_ack_time() = ToProto(absl::FromUnixMillis(o.ack_ms));
          out->set_already_acknowledged(o.already);
        }
        Finish(reactor, absl::OkStatus());
      },
      DeadlineOf(*ctx));
  return reactor;
}

absl::StatusOr<auth::Identity> ReminderServiceHandler::AdmitService(
    const grpc::CallbackServerContext& ctx, absl::string_view method,
    const absl::Status& validation) const {
  return server::Admit(env_, ctx, method, validation, "");
}

absl::Status DeliverEffect(const std::shared_ptr<grpc::Channel>& measurements,
                           const auth::AuthOptions& auth, const outbox::Delivery& delivery,
                           absl::Duration timeout) {
  if (delivery.entry.kind != kRecordMeasurementEffect) {
    return absl::InvalidArgumentError(absl::StrCat("unknown effect ", delivery.entry.kind));
  }
  v1::RecordMeasurementRequest request;
  if (!request.ParseFromString(delivery.entry.payload)) {
    return absl::InvalidArgumentError("malformed RecordMeasurement effect");
  }
  grpc::ClientContext ctx;
  auth::PrepareServiceCall(ctx, auth, delivery.tenant, "trellis-reminders", absl::Now() + timeout,
                           outbox::OriginOf(delivery.entry));
  v1::Measurement response;
  auto stub = v1::MeasurementService::NewStub(measurements);
  return FromGrpcStatus(stub->RecordMeasurement(&ctx, request, &response));
}

ReminderServiceOptions ReminderOptionsFromFlags() {
  ReminderServiceOptions o;
  o.schedule.min_interval = absl::GetFlag(FLAGS_min_schedule_interval);
  CatchUpPolicy catch_up{.grace_window = absl::GetFlag(FLAGS_catch_up_grace),
                         .lateness_threshold = absl::GetFlag(FLAGS_lateness_threshold)};
  o.delivery.catch_up = catch_up;
  o.delivery.visibility_timeout = absl::GetFlag(FLAGS_visibility_timeout);
  o.delivery.poll_interval = absl::GetFlag(FLAGS_stream_poll_interval);
  o.dispatch.catch_up = catch_up;
  o.dispatch.lease = absl::GetFlag(FLAGS_dispatch_lease);
  o.dispatch.idle_interval = absl::GetFlag(FLAGS_dispatch_interval);
  o.dispatch.batch = absl::GetFlag(FLAGS_dispatch_batch);
  o.dispatch.threads = absl::GetFlag(FLAGS_dispatch_threads);
  o.dispatch.walk_interval = absl::GetFlag(FLAGS_cluster_walk_interval);
  return o;
}

server::ServiceParts BuildReminderServiceWith(const server::ServiceEnv& env,
                                              ReminderServiceOptions options) {
  server::ServiceParts parts;
  auto streams =
      std::make_unique<DeliveryStreams>(env.redis, env.clock, options.delivery, env.registry);
  if (options.run_dispatcher) {
    parts.workers.push_back(
        std::make_unique<Dispatcher>(env.redis, env.clock, options.dispatch, env.registry));
  }
  parts.services.push_back(
      std::make_unique<ReminderServiceHandler>(env, std::move(options), streams.get()));
  parts.workers.push_back(std::move(streams));
  parts.health_names.push_back("trellis.v1.ReminderService");
  return parts;
}

server::ServiceParts BuildReminderService(const server::ServiceEnv& env) {
  ReminderServiceOptions options = ReminderOptionsFromFlags();
  auto channel = server::PeerChannel(absl::GetFlag(FLAGS_measurements_addr), env.peer_credentials);
  if (env.config != nullptr) {
    auto goals = server::PeerChannel(absl::GetFlag(FLAGS_goals_addr), env.peer_credentials);
    options.peers.goals = [goals] { return goals; };
    options.peers.measurements = [channel] { return channel; };
    options.peers.auth = env.config->auth;
  }
  server::ServiceParts parts = BuildReminderServiceWith(env, std::move(options));
  if (env.config != nullptr) {
    // Measurements of completed homework reach MeasurementService through the outbox.
    outbox::RelayOptions relay;
    relay.service = "rem";
    relay.walk_interval = env.config->cluster_walk_interval;
    parts.workers.push_back(std::make_unique<outbox::OutboxRelay>(
        env.redis, env.clock, relay,
        [channel, auth = env.config->auth](const outbox::Delivery& d) {
          return DeliverEffect(channel, auth, d);
        },
        env.registry));
  }
  return parts;
}

}  // namespace trellis::reminders
