// trellisctl reminders: ReminderService (proto/trellis/v1/reminders.proto).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands/invocation.h"
#include "cli/proto_input.h"
#include "cli/proto_output.h"
#include "cli/table.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using google::protobuf::Descriptor;

Flag NameFlag(const Descriptor* request, const std::string& path = "name") {
  return FieldFlag(request, "name", path, "The reminder: patients/P/reminders/R.");
}

Flag EtagFlag(const Descriptor* request) {
  return FieldFlag(request, "etag", "etag", "Only if the reminder still has this etag.");
}

// The schedule flags, under `prefix` ("reminder.schedule." or "schedule.").
std::vector<Flag> ScheduleFlags(const Descriptor* request, const std::string& prefix) {
  return {FieldFlag(request, "start", prefix + "start",
                    "Local wall-clock start (the first occurrence, or the rule's anchor)."),
          FieldFlag(request, "zone", prefix + "time_zone",
                    "IANA time zone of --start and the rule, e.g. Europe/London."),
          FieldFlag(request, "rrule", prefix + "rrule",
                    "RFC 5545 rule, e.g. FREQ=DAILY or FREQ=WEEKLY;INTERVAL=2;BYDAY=MO; "
                    "empty: once at --start."),
          FieldFlag(request, "exdate", prefix + "exdates", "A local date-time to leave out.")};
}

std::string RemindersTable(const google::protobuf::RepeatedPtrField<v1::Reminder>& reminders) {
  return RenderRows(reminders, {{"NAME", "name"},
                                {"KIND", "kind"},
                                {"STATE", "state"},
                                {"NEXT", "next_occurrence_time"},
                                {"RULE", "schedule.rrule"},
                                {"ZONE", "schedule.time_zone"},
                                {"GOAL", "goal"},
                                {"TEXT", "text"}});
}

Command Create() {
  const Descriptor* d = v1::CreateReminderRequest::descriptor();
  std::vector<Flag> flags{
      FieldFlag(d, "patient", "reminder.patient", "Patient id."),
      FieldFlag(d, "kind", "reminder.kind", "What the reminder is for."),
      FieldFlag(d, "text", "reminder.text", "The prompt shown to the person, 1-1000 characters."),
      FieldFlag(d, "goal", "reminder.goal", "The goal it serves (it ends when the goal closes)."),
      FieldFlag(d, "instrument", "reminder.instrument",
                "The questionnaire of a check-in-questionnaire reminder (phq9, gad7)."),
      FieldFlag(d, "metric", "reminder.metric",
                "Homework/practice: a metric a completion's value is recorded to."),
      FieldFlag(d, "clinician", "reminder.clinician",
                "Plan-review reminders: the clinician's subject id."),
      FieldFlag(d, "channel", "reminder.channel", "Delivery channel hint.")};
  for (Flag& f : ScheduleFlags(d, "reminder.schedule.")) flags.push_back(std::move(f));
  flags.push_back(RequestIdFlag(d));
  return UnaryCommand(
      {.name = "create",
       .summary = "Create a reminder on an RFC 5545 schedule in the person's zone "
                  "(CreateReminder).",
       .description = "  trellisctl reminders create --patient p1 --kind practice --text "
                      "'Breathing practice, 15 minutes' \\\n"
                      "      --start 2024-03-10T20:00 --zone Europe/London --rrule FREQ=DAILY "
                      "--metric practice_minutes"},
      &v1::ReminderService::Stub::CreateReminder, flags);
}

Command Get() {
  const Descriptor* d = v1::GetReminderRequest::descriptor();
  return UnaryCommand(
      {.name = "get", .summary = "Show one reminder (GetReminder).", .positional = "name"},
      &v1::ReminderService::Stub::GetReminder, {NameFlag(d)});
}

Command List() {
  const Descriptor* d = v1::ListRemindersRequest::descriptor();
  return UnaryCommand(
      {.name = "list",
       .summary = "List a patient's reminders, oldest first; active and paused by default "
                  "(ListReminders).",
       .positional = "patient"},
      &v1::ReminderService::Stub::ListReminders,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "goal", "goal", "Only the reminders of this goal."),
       FieldFlag(d, "kind", "kinds", "Only these kinds."),
       FieldFlag(d, "state", "states", "Only these states (default: active, paused)."),
       FieldFlag(d, "clinician", "clinician", "Only plan reviews for this clinician.")},
      [](const v1::ListRemindersResponse& r) { return RemindersTable(r.reminders()); });
}

