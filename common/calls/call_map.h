#pragma once

// State kept for each RPC in flight, keyed by its server context (a grpc::ServerContextBase*):
// server interceptors put it when a call starts and erase it when the call is done, and the
// handler's code finds it from the context it was given. The callback API runs a call's steps on
// whichever thread completes them (gRPC's or a Redis loop's), so neither a thread-local nor the
// thread that started the call can carry it; the context can. Sharded so that concurrent calls
// rarely share a lock.

#include <array>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace trellis::calls {

template <typename T>
class CallMap {
 public:
  void Put(const void* ctx, std::shared_ptr<T> value) {
    Shard& s = ShardOf(ctx);
    absl::MutexLock lock(&s.mu);
    s.values[ctx] = std::move(value);
  }
  // The value put for `ctx`, or null.
  std::shared_ptr<T> Get(const void* ctx) {
    Shard& s = ShardOf(ctx);
    absl::MutexLock lock(&s.mu);
    auto it = s.values.find(ctx);
    return it == s.values.end() ? nullptr : it->second;
  }
  void Erase(const void* ctx) {
    Shard& s = ShardOf(ctx);
    absl::MutexLock lock(&s.mu);
    s.values.erase(ctx);
  }

 private:
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<const void*, std::shared_ptr<T>> values ABSL_GUARDED_BY(mu);
  };
  Shard& ShardOf(const void* ctx) {
    return shards_[(reinterpret_cast<uintptr_t>(ctx) >> 6) % shards_.size()];
  }
  std::array<Shard, 16> shards_;
};

}  // namespace trellis::calls
