#include "common/ids/ids.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <openssl/sha.h>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
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

namespace trellis {

std::string Fingerprint(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH));
}

}  // namespace trellis
