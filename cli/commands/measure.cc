// trellisctl measure and trellisctl metrics: MeasurementService
// (proto/trellis/v1/measurements.proto). `measure progress` is in progress.cc.

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands/invocation.h"
#include "cli/proto_input.h"
#include "cli/proto_output.h"
#include "cli/table.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
using google::protobuf::Descriptor;

std::string FlagsTable(const google::protobuf::RepeatedPtrField<v1::SafetyFlag>& flags) {
  return RenderRows(flags, {{"SAFETY FLAG", "name"},
                            {"KIND", "kind"},
                            {"ITEM", "item", true},
                            {"ANSWER", "value", true},
                            {"RAISED", "raise_time"},
                            {"STATE", "state"}});
}

Command Record() {
  const Descriptor* d = v1::RecordMeasurementRequest::descriptor();
  return UnaryCommand(
      {.name = "record",
       .summary = "Record one value of a metric for a patient (RecordMeasurement).",
       .description = "Questionnaires (phq9, gad7) go through `measure questionnaire`.\n\n"
                      "  trellisctl measure record --patient p1 --metric mood --value 6 --time "
                      "now-2d"},
      &v1::MeasurementService::Stub::RecordMeasurement,
      {FieldFlag(d, "patient", "measurement.patient", "Patient id."),
       FieldFlag(d, "metric", "measurement.metric", "Metric id (see `trellisctl metrics list`)."),
       FieldFlag(d, "value", "measurement.value", "The value, inside the metric's range."),
       FieldFlag(d, "time", "measurement.observe_time", "When it was observed (default now)."),
       FieldFlag(d, "source", "measurement.source",
                 "Where it came from (default: from the caller's role)."),
       FieldFlag(d, "note", "measurement.note", "Note, up to 2000 characters."),
       FieldFlag(d, "goal", "measurement.goal", "The goal it is for (patients/P/goals/G)."),
       RequestIdFlag(d)});
}

Command Questionnaire() {
  const Descriptor* d = v1::SubmitQuestionnaireRequest::descriptor();
  std::vector<Flag> flags{
      FieldFlag(d, "patient", "patient", "Patient id."),
      FieldFlag(d, "instrument", "instrument", "phq9 or gad7."),
      {.name = "answers",
       .value_name = "V1,V2,...",
       .help = "The answers in item order, 0-3 each (PHQ-9: 9 values, a 10th for the difficulty "
               "item is optional; GAD-7: 7). Individual items: --json."},
      FieldFlag(d, "time", "observe_time", "When it was completed (default now)."),
      FieldFlag(d, "source", "source", "Where it came from (default: from the caller's role)."),
      FieldFlag(d, "note", "note", "Note, up to 2000 characters."),
      FieldFlag(d, "goal", "goal", "The goal it is for (patients/P/goals/G)."),
      RequestIdFlag(d)};
  return UnaryCommand(
      {.name = "questionnaire",
       .summary = "Score and store a PHQ-9 or GAD-7 from its answers (SubmitQuestionnaire).",
       .description = "Prints the total, its severity band and any safety flag raised (PHQ-9 "
                      "item 9 above 0).\n\n"
                      "  trellisctl measure questionnaire --patient p1 --instrument gad7 "
                      "--answers 2,2,1,2,1,1,1"},
      &v1::MeasurementService::Stub::SubmitQuestionnaire, flags,
      [](const v1::SubmitQuestionnaireResponse& r) {
        const v1::Measurement& m = r.measurement();
        std::string out =
            RenderKeyValues({{"measurement", m.name()},
                             {"instrument", m.metric()},
                             {"total", absl::StrCat(m.questionnaire().total())},
                             {"severity", m.questionnaire().severity_band()},
                             {"prorated", m.questionnaire().prorated() ? "yes" : "no"},
                             {"observed", FieldText(m, "observe_time")}});
        if (r.safety_flags_size() > 0) {
          absl::StrAppend(&out, "\nSAFETY FLAG RAISED: follow the clinical safety protocol.\n",
                          FlagsTable(r.safety_flags()));
        }
        return out;
      },
      [](Invocation& inv, v1::SubmitQuestionnaireRequest& req, const std::vector<std::string>&) {
        if (!inv.args().IsSet("answers")) return std::optional<int>();
        req.clear_answers();
        int item = 0;
        for (const std::string& text : inv.args().GetAll("answers")) {
          ++item;
          int value = 0;
          if (!absl::SimpleAtoi(text, &value)) {
            return std::optional<int>(inv.UsageError(absl::InvalidArgumentError(
                absl::StrCat("--answers: answer ", item, " is not a whole number: '", text, "'"))));
          }
          v1::ItemAnswer* a = req.add_answers();
          a->set_item(item);
          a->set_value(value);
        }
        return std::optional<int>();
      });
}

