#pragma once

// What the Redis client reports about each command it completes, for metrics. The client knows
// only this interface; common/metrics implements it (RedisMetrics).

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace trellis::redis {

// Why a command failed, as far as an operator cares. A script's domain outcome ("NOT_FOUND ...",
// "ABORTED:ETAG_MISMATCH ...") is an answer, not a failure: kNone.
enum class CommandError {
  kNone,
  kIo,         // no connection, the connection dropped, or the client was shutting down
  kTimeout,    // no reply by the command's deadline
  kTransient,  // a transient server state: LOADING, BUSY, READONLY, OOM, ...
  kRedirect,   // MOVED or ASK: the slot is served elsewhere (a cluster client follows it)
  kReply,      // any other error reply (a script's runtime error, WRONGTYPE, ...); stays last
               // (metrics size their tables by it)
};

class CommandObserver {
 public:
  virtual ~CommandObserver() = default;
  // Called exactly once per command, when its callback is about to run (on a loop thread, or on
  // the caller's when it fails before being sent); must be thread-safe and cheap. `name` is the
  // command ("GET", "XADD") or, when `script`, the registered script's name; `latency` runs from
  // the call to the client until completion (queueing included).
  virtual void OnCommand(absl::string_view name, bool script, absl::Duration latency,
                         CommandError error) = 0;
};

}  // namespace trellis::redis
