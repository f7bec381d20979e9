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

}  // namespace trellis::auth
