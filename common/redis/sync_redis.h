#pragma once

// A blocking facade over RedisClient for tests and tools. Never use it on a gRPC callback thread.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/client.h"

namespace trellis::redis {

class SyncRedis {
 public:
  explicit SyncRedis(RedisClient* client) : client_(client) {}

  absl::StatusOr<Reply> Run(std::vector<std::string> args, CallOptions options = {});
  absl::StatusOr<Reply> Eval(const Script& script, std::vector<std::string> keys,
                             std::vector<std::string> args, CallOptions options = {});

 private:
  RedisClient* client_;
};

}  // namespace trellis::redis
