#include "common/server/peer.h"

namespace trellis::server {

std::shared_ptr<grpc::Channel> PeerChannel(const std::string& address,
                                           const PeerCredentials& credentials) {
  grpc::ChannelArguments args;
  // Peers run in the same cluster: notice a returning peer within about a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // round_robin: with a headless Kubernetes Service the name resolves to every replica, and calls
  // spread over all of them instead of pinning to the first (deploy/README.md).
  args.SetServiceConfigJSON(R"json({
    "loadBalancingConfig": [{"round_robin": {}}],
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
  if (credentials.channel == nullptr) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  if (!credentials.server_name_override.empty()) {
    args.SetSslTargetNameOverride(credentials.server_name_override);
  }
  return grpc::CreateCustomChannel(address, credentials.channel, args);
}

}  // namespace trellis::server
