#pragma once

// trellis.v1.AuditService, served by every binary: reads a tenant's audit trail (admins only).

#include "common/server/run.h"
#include "trellis/v1/audit.grpc.pb.h"

namespace trellis::server {

class AuditServiceHandler final : public trellis::v1::AuditService::CallbackService {
 public:
  explicit AuditServiceHandler(ServiceEnv env) : env_(env) {}

  grpc::ServerUnaryReactor* ListAuditEvents(
      grpc::CallbackServerContext* ctx, const trellis::v1::ListAuditEventsRequest* request,
      trellis::v1::ListAuditEventsResponse* response) override;

 private:
  ServiceEnv env_;
};

}  // namespace trellis::server
