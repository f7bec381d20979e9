#include "common/redis/reply.h"

#include <hiredis/hiredis.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/log/log.h"
#include "common/status/status.h"

namespace trellis::redis {

Reply Reply::FromHiredis(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(FromHiredis(*r.element[i]));
      break;
    default:
      out.type = Type::kNil;
  }
  return out;
}

namespace {

struct CodeName {
  absl::string_view name;
  absl::StatusCode code;
};

constexpr CodeName kScriptCodes[] = {
    {"INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument},
    {"NOT_FOUND", absl::StatusCode::kNotFound},
    {"ALREADY_EXISTS", absl::StatusCode::kAlreadyExists},
    {"ABORTED", absl::StatusCode::kAborted},
    {"FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition},
    {"PERMISSION_DENIED", absl::StatusCode::kPermissionDenied},
    {"RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted},
    {"OUT_OF_RANGE", absl::StatusCode::kOutOfRange},
};

constexpr absl::string_view kTransientPrefixes[] = {
    "LOADING", "BUSY",  "READONLY", "MASTERDOWN", "TRYAGAIN",  "CLUSTERDOWN",
    "OOM",     "MOVED", "ASK",      "NOAUTH",     "WRONGPASS", "NOREPLICAS"};

}  // namespace

absl::Status ErrorReplyToStatus(absl::string_view text) {
  absl::string_view head = text.substr(0, text.find(' '));
  absl::string_view message = head.size() < text.size() ? text.substr(head.size() + 1) : "";
  absl::string_view code_part = head.substr(0, head.find(':'));
  absl::string_view reason =
      code_part.size() < head.size() ? head.substr(code_part.size() + 1) : code_part;
  for (const auto& c : kScriptCodes) {
    if (code_part == c.name) return WithReason(absl::Status(c.code, message), reason);
  }
  for (absl::string_view prefix : kTransientPrefixes) {
    if (head == prefix) {
      log::Warn("redis transient error", {{"redis_error", std::string(head)}});
      return UnavailableError("storage is temporarily unavailable", "STORE_UNAVAILABLE");
    }
  }
  log::Error("redis error reply", {{"redis_error", std::string(text.substr(0, 200))}});
  return WithReason(absl::InternalError("storage error"), "STORE_ERROR");
}

}  // namespace trellis::redis
