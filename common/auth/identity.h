#pragma once

// Who is calling: computed once per call from the verified bearer token (DESIGN.md §6).

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/trace/trace.h"
#include "trellis/v1/common.pb.h"

namespace trellis::audit {
struct Note;
}

namespace trellis::auth {

struct Identity {
  std::string tenant;
  std::string subject;
  trellis::v1::Role role = trellis::v1::ROLE_UNSPECIFIED;
  std::string patient;  // set for clients: the patient they are
  // The audit note of the call this identity was admitted for (null outside a call or when the
  // server keeps no audit trail). Stores write the audit entry of a change with the change.
  std::shared_ptr<audit::Note> audit_note = nullptr;
  // The trace context of that call (server::TraceOf): the calls made for it to peer services,
  // and the outbox entries it records, carry it on (common/trace). Empty outside a call.
  trace::CallContext trace = {};

  trellis::v1::Actor ToActor() const;
};

// Patient-scoped access (DESIGN.md §6), checked after the role policy (policy.cc) admitted the
// call: a clinician, service or admin reaches any patient of its tenant; a client only itself. Another patient's data is NOT_FOUND for a client, never
// a hint that it exists.
absl::Status CheckPatientAccess(const Identity& who, absl::string_view patient);

}  // namespace trellis::auth
