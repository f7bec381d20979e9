#include "cli/proto_names.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

namespace trellis::cli {

std::string EnumPrefix(const google::protobuf::EnumDescriptor* type) {
  std::string out;
  const std::string& name = type->name();
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (i > 0 && std::isupper(static_cast<unsigned char>(c))) out += '_';
    out += absl::ascii_toupper(static_cast<unsigned char>(c));
  }
  out += '_';
  return out;
}

std::string EnumDisplayName(const google::protobuf::EnumValueDescriptor* value) {
  std::string prefix = EnumPrefix(value->type());
  absl::string_view name = value->name();
  if (absl::StartsWith(name, prefix)) name.remove_prefix(prefix.size());
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

}  // namespace trellis::cli
