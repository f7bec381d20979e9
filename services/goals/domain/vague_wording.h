#pragma once

// The catalogue of vague goal wording the SMART "S" rule looks for, each phrase with a concrete
// rewrite to suggest. Kept apart from the rules so clinicians can review the list on its own.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace trellis::goals {

// How much a vague phrase weakens a goal.
enum class Vagueness {
  // An aim no one can reach or verify ("eradicate all anxiety", "never worry again"): always a
  // FAIL.
  kAbsolute,
  // A feeling or direction with no observable behaviour ("feel better", "improve my mood"): a
  // FAIL, unless the goal's measure already makes it concrete (then a WARN).
  kOutcome,
  // A hedge about effort or time ("try to", "eventually"): a WARN.
  kHedge,
};

struct VaguePhrase {
  // Lower case, words separated by single spaces.
  absl::string_view phrase;
  // The concrete rewrite to suggest.
  absl::string_view rewrite;
  Vagueness vagueness;
};

// Every phrase, longest first (the order FindVagueWording tries them in).
absl::Span<const VaguePhrase> VaguePhraseCatalogue();

// A phrase found in a text.
struct VagueMatch {
  const VaguePhrase* phrase;
  // Byte offset of the match in the normalised text; orders matches as they appear.
  size_t position;
};

// The vague phrases in `text`, in order of appearance. Matching ignores ASCII case, punctuation
// and runs of spaces, and respects word boundaries ("be happy" does not match "maybe happy");
// matches do not overlap and the longest phrase wins, so "sleep better eventually" is one match,
// not "sleep better" plus "eventually". Each catalogue phrase is reported at most once per text.
std::vector<VagueMatch> FindVagueWording(absl::string_view text);

}  // namespace trellis::goals
