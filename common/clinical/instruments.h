#pragma once

// The built-in instrument catalog: PHQ-9, GAD-7, a 0-10 mood rating and a 0-100 distress rating
// (SUDS), as trellis::v1::Metric messages with everything a client needs to render and score a
// form (items, answer options, bands, LOINC codes, thresholds). Facts and defaults come from
// shared/reference/measures.md. The measurement service serves and scores these; the goal service
// reads them for SMART checks (range, direction, symptom scale). Pure data: no I/O, no locks.

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "trellis/v1/measurements.pb.h"

namespace trellis::clinical {

// Built-in metric ids. Tenant metrics can never take these (DefineMetric refuses them).
inline constexpr absl::string_view kPhq9Id = "phq9";
inline constexpr absl::string_view kGad7Id = "gad7";
inline constexpr absl::string_view kMoodId = "mood";
inline constexpr absl::string_view kSudsId = "suds";

inline constexpr absl::string_view kLoincSystem = "http://loinc.org";

// LOINC codes (reference/measures.md). 69737-5 is the GAD-7 panel, not its total.
inline constexpr absl::string_view kLoincPhq9Panel = "44249-1";
inline constexpr absl::string_view kLoincPhq9Total = "44261-6";
inline constexpr absl::string_view kLoincPhq9Item9 = "44260-8";
inline constexpr absl::string_view kLoincGad7Panel = "69737-5";
inline constexpr absl::string_view kLoincGad7Total = "70274-6";

// The PHQ-9 item whose answer above 0 raises a safety flag.
inline constexpr int kPhq9SafetyItem = 9;

// Tenant-configurable clinical settings of the built-in questionnaires. The defaults are the NHS
// Talking Therapies values of reference/measures.md; programmes that disagree change them here,
// in one place, and every consumer (catalog listing, scoring, progress) sees the same values.
struct InstrumentConfig {
  // Reliable change: an integer score difference of at least this many points.
  int phq9_reliable_change = 6;
  int gad7_reliable_change = 4;
  // Caseness: a total at or above this is a clinical case.
  int phq9_caseness = 10;
  int gad7_caseness = 8;
  // Proration of unanswered scored items; off by default ("a form with unanswered items is
  // invalid unless the tenant enables proration"). When on, at most this many scored items may be
  // missing. Defaults follow common PHQ guidance: up to 2 of 9 PHQ-9 items, and proportionally
  // fewer (1 of 7) for the GAD-7 so that a prorated total always rests on >= 78% of the form.
  bool proration_enabled = false;
  int phq9_max_missing_items = 2;
  int gad7_max_missing_items = 1;
};

// Checks a configuration read from flags or a tenant record: thresholds positive and inside the
// instrument's range, missing-item limits in [0, scored items - 1]. Otherwise INVALID_ARGUMENT
// with a BadRequest field violation per bad setting, named as the struct member
// ("phq9_max_missing_items"); a service refuses to start (or to apply a tenant record) with one.
absl::Status ValidateInstrumentConfig(const InstrumentConfig& config);

// The built-in metrics with default settings, in the order ListInstruments returns them
// (phq9, gad7, mood, suds). The vector lives for the whole program.
const std::vector<trellis::v1::Metric>& BuiltIns();

// The built-in metric with this id (exact, case-sensitive match), or nullptr. The pointer lives
// for the whole program.
const trellis::v1::Metric* FindBuiltIn(absl::string_view id);

// True when `id` names a built-in, ignoring ASCII case: "PHQ9" would read as the PHQ-9 to a
// person, so tenant metrics may not take it either.
bool IsReservedId(absl::string_view id);

// Applies `config` to a built-in questionnaire (reliable_change_threshold, caseness_threshold,
// max_missing_items). Leaves any other metric untouched, so it is safe to call on every metric.
void ApplyInstrumentConfig(const InstrumentConfig& config, trellis::v1::Metric* metric);

// BuiltIns() with `config` applied: what ListInstruments shows a tenant.
std::vector<trellis::v1::Metric> ConfiguredBuiltIns(const InstrumentConfig& config);

// The questionnaire item with this number, or nullptr.
const trellis::v1::QuestionnaireItem* FindItem(const trellis::v1::Metric& metric, int number);

}  // namespace trellis::clinical
