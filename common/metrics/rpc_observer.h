#pragma once

#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace trellis::metrics {

// Receives the start and end of every RPC (from the server interceptor). Implementations must be
// thread-safe and cheap.
class RpcObserver {
 public:
  virtual ~RpcObserver() = default;
  // `method` is the full gRPC path, "/trellis.v1.GoalService/GetGoal"; `type` is "unary",
  // "client_stream", "server_stream" or "bidi_stream".
  virtual void OnRpcStart(absl::string_view method, absl::string_view type) = 0;
  virtual void OnRpcEnd(absl::string_view method, absl::string_view type, grpc::StatusCode code,
                        absl::Duration latency) = 0;
};

}  // namespace trellis::metrics
