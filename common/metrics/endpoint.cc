#include "common/metrics/endpoint.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace trellis::metrics {

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& host,
                                                                        int port) {
  // civetweb's listening_ports syntax: "127.0.0.1:9101", "[::]:9101".
  std::string address = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                            : absl::StrCat(host, ":", port);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two HTTP threads, so one stuck client cannot hold up the scraper.
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", address, ": ", e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics: no listening port on ", address));
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(exposer), ports.front()));
}

void MetricsEndpoint::Serve(std::shared_ptr<prometheus::Collectable> collectable) {
  exposer_->RegisterCollectable(collectable);
  served_.push_back(std::move(collectable));
}

MetricsEndpoint::~MetricsEndpoint() { exposer_.reset(); }

}  // namespace trellis::metrics
