#include "common/clinical/instruments.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis::clinical {
namespace {

using ::trellis::v1::AnswerOption;
using ::trellis::v1::Metric;
using ::trellis::v1::QuestionnaireItem;

struct ItemSpec {
  const char* text;
  const char* loinc;
};

// PHQ-9 and GAD-7 share one frequency answer list (LOINC LL358-3), scored 0..3.
constexpr std::pair<const char*, const char*> kFrequencyOptions[] = {
    {"Not at all", "LA6568-5"},
    {"Several days", "LA6569-3"},
    {"More than half the days", "LA6570-1"},
    {"Nearly every day", "LA6571-9"},
};

// The unscored PHQ-9 difficulty question (LOINC answer list LL359-1). Note the LOINC codes are
// not in display order: "Very difficult" is LA6575-0 and "Extremely difficult" LA6574-3.
constexpr std::pair<const char*, const char*> kDifficultyOptions[] = {
    {"Not difficult at all", "LA6572-7"},
    {"Somewhat difficult", "LA6573-5"},
    {"Very difficult", "LA6575-0"},
    {"Extremely difficult", "LA6574-3"},
};

constexpr ItemSpec kPhq9Items[] = {
    {"Little interest or pleasure in doing things", "44250-9"},
    {"Feeling down, depressed, or hopeless", "44255-8"},
    {"Trouble falling or staying asleep, or sleeping too much", "44259-0"},
    {"Feeling tired or having little energy", "44254-1"},
    {"Poor appetite or overeating", "44251-7"},
    {"Feeling bad about yourself — or that you are a failure or have let yourself or your "
     "family down",
     "44258-2"},
    {"Trouble concentrating on things, such as reading the newspaper or watching television",
     "44252-5"},
    {"Moving or speaking so slowly that other people could have noticed? Or the opposite — being "
     "so fidgety or restless that you have been moving around a lot more than usual",
     "44253-3"},
    {"Thoughts that you would be better off dead or of hurting yourself in some way", "44260-8"},
};

constexpr ItemSpec kPhq9Difficulty = {
    "If you checked off any problems, how difficult have these problems made it for you to do "
    "your work, take care of things at home, or get along with other people?",
    "69722-7"};

constexpr ItemSpec kGad7Items[] = {
    {"Feeling nervous, anxious, or on edge", "69725-0"},
    {"Not being able to stop or control worrying", "68509-9"},
    {"Worrying too much about different things", "69733-4"},
    {"Trouble relaxing", "69734-2"},
    {"Being so restless that it is hard to sit still", "69735-9"},
    {"Becoming easily annoyed or irritable", "69689-8"},
    {"Feeling afraid, as if something awful might happen", "69736-7"},
};

constexpr int kPhq9ScoredItems = 9;
constexpr int kGad7ScoredItems = 7;

template <size_t N>
QuestionnaireItem* AddItem(Metric& metric, int number, const ItemSpec& spec, bool scored,
                           const std::pair<const char*, const char*> (&options)[N]) {
  QuestionnaireItem* item = metric.add_items();
  item->set_number(number);
  item->set_text(spec.text);
  item->set_loinc_code(spec.loinc);
  item->set_scored(scored);
  for (size_t i = 0; i < N; ++i) {
    AnswerOption* option = item->add_options();
    option->set_value(static_cast<int>(i));
    option->set_text(options[i].first);
    option->set_loinc_answer_code(options[i].second);
  }
  return item;
}

void AddBand(Metric& metric, double low, double high, const char* label) {
  auto* band = metric.add_bands();
  band->set_low(low);
  band->set_high(high);
  band->set_label(label);
}

Metric MakePhq9() {
  Metric m;
  m.set_id(std::string(kPhq9Id));
  m.set_display_name("PHQ-9");
  m.set_description(
      "Patient Health Questionnaire-9 (Kroenke, Spitzer & Williams 2001): depression severity. "
      "Over the last 2 weeks, how often have you been bothered by any of the following "
      "problems? Items 1-9 are scored 0-3 (total 0-27); item 10 (difficulty) is not scored.");
  m.set_kind(v1::METRIC_KIND_QUESTIONNAIRE);
  m.set_unit("{score}");
  m.set_min_value(0);
  m.set_max_value(27);
  m.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  m.set_integer_values(true);
  int number = 1;
  for (const ItemSpec& spec : kPhq9Items) {
    QuestionnaireItem* item = AddItem(m, number, spec, /*scored=*/true, kFrequencyOptions);
    // Any answer above "Not at all" on item 9 is a safety signal, whatever the total.
    if (number == kPhq9SafetyItem) item->set_safety_flag_above(0);
    ++number;
  }
  AddItem(m, 10, kPhq9Difficulty, /*scored=*/false, kDifficultyOptions);
  AddBand(m, 0, 4, "minimal");
  AddBand(m, 5, 9, "mild");
  AddBand(m, 10, 14, "moderate");
  AddBand(m, 15, 19, "moderately severe");
  AddBand(m, 20, 27, "severe");
  m.set_loinc_panel_code(std::string(kLoincPhq9Panel));
  m.set_loinc_code(std::string(kLoincPhq9Total));
  m.set_reliable_change_threshold(6);
  m.set_caseness_threshold(10);
  m.set_response_fraction(0.5);
  m.set_remission_below(5);
  m.set_built_in(true);
  return m;
}

Metric MakeGad7() {
  Metric m;
  m.set_id(std::string(kGad7Id));
  m.set_display_name("GAD-7");
  m.set_description(
      "Generalized Anxiety Disorder 7-item scale (Spitzer et al. 2006): anxiety severity. Over "
      "the last 2 weeks, how often have you been bothered by the following problems? Items are "
      "scored 0-3 (total 0-21).");
  m.set_kind(v1::METRIC_KIND_QUESTIONNAIRE);
  m.set_unit("{score}");
  m.set_min_value(0);
  m.set_max_value(21);
  m.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  m.set_integer_values(true);
  int number = 1;
  for (const ItemSpec& spec : kGad7Items) {
    AddItem(m, number++, spec, /*scored=*/true, kFrequencyOptions);
  }
  AddBand(m, 0, 4, "minimal");
  AddBand(m, 5, 9, "mild");
  AddBand(m, 10, 14, "moderate");
  AddBand(m, 15, 21, "severe");
  m.set_loinc_panel_code(std::string(kLoincGad7Panel));
  m.set_loinc_code(std::string(kLoincGad7Total));
  m.set_reliable_change_threshold(4);
  m.set_caseness_threshold(8);
  m.set_built_in(true);
  return m;
}

// Single-number ratings have no published SD/reliability that would hold for every population,
// so they carry no reliable-change criterion; progress uses its trend rule for them instead.
Metric MakeMood() {
  Metric m;
  m.set_id(std::string(kMoodId));
  m.set_display_name("Mood rating");
  m.set_description(
      "How is your mood? 0 = the worst it could be, 10 = the best it could be. Higher is "
      "better.");
  m.set_kind(v1::METRIC_KIND_RATING);
  m.set_unit("{rating}");
  m.set_min_value(0);
  m.set_max_value(10);
  m.set_better_direction(v1::BETTER_DIRECTION_HIGHER);
  m.set_integer_values(true);
  m.set_built_in(true);
  return m;
}

Metric MakeSuds() {
  Metric m;
  m.set_id(std::string(kSudsId));
  m.set_display_name("Distress (SUDS)");
  m.set_description(
      "Subjective Units of Distress: how distressed do you feel right now? 0 = no distress at "
      "all, 100 = the worst distress you can imagine. Lower is better.");
  m.set_kind(v1::METRIC_KIND_RATING);
  m.set_unit("{rating}");
  m.set_min_value(0);
  m.set_max_value(100);
  m.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  m.set_integer_values(true);
  m.set_built_in(true);
  return m;
}

}  // namespace

