// An independent check of the token formats: PyJWT (python3-jwt with python3-cryptography) mints
// RS256 and ES256 tokens that our verifier must accept, and verifies the tokens we mint against
// the JWKS we would publish. A disagreement on the ES256 signature form (JWS R||S, not DER) or on
// the JWK encoding fails here.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/auth/authenticator.h"
#include "common/time/clock.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_keys.h"

namespace trellis::auth {
namespace {

using testing::TestKey;

// argv: dir. Reads rsa.pem, ec.pem, jwks.json and ours.txt (one token a line) from dir; prints
// "MINT <token>" per key, then "VERIFIED <sub>" per token of ours that PyJWT accepts.
constexpr char kScript[] = R"py(
import json, sys, time
import jwt
d = sys.argv[1]
now = int(time.time())
claims = {"iss": "trellis", "aud": "trellis", "sub": "py-user", "tenant": "acme",
          "role": "clinician", "iat": now, "nbf": now - 5, "exp": now + 600}
for kid, alg, name in (("py-rsa", "RS256", "rsa.pem"), ("py-ec", "ES256", "ec.pem")):
    with open(f"{d}/{name}") as f:
        key = f.read()
    print("MINT", jwt.encode(claims, key, algorithm=alg, headers={"kid": kid}))
keys = jwt.PyJWKSet.from_json(open(f"{d}/jwks.json").read())
by_kid = {k.key_id: k for k in keys.keys}
for token in open(f"{d}/ours.txt").read().split():
    header = jwt.get_unverified_header(token)
    kid = header["kid"]
    expected_alg = {"py-rsa": "RS256", "py-ec": "ES256"}[kid]
    body = jwt.decode(token, by_kid[kid].key, algorithms=[expected_alg], audience="trellis",
                      issuer="trellis")
    print("VERIFIED", body["sub"], kid)
)py";

TEST(PyJwtInterop, TokensMintedByEitherSideVerifyOnTheOther) {
  testing::TempDir dir;
  TestKey rsa = testing::GenerateRsaKey("py-rsa");
  TestKey ec = testing::GenerateEcKey("py-ec");
  testing::WriteFile(absl::StrCat(dir.path(), "/rsa.pem"), rsa.private_pem);
  testing::WriteFile(absl::StrCat(dir.path(), "/ec.pem"), ec.private_pem);
  std::string jwks_path = absl::StrCat(dir.path(), "/jwks.json");
  testing::WriteFile(jwks_path, testing::JwksOf({&rsa, &ec}));
  Identity who{"acme", "cpp-user", trellis::v1::ROLE_CLINICIAN, ""};
  std::string ours;
  for (const TestKey* key : {&rsa, &ec}) {
    // Several ES256 tokens: a DER-vs-R||S mix-up would show on some signatures, not all.
    for (int i = 0; i < 4; ++i) {
      absl::StrAppend(&ours, MintToken(key->signing_key(), AuthOptions{}, who, absl::Minutes(10)),
                      "\n");
    }
  }
  testing::WriteFile(absl::StrCat(dir.path(), "/ours.txt"), ours);

  std::string out = absl::StrCat(dir.path(), "/out"), err = absl::StrCat(dir.path(), "/err");
  auto python = testing::Process::Spawn({"/usr/bin/python3", "-c", kScript, dir.path()}, out, err);
  ASSERT_TRUE(python.ok()) << python.status();
  auto code = (*python)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0) << testing::ReadFile(err);

  AuthOptions options;
  options.jwks_file = jwks_path;
  auto authenticator = Authenticator::Create(options);
  ASSERT_TRUE(authenticator.ok()) << authenticator.status();
  int minted = 0, verified = 0;
  for (absl::string_view line : absl::StrSplit(testing::ReadFile(out), '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields[0] == "MINT") {
      ++minted;
      auto identity = (*authenticator)->Verify(fields[1]);
      ASSERT_TRUE(identity.ok()) << identity.status() << " for PyJWT token " << minted;
      EXPECT_EQ(identity->subject, "py-user");
    } else if (fields[0] == "VERIFIED") {
      ++verified;
      EXPECT_EQ(fields[1], "cpp-user");
    }
  }
  EXPECT_EQ(minted, 2);
  EXPECT_EQ(verified, 8);
}

}  // namespace
}  // namespace trellis::auth
