#include "common/redis/cluster_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "common/redis/keys.h"
#include "common/status/status.h"

namespace trellis::redis {
namespace {

// Commands without a key (PING, INFO, ...) go to any node; the others name their key first.
bool HasKey(const std::vector<std::string>& args) {
  if (args.size() < 2) return false;
  absl::string_view name = args[0];
  return !absl::EqualsIgnoreCase(name, "PING") && !absl::EqualsIgnoreCase(name, "INFO") &&
         !absl::EqualsIgnoreCase(name, "SCRIPT") && !absl::EqualsIgnoreCase(name, "CLUSTER") &&
         !absl::EqualsIgnoreCase(name, "CLIENT") && !absl::EqualsIgnoreCase(name, "ROLE");
}

// Asks one node for the slot table over a short-lived blocking connection (on the client's own
// thread, never a caller's).
absl::StatusOr<std::vector<SlotRange>> AskSlots(const config::HostPort& node,
                                                const config::RedisEndpoint& auth,
                                                absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  redisContext* c = redisConnectWithTimeout(node.host.c_str(), node.port, tv);
  if (c == nullptr || c->err) {
    std::string error = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    return absl::UnavailableError(absl::StrCat(config::HostPortText(node), ": ", error));
  }
  redisSetTimeout(c, tv);
  if (!auth.password.empty()) {
    auto* r = static_cast<redisReply*>(
        auth.user.empty()
            ? redisCommand(c, "AUTH %b", auth.password.data(), auth.password.size())
            : redisCommand(c, "AUTH %b %b", auth.user.data(), auth.user.size(),
                           auth.password.data(), auth.password.size()));
    if (r != nullptr) freeReplyObject(r);
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, "CLUSTER SLOTS"));
  if (r == nullptr) {
    std::string error = c->errstr;
    redisFree(c);
    return absl::UnavailableError(absl::StrCat(config::HostPortText(node), ": ", error));
  }
  absl::StatusOr<std::vector<SlotRange>> ranges =
      r->type == REDIS_REPLY_ERROR
          ? absl::StatusOr<std::vector<SlotRange>>(absl::UnavailableError(
                absl::StrCat(config::HostPortText(node), ": ", absl::string_view(r->str, r->len))))
          : ParseClusterSlots(Reply::FromHiredis(*r));
  freeReplyObject(r);
  redisFree(c);
  if (ranges.ok()) {
    for (SlotRange& range : *ranges) {
      if (range.primary.host.empty()) range.primary.host = node.host;  // an unknown endpoint
      for (auto& replica : range.replicas) {
        if (replica.host.empty()) replica.host = node.host;
      }
    }
  }
  return ranges;
}

}  // namespace

struct ClusterClient::Node {
  config::HostPort address;
  std::unique_ptr<RedisPool> pool;
};

// One command on its way, possibly over several nodes (redirections, retries).
struct ClusterClient::Call {
  const Script* script = nullptr;  // Eval; else Execute
  std::vector<std::string> keys;
  std::vector<std::string> args;
  int slot = -1;  // -1: no key, any node
  ReplyCallback done;
  absl::Time deadline;
  int redirects = 0;
  int retries = 0;
};

ClusterClient::ClusterClient(ClusterOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

ClusterClient::~ClusterClient() { Stop(); }

void ClusterClient::Stop() {
  if (stopped_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // from here NodeFor makes no new pools
  }
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::shared_ptr<Node>> nodes;
  std::multimap<absl::Time, absl::AnyInvocable<void()>> timers;
  {
    absl::MutexLock lock(&mu_);
    nodes = nodes_;
    timers.swap(timers_);
  }
  for (auto& [when, run] : timers) run();  // retries fail at once now: the client is stopped
  for (auto& [address, node] : nodes) node->pool->Stop();
  // The pools answer what they hold with UNAVAILABLE; wait for those answers, so that no reply
  // callback still runs (and reads this client) once Stop returns.
  absl::Time give_up = absl::Now() + options_.node.command_timeout + absl::Seconds(5);
  while (in_flight_.load(std::memory_order_acquire) > 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

bool ClusterClient::Ready() const {
  absl::ReaderMutexLock lock(&mu_);
  if (!complete_) return false;
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [](const auto& n) { return n.second->pool->Ready(); });
}

int ClusterClient::ReadyConnections() const {
  absl::ReaderMutexLock lock(&mu_);
  int n = 0;
  for (const auto& [address, node] : nodes_) n += node->pool->ReadyConnections();
  return n;
}

std::vector<std::vector<std::pair<int, int>>> ClusterClient::SlotsByNode() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<const Node*, std::vector<std::pair<int, int>>> by_node;
  for (int slot = 0; slot < static_cast<int>(owners_.size());) {
    int last = slot;
    while (last + 1 < static_cast<int>(owners_.size()) && owners_[last + 1] == owners_[slot]) {
      ++last;
    }
    if (owners_[slot] != nullptr) by_node[owners_[slot].get()].emplace_back(slot, last);
    slot = last + 1;
  }
  std::vector<std::vector<std::pair<int, int>>> out;
  out.reserve(by_node.size());
  for (auto& [node, ranges] : by_node) out.push_back(std::move(ranges));
  return out;
}

std::string ClusterClient::OwnerOf(int slot) const {
  absl::ReaderMutexLock lock(&mu_);
  auto node = OwnerLocked(slot);
  return node != nullptr ? config::HostPortText(node->address) : "";
}

std::shared_ptr<ClusterClient::Node> ClusterClient::OwnerLocked(int slot) const {
  if (owners_.empty()) return nullptr;
  if (slot >= 0) return owners_[slot];
  for (const auto& node : owners_) {
    if (node != nullptr) return node;
  }
  return nullptr;
}

std::shared_ptr<ClusterClient::Node> ClusterClient::NodeFor(const config::HostPort& address) {
  std::string key = config::HostPortText(address);
  auto it = nodes_.find(key);
  if (it != nodes_.end()) return it->second;
  if (stopping_) return nullptr;
  auto node = std::make_shared<Node>();
  node->address = address;
  PoolOptions o = options_.node;
  o.endpoint.host = address.host;
  o.endpoint.port = address.port;
  o.endpoint.db = 0;
  o.endpoint.sentinels.clear();
  node->pool = std::make_unique<RedisPool>(std::move(o));
  nodes_.emplace(key, node);
  return node;
}

ReplyCallback ClusterClient::Counted(ReplyCallback done) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  return [this, done = std::move(done)](absl::StatusOr<Reply> reply) mutable {
    done(std::move(reply));
    in_flight_.fetch_sub(1, std::memory_order_release);  // the last touch of this client
  };
}

