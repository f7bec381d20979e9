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

struct ParsedError {
  absl::string_view head;     // "ABORTED:ETAG_MISMATCH", "LOADING", ...
  absl::string_view code;     // "ABORTED"
  absl::string_view reason;   // "ETAG_MISMATCH" (the code when there is no reason)
  absl::string_view message;  // the rest
};

ParsedError Parse(absl::string_view text) {
  ParsedError e;
  e.head = text.substr(0, text.find(' '));
  e.message = e.head.size() < text.size() ? text.substr(e.head.size() + 1) : "";
  e.code = e.head.substr(0, e.head.find(':'));
  e.reason = e.code.size() < e.head.size() ? e.head.substr(e.code.size() + 1) : e.code;
  return e;
}

const CodeName* ScriptCode(absl::string_view code) {
  for (const auto& c : kScriptCodes) {
    if (code == c.name) return &c;
  }
  return nullptr;
}

bool Transient(absl::string_view head) {
  for (absl::string_view prefix : kTransientPrefixes) {
    if (head == prefix) return true;
  }
  return false;
}

}  // namespace

ErrorReplyKind ClassifyErrorReply(absl::string_view text) {
  ParsedError e = Parse(text);
  if (ScriptCode(e.code) != nullptr) return ErrorReplyKind::kScriptOutcome;
  if (e.head == "MOVED" || e.head == "ASK") return ErrorReplyKind::kRedirect;
  return Transient(e.head) ? ErrorReplyKind::kTransient : ErrorReplyKind::kOther;
}

absl::Status ErrorReplyToStatus(absl::string_view text) {
  ParsedError e = Parse(text);
  if (const CodeName* c = ScriptCode(e.code); c != nullptr) {
    return WithReason(absl::Status(c->code, e.message), e.reason);
  }
  if (Transient(e.head)) {
    log::Warn("redis transient error", {{"redis_error", std::string(e.head)}});
    return UnavailableError("storage is temporarily unavailable", "STORE_UNAVAILABLE");
  }
  log::Error("redis error reply", {{"redis_error", std::string(text.substr(0, 200))}});
  return WithReason(absl::InternalError("storage error"), "STORE_ERROR");
}

}  // namespace trellis::redis
