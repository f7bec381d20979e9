#include "common/server/admit.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/audit/audit.h"
#include "common/auth/policy.h"
#include "common/auth/rate_limit.h"
#include "common/server/interceptors.h"
#include "common/status/status.h"

namespace trellis::server {
namespace {

// Request fields are only recorded in the audit trail once they are known to be sane; an invalid
// request is recorded with what fits.
constexpr size_t kMaxAuditField = 256;

std::string Clip(absl::string_view s) { return std::string(s.substr(0, kMaxAuditField)); }

}  // namespace

absl::StatusOr<auth::Identity> Admit(const ServiceEnv& env, const grpc::CallbackServerContext& ctx,
                                     absl::string_view method, const absl::Status& validation,
                                     absl::string_view patient, absl::string_view resource) {
  if (env.authenticator == nullptr) {
    return WithReason(absl::UnauthenticatedError("missing or invalid credentials"),
                      "TOKEN_MISSING");
  }
  auto who = env.authenticator->Authenticate(ctx);
  if (!who.ok()) return who.status();

  std::shared_ptr<audit::Note> note =
      audit::NoteOf(static_cast<const grpc::ServerContextBase*>(&ctx));
  if (note != nullptr) {
    absl::string_view resource_patient = resource;
    note->admitted = true;
    note->tenant = who->tenant;
    note->subject = who->subject;
    note->role = who->role;
    note->action = std::string(method);
    // An invalid request may still name its patient in its resource name; record it.
    absl::string_view named = patient;
    if (named.empty() && absl::ConsumePrefix(&resource_patient, "patients/")) {
      named = resource_patient.substr(0, resource_patient.find('/'));
    }
    note->patient = Clip(named);
    note->resource = resource.empty() && !patient.empty() ? Clip(absl::StrCat("patients/", patient))
                                                          : Clip(resource);
  }

  if (env.limiter != nullptr) {
    if (absl::Status s = env.limiter->Take(who->tenant, env.clock->Now()); !s.ok()) return s;
  }
  const auth::MethodRule* rule = auth::FindRule(method);
  if (rule == nullptr) {
    return absl::InternalError(absl::StrCat("no authorization rule for ", method));
  }
  if (absl::Status s = auth::CheckRole(*rule, *who); !s.ok()) return s;
  if (!validation.ok()) return validation;
  if (absl::Status s = auth::CheckScope(*rule, *who, patient); !s.ok()) return s;
  who->audit_note = std::move(note);
  who->trace = TraceOf(ctx);
  return who;
}

}  // namespace trellis::server
