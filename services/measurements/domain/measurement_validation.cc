#include "services/measurements/domain/measurement_validation.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/ids/ids.h"
#include "common/status/status.h"
#include "services/measurements/domain/proto_time.h"
#include "services/measurements/domain/text.h"

namespace trellis::measurements {
namespace {

using ::trellis::v1::Measurement;
using ::trellis::v1::MeasurementSource;
using ::trellis::v1::Metric;

bool IsKnownSource(MeasurementSource source) {
  return source == v1::MEASUREMENT_SOURCE_CLIENT || source == v1::MEASUREMENT_SOURCE_CLINICIAN ||
         source == v1::MEASUREMENT_SOURCE_DEVICE;
}

}  // namespace

MeasurementSource ResolveSource(MeasurementSource requested, v1::Role role) {
  if (requested != v1::MEASUREMENT_SOURCE_UNSPECIFIED) return requested;
  if (role == v1::ROLE_CLIENT) return v1::MEASUREMENT_SOURCE_CLIENT;
  if (role == v1::ROLE_CLINICIAN) return v1::MEASUREMENT_SOURCE_CLINICIAN;
  return v1::MEASUREMENT_SOURCE_UNSPECIFIED;
}

absl::Status ValidateValue(const Metric& metric, double value, absl::string_view field) {
  if (!std::isfinite(value)) return InvalidField(field, "must be a finite number");
  if (metric.kind() == v1::METRIC_KIND_YES_NO && value != 0 && value != 1) {
    return InvalidField(field, "must be 0 (no) or 1 (yes)");
  }
  if (metric.integer_values() && std::floor(value) != value) {
    return InvalidField(field, "must be a whole number");
  }
  if (metric.kind() == v1::METRIC_KIND_COUNT_PER_PERIOD && value < 0) {
    return InvalidField(field, "a count cannot be negative");
  }
  if (value < metric.min_value() || value > metric.max_value()) {
    return InvalidField(field, absl::StrCat("must be between ", metric.min_value(), " and ",
                                            metric.max_value(), " for ", metric.id()));
  }
  return absl::OkStatus();
}

absl::Status ValidateObserveTime(const google::protobuf::Timestamp& observe_time, absl::Time now,
                                 const RecordingLimits& limits, absl::string_view field) {
  if (!IsValidTimestamp(observe_time)) return InvalidField(field, "is not a valid timestamp");
  const absl::Time t = ToAbslTime(observe_time);
  if (t > now + limits.max_future_skew) {
    return InvalidField(
        field, absl::StrCat("must not be more than ", absl::FormatDuration(limits.max_future_skew),
                            " in the future"));
  }
  if (t < limits.earliest) {
    return InvalidField(field, absl::StrCat("must not be before ",
                                            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", limits.earliest,
                                                             absl::UTCTimeZone())));
  }
  return absl::OkStatus();
}

absl::Status ValidateNote(absl::string_view note, absl::string_view field) {
  if (std::string problem = TextProblem(note, 0, kMaxNoteChars); !problem.empty()) {
    return InvalidField(field, problem);
  }
  return absl::OkStatus();
}

absl::Status ValidateGoalName(absl::string_view goal, absl::string_view patient,
                              absl::string_view field) {
  if (goal.empty()) return absl::OkStatus();
  absl::string_view rest = goal;
  if (!absl::ConsumePrefix(&rest, "patients/") || !absl::ConsumePrefix(&rest, patient) ||
      !absl::ConsumePrefix(&rest, "/goals/") || !ValidateId(field, rest).ok()) {
    return InvalidField(field, "must be \"patients/{patient}/goals/{goal}\" of the same patient");
  }
  return absl::OkStatus();
}

absl::StatusOr<Measurement> PrepareMeasurement(const Measurement& requested, const Metric& metric,
                                               v1::Role role, absl::Time now,
                                               const RecordingLimits& limits) {
  Measurement m;
  m.set_patient(requested.patient());
  m.set_metric(requested.metric());
  m.set_value(requested.value());
  *m.mutable_observe_time() =
      requested.has_observe_time() ? requested.observe_time() : ToProtoTimestamp(now);
  m.set_source(ResolveSource(requested.source(), role));
  m.set_note(requested.note());
  m.set_goal(requested.goal());
  m.set_occurrence(requested.occurrence());

  FieldViolations v;
  const absl::Status patient_ok = ValidateId("measurement.patient", m.patient());
  v.Merge(patient_ok);
  if (absl::Status s = ValidateId("measurement.metric", m.metric()); !s.ok()) {
    v.Merge(s);
  } else if (m.metric() != metric.id()) {
    // The caller resolved a different metric than the request names: a bug, not bad input.
    return absl::InternalError("metric definition does not match measurement.metric");
  } else if (metric.kind() == v1::METRIC_KIND_QUESTIONNAIRE) {
    v.Add("measurement.metric",
          absl::StrCat("\"", metric.id(), "\" is a questionnaire: use SubmitQuestionnaire"));
  } else {
    v.Merge(ValidateValue(metric, m.value(), "measurement.value"));
  }
  if (requested.has_observe_time()) {
    v.Merge(ValidateObserveTime(m.observe_time(), now, limits, "measurement.observe_time"));
  }
  if (!IsKnownSource(m.source())) {
    v.Add("measurement.source", requested.source() == v1::MEASUREMENT_SOURCE_UNSPECIFIED
                                    ? "is required for this caller: CLIENT, CLINICIAN or DEVICE"
                                    : "must be CLIENT, CLINICIAN or DEVICE");
  } else if (role == v1::ROLE_CLIENT && m.source() == v1::MEASUREMENT_SOURCE_CLINICIAN) {
    v.Add("measurement.source", "a client cannot record a value as a clinician");
  }
  v.Merge(ValidateNote(m.note(), "measurement.note"));
  if (patient_ok.ok()) v.Merge(ValidateGoalName(m.goal(), m.patient(), "measurement.goal"));

  if (absl::Status s = v.ToStatus(); !s.ok()) return s;
  return m;
}

}  // namespace trellis::measurements
