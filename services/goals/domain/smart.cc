#include "services/goals/domain/smart.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/goals/domain/dates.h"
#include "services/goals/domain/vague_wording.h"

namespace trellis::goals {
namespace {

using trellis::v1::Goal;
using trellis::v1::Measure;
using trellis::v1::SmartFinding;
using trellis::v1::SmartLetter;
using trellis::v1::SmartVerdict;

constexpr SmartVerdict kOk = trellis::v1::SMART_VERDICT_OK;
constexpr SmartVerdict kWarn = trellis::v1::SMART_VERDICT_WARN;
constexpr SmartVerdict kFail = trellis::v1::SMART_VERDICT_FAIL;

// Collects the findings of one letter.
class LetterFindings {
 public:
  explicit LetterFindings(SmartLetter letter) : letter_(letter) {}

  void Add(SmartVerdict verdict, absl::string_view rule, std::string message,
           absl::string_view suggestion, std::initializer_list<absl::string_view> fields,
           absl::string_view excerpt = "") {
    SmartFinding& f = findings_.emplace_back();
    f.set_letter(letter_);
    f.set_verdict(verdict);
    f.set_rule(std::string(rule));
    f.set_message(std::move(message));
    f.set_suggestion(std::string(suggestion));
    for (absl::string_view field : fields) {
      if (!field.empty()) f.add_fields(std::string(field));
    }
    f.set_excerpt(std::string(excerpt));
  }

  // Appends this letter's findings to `out`, or one OK finding when there are none.
  void MoveTo(std::string ok_message, std::vector<SmartFinding>* out) {
    if (findings_.empty()) Add(kOk, "OK", std::move(ok_message), "", {});
    for (SmartFinding& f : findings_) out->push_back(std::move(f));
  }

