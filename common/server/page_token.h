#pragma once

// Opaque page tokens (AIP-158): the store's cursor bound to the filters of the call that made it,
// so a token replayed with other filters is refused instead of silently skipping results.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::server {

// Empty when `cursor` is (the last page).
std::string EncodePageToken(absl::string_view cursor, absl::string_view filters);

// The cursor inside `token` (empty for an empty token). INVALID_ARGUMENT naming "page_token"
// when it is malformed or belongs to other filters.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view filters);

}  // namespace trellis::server
