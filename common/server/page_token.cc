#include "common/server/page_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status/status.h"

namespace trellis::server {

std::string EncodePageToken(absl::string_view cursor, absl::string_view filters) {
  if (cursor.empty()) return "";
  std::string out;
  absl::WebSafeBase64Escape(absl::StrCat(cursor, "\n", filters), &out);
  return out;
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token, absl::string_view filters) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return InvalidField("page_token", "is not a page token of this call");
  }
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('\n', 1));
  if (parts.size() != 2 || parts[1] != filters) {
    return InvalidField("page_token", "does not belong to this call (filters differ)");
  }
  return parts[0];
}

}  // namespace trellis::server
