#pragma once

// A CommandObserver for tests: every failed command's error class, by command or script name.

#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/redis/observer.h"

namespace trellis::testing {

class RecordingObserver : public redis::CommandObserver {
 public:
  void OnCommand(absl::string_view name, bool, absl::Duration, redis::CommandError error) override {
    if (error == redis::CommandError::kNone) return;
    absl::MutexLock lock(&mu_);
    errors_.emplace_back(name, error);
  }
  std::vector<std::pair<std::string, redis::CommandError>> errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }
  int count(redis::CommandError error) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& e : errors_) n += e.second == error;
    return n;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<std::string, redis::CommandError>> errors_;
};

}  // namespace trellis::testing
