#include "common/auth/identity.h"

#include "common/status/status.h"

namespace trellis::auth {

trellis::v1::Actor Identity::ToActor() const {
  trellis::v1::Actor actor;
  actor.set_subject(subject);
  actor.set_role(role);
  return actor;
}

absl::Status CheckPatientAccess(const Identity& who, absl::string_view patient) {
  if (who.role == trellis::v1::ROLE_CLIENT && who.patient != patient) {
    return NotFoundError("not found");
  }
  return absl::OkStatus();
}

absl::Status RequireStaff(const Identity& who) {
  if (who.role == trellis::v1::ROLE_CLIENT || who.role == trellis::v1::ROLE_UNSPECIFIED) {
    return WithReason(absl::PermissionDeniedError("this method is for clinicians"),
                      "PERMISSION_DENIED");
  }
  return absl::OkStatus();
}

absl::Status RequireService(const Identity& who) {
  if (who.role != trellis::v1::ROLE_SERVICE && who.role != trellis::v1::ROLE_ADMIN) {
    return WithReason(absl::PermissionDeniedError("this method is for Trellis services"),
                      "PERMISSION_DENIED");
  }
  return absl::OkStatus();
}

absl::Status RequireAdmin(const Identity& who) {
  if (who.role != trellis::v1::ROLE_ADMIN) {
    return WithReason(absl::PermissionDeniedError("this method is for tenant admins"),
                      "PERMISSION_DENIED");
  }
  return absl::OkStatus();
}

}  // namespace trellis::auth
