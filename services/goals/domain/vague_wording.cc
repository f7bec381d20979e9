#include "services/goals/domain/vague_wording.h"

#include <algorithm>
#include <array>

namespace trellis::goals {
namespace {

constexpr absl::string_view kDateRewrite = "set a date, e.g. \"within 8 weeks\"";
constexpr absl::string_view kAnxietyRewrite = "practice breathing exercises for 15 minutes daily";
constexpr absl::string_view kPanicRewrite = "reduce the frequency of panic attacks";
constexpr absl::string_view kMoodRewrite = "track mood daily, 25% improvement in 3 months";
constexpr absl::string_view kSleepRewrite = "consistent bedtime routine within 8 weeks";
constexpr absl::string_view kFeelBetterRewrite =
    "rate mood 6/10 or higher on at least 5 days a week within 8 weeks";
constexpr absl::string_view kPleasureRewrite =
    "do one enjoyable activity on at least 3 days a week for 6 weeks";
constexpr absl::string_view kDepressionRewrite =
    "reduce PHQ-9 score by at least 6 points within 12 weeks";
constexpr absl::string_view kStressRewrite =
    "practice a 10-minute relaxation exercise daily for 6 weeks";
constexpr absl::string_view kCopingRewrite =
    "use a planned coping skill in at least 4 of 5 anxious moments logged each week for 6 weeks";
constexpr absl::string_view kConfidenceRewrite =
    "speak up at least once in each weekly team meeting for 6 weeks";
constexpr absl::string_view kPositiveRewrite =
    "write down three things that went well each evening for 4 weeks";
constexpr absl::string_view kNormalRewrite =
    "return to one valued activity (work, study or a hobby) at least twice a week within 8 weeks";
constexpr absl::string_view kAngerRewrite =
    "use a time-out in at least 3 of 4 conflicts logged over 6 weeks";
constexpr absl::string_view kRelationshipRewrite = "arrange one social contact a week for 8 weeks";
constexpr absl::string_view kCommunicationRewrite =
    "use one \"I\" statement in each weekly check-in with my partner for 6 weeks";
constexpr absl::string_view kWorryRewrite =
    "limit worrying to one scheduled 15-minute worry period a day";
constexpr absl::string_view kInsightRewrite =
    "keep a daily thought record for 4 weeks and review it in each session";
constexpr absl::string_view kHealthRewrite =
    "walk for 30 minutes on at least 5 days a week for 8 weeks";

constexpr Vagueness kAbsolute = Vagueness::kAbsolute;
constexpr Vagueness kOutcome = Vagueness::kOutcome;
constexpr Vagueness kHedge = Vagueness::kHedge;

// The seed examples of issue 3 come first; FindVagueWording sorts by length anyway.
constexpr std::array kCatalogue = {
    VaguePhrase{"feel less anxious", kAnxietyRewrite, kOutcome},
    VaguePhrase{"improve my mood", kMoodRewrite, kOutcome},
    VaguePhrase{"eradicate all anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"sleep better eventually", kSleepRewrite, kOutcome},
    // Absolute aims.
    VaguePhrase{"get rid of all anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"get rid of my anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"never feel anxious again", kPanicRewrite, kAbsolute},
    VaguePhrase{"never be anxious again", kPanicRewrite, kAbsolute},
    VaguePhrase{"no more anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"zero anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"cure my anxiety", kPanicRewrite, kAbsolute},
    VaguePhrase{"cure my depression", kDepressionRewrite, kAbsolute},
    VaguePhrase{"never feel sad again", kMoodRewrite, kAbsolute},
    VaguePhrase{"be happy all the time", kPleasureRewrite, kAbsolute},
    VaguePhrase{"always be happy", kPleasureRewrite, kAbsolute},
    VaguePhrase{"never worry again", kWorryRewrite, kAbsolute},
    VaguePhrase{"stop worrying", kWorryRewrite, kAbsolute},
    // Feelings and directions without an observable behaviour.
    VaguePhrase{"less anxious", kAnxietyRewrite, kOutcome},
    VaguePhrase{"feel calmer", kAnxietyRewrite, kOutcome},
    VaguePhrase{"be calmer", kAnxietyRewrite, kOutcome},
    VaguePhrase{"manage my anxiety", kCopingRewrite, kOutcome},
    VaguePhrase{"manage anxiety", kCopingRewrite, kOutcome},
    VaguePhrase{"cope with anxiety", kCopingRewrite, kOutcome},
    VaguePhrase{"cope better", kCopingRewrite, kOutcome},
    VaguePhrase{"better mood", kMoodRewrite, kOutcome},
    VaguePhrase{"sleep better", kSleepRewrite, kOutcome},
    VaguePhrase{"feel better", kFeelBetterRewrite, kOutcome},
    VaguePhrase{"get better", kFeelBetterRewrite, kOutcome},
    VaguePhrase{"feel good", kFeelBetterRewrite, kOutcome},
    VaguePhrase{"be happy", kPleasureRewrite, kOutcome},
    VaguePhrase{"be happier", kPleasureRewrite, kOutcome},
    VaguePhrase{"feel happier", kPleasureRewrite, kOutcome},
    VaguePhrase{"less depressed", kDepressionRewrite, kOutcome},
    VaguePhrase{"less stressed", kStressRewrite, kOutcome},
    VaguePhrase{"reduce stress", kStressRewrite, kOutcome},
    VaguePhrase{"reduce my stress", kStressRewrite, kOutcome},
    VaguePhrase{"be more confident", kConfidenceRewrite, kOutcome},
    VaguePhrase{"feel more confident", kConfidenceRewrite, kOutcome},
    VaguePhrase{"think more positively", kPositiveRewrite, kOutcome},
    VaguePhrase{"be more positive", kPositiveRewrite, kOutcome},
    VaguePhrase{"feel normal", kNormalRewrite, kOutcome},
    VaguePhrase{"feel like myself", kNormalRewrite, kOutcome},
    VaguePhrase{"get back to normal", kNormalRewrite, kOutcome},
    VaguePhrase{"get my life back", kNormalRewrite, kOutcome},
    VaguePhrase{"less angry", kAngerRewrite, kOutcome},
    VaguePhrase{"control my anger", kAngerRewrite, kOutcome},
    VaguePhrase{"communicate better", kCommunicationRewrite, kOutcome},
    VaguePhrase{"improve my relationships", kRelationshipRewrite, kOutcome},
    VaguePhrase{"better relationships", kRelationshipRewrite, kOutcome},
    VaguePhrase{"understand myself better", kInsightRewrite, kOutcome},
    VaguePhrase{"be healthier", kHealthRewrite, kOutcome},
    VaguePhrase{"get healthier", kHealthRewrite, kOutcome},
    // Hedges about time and effort.
    VaguePhrase{"eventually", kDateRewrite, kHedge},
    VaguePhrase{"someday", kDateRewrite, kHedge},
    VaguePhrase{"some day", kDateRewrite, kHedge},
    VaguePhrase{"at some point", kDateRewrite, kHedge},
    VaguePhrase{"sooner or later", kDateRewrite, kHedge},
    VaguePhrase{"one of these days", kDateRewrite, kHedge},
    VaguePhrase{"as soon as possible", "set a specific date, e.g. \"within 4 weeks\"", kHedge},
    VaguePhrase{"asap", "set a specific date, e.g. \"within 4 weeks\"", kHedge},
    VaguePhrase{"try to", "state the action itself, e.g. \"walk for 20 minutes 3 times a week\"",
                kHedge},
    VaguePhrase{"work on",
                "name the action and how often, e.g. \"practise one assertive request a week\"",
                kHedge},
    VaguePhrase{"more often", "say how often, e.g. \"3 times a week\"", kHedge},
    VaguePhrase{"as much as possible", "set an amount, e.g. \"20 minutes a day\"", kHedge},
    VaguePhrase{"a bit", "quantify the change, e.g. \"by 25%\"", kHedge},
    VaguePhrase{"a little", "quantify the change, e.g. \"by 25%\"", kHedge},
};

// Phrases longest first, so a longer phrase claims its words before a shorter one inside it.
const std::vector<VaguePhrase>& ByLength() {
  static const auto* const kSorted = [] {
    auto* sorted = new std::vector<VaguePhrase>(kCatalogue.begin(), kCatalogue.end());
    std::stable_sort(sorted->begin(), sorted->end(), [](const auto& a, const auto& b) {
      return a.phrase.size() > b.phrase.size();
    });
    return sorted;
  }();
  return *kSorted;
}

// Lower-cases ASCII, turns every ASCII character other than letters, digits and apostrophes into
// a space, folds U+2019 (right single quotation mark) into an apostrophe and collapses spaces.
// Bytes of other non-ASCII characters are kept: they belong to words.
std::string Normalise(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  auto push_space = [&out] {
    if (!out.empty() && out.back() != ' ') out.push_back(' ');
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0xe2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        static_cast<unsigned char>(text[i + 2]) == 0x99) {
      out.push_back('\'');
      i += 2;
    } else if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '\'') {
      out.push_back(static_cast<char>(c));
    } else if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      push_space();
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

absl::Span<const VaguePhrase> VaguePhraseCatalogue() {
  const std::vector<VaguePhrase>& sorted = ByLength();
  return absl::MakeConstSpan(sorted);
}

std::vector<VagueMatch> FindVagueWording(absl::string_view text) {
  const std::string normalised = Normalise(text);
  const absl::string_view normal = normalised;
  std::vector<bool> taken(normal.size(), false);
  std::vector<VagueMatch> matches;
  for (const VaguePhrase& phrase : ByLength()) {
    for (size_t pos = normal.find(phrase.phrase); pos != absl::string_view::npos;
         pos = normal.find(phrase.phrase, pos + 1)) {
      const size_t end = pos + phrase.phrase.size();
      const bool bounded =
          (pos == 0 || normal[pos - 1] == ' ') && (end == normal.size() || normal[end] == ' ');
      if (!bounded) continue;
      if (std::any_of(taken.begin() + pos, taken.begin() + end, [](bool t) { return t; })) {
        continue;
      }
      std::fill(taken.begin() + pos, taken.begin() + end, true);
      matches.push_back({&phrase, pos});
      break;  // Once per phrase: one suggestion per wording is enough.
    }
  }
  std::sort(matches.begin(), matches.end(),
            [](const VagueMatch& a, const VagueMatch& b) { return a.position < b.position; });
  return matches;
}

}  // namespace trellis::goals
