#pragma once

// The RESP encoding of a command, as sent to Redis.
//
// hiredis's redisFormatCommandArgv produces the same bytes, but it formats every length with
// printf and needs the arguments gathered into two arrays first, which the benchmark's profile
// showed as over a tenth of a cheap read's instructions (docs/performance.md). This writes them
// straight into one buffer; resp_test checks it byte for byte against hiredis.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace trellis::redis {

// `head`, then `first`, then `second`, as one command (`*N\r\n` then `$len\r\nbytes\r\n` each).
std::string FormatCommand(absl::Span<const absl::string_view> head,
                          absl::Span<const std::string> first = {},
                          absl::Span<const std::string> second = {});

inline std::string FormatCommand(const std::vector<std::string>& args) {
  return FormatCommand({}, args);
}

}  // namespace trellis::redis
