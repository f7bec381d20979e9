#pragma once

// The Redis layer on a Redis Cluster (issue 11, docs/scaling.md): the same RedisClient interface
// as RedisPool, routing each command to the primary that serves its key's slot.
//
// - The slot map comes from `CLUSTER SLOTS`, asked of any known node (the seeds first) by a
//   background thread: at start, every `refresh_interval`, and soon after anything suggests it
//   changed (a MOVED reply, a lost connection), at most once per `min_refresh_gap`.
// - Each primary gets a RedisPool of its own (its connections, reconnects, scripts, WAIT), made on
//   first use and kept: a node that stops being a primary simply stops being routed to.
// - MOVED: the slot's owner is updated at once and the command resent there. ASK (a slot being
//   migrated): the command alone is resent to the named node, preceded by ASKING. TRYAGAIN and
//   CLUSTERDOWN (a resharding or failover in progress): resent after a short pause, while the
//   caller's deadline allows. At most `max_redirects` redirections per command. A command that
//   found its node's pool not connected yet (a new node, a reconnect) was never sent, and is
//   resent the same way.
// - Scripts run on the node of their first key. Redis Cluster refuses a script whose keys span
//   slots (CROSSSLOT), so every key of one script must share a hash tag (one patient, or one
//   tenant, or one slot's part of an index: slot_index.h); what spans slots is staged and
//   moved on (staging.h). Scripts that walk a node's per-slot keys (slot_index.h) read undeclared
//   keys of that node; one that meets a slot the node does not serve answers UNAVAILABLE and the
//   map is reloaded.
//
// Our own code: hiredis 0.14 has no cluster support and Debian packages no C/C++ cluster client.

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config/redis_url.h"
#include "common/redis/async_pool.h"
#include "common/redis/client.h"
#include "common/redis/cluster_slots.h"

namespace trellis::redis {

struct ClusterOptions {
  std::vector<config::HostPort> seeds;  // any nodes of the cluster; more are learnt from it
  // For every node's pool: connections, timeouts, user and password (host, port and db of the
  // endpoint are not used: a cluster has only database 0), wait_replicas, observer.
  PoolOptions node;
  int max_redirects = 5;
  absl::Duration refresh_interval = absl::Seconds(10);
  absl::Duration min_refresh_gap = absl::Milliseconds(100);
};

class ClusterClient final : public RedisClient {
 public:
  // Starts the background thread, which loads the slot map; does not wait for it.
  explicit ClusterClient(ClusterOptions options);
  ~ClusterClient() override;

  void Execute(std::vector<std::string> args, ReplyCallback done,
               CallOptions options = {}) override;
  void Eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            ReplyCallback done, CallOptions options = {}) override;
  // True once the slot map covers every slot and some primary has a ready connection. (Not "every
  // primary": while one primary fails over, the patients of the other slots are still served.)
  bool Ready() const override;
  bool Clustered() const override { return true; }
  std::vector<std::vector<std::pair<int, int>>> SlotsByNode() const override;

  // Ready connections over every node's pool.
  int ReadyConnections() const override;
  // Stops the thread and every pool, and returns once every command in flight has been answered
  // (with UNAVAILABLE when it had not been); later commands fail with UNAVAILABLE. Idempotent.
  // Must not be called from a reply callback (it waits for that callback's own command).
  void Stop() override;

  // Redirections followed and slot maps loaded so far (for tests and the benchmark).
  int64_t redirections() const { return redirections_.load(std::memory_order_relaxed); }
  int64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }
  // Which node (host:port) serves `slot` now, or empty before the map is loaded.
  std::string OwnerOf(int slot) const;

 private:
  struct Node;
  struct Call;

  // `done` wrapped so that in_flight_ counts the call until it is answered.
  ReplyCallback Counted(ReplyCallback done);
  void Dispatch(std::shared_ptr<Call> call, std::shared_ptr<Node> node, bool asking);
  // `answered_by`: the host of the node that answered (an unknown endpoint in a redirection
  // means that host).
  void OnReply(std::shared_ptr<Call> call, const std::string& answered_by,
               absl::StatusOr<Reply> reply);
  std::shared_ptr<Node> NodeFor(const config::HostPort& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<Node> OwnerLocked(int slot) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void RequestRefresh();
  void After(absl::Duration delay, absl::AnyInvocable<void()> run);
  void Run();
  bool Refresh();

  const ClusterOptions options_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);  // by "host:port"
  std::vector<std::shared_ptr<Node>> owners_ ABSL_GUARDED_BY(mu_);  // per slot; empty: no map
  bool complete_ ABSL_GUARDED_BY(mu_) = false;  // every slot has an owner
  bool refresh_wanted_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::multimap<absl::Time, absl::AnyInvocable<void()>> timers_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> in_flight_{0};  // calls not answered yet: Stop waits for them
  std::atomic<int64_t> redirections_{0};
  std::atomic<int64_t> refreshes_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace trellis::redis
