#pragma once

// Bearer-token authentication. Every RPC except health requires `authorization: Bearer <JWT>`.
// This first cut verifies HS256 tokens against a shared secret (development and single-cluster
// deployments); RS256/ES256 with a JWKS file come with the security work.
//
// Failures are UNAUTHENTICATED with a stable reason (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED,
// TOKEN_CLAIMS) and no further hint of which check failed.

#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/identity.h"

namespace trellis::auth {

struct AuthOptions {
  std::string hs256_secret;  // required, at least 32 bytes
  std::string issuer = "trellis";
  std::string audience = "trellis";
  absl::Duration leeway = absl::Seconds(30);  // clock skew tolerated on exp/nbf
};

class Authenticator {
 public:
  explicit Authenticator(AuthOptions options) : options_(std::move(options)) {}

  // Verifies a compact JWT and maps its claims (tenant, sub, role, patient for clients).
  // A verified token's identity is cached until it expires, so the hot path pays one signature
  // check per token, not per call.
  absl::StatusOr<Identity> Verify(absl::string_view token) const;

  // Reads `authorization: Bearer <token>` from the call's metadata and verifies it.
  absl::StatusOr<Identity> Authenticate(const grpc::CallbackServerContext& context) const;

  const AuthOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::pair<Identity, absl::Time>> VerifyUncached(absl::string_view token) const;

  AuthOptions options_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, std::pair<Identity, absl::Time>> cache_
      ABSL_GUARDED_BY(mu_);
};

// The admission check every patient-scoped RPC starts with, in order: a valid token
// (UNAUTHENTICATED), a valid request (`validation`, usually INVALID_ARGUMENT), and the caller's
// access to `patient` (NOT_FOUND for another patient's client). A null authenticator admits no
// one.
absl::StatusOr<Identity> Admit(const Authenticator* authenticator,
                               const grpc::CallbackServerContext& context,
                               const absl::Status& validation, absl::string_view patient);

// Mints an HS256 token (for development tokens, tests and `trellisctl token`).
std::string MintHs256Token(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                           absl::Time now = absl::Now());

// Prepares `ctx` for a call from a Trellis service (`service`, e.g. "trellis-reminders") to a peer
// on behalf of `tenant`: a fresh service-role token (5 minutes) as bearer and `deadline`.
void PrepareServiceCall(grpc::ClientContext& ctx, const AuthOptions& options,
                        absl::string_view tenant, absl::string_view service, absl::Time deadline);

// Reads a secret file (trailing whitespace trimmed); INVALID_ARGUMENT naming `field` when it is
// missing or shorter than 32 bytes.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view field);

}  // namespace trellis::auth
