// Benchmark (issue 11): how the key design spreads patients over a Redis Cluster, and what the
// cluster client costs. Starts a real 3-primary, 3-replica cluster on loopback (the integration
// tests' harness), writes one key per patient for N patients (default 100 000) with the service's
// own key builder through ClusterClient, then reports the keys each primary holds (DBSIZE) and
// their largest deviation from an even share, and the write rate with --inflight commands
// outstanding, next to the same writes through RedisPool on a single redis-server.
//
// Plain lines; nothing is asserted (DESIGN.md §9); the exit code only says whether the setup
// worked.
//
//   make bench                                  (builds and runs every benchmark)
//   build/bench/trellis_bench_cluster_keys --patients=100000

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/redis/async_pool.h"
#include "common/redis/cluster_client.h"
#include "common/redis/keys.h"
#include "common/redis/sync_redis.h"
#include "tests/support/redis_cluster.h"

ABSL_FLAG(int, patients, 100000, "Patients (one key each).");
ABSL_FLAG(int, inflight, 256, "Commands outstanding at once.");

namespace trellis::bench {
namespace {

// Writes one key per patient through `client` with `inflight` commands outstanding; returns the
// writes per second, or -1 when any failed.
double WritePatients(redis::RedisClient& client, int patients, int inflight) {
  struct Window {
    int outstanding = 0;
    int limit = 0;
    bool HasRoom() const { return outstanding < limit; }
    bool Drained() const { return outstanding == 0; }
  };
  absl::Mutex mu;
  Window window;
  window.limit = inflight;
  std::atomic<int> failed{0};
  absl::Time start = absl::Now();
  for (int i = 0; i < patients; ++i) {
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(&window, &Window::HasRoom));
      ++window.outstanding;
    }
    redis::PatientKeys keys("meas", "tenant-1", absl::StrCat("patient-", i));
    client.Execute({"SET", keys.Key({"latest"}), "1"}, [&](absl::StatusOr<redis::Reply> r) {
      if (!r.ok()) failed.fetch_add(1);
      absl::MutexLock lock(&mu);
      --window.outstanding;
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&window, &Window::Drained));
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return failed.load() > 0 ? -1 : patients / seconds;
}

int Run() {
  log::Configure("bench", log::Level::kWarn);
  const int patients = absl::GetFlag(FLAGS_patients);
  const int inflight = absl::GetFlag(FLAGS_inflight);

  auto cluster = testing::RedisCluster::Start();
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster did not start: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  redis::ClusterOptions options;
  options.seeds = *config::ParseHostPortList((*cluster)->seeds(), "seeds");
  options.node.connections = 2;
  redis::ClusterClient client(options);
  absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!client.Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  if (!client.Ready()) {
    std::fprintf(stderr, "cluster client never ready\n");
    return 1;
  }
  double cluster_rate = WritePatients(client, patients, inflight);

  std::printf("cluster_keys: %d patients, one key each, over 3 primaries (3 replicas)\n",
              patients);
  int64_t total = 0, most = 0, least = INT64_MAX;
  for (int i = 0; i < (*cluster)->size(); ++i) {
    auto role = (*cluster)->node(i).CommandList({"ROLE"});
    if (!role.ok() || role->at(0) != "master") continue;
    int64_t keys = std::atoll((*cluster)->node(i).Command({"DBSIZE"}).value_or("0").c_str());
    std::printf("  primary :%d  %lld keys\n", (*cluster)->node(i).port(),
                static_cast<long long>(keys));
    total += keys;
    most = std::max(most, keys);
    least = std::min(least, keys);
  }
  double even = total / 3.0;
  std::printf("  largest deviation from an even share: %+.1f%% / %+.1f%%\n",
              100.0 * (most - even) / even, 100.0 * (least - even) / even);
  std::printf("  writes/s through ClusterClient (%d in flight): %.0f; redirections %lld\n",
              inflight, cluster_rate, static_cast<long long>(client.redirections()));
  client.Stop();

  auto single = testing::RedisServer::Start();
  if (!single.ok()) return 1;
  redis::PoolOptions pool_options;
  pool_options.endpoint = *config::ParseRedisUrl((*single)->url());
  pool_options.connections = 2;
  redis::RedisPool pool(pool_options);
  give_up = absl::Now() + absl::Seconds(10);
  while (!pool.Ready() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  std::printf("  writes/s through RedisPool on one redis-server (%d in flight): %.0f\n", inflight,
              WritePatients(pool, patients, inflight));
  return cluster_rate < 0 ? 1 : 0;
}

}  // namespace
}  // namespace trellis::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return trellis::bench::Run();
}
