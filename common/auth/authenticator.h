#pragma once

// Bearer-token authentication. Every RPC except health requires `authorization: Bearer <JWT>`.
// Accepted algorithms are exactly those configured: HS256 when a shared secret is given
// (development, single cluster), RS256/ES256 when a JWKS file is given (production; keys rotate by
// rewriting the file). `alg: none` and every other algorithm are refused.
//
// Failures are UNAUTHENTICATED with a stable reason and no further hint of which check failed:
// TOKEN_MISSING, TOKEN_INVALID (malformed, algorithm not configured, unknown kid, bad signature,
// wrong issuer or audience), TOKEN_EXPIRED, TOKEN_NOT_YET_VALID (nbf ahead of the clock by more
// than the leeway), TOKEN_CLAIMS (exp, tenant, sub, role or patient missing or invalid). Claims
// are looked at only once the signature holds.

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth/identity.h"
#include "common/auth/jwks.h"
#include "common/auth/signing_key.h"
#include "common/time/clock.h"
#include "common/trace/trace.h"

namespace trellis::auth {

struct AuthOptions {
  // HS256 tokens signed with this secret (at least 32 bytes) are accepted, and service tokens are
  // signed with it unless `service_key` is set. Empty: HS256 tokens are refused.
  std::string hs256_secret;
  // RS256/ES256 tokens are verified against the keys of this JWKS file, re-read when it changes.
  // Empty: RS256 and ES256 tokens are refused.
  std::string jwks_file;
  // When set, service tokens are signed with this key (its kid in the header); its public half
  // must be in the JWKS file the peers load.
  std::optional<SigningKey> service_key;
  std::string issuer = "trellis";
  std::string audience = "trellis";
  absl::Duration leeway = absl::Seconds(30);  // clock skew tolerated on exp/nbf
  // How often the verify path looks at the JWKS file for a change (bounds how long a removed key
  // still verifies).
  absl::Duration jwks_check_interval = absl::Seconds(1);
};

class Authenticator {
 public:
  // Reads the JWKS file (if any) first: INVALID_ARGUMENT naming auth_jwks_file when it is
  // missing or invalid. `clock` (default: the wall clock) drives exp/nbf, the cache and the JWKS
  // re-read checks; it must outlive the authenticator.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(AuthOptions options,
                                                               const Clock* clock = nullptr);

  // As Create, but a JWKS file that cannot be read at construction is logged and leaves RS256 and
  // ES256 refused until the file changes into a valid one. Enough for HS256-only options.
  explicit Authenticator(AuthOptions options, const Clock* clock = nullptr);

  // Verifies a compact JWT and maps its claims (tenant, sub, role, patient for clients).
  // A verified token's identity is cached until it expires, so the hot path pays one signature
  // check per token, not per call. The cache holds only tokens verified with the current key
  // set: when the JWKS file changes, tokens are verified again, so a removed key's tokens stop
  // verifying within `jwks_check_interval`.
  absl::StatusOr<Identity> Verify(absl::string_view token) const;

  // Reads `authorization: Bearer <token>` from the call's metadata and verifies it.
  absl::StatusOr<Identity> Authenticate(const grpc::CallbackServerContext& context) const;

  // Re-reads the JWKS file now, without waiting for the next check (an operator's reload, and
  // tests). FAILED_PRECONDITION without a JWKS file; on a bad file the previous keys stay.
  absl::Status ReloadKeys() const;

  const AuthOptions& options() const { return options_; }

 private:
  struct Verified {
    Identity identity;
    absl::Time expires;
  };

  absl::StatusOr<Verified> VerifyUncached(absl::string_view token, const KeySet* keys,
                                          absl::Time now) const;

  AuthOptions options_;
  const Clock* clock_;
  std::unique_ptr<JwksFile> jwks_;  // null without a JWKS file
  mutable absl::Mutex mu_;
  // Every entry was verified with key set `cache_generation_` (0: HS256 only).
  mutable absl::flat_hash_map<std::string, Verified> cache_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t cache_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// Mints an HS256 token (for development tokens, tests and `trellisctl token`).
std::string MintHs256Token(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                           absl::Time now = absl::Now());

// Mints a token signed with `key` (RS256 or ES256, `key.kid` in the header); empty if signing
// fails. For service tokens and tests.
std::string MintToken(const SigningKey& key, const AuthOptions& options, const Identity& who,
                      absl::Duration ttl, absl::Time now = absl::Now());

// A service token for `who`: signed with `options.service_key` when set, otherwise HS256 with
// `options.hs256_secret`; empty when neither is configured (the flags forbid that).
std::string MintServiceToken(const AuthOptions& options, const Identity& who, absl::Duration ttl,
                             absl::Time now = absl::Now());

// Prepares `ctx` for a call from a Trellis service (`service`, e.g. "trellis-reminders") to a peer
// on behalf of `tenant`: a service-role token (MintServiceToken, valid 5 minutes, reused for up
// to a minute so a busy relay signs about once a minute per tenant) as bearer, `deadline`, and
// the trace of the work it is done for (`origin`: the served call's Identity::trace, or the
// context an outbox entry was recorded with): a child `traceparent` of its span and its
// `x-request-id` (common/trace). An invalid `origin` starts a new trace.
//
// Which calls carry which token, today: every service-to-service call carries this service
// token, whether it runs in the background or on behalf of a user's request. Background work is
// the outbox relays (reminders -> measurements RecordMeasurement for completed homework;
// measurements -> goals SetAchievementStatus; goals -> reminders when a goal closes). Calls made
// while serving a user's RPC (goals -> measurements metric lookups for the SMART check;
// reminders -> goals/measurements checks of a new reminder's goal and metric; measurements ->
// goals lookups on goal-cache misses and for the patient summary) also use this service token
// for the caller's tenant, after the handler has authenticated and admitted the caller. The
// caller's own token is never forwarded to a peer.
void PrepareServiceCall(grpc::ClientContext& ctx, const AuthOptions& options,
                        absl::string_view tenant, absl::string_view service, absl::Time deadline,
                        const trace::CallContext& origin);

// Reads a secret file (trailing whitespace trimmed); INVALID_ARGUMENT naming `field` when it is
// missing or shorter than 32 bytes.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view field);

}  // namespace trellis::auth