Command ListMeasurements() {
  const Descriptor* d = v1::ListMeasurementsRequest::descriptor();
  return UnaryCommand(
      {.name = "list",
       .summary = "List a patient's measurements, newest first (ListMeasurements).",
       .positional = "patient"},
      &v1::MeasurementService::Stub::ListMeasurements,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "metric", "metric", "Only this metric."),
       FieldFlag(d, "goal", "goal", "Only values recorded for this goal."),
       FieldFlag(d, "since", "observe_interval.start_time", "Observed at or after."),
       FieldFlag(d, "until", "observe_interval.end_time", "Observed before."),
       FieldFlag(d, "order", "order", "Time order (default newest-first).")},
      [](const v1::ListMeasurementsResponse& r) {
        return RenderRows(r.measurements(), {{"OBSERVED", "observe_time"},
                                             {"METRIC", "metric"},
                                             {"VALUE", "value", true},
                                             {"BAND", "questionnaire.severity_band"},
                                             {"SOURCE", "source"},
                                             {"GOAL", "goal"},
                                             {"NAME", "name"}});
      });
}

std::string SummaryTable(const v1::PatientSummary& s) {
  std::string out =
      absl::StrCat("patient ", s.patient(), " at ", FieldText(s, "compute_time"), "\n");
  if (s.open_safety_flags_size() > 0) {
    absl::StrAppend(&out, "\nOPEN SAFETY FLAGS\n", FlagsTable(s.open_safety_flags()));
  }
  absl::StrAppend(&out, "\nACTIVE GOALS\n");
  if (s.goals_size() == 0) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    absl::StrAppend(&out, RenderRows(s.goals(), {{"GOAL", "goal"},
                                                 {"METRIC", "metric"},
                                                 {"BASELINE", "baseline.value", true},
                                                 {"LATEST", "latest.value", true},
                                                 {"TARGET", "measure.target", true},
                                                 {"RELIABLE CHANGE", "reliable_change"},
                                                 {"ON TRACK", "on_track"},
                                                 {"STALLED", "stalled"},
                                                 {"SUGGESTED", "suggested_achievement_status"}}));
  }
  absl::StrAppend(&out, "\nLATEST SCORES\n");
  if (s.latest_scores_size() == 0) {
    absl::StrAppend(&out, "(none)\n");
  } else {
    absl::StrAppend(&out, RenderRows(s.latest_scores(), {{"METRIC", "metric"},
                                                         {"VALUE", "latest.value", true},
                                                         {"OBSERVED", "latest.observe_time"},
                                                         {"BAND", "severity_band"},
                                                         {"CASENESS", "above_caseness"}}));
  }
  if (s.goals_needing_review_size() > 0) {
    absl::StrAppend(&out, "\nNEED REVIEW\n");
    for (const std::string& g : s.goals_needing_review()) absl::StrAppend(&out, g, "\n");
  }
  return out;
}

Command Summary() {
  const Descriptor* d = v1::GetPatientSummaryRequest::descriptor();
  return UnaryCommand(
      {.name = "summary",
       .summary = "A patient's dashboard: active goals' progress, latest scores, open safety "
                  "flags, goals needing review (GetPatientSummary).",
       .positional = "patient"},
      &v1::MeasurementService::Stub::GetPatientSummary,
      {FieldFlag(d, "patient", "patient", "Patient id.")}, SummaryTable);
}

