// Fuzz target: bearer tokens through trellis::auth::Authenticator::Verify (HS256).
//
// Only Verify is called, whatever key types the authenticator learns, so the target keeps
// working as verification grows. Two kinds of input:
//   'S' "<header JSON>\n<payload JSON>"  encoded and signed here with kSecret, so that inputs
//                                        get past the signature to the claim checks;
//   any other first byte                 the rest of the input is the token as sent.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/auth/authenticator.h"
#include "common/ids/ids.h"
#include "common/status/status.h"
#include "fuzz/fuzz_target.h"

namespace trellis::fuzz {
namespace {

// The secret of the seed tokens in fuzz/corpus/jwt (fuzz/make_seeds.py signs with it too).
constexpr absl::string_view kSecret = "trellis-fuzz-secret-0123456789abcdef";

std::string Base64Url(absl::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);  // unpadded, as JWS asks
  return out;
}

// "<b64url header>.<b64url payload>.<b64url HMAC-SHA256>" over `header` and `payload` as given.
std::string SignHs256(absl::string_view header, absl::string_view payload) {
  const std::string signing_input = absl::StrCat(Base64Url(header), ".", Base64Url(payload));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_size);
  return absl::StrCat(signing_input, ".",
                      Base64Url(absl::string_view(reinterpret_cast<const char*>(mac), mac_size)));
}

// Verify's contract (authenticator.h): UNAUTHENTICATED with a reason, or an identity whose claims
// passed the checks every handler relies on.
void CheckVerdict(const absl::StatusOr<auth::Identity>& who) {
  if (!who.ok()) {
    TRELLIS_FUZZ_CHECK(who.status().code() == absl::StatusCode::kUnauthenticated);
    const std::string reason = ReasonOf(who.status());
    TRELLIS_FUZZ_CHECK(reason == "TOKEN_MISSING" || reason == "TOKEN_INVALID" ||
                       reason == "TOKEN_EXPIRED" || reason == "TOKEN_NOT_YET_VALID" ||
                       reason == "TOKEN_CLAIMS");
    return;
  }
  TRELLIS_FUZZ_CHECK(ValidateId("tenant", who->tenant).ok());
  TRELLIS_FUZZ_CHECK(!who->subject.empty());
  TRELLIS_FUZZ_CHECK(who->role == v1::ROLE_CLINICIAN || who->role == v1::ROLE_CLIENT ||
                     who->role == v1::ROLE_SERVICE || who->role == v1::ROLE_ADMIN);
  if (who->role == v1::ROLE_CLIENT) TRELLIS_FUZZ_CHECK(ValidateId("patient", who->patient).ok());
}

}  // namespace

int FuzzJwt(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  if (data[0] == 'S') {
    const size_t newline = rest.find('\n');
    if (newline == absl::string_view::npos) return 0;
    token = SignHs256(rest.substr(0, newline), rest.substr(newline + 1));
  } else {
    token = std::string(rest);
  }

  // A fresh authenticator per input keeps runs independent of each other (its cache).
  auth::AuthOptions options;
  options.hs256_secret = std::string(kSecret);
  const auth::Authenticator authenticator(options);
  const absl::StatusOr<auth::Identity> first = authenticator.Verify(token);
  CheckVerdict(first);
  // The second call of an accepted token is answered from the cache, with the same identity.
  const absl::StatusOr<auth::Identity> second = authenticator.Verify(token);
  CheckVerdict(second);
  if (first.ok() && second.ok()) {
    TRELLIS_FUZZ_CHECK(first->tenant == second->tenant && first->subject == second->subject &&
                       first->role == second->role && first->patient == second->patient);
  }
  return 0;
}

}  // namespace trellis::fuzz

TRELLIS_FUZZ_ENTRY_POINT(trellis::fuzz::FuzzJwt)
