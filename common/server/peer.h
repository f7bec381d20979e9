#pragma once

// Channels to peer Trellis services. Retries are declared in the channel's service config (only
// UNAVAILABLE, a few attempts with backoff), never hand-written around calls.

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace trellis::server {

inline std::shared_ptr<grpc::Channel> PeerChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // Peers run in the same cluster: notice a returning peer within about a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetServiceConfigJSON(R"json({
    "methodConfig": [{
      "name": [{}],
      "retryPolicy": {
        "maxAttempts": 3,
        "initialBackoff": "0.1s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }]
  })json");
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace trellis::server