 private:
  SmartLetter letter_;
  std::vector<SmartFinding> findings_;
};

std::string MetricName(const Goal& goal, const MetricInfo& metric) {
  return metric.display_name.empty() ? goal.measure().metric() : metric.display_name;
}

std::string Num(double value) { return absl::StrCat(value); }

bool HasTargetShape(const Measure& m) {
  switch (m.direction()) {
    case trellis::v1::MEASURE_DIRECTION_DECREASE:
    case trellis::v1::MEASURE_DIRECTION_INCREASE:
      return m.has_target();
    case trellis::v1::MEASURE_DIRECTION_REACH_RANGE:
      return m.has_target_low() && m.has_target_high();
    default:
      return m.has_target() || (m.has_target_low() && m.has_target_high());
  }
}

// How far the baseline is from the target, in the metric's units; 0 when already there.
double DistanceToTarget(const Measure& m) {
  switch (m.direction()) {
    case trellis::v1::MEASURE_DIRECTION_DECREASE:
      return std::max(0.0, m.baseline() - m.target());
    case trellis::v1::MEASURE_DIRECTION_INCREASE:
      return std::max(0.0, m.target() - m.baseline());
    case trellis::v1::MEASURE_DIRECTION_REACH_RANGE:
      if (m.baseline() < m.target_low()) return m.target_low() - m.baseline();
      if (m.baseline() > m.target_high()) return m.baseline() - m.target_high();
      return 0;
    default:
      return 0;
  }
}

size_t WordCount(absl::string_view text) {
  std::vector<absl::string_view> words =
      absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipWhitespace());
  return words.size();
}

std::optional<absl::CivilDay> DayOf(const trellis::v1::LocalDate& date) {
  if (!IsSet(date) || !IsValidDate(date)) return std::nullopt;
  return ToCivilDay(date);
}

std::string FormatDay(absl::CivilDay day) { return FormatDate(ToLocalDate(day)); }

void EvaluateSpecific(const Goal& goal, std::vector<SmartFinding>* out) {
  LetterFindings s(trellis::v1::SMART_LETTER_SPECIFIC);
  if (absl::StripAsciiWhitespace(goal.title()).empty()) {
    s.Add(kFail, "DESCRIPTION_MISSING", "The goal has no title saying what will be done.",
          "state what the client will do, how often and by when, e.g. \"practice breathing "
          "exercises for 15 minutes daily\"",
          {"title"});
  } else {
    const Measure& m = goal.measure();
    const bool concrete_measure = !m.metric().empty() && HasTargetShape(m);
    std::set<const VaguePhrase*> seen;
    for (const auto& [field, text] :
         {std::pair<absl::string_view, absl::string_view>{"title", goal.title()},
          {"description", goal.description()}}) {
      for (const VagueMatch& match : FindVagueWording(text)) {
        const VaguePhrase& phrase = *match.phrase;
        if (!seen.insert(&phrase).second) continue;
        SmartVerdict verdict = kWarn;
        std::string message;
        switch (phrase.vagueness) {
          case Vagueness::kAbsolute:
            verdict = kFail;
            message = absl::StrCat("\"", phrase.phrase,
                                   "\" is an absolute aim that cannot be reached or checked.");
            break;
          case Vagueness::kOutcome:
            verdict = concrete_measure ? kWarn : kFail;
            message = absl::StrCat("\"", phrase.phrase,
                                   "\" names a feeling, not something that can be observed or "
                                   "counted.");
            if (concrete_measure) absl::StrAppend(&message, " The measure makes it concrete.");
            break;
          case Vagueness::kHedge:
            message = absl::StrCat("\"", phrase.phrase, "\" leaves the time or effort open.");
            break;
        }
        s.Add(verdict, "VAGUE_WORDING", std::move(message), phrase.rewrite, {field}, phrase.phrase);
      }
    }
    if (WordCount(goal.title()) < 3 && absl::StripAsciiWhitespace(goal.description()).empty()) {
      s.Add(kWarn, "TITLE_TOO_SHORT", "A title of one or two words rarely says what will be done.",
            "describe the action, its frequency and its time frame, e.g. \"walk for 20 minutes "
            "on 3 days a week for 6 weeks\"",
            {"title", "description"});
    }
  }
  s.MoveTo("The goal states a concrete action.", out);
}

void EvaluateMeasurable(const Goal& goal, const MetricInfo& metric,
                        std::vector<SmartFinding>* out) {
  LetterFindings m_findings(trellis::v1::SMART_LETTER_MEASURABLE);
  const Measure& m = goal.measure();
  if (m.metric().empty()) {
    m_findings.Add(kFail, "METRIC_MISSING", "The goal names no metric to measure progress with.",
                   "choose a metric, e.g. gad7 for anxiety, phq9 for low mood, or a count such "
                   "as panic attacks per week",
                   {"measure.metric"});
  } else if (!metric.known) {
    m_findings.Add(kFail, "METRIC_UNKNOWN",
                   absl::StrCat("The metric \"", m.metric(), "\" is not in the catalogue."),
                   "choose a metric listed by ListInstruments, or define it with DefineMetric",
                   {"measure.metric"}, m.metric());
  }
  if (m.direction() == trellis::v1::MEASURE_DIRECTION_UNSPECIFIED) {
    m_findings.Add(kFail, "DIRECTION_MISSING", "The measure has no direction of improvement.",
                   "set the direction: DECREASE, INCREASE or REACH_RANGE", {"measure.direction"});
  } else if (metric.known &&
             metric.better_direction != trellis::v1::MEASURE_DIRECTION_UNSPECIFIED &&
             metric.better_direction != trellis::v1::MEASURE_DIRECTION_REACH_RANGE &&
             m.direction() != trellis::v1::MEASURE_DIRECTION_REACH_RANGE &&
             m.direction() != metric.better_direction) {
    const bool lower_is_better = metric.better_direction == trellis::v1::MEASURE_DIRECTION_DECREASE;
    m_findings.Add(
        kFail, "DIRECTION_MISMATCH",
        absl::StrCat("On ", MetricName(goal, metric), " ", lower_is_better ? "lower" : "higher",
                     " values are better, so this goal asks for a worsening."),
        lower_is_better ? "set the direction to DECREASE" : "set the direction to INCREASE",
        {"measure.direction"});
  }
  if (!HasTargetShape(m)) {
    const bool range = m.direction() == trellis::v1::MEASURE_DIRECTION_REACH_RANGE;
    m_findings.Add(
        kFail, "TARGET_MISSING",
        range ? "The range to reach needs both target_low and target_high."
              : "The measure has no target value.",
        range ? "set target_low and target_high, e.g. 7 and 9 hours of sleep"
              : "set the value that counts as success, e.g. a GAD-7 total below 8",
        {range ? "measure.target_low" : "measure.target", range ? "measure.target_high" : ""});
  }
  if (!m.has_baseline() && !m.baseline_from_first_measurement()) {
    m_findings.Add(kFail, "BASELINE_MISSING", "There is no baseline and no plan to capture one.",
                   "record the current value as baseline, or set baseline_from_first_measurement "
                   "to use the first measurement on or after the start date",
                   {"measure.baseline", "measure.baseline_from_first_measurement"});
  } else if (m.has_baseline() && HasTargetShape(m) &&
             m.direction() != trellis::v1::MEASURE_DIRECTION_UNSPECIFIED &&
             DistanceToTarget(m) == 0) {
    m_findings.Add(kWarn, "TARGET_NOT_AN_IMPROVEMENT",
                   absl::StrCat("The baseline ", Num(m.baseline()), " already meets the target."),
                   "set a target beyond the baseline, or make this a goal to maintain the level "
                   "with a review date",
                   {"measure.target", "measure.baseline"});
  }
  m_findings.MoveTo("The goal has a known metric, a target, a direction and a baseline.", out);
}

// Adds the CHANGE_TOO_FAST finding when the change asked for is implausibly fast.
void CheckRateOfChange(const Goal& goal, const MetricInfo& metric, const SmartConfig& config,
                       absl::CivilDay today, LetterFindings* a) {
  const Measure& m = goal.measure();
  std::optional<absl::CivilDay> due = DayOf(goal.due_date());
  if (!m.has_baseline() || !due || !metric.min || !metric.max || *metric.max <= *metric.min ||
      m.direction() == trellis::v1::MEASURE_DIRECTION_UNSPECIFIED) {
    return;
  }
  const absl::CivilDay start = DayOf(goal.start_date()).value_or(today);
  const int64_t days = *due - start;
  if (days <= 0) return;  // T reports the dates.
  const double range = *metric.max - *metric.min;
  const double fraction = DistanceToTarget(m) / range;
  const double weeks = static_cast<double>(days) / 7.0;
  const double per_week = fraction / weeks;
  if (per_week <= config.warn_range_fraction_per_week) return;

  const auto earliest_days =
      static_cast<int64_t>(std::ceil(fraction / config.warn_range_fraction_per_week * 7.0));
  const double reachable = config.warn_range_fraction_per_week * weeks * range;
  double step = m.baseline();
  switch (m.direction()) {
    case trellis::v1::MEASURE_DIRECTION_DECREASE:
      step -= reachable;
      break;
    case trellis::v1::MEASURE_DIRECTION_INCREASE:
      step += reachable;
      break;
    default:
      step += m.baseline() < m.target_low() ? reachable : -reachable;
      break;
  }
  a->Add(per_week > config.fail_range_fraction_per_week ? kFail : kWarn, "CHANGE_TOO_FAST",
         absl::StrFormat("A change of %s on %s (%.0f%% of its range) in %.1f weeks is %.0f%% of "
                         "the range per week; more than %.0f%% per week is rarely reached.",
                         Num(DistanceToTarget(m)), MetricName(goal, metric), fraction * 100, weeks,
                         per_week * 100, config.warn_range_fraction_per_week * 100),
         absl::StrFormat("move the due date to %s or later, or set an intermediate target of "
                         "%.1f by %s as an objective",
                         FormatDay(start + earliest_days), step, FormatDay(*due)),
         {"measure.target", "due_date"});
}

void EvaluateAchievable(const Goal& goal, const MetricInfo& metric, const SmartConfig& config,
                        absl::CivilDay today, std::vector<SmartFinding>* out) {
  LetterFindings a(trellis::v1::SMART_LETTER_ACHIEVABLE);
  const Measure& m = goal.measure();
  if (!metric.known || !HasTargetShape(m)) {
    a.Add(kWarn, "NOT_ASSESSABLE",
          "Achievability cannot be checked without a known metric and a target.",
          "complete the measure (metric, direction, target) first", {"measure"});
    a.MoveTo("", out);
    return;
  }
  const std::string name = MetricName(goal, metric);
  auto outside = [&metric](double v) {
    return (metric.min && v < *metric.min) || (metric.max && v > *metric.max);
  };
  const std::string range_text = absl::StrCat(metric.min ? Num(*metric.min) : "-inf", " to ",
                                              metric.max ? Num(*metric.max) : "+inf");
  bool out_of_range = false;
  for (const auto& [field, has, value] :
       {std::tuple<absl::string_view, bool, double>{"measure.target", m.has_target(), m.target()},
        {"measure.target_low", m.has_target_low(), m.target_low()},
        {"measure.target_high", m.has_target_high(), m.target_high()}}) {
    if (has && outside(value)) {
      out_of_range = true;
      a.Add(kFail, "TARGET_OUT_OF_RANGE",
            absl::StrCat("The target ", Num(value), " lies outside ", name, "'s range ", range_text,
                         "."),
            absl::StrCat("choose a target between ", range_text), {field});
    }
  }
  if (m.has_baseline() && outside(m.baseline())) {
    out_of_range = true;
    a.Add(kFail, "BASELINE_OUT_OF_RANGE",
          absl::StrCat("The baseline ", Num(m.baseline()), " lies outside ", name, "'s range ",
                       range_text, "."),
          "correct the baseline, or capture it from the first measurement", {"measure.baseline"});
  }

  // Absolutes: the extreme of a scale in the direction of improvement.
  const bool decrease = m.direction() == trellis::v1::MEASURE_DIRECTION_DECREASE;
  const bool increase = m.direction() == trellis::v1::MEASURE_DIRECTION_INCREASE;
  const bool range = m.direction() == trellis::v1::MEASURE_DIRECTION_REACH_RANGE;
  if (metric.symptom_scale && metric.min &&
      ((decrease && m.has_target() && m.target() <= *metric.min) ||
       (range && m.has_target_high() && m.target_high() <= *metric.min))) {
    a.Add(kFail, "TARGET_ABSOLUTE",
          absl::StrCat("A ", name, " of ", Num(*metric.min),
                       " means no symptoms at all, which no goal can promise."),
          "aim for the minimal-symptom band instead (e.g. below 5 on PHQ-9 or GAD-7), or a "
          "reliable drop from the baseline",
          {range ? "measure.target_high" : "measure.target"});
  } else if (!metric.symptom_scale && metric.min && metric.max && m.has_target() &&
             ((decrease && m.target() <= *metric.min) || (increase && m.target() >= *metric.max))) {
    a.Add(kWarn, "TARGET_ABSOLUTE",
          absl::StrCat("The target ", Num(m.target()), " is the extreme of ", name,
                       "'s scale, which is rarely sustained."),
          "aim for a level short of the scale's end, e.g. 8 on a 0-10 rating", {"measure.target"});
  }
  // The pace of a change from or to a value outside the range means nothing, and its distance is
  // unbounded: a baseline of 1e35 overflowed the earliest-due-date arithmetic (found by
  // fuzz/request). Inside the range the change is at most the whole range.
  if (!out_of_range) CheckRateOfChange(goal, metric, config, today, &a);
  a.MoveTo("The target lies inside the metric's range and the change asked for is plausible.", out);
}

void EvaluateRelevant(const Goal& goal, ParentLookup parent, std::vector<SmartFinding>* out) {
  LetterFindings r(trellis::v1::SMART_LETTER_RELEVANT);
  const bool has_concern = goal.addresses_size() > 0;
  if (!goal.parent().empty()) {
    if (parent == ParentLookup::kNotFound) {
      r.Add(has_concern ? kWarn : kFail, "PARENT_UNKNOWN",
            "The parent goal does not exist for this patient.",
            "name an existing goal of the same patient as parent, or leave parent empty",
            {"parent"}, goal.parent());
    }
  } else if (!has_concern) {
    r.Add(kFail, "NO_CONCERN_OR_PARENT",
          "The goal addresses no stated concern and rolls up to no parent goal.",
          "state the concern it addresses, e.g. \"panic attacks on the commute\", or make it an "
          "objective of an existing goal",
          {"addresses", "parent"});
  }
  r.MoveTo(goal.parent().empty() ? "The goal addresses a stated concern."
                                 : "The goal rolls up to its parent goal.",
           out);
}

void EvaluateTimeBound(const Goal& goal, const SmartConfig& config, absl::CivilDay today,
                       std::vector<SmartFinding>* out) {
  LetterFindings t(trellis::v1::SMART_LETTER_TIME_BOUND);
  std::optional<absl::CivilDay> due = DayOf(goal.due_date());
  std::optional<absl::CivilDay> start = DayOf(goal.start_date());
  const absl::CivilDay horizon_end = today + config.horizon_days;
  if (!due) {
    t.Add(kFail, "DUE_DATE_MISSING", "The goal has no due date.",
          absl::StrCat("set a due date, e.g. ", FormatDay(today + 84), " (12 weeks from today)"),
          {"due_date"});
  } else if (*due <= today) {
    t.Add(kFail, "DUE_DATE_PAST",
          absl::StrCat("The due date ", FormatDay(*due), " is not in the future (today is ",
                       FormatDay(today), ")."),
          absl::StrCat("set a due date after ", FormatDay(today)), {"due_date"});
  } else if (*due > horizon_end) {
    t.Add(kFail, "DUE_DATE_BEYOND_HORIZON",
          absl::StrCat("The due date ", FormatDay(*due), " is more than ", config.horizon_days,
                       " days away."),
          absl::StrCat("set a due date no later than ", FormatDay(horizon_end),
                       ", and split longer aims into objectives"),
          {"due_date"});
  }
  if (due && start && *due <= *start) {
    t.Add(kFail, "DUE_DATE_NOT_AFTER_START",
          absl::StrCat("The due date ", FormatDay(*due), " is not after the start date ",
                       FormatDay(*start), "."),
          "set a due date after the start date", {"due_date", "start_date"});
  }
  t.MoveTo(due ? absl::StrCat("The goal is due on ", FormatDay(*due), ".") : "", out);
}

}  // namespace

