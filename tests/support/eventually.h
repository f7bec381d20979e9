#pragma once

// Test harness: waits for a condition without asserting how long it took (tests never assert
// timing). The limit only bounds a broken run.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace trellis::testing {

// Polls `ready` every 20 ms until it returns true or `limit` passes; returns its last answer.
template <typename F>
bool Eventually(F ready, absl::Duration limit = absl::Seconds(30)) {
  absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    if (ready()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return ready();
}

}  // namespace trellis::testing
