#pragma once

// Who may call what: the one authorization table of the suite (DESIGN.md §6), one row per RPC of
// the three services and the audit service. Every handler asks it through server::Admit, so the
// table is the only place a role's reach is decided; tests walk it cell by cell.
//
// A cell is one of:
//   kNone    PERMISSION_DENIED: the role may not call the method at all;
//   kOwn     only the caller's own patient record (clients); another patient is NOT_FOUND, never
//            a hint that it exists;
//   kTenant  any patient (or tenant-level resource) of the caller's tenant.
// Nothing ever crosses tenants: the tenant comes only from the verified token and is part of
// every storage key, so another tenant's resource is simply NOT_FOUND.
//
// Some rows allow clients with limits a table cannot express (they depend on the request's
// content); the handler enforces them and `client_limits` names them for readers and docs.

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/auth/identity.h"

namespace trellis::auth {

enum class Grant : unsigned char { kNone, kOwn, kTenant };

struct MethodRule {
  std::string_view method;  // "<Service>.<Method>", e.g. "GoalService.CreateGoal"
  Grant clinician;
  Grant client;
  Grant service;
  Grant admin;
  std::string_view client_limits;  // content rules the handler adds for clients ("" if none)
};

// Every row, in the order of the protos.
absl::Span<const MethodRule> AllRules();

// The row of `method` ("GoalService.CreateGoal"), or null.
const MethodRule* FindRule(absl::string_view method);

// The cell of `who`'s role in `rule`.
Grant GrantOf(const MethodRule& rule, const Identity& who);

// Whether `who` may call `rule`'s method; `patient` is the patient the request acts on ("" for
// tenant-level requests). PERMISSION_DENIED when the role may not call it, NOT_FOUND when a
// client names another patient.
absl::Status CheckRole(const MethodRule& rule, const Identity& who);
absl::Status CheckScope(const MethodRule& rule, const Identity& who, absl::string_view patient);

}  // namespace trellis::auth