void ClusterClient::Execute(std::vector<std::string> args, ReplyCallback done,
                            CallOptions options) {
  auto call = std::make_shared<Call>();
  call->slot = HasKey(args) ? KeySlot(args[1]) : -1;
  call->args = std::move(args);
  call->done = Counted(std::move(done));
  call->deadline = options.deadline;
  Dispatch(std::move(call), nullptr, false);
}

void ClusterClient::Eval(const Script& script, std::vector<std::string> keys,
                         std::vector<std::string> args, ReplyCallback done, CallOptions options) {
  auto call = std::make_shared<Call>();
  call->script = &script;
  call->slot = keys.empty() ? -1 : KeySlot(keys[0]);
  call->keys = std::move(keys);
  call->args = std::move(args);
  call->done = Counted(std::move(done));
  call->deadline = options.deadline;
  Dispatch(std::move(call), nullptr, false);
}

void ClusterClient::Dispatch(std::shared_ptr<Call> call, std::shared_ptr<Node> node, bool asking) {
  if (stopped_.load(std::memory_order_acquire)) {
    return call->done(UnavailableError("storage client is shutting down", "SHUTTING_DOWN"));
  }
  if (node == nullptr) {
    absl::ReaderMutexLock lock(&mu_);
    node = OwnerLocked(call->slot);
  }
  if (node == nullptr) {
    RequestRefresh();
    return call->done(
        UnavailableError("the Redis Cluster slot map is not loaded yet", "STORE_UNAVAILABLE"));
  }
  CallOptions o;
  o.deadline = call->deadline;
  o.error_replies_as_values = true;
  o.asking = asking;
  // The command is kept for a possible resend, so each attempt gets a copy.
  auto on_reply = [this, call, host = node->address.host](absl::StatusOr<Reply> reply) {
    OnReply(call, host, std::move(reply));
  };
  if (call->script != nullptr) {
    node->pool->Eval(*call->script, call->keys, call->args, std::move(on_reply), o);
  } else {
    node->pool->Execute(call->args, std::move(on_reply), o);
  }
}