Command Pause() {
  const Descriptor* d = v1::PauseReminderRequest::descriptor();
  return UnaryCommand(
      {.name = "pause",
       .summary = "Pause a reminder over a window; occurrences inside it are skipped "
                  "(PauseReminder).",
       .description = "  trellisctl reminders pause patients/p1/reminders/r1 --until now+7d "
                      "--reason holiday",
       .positional = "name"},
      &v1::ReminderService::Stub::PauseReminder,
      {NameFlag(d), FieldFlag(d, "start", "start_time", "Start of the pause (default now)."),
       FieldFlag(d, "until", "end_time",
                 "End of the pause, exclusive (default: until `reminders resume`)."),
       FieldFlag(d, "reason", "reason", "Why, up to 500 characters."), EtagFlag(d)});
}

Command Resume() {
  const Descriptor* d = v1::ResumeReminderRequest::descriptor();
  return UnaryCommand({.name = "resume",
                       .summary = "End a reminder's pause now (ResumeReminder).",
                       .positional = "name"},
                      &v1::ReminderService::Stub::ResumeReminder, {NameFlag(d), EtagFlag(d)});
}

Command Delete() {
  const Descriptor* d = v1::DeleteReminderRequest::descriptor();
  return UnaryCommand({.name = "delete",
                       .summary = "End a reminder (soft delete: it and its history stay readable) "
                                  "(DeleteReminder).",
                       .positional = "name"},
                      &v1::ReminderService::Stub::DeleteReminder, {NameFlag(d), EtagFlag(d)});
}

Command Preview() {
  const Descriptor* d = v1::PreviewScheduleRequest::descriptor();
  std::vector<Flag> flags = ScheduleFlags(d, "schedule.");
  flags.push_back(FieldFlag(d, "count", "count", "How many occurrences, 1-500 (default 10)."));
  flags.push_back(FieldFlag(d, "from", "start_time", "Occurrences at or after (default now)."));
  return UnaryCommand(
      {.name = "preview",
       .summary = "The next occurrences of a schedule, stored nowhere (PreviewSchedule).",
       .description = "Shows how a rule behaves across DST changes before a reminder uses it.\n\n"
                      "  trellisctl reminders preview --start 2024-03-09T02:30 --zone "
                      "America/New_York --rrule FREQ=DAILY --count 3"},
      &v1::ReminderService::Stub::PreviewSchedule, flags, [](const v1::PreviewScheduleResponse& r) {
        std::string out = RenderRows(r.occurrences(), {{"UTC", "time"},
                                                       {"LOCAL", "local_time"},
                                                       {"RULE LOCAL TIME", "rule_local_time"},
                                                       {"SHIFTED", "shifted"}});
        if (r.exhausted()) absl::StrAppend(&out, "(the schedule ends here)\n");
        return out;
      });
}

Command Ack() {
  const Descriptor* d = v1::AckDeliveryRequest::descriptor();
  return UnaryCommand(
      {.name = "ack",
       .summary = "Confirm a delivery was handed to the person (AckDelivery; role service).",
       .positional = "delivery_id"},
      &v1::ReminderService::Stub::AckDelivery,
      {FieldFlag(d, "delivery_id", "delivery_id", "The delivery (Delivery.delivery_id)."),
       FieldFlag(d, "subscriber", "subscriber", "The subscriber that received it.")});
}