Command ExportObservations() {
  const Descriptor* d = v1::ExportObservationsFhirRequest::descriptor();
  return UnaryCommand(
      {.name = "export",
       .summary = "A patient's measurements as a FHIR R4 Bundle of Observations "
                  "(ExportObservationsFhir).",
       .description = "--output table prints the bundle itself (FHIR JSON); --output json the "
                      "response message around it. Each page is a complete bundle: pass the "
                      "next_page_token printed on stderr as --page_token for the next.",
       .positional = "patient",
       .merge_pages = false},
      &v1::MeasurementService::Stub::ExportObservationsFhir,
      {FieldFlag(d, "patient", "patient", "Patient id."),
       FieldFlag(d, "metric", "metrics", "Only these metrics."),
       FieldFlag(d, "since", "observe_interval.start_time", "Observed at or after."),
       FieldFlag(d, "until", "observe_interval.end_time", "Observed before.")},
      [](const v1::ExportObservationsFhirResponse& r) { return r.bundle_json(); });
}

Command DefineMetric() {
  const Descriptor* d = v1::DefineMetricRequest::descriptor();
  return UnaryCommand(
      {.name = "define",
       .summary = "Define a tenant metric, e.g. panic attacks per week (DefineMetric).",
       .description = "Metrics cannot change once defined. Bands and Jacobson-Truax inputs: "
                      "--json.\n\n"
                      "  trellisctl metrics define --id panic_attacks --display_name 'Panic "
                      "attacks per week' \\\n"
                      "      --kind count-per-period --period week --unit '{count}' --min 0 "
                      "--max 100 --better lower"},
      &v1::MeasurementService::Stub::DefineMetric,
      {FieldFlag(d, "id", "metric.id", "Metric id, 1-64 of [A-Za-z0-9._-]; not a built-in id."),
       FieldFlag(d, "display_name", "metric.display_name", "Name shown to people."),
       FieldFlag(d, "description", "metric.description", "Description."),
       FieldFlag(d, "kind", "metric.kind", "What it measures."),
       FieldFlag(d, "unit", "metric.unit", "UCUM unit: {count}, min, h, {rating}, 1 ..."),
       FieldFlag(d, "min", "metric.min_value", "Lowest valid value."),
       FieldFlag(d, "max", "metric.max_value", "Highest valid value."),
       FieldFlag(d, "better", "metric.better_direction", "Which way is better."),
       FieldFlag(d, "period", "metric.period", "The period of a count-per-period metric."),
       FieldFlag(d, "integer", "metric.integer_values", "Values are whole numbers."),
       FieldFlag(d, "reliable_change", "metric.reliable_change_threshold",
                 "A difference of at least this much is a reliable change."),
       RequestIdFlag(d)});
}

Command ListMetrics() {
  const Descriptor* d = v1::ListInstrumentsRequest::descriptor();
  return UnaryCommand(
      {.name = "list",
       .summary = "Built-in instruments and the tenant's metrics (ListInstruments)."},
      &v1::MeasurementService::Stub::ListInstruments,
      {FieldFlag(d, "kind", "kinds", "Only these kinds.")},
      [](const v1::ListInstrumentsResponse& r) {
        return RenderRows(r.metrics(), {{"ID", "id"},
                                        {"NAME", "display_name"},
                                        {"KIND", "kind"},
                                        {"UNIT", "unit"},
                                        {"MIN", "min_value", true},
                                        {"MAX", "max_value", true},
                                        {"BETTER", "better_direction"},
                                        {"RELIABLE CHANGE", "reliable_change_threshold", true},
                                        {"BUILT-IN", "built_in"}});
      });
}

}  // namespace

Command MeasureCommand() {
  return {.name = "measure",
          .summary = "Measurements and questionnaires, progress toward goals, summaries, FHIR.",
          .subcommands = {Record(), Questionnaire(), ListMeasurements(), ProgressCommand(),
                          Summary(), ExportObservations()}};
}

Command MetricsCommand() {
  return {.name = "metrics",
          .summary = "Instruments and tenant metrics: define, list.",
          .subcommands = {DefineMetric(), ListMetrics()}};
}

}  // namespace trellis::cli