absl::Status SmartConfig::Validate() const {
  if (horizon_days < 1) return absl::InvalidArgumentError("SMART horizon must be at least 1 day");
  if (!std::isfinite(warn_range_fraction_per_week) ||
      !std::isfinite(fail_range_fraction_per_week) || warn_range_fraction_per_week <= 0 ||
      fail_range_fraction_per_week < warn_range_fraction_per_week) {
    return absl::InvalidArgumentError(
        "SMART plausibility needs 0 < warn fraction per week <= fail fraction per week");
  }
  return absl::OkStatus();
}

std::vector<SmartFinding> SmartEvaluation::Failures() const {
  std::vector<SmartFinding> out;
  for (const SmartFinding& f : findings) {
    if (f.verdict() == kFail) out.push_back(f);
  }
  return out;
}

trellis::v1::EvaluateSmartResponse SmartEvaluation::ToResponse() const {
  trellis::v1::EvaluateSmartResponse response;
  for (const SmartFinding& f : findings) *response.add_findings() = f;
  response.set_passes(passes);
  return response;
}

SmartEvaluator::SmartEvaluator(SmartConfig config) : config_(config) {}

SmartEvaluation SmartEvaluator::Evaluate(const Goal& goal, const SmartInputs& inputs) const {
  const absl::CivilDay today = DayIn(inputs.now, config_.time_zone);
  SmartEvaluation evaluation;
  EvaluateSpecific(goal, &evaluation.findings);
  EvaluateMeasurable(goal, inputs.metric, &evaluation.findings);
  EvaluateAchievable(goal, inputs.metric, config_, today, &evaluation.findings);
  EvaluateRelevant(goal, inputs.parent, &evaluation.findings);
  EvaluateTimeBound(goal, config_, today, &evaluation.findings);
  for (const SmartFinding& f : evaluation.findings) {
    if (f.verdict() == kFail) evaluation.passes = false;
  }
  return evaluation;
}

absl::string_view SmartLetterSubject(SmartLetter letter) {
  switch (letter) {
    case trellis::v1::SMART_LETTER_SPECIFIC:
      return "S";
    case trellis::v1::SMART_LETTER_MEASURABLE:
      return "M";
    case trellis::v1::SMART_LETTER_ACHIEVABLE:
      return "A";
    case trellis::v1::SMART_LETTER_RELEVANT:
      return "R";
    case trellis::v1::SMART_LETTER_TIME_BOUND:
      return "T";
    default:
      return "";
  }
}

}  // namespace trellis::goals