absl::Status ValidateInstrumentConfig(const InstrumentConfig& config) {
  struct IntSetting {
    const char* name;
    int value;
    int low;
    int high;
  };
  // Item 9 of the PHQ-9 is never prorated (scoring refuses a form without it), so at most 8
  // PHQ-9 items could ever be missing; the GAD-7 needs at least one answered item.
  const IntSetting settings[] = {
      {"phq9_reliable_change", config.phq9_reliable_change, 1, 27},
      {"gad7_reliable_change", config.gad7_reliable_change, 1, 21},
      {"phq9_caseness", config.phq9_caseness, 1, 27},
      {"gad7_caseness", config.gad7_caseness, 1, 21},
      {"phq9_max_missing_items", config.phq9_max_missing_items, 0, kPhq9ScoredItems - 1},
      {"gad7_max_missing_items", config.gad7_max_missing_items, 0, kGad7ScoredItems - 1},
  };
  FieldViolations violations;
  for (const IntSetting& s : settings) {
    if (s.value < s.low || s.value > s.high) {
      violations.Add(s.name, absl::StrCat("must be in [", s.low, ", ", s.high, "], got ", s.value));
    }
  }
  return violations.ToStatus();
}

const std::vector<Metric>& BuiltIns() {
  static const auto* const kBuiltIns =
      new std::vector<Metric>{MakePhq9(), MakeGad7(), MakeMood(), MakeSuds()};
  return *kBuiltIns;
}

const Metric* FindBuiltIn(absl::string_view id) {
  for (const Metric& metric : BuiltIns()) {
    if (metric.id() == id) return &metric;
  }
  return nullptr;
}

bool IsReservedId(absl::string_view id) {
  for (const Metric& metric : BuiltIns()) {
    if (absl::EqualsIgnoreCase(metric.id(), id)) return true;
  }
  return false;
}

void ApplyInstrumentConfig(const InstrumentConfig& config, Metric* metric) {
  if (metric->kind() != v1::METRIC_KIND_QUESTIONNAIRE) return;
  if (metric->id() == kPhq9Id) {
    metric->set_reliable_change_threshold(config.phq9_reliable_change);
    metric->set_caseness_threshold(config.phq9_caseness);
    metric->set_max_missing_items(config.proration_enabled ? config.phq9_max_missing_items : 0);
  } else if (metric->id() == kGad7Id) {
    metric->set_reliable_change_threshold(config.gad7_reliable_change);
    metric->set_caseness_threshold(config.gad7_caseness);
    metric->set_max_missing_items(config.proration_enabled ? config.gad7_max_missing_items : 0);
  }
}

std::vector<Metric> ConfiguredBuiltIns(const InstrumentConfig& config) {
  std::vector<Metric> out = BuiltIns();
  for (Metric& metric : out) ApplyInstrumentConfig(config, &metric);
  return out;
}

const QuestionnaireItem* FindItem(const Metric& metric, int number) {
  for (const QuestionnaireItem& item : metric.items()) {
    if (item.number() == number) return &item;
  }
  return nullptr;
}

}  // namespace trellis::clinical
