#pragma once

// The process's Prometheus endpoint: GET /metrics over plain HTTP, served by prometheus-cpp's
// Exposer (civetweb, its own threads) with whatever collectables it is given: the metric
// registry, the process metrics, the Redis connection gauges.

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "absl/status/statusor.h"

namespace trellis::metrics {

class MetricsEndpoint {
 public:
  // Binds host:port (port 0 picks a free one) and starts serving (nothing yet). UNAVAILABLE
  // when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& host, int port);

  // Serves `collectable` from now on; the endpoint keeps it alive.
  void Serve(std::shared_ptr<prometheus::Collectable> collectable);

  // The bound port (the free one chosen for port 0).
  int port() const { return port_; }

  // Stops serving (joins the HTTP threads).
  ~MetricsEndpoint();

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port)
      : exposer_(std::move(exposer)), port_(port) {}

  std::vector<std::shared_ptr<prometheus::Collectable>> served_;  // outlive the exposer
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
};

}  // namespace trellis::metrics
