#include "services/measurements/domain/questionnaire_scoring.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clinical/severity.h"
#include "common/ids/ids.h"
#include "common/status/status.h"
#include "services/measurements/domain/proto_time.h"

namespace trellis::measurements {
namespace {

using ::trellis::v1::ItemAnswer;
using ::trellis::v1::Metric;
using ::trellis::v1::QuestionnaireItem;
using ::trellis::v1::QuestionnaireResult;

bool HasOption(const QuestionnaireItem& item, int value) {
  for (const auto& option : item.options()) {
    if (option.value() == value) return true;
  }
  return false;
}

std::string OptionList(const QuestionnaireItem& item) {
  std::string out;
  for (const auto& option : item.options()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", option.value());
  }
  return out;
}

// How many scored items may be missing for `instrument` under `config`.
int MaxMissing(const Metric& instrument, const clinical::InstrumentConfig& config) {
  Metric configured;
  configured.set_id(instrument.id());
  configured.set_kind(instrument.kind());
  configured.set_max_missing_items(instrument.max_missing_items());
  clinical::ApplyInstrumentConfig(config, &configured);
  return configured.max_missing_items();
}

// Scores into `v` (violations) and returns the result when there were none.
std::optional<QuestionnaireResult> Score(
    const Metric& instrument, const google::protobuf::RepeatedPtrField<ItemAnswer>& answers,
    const clinical::InstrumentConfig& config, FieldViolations& v) {
  if (instrument.kind() != v1::METRIC_KIND_QUESTIONNAIRE || instrument.items_size() == 0) {
    v.Add("instrument", "is not a questionnaire: use \"phq9\" or \"gad7\"");
    return std::nullopt;
  }
  if (answers.size() > instrument.items_size()) {
    // Bounded before the per-answer loop: a request cannot make us walk a huge list.
    v.Add("answers", absl::StrCat(instrument.display_name(), " has ", instrument.items_size(),
                                  " items; got ", answers.size(), " answers"));
    return std::nullopt;
  }

  const size_t before = v.size();
  // Index in `answers` of the answer to each item slot of the form, or -1.
  std::vector<int> answer_of(instrument.items_size(), -1);
  for (int i = 0; i < answers.size(); ++i) {
    const ItemAnswer& answer = answers.Get(i);
    int slot = -1;
    for (int k = 0; k < instrument.items_size(); ++k) {
      if (instrument.items(k).number() == answer.item()) slot = k;
    }
    if (slot < 0) {
      v.Add(absl::StrCat("answers[", i, "].item"),
            absl::StrCat(instrument.display_name(), " has no item ", answer.item()));
      continue;
    }
    if (answer_of[slot] >= 0) {
      v.Add(absl::StrCat("answers[", i, "].item"),
            absl::StrCat("item ", answer.item(), " is answered more than once (also answers[",
                         answer_of[slot], "])"));
      continue;
    }
    answer_of[slot] = i;
    const QuestionnaireItem& item = instrument.items(slot);
    if (!HasOption(item, answer.value())) {
      v.Add(absl::StrCat("answers[", i, "].value"),
            absl::StrCat("item ", item.number(), " must be one of ", OptionList(item), ", got ",
                         answer.value()));
    }
  }

  int scored_items = 0;
  int answered = 0;
  int64_t sum = 0;
  std::vector<int> missing;
  bool safety_item_missing = false;
  for (int k = 0; k < instrument.items_size(); ++k) {
    const QuestionnaireItem& item = instrument.items(k);
    if (!item.scored()) continue;
    ++scored_items;
    if (answer_of[k] < 0) {
      missing.push_back(item.number());
      if (item.has_safety_flag_above()) safety_item_missing = true;
      continue;
    }
    ++answered;
    sum += answers.Get(answer_of[k]).value();
  }

  const int max_missing = MaxMissing(instrument, config);
  const bool prorate = !missing.empty() && !safety_item_missing &&
                       static_cast<int>(missing.size()) <= max_missing && answered > 0;
  if (!missing.empty() && !prorate) {
    for (int number : missing) {
      const QuestionnaireItem* item = clinical::FindItem(instrument, number);
      std::string why = absl::StrCat("item ", number, " is missing");
      if (item != nullptr && item->has_safety_flag_above()) {
        absl::StrAppend(&why, " (the safety item is never prorated)");
      } else if (max_missing > 0) {
        absl::StrAppend(&why, " (at most ", max_missing, " items may be missing)");
      }
      v.Add("answers", why);
    }
  }
  if (v.size() > before) return std::nullopt;

  QuestionnaireResult result;
  int total = static_cast<int>(sum);
  if (prorate) {
    // Round half up in integers: floor((2 * sum * n + answered) / (2 * answered)).
    const int64_t n = answered;
    total = static_cast<int>((2 * sum * scored_items + n) / (2 * n));
  }
  result.set_total(total);
  result.set_severity_band(std::string(clinical::SeverityBandOf(instrument, total)));
  result.set_prorated(prorate);
  result.set_answered_items(answered);

  for (int k = 0; k < instrument.items_size(); ++k) {
    if (answer_of[k] < 0) continue;
    const QuestionnaireItem& item = instrument.items(k);
    const ItemAnswer& answer = answers.Get(answer_of[k]);
    *result.add_answers() = answer;
    if (item.has_safety_flag_above() && answer.value() > item.safety_flag_above()) {
      v1::SafetyFlag* flag = result.add_safety_flags();
      flag->set_kind(instrument.id() == clinical::kPhq9Id &&
                             item.number() == clinical::kPhq9SafetyItem
                         ? v1::SAFETY_FLAG_KIND_PHQ9_ITEM9
                         : v1::SAFETY_FLAG_KIND_UNSPECIFIED);
      flag->set_metric(instrument.id());
      flag->set_item(item.number());
      flag->set_value(answer.value());
      flag->set_state(v1::SAFETY_FLAG_STATE_OPEN);
    }
  }
  std::sort(result.mutable_answers()->begin(), result.mutable_answers()->end(),
            [](const ItemAnswer& a, const ItemAnswer& b) { return a.item() < b.item(); });
  return result;
}

}  // namespace

absl::StatusOr<QuestionnaireResult> ScoreQuestionnaire(
    const Metric& instrument, const google::protobuf::RepeatedPtrField<ItemAnswer>& answers,
    const clinical::InstrumentConfig& config) {
  FieldViolations v;
  std::optional<QuestionnaireResult> result = Score(instrument, answers, config, v);
  if (!result.has_value()) return v.ToStatus();
  return *std::move(result);
}

absl::StatusOr<v1::Measurement> PrepareSubmission(const v1::SubmitQuestionnaireRequest& request,
                                                  const Metric& instrument,
                                                  const clinical::InstrumentConfig& config,
                                                  v1::Role role, absl::Time now,
                                                  const RecordingLimits& limits) {
  FieldViolations v;
  const absl::Status patient_ok = ValidateId("patient", request.patient());
  v.Merge(patient_ok);
  std::optional<QuestionnaireResult> result;
  if (absl::Status s = ValidateId("instrument", request.instrument()); !s.ok()) {
    v.Merge(s);
  } else if (request.instrument() != instrument.id()) {
    return absl::InternalError("instrument definition does not match request.instrument");
  } else {
    result = Score(instrument, request.answers(), config, v);
  }
  if (request.has_observe_time()) {
    v.Merge(ValidateObserveTime(request.observe_time(), now, limits, "observe_time"));
  }
  const v1::MeasurementSource source = ResolveSource(request.source(), role);
  if (source != v1::MEASUREMENT_SOURCE_CLIENT && source != v1::MEASUREMENT_SOURCE_CLINICIAN &&
      source != v1::MEASUREMENT_SOURCE_DEVICE) {
    v.Add("source", request.source() == v1::MEASUREMENT_SOURCE_UNSPECIFIED
                        ? "is required for this caller: CLIENT, CLINICIAN or DEVICE"
                        : "must be CLIENT, CLINICIAN or DEVICE");
  } else if (role == v1::ROLE_CLIENT && source == v1::MEASUREMENT_SOURCE_CLINICIAN) {
    v.Add("source", "a client cannot submit as a clinician");
  }
  v.Merge(ValidateNote(request.note(), "note"));
  if (patient_ok.ok()) v.Merge(ValidateGoalName(request.goal(), request.patient(), "goal"));
  if (absl::Status s = v.ToStatus(); !s.ok()) return s;

  v1::Measurement m;
  m.set_patient(request.patient());
  m.set_metric(request.instrument());
  m.set_value(result->total());
  *m.mutable_observe_time() =
      request.has_observe_time() ? request.observe_time() : ToProtoTimestamp(now);
  m.set_source(source);
  m.set_note(request.note());
  m.set_goal(request.goal());
  m.set_occurrence(request.occurrence());
  *m.mutable_questionnaire() = *std::move(result);
  return m;
}

}  // namespace trellis::measurements
