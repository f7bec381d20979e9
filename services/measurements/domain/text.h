#pragma once

// Text limits. The API counts string lengths in Unicode code points and requires valid UTF-8
// (common.proto, "Sizes"); byte lengths would cut a limit in half for non-Latin scripts.

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace trellis::measurements {

// The number of code points in `text`, or nullopt when it is not valid UTF-8 (overlong forms,
// surrogates and values above U+10FFFF are invalid, as in RFC 3629).
std::optional<size_t> CodePointCount(absl::string_view text);

// Why `text` is not valid UTF-8 of `min_code_points`..`max_code_points` code points, as a
// FieldViolations description ("is required", "must be at most 2000 characters"), or "" when it
// is fine.
std::string TextProblem(absl::string_view text, size_t min_code_points, size_t max_code_points);

}  // namespace trellis::measurements
