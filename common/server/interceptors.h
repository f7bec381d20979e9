#pragma once

// Server interceptors: one JSON access-log line per RPC (method, code, latency, trace id; never a
// payload) and the hook that feeds per-RPC metrics.

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/rpc_observer.h"

namespace trellis::server {

// The trace id (32 hex digits) of a W3C `traceparent` header value, or empty if malformed.
std::string TraceIdFromTraceparent(absl::string_view traceparent);

// Logs each RPC's end and reports it to `observer` (may be null).
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
