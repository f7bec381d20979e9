// Fuzz target: questionnaire scoring (ScoreQuestionnaire), SubmitQuestionnaire validation
// (PrepareSubmission) and reliable change on the result, under a tenant configuration the input
// chooses, checking the contracts of questionnaire_scoring.h.
//
// Input, one "key=value" per line (unknown lines ignored):
//   instrument=phq9        the metric scored against (phq9, gad7, mood, suds or any other id)
//   proration=1            InstrumentConfig::proration_enabled
//   phq9_max_missing=2     InstrumentConfig::phq9_max_missing_items (gad7_max_missing likewise)
//   previous=14            an earlier total, for the reliable change assessment
//   9=1                    an answer: item 9, value 1 (any int32s, repeats allowed)

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clinical/instruments.h"
#include "common/ids/ids.h"
#include "common/status/status.h"
#include "fuzz/fuzz_target.h"
#include "services/measurements/domain/questionnaire_scoring.h"
#include "services/measurements/domain/reliable_change.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::fuzz {
namespace {

struct Input {
  std::string instrument = "phq9";
  clinical::InstrumentConfig config;
  int previous = 0;
  google::protobuf::RepeatedPtrField<v1::ItemAnswer> answers;
};

Input ParseInput(absl::string_view text) {
  Input in;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    const absl::string_view key = line.substr(0, eq);
    const absl::string_view value = line.substr(eq + 1);
    int number = 0;
    const bool numeric = absl::SimpleAtoi(value, &number);
    int item = 0;
    if (key == "instrument") {
      in.instrument = std::string(value);
    } else if (!numeric) {
      continue;
    } else if (key == "proration") {
      in.config.proration_enabled = number != 0;
    } else if (key == "phq9_max_missing") {
      in.config.phq9_max_missing_items = number;
    } else if (key == "gad7_max_missing") {
      in.config.gad7_max_missing_items = number;
    } else if (key == "previous") {
      in.previous = number;
    } else if (absl::SimpleAtoi(key, &item)) {
      v1::ItemAnswer* answer = in.answers.Add();
      answer->set_item(item);
      answer->set_value(number);
    }
  }
  return in;
}

// What questionnaire_scoring.h promises of an accepted form.
void CheckResult(const v1::Metric& instrument, const Input& in,
                 const v1::QuestionnaireResult& result) {
  int scored = 0;
  for (const v1::QuestionnaireItem& item : instrument.items()) scored += item.scored() ? 1 : 0;
  TRELLIS_FUZZ_CHECK(result.total() >= instrument.min_value());
  TRELLIS_FUZZ_CHECK(result.total() <= instrument.max_value());
  TRELLIS_FUZZ_CHECK(!result.severity_band().empty());
  TRELLIS_FUZZ_CHECK(result.answered_items() <= scored);
  TRELLIS_FUZZ_CHECK(result.prorated() == (result.answered_items() < scored));
  TRELLIS_FUZZ_CHECK(result.answers_size() == in.answers.size());
  for (int i = 1; i < result.answers_size(); ++i) {
    TRELLIS_FUZZ_CHECK(result.answers(i - 1).item() < result.answers(i).item());
  }
  // One safety flag per answer above its item's threshold, never prorated away.
  int expected_flags = 0;
  for (const v1::ItemAnswer& answer : result.answers()) {
    const v1::QuestionnaireItem* item = clinical::FindItem(instrument, answer.item());
    TRELLIS_FUZZ_CHECK(item != nullptr);
    if (item->has_safety_flag_above() && answer.value() > item->safety_flag_above()) {
      ++expected_flags;
    }
  }
  TRELLIS_FUZZ_CHECK(result.safety_flags_size() == expected_flags);
  if (instrument.id() == clinical::kPhq9Id) {
    TRELLIS_FUZZ_CHECK(clinical::FindItem(instrument, clinical::kPhq9SafetyItem) != nullptr);
    const bool item9_answered =
        std::any_of(result.answers().begin(), result.answers().end(),
                    [](const v1::ItemAnswer& a) { return a.item() == clinical::kPhq9SafetyItem; });
    TRELLIS_FUZZ_CHECK(item9_answered);
  }
}

}  // namespace

int FuzzQuestionnaire(const uint8_t* data, size_t size) {
  const Input in = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));
  // A service refuses to start with (or to apply a tenant record of) an invalid configuration.
  if (!clinical::ValidateInstrumentConfig(in.config).ok()) return 0;

  v1::Metric instrument;
  if (const v1::Metric* built_in = clinical::FindBuiltIn(in.instrument)) {
    instrument = *built_in;
  } else {
    instrument.set_id(in.instrument);
  }
  clinical::ApplyInstrumentConfig(in.config, &instrument);

  absl::StatusOr<v1::QuestionnaireResult> result =
      measurements::ScoreQuestionnaire(instrument, in.answers, in.config);
  if (result.ok()) {
    CheckResult(instrument, in, *result);
    const measurements::ReliableChangeAssessment change = measurements::AssessReliableChange(
        instrument, in.previous, result->total(), measurements::Better::kLower);
    if (change.index.has_value()) TRELLIS_FUZZ_CHECK(!std::isnan(*change.index));
  } else {
    CheckRefusal(result.status());
  }

  // The same answers as a whole request: accepted exactly when the form is, with its total.
  v1::SubmitQuestionnaireRequest request;
  request.set_patient("p1");
  request.set_instrument(in.instrument);
  *request.mutable_answers() = in.answers;
  const absl::Time now = absl::FromUnixSeconds(1718000000);  // 2024-06-10
  absl::StatusOr<v1::Measurement> measurement =
      measurements::PrepareSubmission(request, instrument, in.config, v1::ROLE_CLIENT, now);
  if (!measurement.ok()) {
    CheckRefusal(measurement.status());
    TRELLIS_FUZZ_CHECK(!result.ok() || !ValidateId("instrument", in.instrument).ok());
    return 0;
  }
  TRELLIS_FUZZ_CHECK(result.ok());
  TRELLIS_FUZZ_CHECK(measurement->value() == result->total());
  TRELLIS_FUZZ_CHECK(measurement->questionnaire().safety_flags_size() ==
                     result->safety_flags_size());
  return 0;
}

}  // namespace trellis::fuzz

TRELLIS_FUZZ_ENTRY_POINT(trellis::fuzz::FuzzQuestionnaire)