Command Complete() {
  const Descriptor* d = v1::RecordCompletionRequest::descriptor();
  return UnaryCommand(
      {.name = "complete",
       .summary = "Record that the person did, skipped or snoozed an occurrence "
                  "(RecordCompletion).",
       .description = "Without --occurrence: the latest due occurrence of --reminder without a "
                      "final outcome.\n\n"
                      "  trellisctl reminders complete --reminder patients/p1/reminders/r1 "
                      "--outcome done --value 15"},
      &v1::ReminderService::Stub::RecordCompletion,
      {FieldFlag(d, "reminder", "reminder", "The reminder: patients/P/reminders/R."),
       FieldFlag(d, "occurrence", "occurrence_id", "The occurrence (Delivery.occurrence_id)."),
       FieldFlag(d, "outcome", "outcome", "What happened."),
       FieldFlag(d, "snooze", "snooze_duration", "Snoozed: deliver again after this (1m-24h)."),
       FieldFlag(d, "value", "value",
                 "Done: the value recorded to the reminder's metric (e.g. minutes)."),
       FieldFlag(d, "note", "note", "Note, up to 2000 characters."),
       FieldFlag(d, "request_id", "request_id", "Idempotency key.")});
}

std::string AdherenceTable(const v1::AdherenceReport& r) {
  std::string out = absl::StrCat("window ", FieldText(r, "interval.start_time"), " .. ",
                                 FieldText(r, "interval.end_time"), "\n");
  const v1::AdherenceCounts& t = r.totals();
  absl::StrAppend(
      &out,
      RenderKeyValues({{"scheduled", absl::StrCat(t.scheduled())},
                       {"done", absl::StrCat(t.done())},
                       {"skipped", absl::StrCat(t.skipped())},
                       {"missed", absl::StrCat(t.missed())},
                       {"pending", absl::StrCat(t.pending())},
                       {"skipped while paused", absl::StrCat(t.skipped_paused())},
                       {"snoozed", absl::StrCat(t.snoozed())},
                       {"adherence", t.has_adherence_rate()
                                         ? absl::StrCat(FormatDouble(100 * t.adherence_rate()), "%")
                                         : "-"},
                       {"current streak", absl::StrCat(r.current_streak())}}));
  if (r.reminders_size() > 0) {
    absl::StrAppend(&out, "\n",
                    RenderRows(r.reminders(), {{"REMINDER", "reminder"},
                                               {"SCHEDULED", "counts.scheduled", true},
                                               {"DONE", "counts.done", true},
                                               {"SKIPPED", "counts.skipped", true},
                                               {"MISSED", "counts.missed", true},
                                               {"PENDING", "counts.pending", true},
                                               {"RATE", "counts.adherence_rate", true},
                                               {"STREAK", "current_streak", true}}));
  }
  return out;
}

Command Adherence() {
  const Descriptor* d = v1::GetAdherenceRequest::descriptor();
  return UnaryCommand(
      {.name = "adherence",
       .summary = "Done vs scheduled over a window, and the current streak, for a reminder or a "
                  "patient (GetAdherence).",
       .description = "Give --reminder or --patient."},
      &v1::ReminderService::Stub::GetAdherence,
      {FieldFlag(d, "reminder", "reminder", "One reminder: patients/P/reminders/R."),
       FieldFlag(d, "patient", "patient", "Every reminder of this patient."),
       FieldFlag(d, "since", "interval.start_time", "Window start (default now-30d)."),
       FieldFlag(d, "until", "interval.end_time", "Window end (default now).")},
      AdherenceTable,
      [](Invocation& inv, v1::GetAdherenceRequest& req, const std::vector<std::string>&) {
        if (!req.interval().has_start_time()) {
          absl::Time since = inv.now() - absl::Hours(24 * 30);
          req.mutable_interval()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(since));
        }
        return std::optional<int>();
      });
}

