#pragma once

// The admission step every RPC of the suite starts with (DESIGN.md §6), in this order:
//   1. a verified bearer token                      UNAUTHENTICATED
//   2. the tenant's rate limit                      RESOURCE_EXHAUSTED + RetryInfo
//   3. the caller's role may call the method        PERMISSION_DENIED   (common/auth/policy.h)
//   4. a valid request                              INVALID_ARGUMENT naming the field
//   5. the caller may act on the request's patient  NOT_FOUND for another patient's client
// Permission is decided before anything is read, so a refusal never depends on whether the
// record exists. From step 2 on, the call is in the tenant's audit trail (common/audit).

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/auth/identity.h"
#include "common/server/run.h"

namespace trellis::server {

// `method` is the row of the authorization table ("GoalService.GetGoal"); `patient` the patient
// the request acts on ("" for tenant-level calls); `resource` the resource name for the audit
// trail ("" : "patients/<patient>" when there is a patient).
absl::StatusOr<auth::Identity> Admit(const ServiceEnv& env, const grpc::CallbackServerContext& ctx,
                                     absl::string_view method, const absl::Status& validation,
                                     absl::string_view patient, absl::string_view resource = "");

}  // namespace trellis::server
