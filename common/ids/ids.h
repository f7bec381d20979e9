#pragma once

// Identifiers. Patients and tenants are opaque ids chosen by the integrating platform; resources
// get ids generated here. Both are restricted to a safe alphabet because they end up inside Redis
// keys (where `{`, `}` and `:` have meaning) and resource names (where `/` does).

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trellis {

inline constexpr size_t kMaxIdLength = 64;

// OK if `value` is 1..64 characters of [A-Za-z0-9._-]; otherwise INVALID_ARGUMENT naming `field`.
absl::Status ValidateId(absl::string_view field, absl::string_view value);

// A new random resource id: 20 characters of lowercase base32 (100 bits of randomness).
std::string NewId();

}  // namespace trellis

namespace google::protobuf {
class Message;
}

namespace trellis {

// A stable fingerprint of a request (hex SHA-1 of its deterministic serialization), to tell a
// retry of the same request from a different request reusing its request_id.
std::string Fingerprint(const google::protobuf::Message& message);

}  // namespace trellis
