#pragma once

// Test harness: a real Redis Cluster on loopback (issue 11). Every node is a RedisServer started
// with --cluster-enabled in a temp dir of its own, with its cluster bus on a free port of its own
// (--cluster-port: the default, port + 10000, may be out of range or taken); `redis-cli --cluster
// create` joins them and assigns the slots evenly over the primaries.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/redis_server.h"

namespace trellis::testing {

class RedisCluster {
 public:
  // `primaries` primaries (at least 3, as redis-cli requires) with `replicas_per_primary` each.
  // Returns once every node reports cluster_state:ok and agrees on the slot owners.
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start(int primaries = 3,
                                                            int replicas_per_primary = 1);

  int size() const { return static_cast<int>(nodes_.size()); }
  RedisServer& node(int i) { return *nodes_[i]; }
  // "127.0.0.1:<port>,..." of every node: what --redis_cluster takes.
  std::string seeds() const;
  // The index of the node serving `slot` as primary, as node `ask` sees it (-1 if unknown).
  absl::StatusOr<int> PrimaryOf(int slot, int ask = 0) const;
  // Runs one command on the primary serving args[1]'s slot (node 0 for a command without a key);
  // the reply as RedisServer::Command gives it.
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args) const;
  // The index of the node with this port, or -1.
  int IndexOfPort(int port) const;

  // Waits until every running node reports cluster_state:ok.
  absl::Status WaitHealthy(absl::Duration limit = absl::Seconds(30)) const;

  // Runs redis-cli with `args` (e.g. {"--cluster", "reshard", ...}); returns its output, or an
  // error with it when it exits non-zero.
  absl::StatusOr<std::string> Cli(const std::vector<std::string>& args) const;

 private:
  RedisCluster() = default;
  TempDir dir_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace trellis::testing
