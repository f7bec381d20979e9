#include "tests/support/redis_cluster.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/redis/cluster_slots.h"
#include "tests/support/process.h"

namespace trellis::testing {

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start(int primaries,
                                                                  int replicas_per_primary) {
  if (primaries < 3) return absl::InvalidArgumentError("a cluster needs at least 3 primaries");
  std::unique_ptr<RedisCluster> cluster(new RedisCluster());
  int total = primaries * (1 + replicas_per_primary);
  for (int i = 0; i < total; ++i) {
    // The bus port is fixed for the server's own retries, so a taken one is retried here.
    absl::StatusOr<std::unique_ptr<RedisServer>> node;
    for (int attempt = 0; attempt < 3; ++attempt) {
      node = RedisServer::Start({"--cluster-enabled", "yes", "--cluster-port",
                                 absl::StrCat(PickFreePort()), "--cluster-config-file",
                                 "nodes.conf", "--cluster-node-timeout", "2000",
                                 "--repl-diskless-sync-delay", "0"});
      if (node.ok()) break;
    }
    if (!node.ok()) return node.status();
    cluster->nodes_.push_back(std::move(*node));
  }
  std::vector<std::string> args = {"--cluster", "create"};
  for (const auto& n : cluster->nodes_) args.push_back(absl::StrCat("127.0.0.1:", n->port()));
  args.insert(args.end(), {"--cluster-replicas", absl::StrCat(replicas_per_primary),
                           "--cluster-yes"});
  auto created = cluster->Cli(args);
  if (!created.ok()) return created.status();
  if (absl::Status s = cluster->WaitHealthy(); !s.ok()) return s;
  return cluster;
}

std::string RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(absl::StrCat("127.0.0.1:", n->port()));
  return absl::StrJoin(out, ",");
}

int RedisCluster::IndexOfPort(int port) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->port() == port) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<std::string> RedisCluster::Command(const std::vector<std::string>& args) const {
  if (args.size() < 2) return nodes_[0]->Command(args);
  absl::StatusOr<int> node = PrimaryOf(redis::KeySlot(args[1]));
  if (!node.ok()) return node.status();
  return nodes_[*node]->Command(args);
}

absl::StatusOr<int> RedisCluster::PrimaryOf(int slot, int ask) const {
  // CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> ... <slot ranges...>" per line.
  auto text = nodes_[ask]->Command({"CLUSTER", "NODES"});
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 9 || !absl::StrContains(f[2], "master")) continue;
    for (size_t i = 8; i < f.size(); ++i) {
      if (absl::StartsWith(f[i], "[")) continue;  // a slot being migrated or imported
      std::vector<absl::string_view> range = absl::StrSplit(f[i], '-');
      int first = 0, last = 0;
      if (!absl::SimpleAtoi(range[0], &first)) continue;
      last = first;
      if (range.size() == 2 && !absl::SimpleAtoi(range[1], &last)) continue;
      if (slot >= first && slot <= last) {
        absl::string_view address = f[1].substr(0, f[1].find('@'));
        int port = 0;
        if (!absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) return -1;
        return IndexOfPort(port);
      }
    }
  }
  return -1;
}

absl::Status RedisCluster::WaitHealthy(absl::Duration limit) const {
  absl::Time give_up = absl::Now() + limit;
  while (true) {
    bool ok = true;
    for (const auto& n : nodes_) {
      if (!n->running()) continue;
      auto info = n->Command({"CLUSTER", "INFO"});
      if (!info.ok() || !absl::StrContains(*info, "cluster_state:ok")) ok = false;
    }
    if (ok) return absl::OkStatus();
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError("the cluster did not reach cluster_state:ok");
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

absl::StatusOr<std::string> RedisCluster::Cli(const std::vector<std::string>& args) const {
  // Process::Spawn takes a path (execve); Debian installs redis-cli beside redis-server.
  std::vector<std::string> argv = {"/usr/bin/redis-cli"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out = absl::StrCat(dir_.path(), "/cli.out");
  std::string err = absl::StrCat(dir_.path(), "/cli.err");
  auto process = Process::Spawn(argv, out, err);
  if (!process.ok()) return process.status();
  auto code = (*process)->Wait(absl::Minutes(2));
  if (!code.ok()) return code.status();
  std::string text = ReadFile(out);
  if (*code != 0) {
    return absl::InternalError(absl::StrCat("redis-cli ", absl::StrJoin(args, " "), " exited ",
                                            *code, ": ", text, ReadFile(err)));
  }
  return text;
}

}  // namespace trellis::testing
