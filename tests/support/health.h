#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace trellis::testing {

// Asks the server's grpc.health.v1 service about `service` ("" for the whole server). Returns
// "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN", or the gRPC error code name.
std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);

// Polls HealthOf until it equals `want` or `limit` passes; returns the last answer.
std::string WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                          const std::string& want, absl::Duration limit = absl::Seconds(15));

}  // namespace trellis::testing
