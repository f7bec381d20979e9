#pragma once

// The asynchronous Redis client (DESIGN.md §8): hiredis async contexts on libevent loop threads,
// one connection per loop. Callers format a command on their own thread and hand it to a loop
// through a mutex-protected queue (an eventfd wakes the loop only when the queue was empty); the
// loop writes it with hiredis, which pipelines everything queued, and the reply callback completes
// the caller. hiredis is not thread-safe, so only the loop thread ever touches its context.
//
// Each loop reconnects with capped exponential backoff, sends AUTH/SELECT and SCRIPT LOAD of every
// registered script on each (re)connect, and completes every pending command exactly once when the
// connection drops (with UNAVAILABLE). hiredis 0.14 has no timeouts for async commands, so a
// watchdog on each loop fails commands that outlive their deadline and drops a connection that
// has stopped answering.
//
// High availability (docs/operations.md, "Redis Sentinel"): with Sentinels in the endpoint, each
// loop asks them for the primary's address before every (re)connect, checks ROLE during the
// handshake, asks a Sentinel again every second, and drops its connection when the Sentinel names
// another primary or a command answers READONLY (the server it reached was demoted), so that the
// reconnect finds the new primary. With `wait_replicas`, each write script is followed on
// the same connection by WAIT, pipelined (still one round trip), and its caller is answered only
// once enough replicas confirm.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/config/redis_url.h"
#include "common/redis/client.h"
#include "common/redis/observer.h"

namespace trellis::redis {

struct PoolOptions {
  config::RedisEndpoint endpoint;
  int connections = 2;                                // loop threads, one connection each
  absl::Duration command_timeout = absl::Seconds(2);  // per command, unless the caller's is shorter
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration min_backoff = absl::Milliseconds(50);  // reconnect backoff, doubled up to max
  absl::Duration max_backoff = absl::Seconds(1);
  // Replicated durability: a write script (Script::writes()) is answered only after this many
  // replicas confirm it within `wait_timeout`; otherwise UNAVAILABLE (REPLICATION_TIMEOUT), the
  // write having been applied on the primary (retrying with the same request id is safe). Plain
  // commands (Execute) and read scripts never wait. 0: no WAIT.
  int wait_replicas = 0;
  absl::Duration wait_timeout = absl::Seconds(1);
  // With Sentinels in the endpoint: how often each loop asks a Sentinel whether the primary
  // changed (and reconnects when it did).
  absl::Duration sentinel_check_interval = absl::Seconds(1);
  CommandObserver* observer = nullptr;  // told of every completed command; not owned
};

// True when a command failed before it was sent (no connection was ready), so that sending it
// again cannot apply it twice.
bool FailedBeforeSending(const absl::Status& status);

class RedisPool final : public RedisClient {
 public:
  // Starts the loop threads and begins connecting; does not wait for a connection.
  explicit RedisPool(PoolOptions options);
  // Stops (see Stop) and joins the loop threads.
  ~RedisPool() override;

  void Execute(std::vector<std::string> args, ReplyCallback done,
               CallOptions options = {}) override;
  void Eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            ReplyCallback done, CallOptions options = {}) override;
  bool Ready() const override;

  // Number of connections currently ready.
  int ReadyConnections() const override;

  // Closes the connections and completes every pending and queued command with UNAVAILABLE.
  // Commands issued afterwards fail at once. Idempotent.
  void Stop() override;

  class Loop;

 private:
  struct Request;
  void Submit(std::unique_ptr<Request> request);

  PoolOptions options_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<uint32_t> next_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace trellis::redis
