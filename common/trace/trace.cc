#include "common/trace/trace.h"

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace trellis::trace {
namespace {

constexpr size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

bool AllZero(absl::string_view s) { return s.find_first_not_of('0') == absl::string_view::npos; }

// `digits` random lowercase hex digits, not all zero.
std::string RandomHex(int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local absl::BitGen gen;
  std::string out(static_cast<size_t>(digits), '0');
  do {
    for (char& c : out) c = kHex[absl::Uniform<int>(gen, 0, 16)];
  } while (AllZero(out));
  return out;
}

}  // namespace

std::optional<SpanContext> ParseTraceparent(absl::string_view v) {
  if (v.size() < kVersion00Length) return std::nullopt;
  absl::string_view version = v.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; later versions may append fields after a '-'.
  if (version == "00" ? v.size() != kVersion00Length
                      : v.size() > kVersion00Length && v[kVersion00Length] != '-') {
    return std::nullopt;
  }
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  absl::string_view trace_id = v.substr(3, 32), parent_id = v.substr(36, 16),
                    flags = v.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace_id) || AllZero(parent_id)) return std::nullopt;
  uint32_t flag_bits = 0;
  if (!absl::SimpleHexAtoi(flags, &flag_bits)) return std::nullopt;
  SpanContext out;
  out.trace_id = std::string(trace_id);
  out.span_id = std::string(parent_id);
  out.flags = static_cast<uint8_t>(flag_bits);
  return out;
}

std::string FormatTraceparent(const SpanContext& span) {
  if (!span.valid()) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  char flags[2] = {kHex[span.flags >> 4], kHex[span.flags & 0xf]};
  return absl::StrCat("00-", span.trace_id, "-", span.span_id, "-", absl::string_view(flags, 2));
}

SpanContext NewTrace() {
  SpanContext out;
  out.trace_id = RandomHex(32);
  out.span_id = RandomHex(16);
  out.flags = 0;
  return out;
}

SpanContext ChildOf(const SpanContext& parent) {
  if (!parent.valid()) return NewTrace();
  SpanContext out;
  out.trace_id = parent.trace_id;
  out.span_id = RandomHex(16);
  out.flags = parent.flags;
  return out;
}

std::string SanitizeRequestId(absl::string_view value) {
  if (value.empty() || value.size() > kMaxRequestIdLength) return "";
  for (char c : value) {
    bool ok = absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '+' || c == '=' ||
              c == '~' || c == '-';
    if (!ok) return "";
  }
  return std::string(value);
}

CallContext ServerCallContext(absl::string_view traceparent, absl::string_view request_id) {
  CallContext out;
  if (auto incoming = ParseTraceparent(traceparent); incoming.has_value()) {
    out.span = ChildOf(*incoming);
    out.parent_id = incoming->span_id;
  } else {
    out.span = NewTrace();
  }
  out.request_id = SanitizeRequestId(request_id);
  if (out.request_id.empty()) out.request_id = out.span.trace_id;
  return out;
}

CallContext ResumedCallContext(absl::string_view traceparent, absl::string_view request_id) {
  CallContext out;
  auto origin = ParseTraceparent(traceparent);
  out.span = origin.has_value() ? *std::move(origin) : NewTrace();
  out.request_id = SanitizeRequestId(request_id);
  if (out.request_id.empty()) out.request_id = out.span.trace_id;
  return out;
}

void Propagate(grpc::ClientContext& ctx, const CallContext& parent) {
  ctx.AddMetadata(kTraceparentHeader, FormatTraceparent(ChildOf(parent.span)));
  if (!parent.request_id.empty()) ctx.AddMetadata(kRequestIdHeader, parent.request_id);
}

}  // namespace trellis::trace
