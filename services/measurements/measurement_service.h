#pragma once

#include <memory>

#include "common/server/run.h"
#include "trellis/v1/measurements.grpc.pb.h"

namespace trellis::measurements {

// The gRPC handler of trellis.v1.MeasurementService (thin: authenticate, validate, call the domain,
// map the status). RPCs not yet implemented answer UNIMPLEMENTED.
class MeasurementServiceHandler final : public trellis::v1::MeasurementService::CallbackService {
 public:
  explicit MeasurementServiceHandler(const server::ServiceEnv& env) : env_(env) {}

 private:
  server::ServiceEnv env_;
};

// Everything this service runs in its process.
server::ServiceParts BuildMeasurementService(const server::ServiceEnv& env);

}  // namespace trellis::measurements
