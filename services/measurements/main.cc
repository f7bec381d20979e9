// trellis-measurements: the measurement service binary.

#include "common/server/run.h"
#include "services/measurements/measurement_service.h"

int main(int argc, char** argv) {
  return trellis::server::RunService(
      argc, argv,
      {.name = "measurements",
       .default_port = 50052,
       .default_metrics_port = 9102,
       .usage =
           "trellis-measurements: Trellis measurement service (trellis.v1.MeasurementService).",
       .build = trellis::measurements::BuildMeasurementService});
}
