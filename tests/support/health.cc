#include "tests/support/health.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace trellis::testing {

std::string HealthOf(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return absl::StrCat("error ", s.error_code());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
}

std::string WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                          const std::string& want, absl::Duration limit) {
  absl::Time give_up = absl::Now() + limit;
  std::string last;
  while (true) {
    last = HealthOf(channel, service);
    if (last == want || absl::Now() > give_up) return last;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace trellis::testing
