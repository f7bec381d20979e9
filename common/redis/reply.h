#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct redisReply;

namespace trellis::redis {

// An owned copy of a Redis reply. Top-level error replies never reach callers as a Reply: the
// client turns them into an absl::Status (see ErrorReplyToStatus). Errors nested in arrays (for
// example inside a Lua table) stay as kError elements.
struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_string() const { return type == Type::kString; }
  bool is_integer() const { return type == Type::kInteger; }
  bool is_array() const { return type == Type::kArray; }

  static Reply FromHiredis(const redisReply& r);
};

// Maps a Redis error reply to a status. Scripts signal domain outcomes with replies of the form
// "CODE[:REASON] message" where CODE is a canonical code name (e.g.
// "ABORTED:ETAG_MISMATCH etag is stale"); those keep their code, reason and message. Transient
// server states (LOADING, BUSY, READONLY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, OOM, MOVED, ASK,
// NOAUTH) become UNAVAILABLE; anything else is INTERNAL. Redis's own text never reaches the
// status message.
absl::Status ErrorReplyToStatus(absl::string_view error_text);

// Which of those an error reply is. kRedirect is MOVED or ASK: transient for ErrorReplyToStatus
// (a client that is not cluster-aware cannot follow it), but routing, not a failure, for the
// cluster client, which follows it.
enum class ErrorReplyKind { kScriptOutcome, kRedirect, kTransient, kOther };
ErrorReplyKind ClassifyErrorReply(absl::string_view error_text);

}  // namespace trellis::redis
