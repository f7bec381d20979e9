#pragma once

// Test harness: a private redis-server on a free loopback port, with its data in a temp dir.
// Never a mock: the stores and the Redis layer are tested against the real thing.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisReply;

namespace trellis::testing {

// A fresh temp directory, removed (recursively) when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loopback TCP port that was free a moment ago, below the ephemeral range and reserved for
// this process (see redis_server.cc).
int PickFreePort();

class RedisServer {
 public:
  // Starts redis-server and waits until it answers PING. `extra_args` are passed through
  // (e.g. {"--requirepass", "secret"}).
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(
      std::vector<std::string> extra_args = {});
  // Starts a Sentinel (redis-server --sentinel) monitoring the primary `master_name` at
  // 127.0.0.1:`master_port`, agreeing on a failure with `quorum` Sentinels and declaring the
  // primary down after `down_after` without an answer.
  static absl::StatusOr<std::unique_ptr<RedisServer>> StartSentinel(
      int master_port, const std::string& master_name, int quorum,
      absl::Duration down_after = absl::Seconds(1));
  ~RedisServer();

  int port() const { return port_; }
  // redis://127.0.0.1:<port>/0 (with the password if one was configured).
  std::string url() const;

  // Stops the server (SIGKILL when `hard`, otherwise SIGTERM) and waits for it to exit.
  void Stop(bool hard = false);
  // Starts it again on the same port and data directory and waits until it answers.
  absl::Status Restart();
  bool running() const { return pid_ > 0; }

  // Runs one command through a short-lived synchronous connection; returns the reply as text
  // (integers as decimal, nil as "(nil)"), or an error status.
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args) const;
  // The same for a command answering an array: its elements as text (nested arrays as
  // "(array N)").
  absl::StatusOr<std::vector<std::string>> CommandList(const std::vector<std::string>& args) const;

 private:
  RedisServer() = default;
  absl::Status Launch();
  static absl::StatusOr<std::unique_ptr<RedisServer>> LaunchOnFreePort(
      std::unique_ptr<RedisServer> server);
  // Runs `args` on a short-lived connection and hands the reply to `read`.
  absl::Status Query(const std::vector<std::string>& args,
                     absl::FunctionRef<absl::Status(const redisReply&)> read) const;

  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string password_;
  std::vector<std::string> extra_args_;
  std::string sentinel_conf_;  // set for a Sentinel
};

}  // namespace trellis::testing
