#include "services/measurements/measurement_service.h"

namespace trellis::measurements {

server::ServiceParts BuildMeasurementService(const server::ServiceEnv& env) {
  server::ServiceParts parts;
  parts.services.push_back(std::make_unique<MeasurementServiceHandler>(env));
  parts.health_names.push_back("trellis.v1.MeasurementService");
  return parts;
}

}  // namespace trellis::measurements
