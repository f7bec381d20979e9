#pragma once

// trellis.v1.AuditService, served by every binary: reads a tenant's audit trail (admins only).
// AuditRelay: on Redis Cluster, moves the entries of audited writes from their patients' slots
// into their tenants' streams (audit.h).

#include <thread>

#include "absl/synchronization/notification.h"
#include "common/server/host.h"
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

// Runs AuditLog::MoveStaged every `interval` on a thread of its own; idle on a single Redis.
class AuditRelay final : public Worker {
 public:
  explicit AuditRelay(const audit::AuditLog* log,
                      absl::Duration interval = absl::Milliseconds(200))
      : log_(log), interval_(interval) {}
  ~AuditRelay() override { Stop(); }

  void Start() override;
  void Stop() override;

 private:
  const audit::AuditLog* log_;
  absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace trellis::server