// `reminders watch`: the platform's side of delivery, for people.
int RunWatch(Invocation& inv) {
  v1::StreamDueRemindersRequest request;
  if (auto built = inv.BuildRequest(request); !built.ok()) return inv.UsageError(built.status());
  absl::StatusOr<bool> no_ack = inv.args().GetBool("no_ack");
  absl::StatusOr<std::optional<int64_t>> max = inv.args().GetInt("max");
  absl::StatusOr<std::optional<absl::Duration>> for_time = inv.args().GetDuration("for");
  if (!no_ack.ok()) return inv.UsageError(no_ack.status());
  if (!max.ok()) return inv.UsageError(max.status());
  if (!for_time.ok()) return inv.UsageError(for_time.status());
  if (max->has_value() && **max < 1) {
    return inv.UsageError(absl::InvalidArgumentError("--max: must be at least 1"));
  }
  if (for_time->has_value() && **for_time <= absl::ZeroDuration()) {
    return inv.UsageError(absl::InvalidArgumentError("--for: must be positive"));
  }

  Connection& connection = *inv.connection();
  v1::ReminderService::Stub stub(connection.Channel(Service::kReminders));
  std::unique_ptr<grpc::ClientContext> ctx =
      connection.NewContext(for_time->value_or(absl::InfiniteDuration()));
  std::unique_ptr<grpc::ClientReader<v1::Delivery>> reader =
      stub.StreamDueReminders(ctx.get(), request);
  int64_t received = 0;
  bool stopped_by_us = false;
  v1::Delivery delivery;
  while (reader->Read(&delivery)) {
    ++received;
    std::string acked = "not acknowledged";
    if (!*no_ack) {
      v1::AckDeliveryRequest ack;
      ack.set_delivery_id(delivery.delivery_id());
      ack.set_subscriber(request.subscriber());
      v1::AckDeliveryResponse ack_response;
      grpc::Status s = inv.Call(&v1::ReminderService::Stub::AckDelivery, ack, &ack_response);
      if (!s.ok()) {
        ctx->TryCancel();
        reader->Finish();
        return inv.RpcError(s);
      }
      acked = ack_response.already_acknowledged() ? "acknowledged before" : "acknowledged";
    }
    if (inv.json()) {
      inv.out() << ToJson(delivery, /*pretty=*/false) << std::endl;
    } else {
      const v1::Reminder& r = delivery.reminder();
      std::vector<std::string> tags{FieldText(r, "kind"),
                                    absl::StrCat("attempt ", delivery.attempt())};
      if (delivery.late()) tags.push_back("late");
      if (delivery.snoozed()) tags.push_back("snoozed");
      tags.push_back(acked);
      inv.out() << FieldText(delivery, "due_time") << "  " << delivery.delivery_id() << "  ("
                << absl::StrJoin(tags, ", ") << ")  " << FitCell(r.text(), 80) << std::endl;
    }
    if (max->has_value() && received >= **max) {
      stopped_by_us = true;
      ctx->TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (stopped_by_us) return kExitOk;
  if (for_time->has_value() && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return kExitOk;
  }
  if (status.ok()) return kExitOk;
  return inv.RpcError(status);
}

Command Watch() {
  const Descriptor* d = v1::StreamDueRemindersRequest::descriptor();
  std::vector<Flag> flags{
      FieldFlag(d, "subscriber", "subscriber",
                "The subscriber (consumer group) id; each delivery goes to one stream of it."),
      FieldFlag(d, "kind", "kinds", "Only these kinds (fixed by the subscriber's first stream)."),
      FieldFlag(d, "max_unacked", "max_unacked", "Deliveries outstanding at once (default 1000)."),
      {.name = "no_ack",
       .help = "Print deliveries without acknowledging them (they come again after the "
               "visibility timeout)."},
      {.name = "max", .value_name = "N", .help = "Stop after N deliveries."},
      {.name = "for", .value_name = "DURATION", .help = "Stop after this long (e.g. 30s, 5m)."}};
  for (Flag& f : JsonInputFlags()) flags.push_back(std::move(f));
  return {.name = "watch",
          .summary =
              "Subscribe to due reminders, print each delivery and acknowledge it "
              "(StreamDueReminders; role service).",
          .description =
              "Runs until --max deliveries, --for elapsed, or Ctrl-C. --output json prints one "
              "Delivery per line (JSON Lines). Delivery is at-least-once: an unacknowledged "
              "delivery comes again with the same delivery_id.\n\n"
              "  TRELLIS_TOKEN=$(trellisctl token --role service) trellisctl reminders watch "
              "--subscriber ops --max 5",
          .flags = flags,
          .run = Run(Needs::kToken, RunWatch)};
}

}  // namespace

Command RemindersCommand() {
  return {.name = "reminders",
          .summary = "Reminders: schedules, pauses, delivery, completion, adherence.",
          .subcommands = {Create(), Get(), List(), Pause(), Resume(), Delete(), Preview(), Watch(),
                          Ack(), Complete(), Adherence()}};
}

}  // namespace trellis::cli
