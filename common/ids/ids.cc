#include "common/ids/ids.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis {

absl::Status ValidateId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return InvalidField(field, "is required");
  if (value.size() > kMaxIdLength) {
    return InvalidField(field, absl::StrCat("must be at most ", kMaxIdLength, " characters"));
  }
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidField(field, "may contain only letters, digits, '.', '_' and '-'");
  }
  return absl::OkStatus();
}

std::string NewId() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  thread_local absl::BitGen gen;
  std::string id(20, '0');
  for (char& c : id) c = kAlphabet[absl::Uniform<int>(gen, 0, 32)];
  return id;
}

}  // namespace trellis
