#pragma once

// The rules a value must pass before it is stored (RecordMeasurement, SubmitQuestionnaire and
// each item of BatchRecordMeasurements). Pure checks: the caller has already resolved the metric
// (an unknown metric is the caller's INVALID_ARGUMENT "measurement.metric").

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::measurements {

inline constexpr size_t kMaxNoteChars = 2000;

// Time bounds of an observation.
struct RecordingLimits {
  // How far in the future an observe_time may be: device and phone clocks drift, and an app
  // syncing offline data stamps values with its own clock.
  absl::Duration max_future_skew = absl::Minutes(5);
  // Nothing is observed before this instant. 2000-01-01T00:00:00Z (the contract's floor): it
  // catches zero and seconds-vs-milliseconds mistakes (1970, year 50000) while leaving room for
  // any historical intake score a clinic would import.
  absl::Time earliest = absl::FromUnixSeconds(946684800);
};

// The source to store for a write by `role` that asked for `requested`: the requested source
// when set, else CLIENT for a client and CLINICIAN for a clinician, else UNSPECIFIED (which
// validation then refuses: a service must say where a value came from).
trellis::v1::MeasurementSource ResolveSource(trellis::v1::MeasurementSource requested,
                                             trellis::v1::Role role);

// INVALID_ARGUMENT naming `field` unless `value` is finite, inside [min_value, max_value], whole
// when the metric has integer values, and 0 or 1 for yes/no metrics.
absl::Status ValidateValue(const trellis::v1::Metric& metric, double value,
                           absl::string_view field);

// INVALID_ARGUMENT naming `field` unless `observe_time` is a valid timestamp no later than
// now + max_future_skew and no earlier than limits.earliest.
absl::Status ValidateObserveTime(const google::protobuf::Timestamp& observe_time, absl::Time now,
                                 const RecordingLimits& limits, absl::string_view field);

// INVALID_ARGUMENT naming `field` unless `note` is valid UTF-8 of at most 2000 code points.
absl::Status ValidateNote(absl::string_view note, absl::string_view field);

// INVALID_ARGUMENT naming `field` unless `goal` is empty or "patients/<patient>/goals/<id>" of
// this patient (existence is the store's business: NOT_FOUND).
absl::Status ValidateGoalName(absl::string_view goal, absl::string_view patient,
                              absl::string_view field);

// Validates RecordMeasurementRequest.measurement against `metric` (the resolved metric of
// measurement.metric) and returns the measurement to store: output-only fields cleared, source
// resolved for `role`, an unset observe_time set to `now`. Every violation is reported
// (BadRequest paths "measurement.<field>"): patient and metric ids; a questionnaire metric
// ("use SubmitQuestionnaire", so the PHQ-9 safety item can never be bypassed); the value; the
// observe time; a source that is not a known value, unresolved, or CLINICIAN claimed by a client;
// the note; the goal name.
absl::StatusOr<trellis::v1::Measurement> PrepareMeasurement(
    const trellis::v1::Measurement& requested, const trellis::v1::Metric& metric,
    trellis::v1::Role role, absl::Time now, const RecordingLimits& limits = {});

}  // namespace trellis::measurements
