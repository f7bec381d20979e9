#include "common/redis/resp.h"

#include "absl/strings/numbers.h"

namespace trellis::redis {
namespace {

void AppendHeader(std::string& out, char kind, size_t n) {
  char buf[32];
  buf[0] = kind;
  char* end = absl::numbers_internal::FastIntToBuffer(static_cast<uint64_t>(n), buf + 1);
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}

void AppendBulk(std::string& out, absl::string_view arg) {
  AppendHeader(out, '$', arg.size());
  out.append(arg.data(), arg.size());
  out.append("\r\n", 2);
}

}  // namespace

std::string FormatCommand(absl::Span<const absl::string_view> head,
                          absl::Span<const std::string> first,
                          absl::Span<const std::string> second) {
  size_t size = 16;
  for (absl::string_view a : head) size += a.size() + 24;
  for (const std::string& a : first) size += a.size() + 24;
  for (const std::string& a : second) size += a.size() + 24;
  std::string out;
  out.reserve(size);
  AppendHeader(out, '*', head.size() + first.size() + second.size());
  for (absl::string_view a : head) AppendBulk(out, a);
  for (const std::string& a : first) AppendBulk(out, a);
  for (const std::string& a : second) AppendBulk(out, a);
  return out;
}

}  // namespace trellis::redis
