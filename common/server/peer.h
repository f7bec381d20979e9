#pragma once

// Channels to peer Trellis services. Retries are declared in the channel's service config (only
// UNAVAILABLE, a few attempts with backoff), never hand-written around calls.

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace trellis::server {

// How a process reaches its peers; built once (PeerCredentialsFor in tls.h) and shared by every
// peer channel. The default value is plaintext.
struct PeerCredentials {
  std::shared_ptr<grpc::ChannelCredentials> channel;  // null: insecure
  std::string server_name_override;  // with TLS: the name peers' certificates are checked for
};

// A channel to the peer at `address` (host:port) with `credentials`.
std::shared_ptr<grpc::Channel> PeerChannel(const std::string& address,
                                           const PeerCredentials& credentials = {});

}  // namespace trellis::server
