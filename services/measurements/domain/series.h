#pragma once

// One value of a patient's series for a metric, as the progress computation reads it. Plain
// values (no protobuf) because a progress read may walk thousands of them.

#include <string>

#include "absl/time/time.h"

namespace trellis::measurements {

struct SeriesPoint {
  absl::Time time;
  double value = 0;
  // The measurement resource name it comes from (for DataPoint.measurement); may be empty.
  std::string measurement;
};

}  // namespace trellis::measurements
