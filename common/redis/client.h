#pragma once

// The Redis layer's one interface. Stores talk to Redis only through it; it hides how commands
// are routed (one server today; a Redis Cluster implementation can replace it without touching
// the stores, DESIGN.md §5.4).

#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/reply.h"
#include "common/redis/script.h"

namespace trellis::redis {

// Receives the result of one command. Runs exactly once: on a Redis loop thread, or inline on the
// calling thread when the command fails before it is sent (no connection ready). It must not
// block; it may start further commands.
using ReplyCallback = absl::AnyInvocable<void(absl::StatusOr<Reply>)>;

struct CallOptions {
  // The command fails with UNAVAILABLE if no reply arrived by then. The client also applies its
  // own per-command timeout; the earlier of the two wins.
  absl::Time deadline = absl::InfiniteFuture();
  // For the cluster client (cluster_client.h), which routes commands to nodes and follows
  // redirections: answer an error reply as a Reply of type kError carrying Redis's text instead
  // of a status, so that MOVED and ASK can be read.
  bool error_replies_as_values = false;
  // Also for the cluster client: precede the command with ASKING on the same connection (the
  // one-off redirection of a slot being migrated).
  bool asking = false;
};

class RedisClient {
 public:
  virtual ~RedisClient() = default;

  // Sends one command (`args[0]` is the command name). Results: the reply; UNAVAILABLE when no
  // connection is ready, the connection drops before the reply, or the deadline passes; the status
  // of an error reply (ErrorReplyToStatus).
  virtual void Execute(std::vector<std::string> args, ReplyCallback done,
                       CallOptions options = {}) = 0;

  // Runs a registered script with EVALSHA (EVAL on NOSCRIPT). All `keys` must share one hash tag.
  virtual void Eval(const Script& script, std::vector<std::string> keys,
                    std::vector<std::string> args, ReplyCallback done,
                    CallOptions options = {}) = 0;

  // True while at least one connection is established and initialised (AUTH, scripts loaded).
  virtual bool Ready() const = 0;

  // Established connections (over every node on a cluster), for the connections gauge.
  virtual int ReadyConnections() const { return Ready() ? 1 : 0; }
  // Stops the client: later commands fail with UNAVAILABLE. Idempotent.
  virtual void Stop() {}

  // Redis Cluster (cluster_client.h) or a single server. Indexes over many patients are kept per
  // slot on a cluster and in one key otherwise (slot_index.h).
  virtual bool Clustered() const { return false; }
  // On a cluster: the slots each primary serves now, one list of inclusive [first, last] ranges
  // per primary, so that one script call can walk the per-slot keys of one node; empty before the
  // slot map is loaded, and always for a single server.
  virtual std::vector<std::vector<std::pair<int, int>>> SlotsByNode() const { return {}; }
};

}  // namespace trellis::redis
