#pragma once

// Server interceptors: one JSON access-log line per RPC (method, code, latency, trace and request
// ids; never a payload), the call's trace context (common/trace) for the handler's own peer
// calls, and the hook that feeds per-RPC metrics.

#include <memory>
#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/rpc_observer.h"
#include "common/trace/trace.h"

namespace trellis::server {

// The trace context of the call running on `ctx`: its `traceparent` continued with a new span (or
// a new trace) and its request id, as the access-log interceptor set them up when the call
// arrived. Invalid (empty) when the server has no such interceptor.
trace::CallContext TraceOf(const grpc::ServerContextBase& ctx);

// Sets up each RPC's trace context, logs the RPC's end and reports it to `observer` (may be null).
class AccessLogInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AccessLogInterceptorFactory(metrics::RpcObserver* observer) : observer_(observer) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::RpcObserver* observer_;
};

}  // namespace trellis::server
