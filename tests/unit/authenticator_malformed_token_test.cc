// Tokens that cpp-jwt mishandles before it checks the signature (found by fuzz/jwt_fuzz.cc; the
// reproducers are in fuzz/regressions/jwt/): Verify refuses them as TOKEN_INVALID instead of
// throwing or reaching undefined behaviour. None of them needs the secret.

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/auth/authenticator.h"
#include "common/status/status.h"

namespace trellis::auth {
namespace {

AuthOptions Options() {
  AuthOptions options;
  options.hs256_secret = std::string(32, 's');
  return options;
}

// "<header>.<payload>.AAAA": parts encoded as given, a signature that never verifies.
std::string Unsigned(absl::string_view header, absl::string_view payload) {
  return absl::StrCat(absl::WebSafeBase64Escape(header), ".", absl::WebSafeBase64Escape(payload),
                      ".AAAA");
}

std::string ReasonOfVerify(absl::string_view token) {
  const Authenticator authenticator(Options());
  absl::StatusOr<Identity> who = authenticator.Verify(token);
  EXPECT_EQ(who.status().code(), absl::StatusCode::kUnauthenticated) << token;
  return ReasonOf(who.status());
}

TEST(AuthenticatorMalformedToken, AcceptsAWellFormedTokenStill) {
  const Identity who{"t1", "clin-1", v1::ROLE_CLINICIAN, ""};
  const Authenticator authenticator(Options());
  absl::StatusOr<Identity> verified =
      authenticator.Verify(MintHs256Token(Options(), who, absl::Hours(1)));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->subject, "clin-1");
}

TEST(AuthenticatorMalformedToken, RefusesCharactersOutsideBase64UrlAsInvalid) {
  const std::string token = Unsigned(R"({"alg":"HS256"})", R"({"exp":4102444800})");
  EXPECT_EQ(ReasonOfVerify(absl::StrCat(token.substr(0, 10), "\xff\xfe", token.substr(10))),
            "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(absl::StrCat(token, "==")), "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify("a b.c.d"), "TOKEN_INVALID");
}

TEST(AuthenticatorMalformedToken, RefusesJsonOfTheWrongShapeAsInvalidWithoutThrowing) {
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":1})", "{}")), "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256","typ":7})", "{}")), "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256"})", R"("a string")")), "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256"})", "[1,2]")), "TOKEN_INVALID");
}

TEST(AuthenticatorMalformedToken, RefusesClaimNamesWithANulAsInvalid) {
  // cpp-jwt's strcmp lookup takes "exp\u0000" for "exp", then reads the missing "exp".
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256"})",
                                    R"({"iss":"trellis","aud":"trellis","exp\u0000":4102444800})")),
            "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256"})", R"({"iss\u0000x":"trellis"})")),
            "TOKEN_INVALID");
}

TEST(AuthenticatorMalformedToken, RefusesTimeClaimsOutsideTheIntegerRangeAsInvalid) {
  const std::string claims = R"("iss":"trellis","aud":"trellis")";
  EXPECT_EQ(ReasonOfVerify(
                Unsigned(R"({"alg":"HS256"})", absl::StrCat("{", claims, R"(,"exp":8.2e19})"))),
            "TOKEN_INVALID");
  EXPECT_EQ(ReasonOfVerify(Unsigned(R"({"alg":"HS256"})",
                                    absl::StrCat("{", claims, R"(,"exp":4102444800,"nbf":-1.5})"))),
            "TOKEN_INVALID");
  EXPECT_EQ(
      ReasonOfVerify(Unsigned(R"({"alg":"HS256"})",
                              absl::StrCat("{", claims, R"(,"exp":4102444800,"iat":1e400})"))),
      "TOKEN_INVALID");
}

}  // namespace
}  // namespace trellis::auth
