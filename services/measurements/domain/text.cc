#include "services/measurements/domain/text.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace trellis::measurements {

std::optional<size_t> CodePointCount(absl::string_view text) {
  size_t count = 0;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto lead = static_cast<uint8_t>(text[i]);
    size_t length;
    uint32_t code_point;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return std::nullopt;  // a continuation byte or 0xF8..0xFF cannot start a character
    }
    if (n - i < length) return std::nullopt;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length]) return std::nullopt;  // overlong encoding
    if (code_point > 0x10FFFF) return std::nullopt;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return std::nullopt;  // surrogate
    i += length;
    ++count;
  }
  return count;
}

std::string TextProblem(absl::string_view text, size_t min_code_points, size_t max_code_points) {
  const std::optional<size_t> count = CodePointCount(text);
  if (!count.has_value()) return "must be valid UTF-8";
  if (*count < min_code_points) {
    return min_code_points == 1 ? "is required"
                                : absl::StrCat("must be at least ", min_code_points, " characters");
  }
  if (*count > max_code_points) {
    return absl::StrCat("must be at most ", max_code_points, " characters");
  }
  return "";
}

}  // namespace trellis::measurements
