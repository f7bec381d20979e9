#pragma once

// Scoring of the built-in questionnaires (PHQ-9, GAD-7) from item answers: total, severity band,
// proration and safety flags. Safety flags are reported on their own, next to the total, never
// only folded into it: a PHQ-9 total of 3 with item 9 answered 1 is "minimal" and a safety flag.

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clinical/instruments.h"
#include "google/protobuf/repeated_field.h"
#include "services/measurements/domain/measurement_validation.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

// Scores `answers` against `instrument` (a QUESTIONNAIRE metric from the catalog) with `config`
// applied (the tenant's proration setting; ApplyInstrumentConfig).
//
// Every scored item must be answered exactly once with one of its option values; the unscored
// PHQ-9 item 10 may be answered or not. Violations, all reported at once, as INVALID_ARGUMENT with
// BadRequest paths relative to SubmitQuestionnaireRequest:
//   "instrument"          not a questionnaire
//   "answers"             more answers than the form has items; "item <n> is missing"
//   "answers[<i>].item"   an item number the form does not have, or one answered twice
//   "answers[<i>].value"  a value that is not one of the item's options (0..3)
//
// Proration (only when config.proration_enabled): up to the configured number of scored items may
// be missing, and the total is the mean of the answered items scaled to the whole form -
// total = answered_sum * scored_items / answered_items, rounded half up (so 10 over 8 PHQ-9
// items is 11.25 -> 11). The item with a safety rule (PHQ-9 item 9) is never prorated: a form
// without it is refused, because a missing answer there must not read as "no risk".
//
// The result holds the answers ordered by item number, the total, its severity band, whether it
// was prorated, the number of scored items answered, and a SafetyFlag (kind, metric, item, value,
// state OPEN) for every answer above its item's safety_flag_above. Resource fields of the flags
// (name, patient, measurement, raise_time) are the store's to fill.
absl::StatusOr<trellis::v1::QuestionnaireResult> ScoreQuestionnaire(
    const trellis::v1::Metric& instrument,
    const google::protobuf::RepeatedPtrField<trellis::v1::ItemAnswer>& answers,
    const clinical::InstrumentConfig& config);

// Validates a whole SubmitQuestionnaireRequest against `instrument` (the resolved metric of
// request.instrument) and returns the measurement to store: patient, metric, value = total,
// observe_time (now when unset), source resolved for `role`, note, goal, occurrence, and the
// scored `questionnaire`. Every violation of the request is reported at once: "patient",
// "instrument", "answers...", "observe_time", "source", "note", "goal" (same rules as
// PrepareMeasurement). The safety flags are in measurement.questionnaire().safety_flags().
absl::StatusOr<trellis::v1::Measurement> PrepareSubmission(
    const trellis::v1::SubmitQuestionnaireRequest& request, const trellis::v1::Metric& instrument,
    const clinical::InstrumentConfig& config, trellis::v1::Role role, absl::Time now,
    const RecordingLimits& limits = {});

}  // namespace trellis::measurements
