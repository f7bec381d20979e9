#pragma once

// Serves GET /metrics over plain HTTP/1.0 from one thread: all a Prometheus scraper needs. Not a
// general HTTP server: one request per connection, a 5-second read limit, anything else gets 404.

#include <atomic>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/registry.h"

namespace trellis::metrics {

class HttpExporter {
 public:
  // Binds host:port (0 picks a free port) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpExporter>> Start(const std::string& host, int port,
                                                             const Registry* registry);
  ~HttpExporter();
  int port() const { return port_; }
  void Stop();

 private:
  HttpExporter(int fd, int port, const Registry* registry);
  void Serve();

  int fd_;
  int port_;
  const Registry* registry_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace trellis::metrics