void ClusterClient::OnReply(std::shared_ptr<Call> call, const std::string& answered_by,
                            absl::StatusOr<Reply> reply) {
  if (!reply.ok()) {
    // A node that cannot be reached may have failed over: look again soon.
    if (reply.status().code() == absl::StatusCode::kUnavailable) RequestRefresh();
    // Never sent (the node's pool has no connection yet: a new node, a reconnect): safe to send
    // again, to whichever node the map names by then.
    if (FailedBeforeSending(reply.status()) && !stopped_.load(std::memory_order_acquire)) {
      absl::Duration pause = absl::Milliseconds(20) * (1 << std::min(call->retries, 5));
      if (absl::Now() + pause < call->deadline && call->retries < 20) {
        ++call->retries;
        return After(pause, [this, call]() mutable { Dispatch(std::move(call), nullptr, false); });
      }
    }
    return call->done(reply.status());
  }
  if (reply->type != Reply::Type::kError) return call->done(std::move(reply));
  const std::string& text = reply->str;
  if (auto redirect = ParseRedirect(text); redirect.has_value()) {
    redirections_.fetch_add(1, std::memory_order_relaxed);
    if (redirect->to.host.empty()) redirect->to.host = answered_by;  // "MOVED <slot> :<port>"
    if (++call->redirects > options_.max_redirects) {
      return call->done(UnavailableError("too many Redis Cluster redirections; retry later",
                                         "STORE_UNAVAILABLE"));
    }
    std::shared_ptr<Node> target;
    {
      absl::MutexLock lock(&mu_);
      target = NodeFor(redirect->to);
      if (target != nullptr && !redirect->ask && !owners_.empty()) {
        owners_[redirect->slot] = target;
      }
    }
    if (target == nullptr) {
      return call->done(UnavailableError("storage client is shutting down", "SHUTTING_DOWN"));
    }
    if (!redirect->ask) RequestRefresh();  // more slots may have moved with it
    return Dispatch(std::move(call), std::move(target), redirect->ask);
  }
  // A script walking per-slot keys (slot_index.h) met a slot this node does not serve: the map
  // is out of date (a resharding moved it). Worth a retry once it is reloaded.
  if (absl::StrContains(text, "non local key")) {
    RequestRefresh();
    return call->done(UnavailableError("a Redis Cluster slot moved during the call; retry",
                                       "STORE_UNAVAILABLE"));
  }
  if (absl::StartsWith(text, "TRYAGAIN") || absl::StartsWith(text, "CLUSTERDOWN")) {
    // A multi-key command during a slot's migration, or a failover in progress: wait a little.
    absl::Duration pause = absl::Milliseconds(20) * (1 << std::min(call->retries, 5));
    if (absl::Now() + pause < call->deadline && call->retries < 20) {
      ++call->retries;
      call->redirects = 0;  // a migration bounces ASK and TRYAGAIN: count each round afresh
      if (absl::StartsWith(text, "CLUSTERDOWN")) RequestRefresh();
      return After(pause, [this, call]() mutable { Dispatch(std::move(call), nullptr, false); });
    }
  }
  call->done(ErrorReplyToStatus(text));
}

void ClusterClient::RequestRefresh() {
  absl::MutexLock lock(&mu_);
  refresh_wanted_ = true;
}

void ClusterClient::After(absl::Duration delay, absl::AnyInvocable<void()> run) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      timers_.emplace(absl::Now() + delay, std::move(run));
      return;
    }
  }
  run();  // stopped: Dispatch fails the call at once
}

void ClusterClient::Run() {
  absl::Time last_refresh = absl::InfinitePast();
  while (true) {
    std::vector<absl::AnyInvocable<void()>> due;
    bool refresh = false;
    {
      absl::MutexLock lock(&mu_);
      absl::Time now = absl::Now();
      absl::Time wake = now + absl::Milliseconds(10);
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](bool* stopping) { return *stopping; }, &stopping_),
                            std::min(wake, timers_.empty() ? wake : timers_.begin()->first));
      if (stopping_) return;
      now = absl::Now();
      while (!timers_.empty() && timers_.begin()->first <= now) {
        due.push_back(std::move(timers_.begin()->second));
        timers_.erase(timers_.begin());
      }
      bool periodic = now - last_refresh >= options_.refresh_interval;
      refresh = (refresh_wanted_ && now - last_refresh >= options_.min_refresh_gap) || periodic;
      if (refresh) refresh_wanted_ = false;
    }
    for (auto& run : due) run();
    if (refresh) {
      last_refresh = absl::Now();
      if (!Refresh()) {
        absl::MutexLock lock(&mu_);
        refresh_wanted_ = true;  // try again after the gap
      }
    }
  }
}

bool ClusterClient::Refresh() {
  // Ask the nodes known so far, then the seeds, until one answers.
  std::vector<config::HostPort> candidates;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [address, node] : nodes_) candidates.push_back(node->address);
  }
  candidates.insert(candidates.end(), options_.seeds.begin(), options_.seeds.end());
  absl::Duration timeout = std::min(options_.node.connect_timeout, absl::Seconds(1));
  std::string last_error = "no node to ask";
  for (const auto& candidate : candidates) {
    auto ranges = AskSlots(candidate, options_.node.endpoint, timeout);
    if (!ranges.ok()) {
      last_error = std::string(ranges.status().message());
      continue;
    }
    absl::MutexLock lock(&mu_);
    std::vector<std::shared_ptr<Node>> owners(kClusterSlots);
    int covered = 0;
    for (const SlotRange& range : *ranges) {
      std::shared_ptr<Node> node = NodeFor(range.primary);
      for (int slot = range.first; slot <= range.last; ++slot) {
        if (owners[slot] == nullptr) ++covered;
        owners[slot] = node;
      }
    }
    bool was_complete = complete_;
    complete_ = covered == kClusterSlots;
    owners_.swap(owners);
    refreshes_.fetch_add(1, std::memory_order_relaxed);
    if (complete_ != was_complete) {
      log::Info(complete_ ? "redis cluster slot map complete" : "redis cluster slot map has gaps",
                {{"slots", covered}, {"nodes", static_cast<int>(nodes_.size())}});
    }
    return true;
  }
  log::Warn("redis cluster slot map not loaded", {{"error", last_error}});
  return false;
}

}  // namespace trellis::redis
