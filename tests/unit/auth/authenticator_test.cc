#include "common/auth/authenticator.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/status.h"
#include "common/time/clock.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_keys.h"

namespace trellis::auth {
namespace {

using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::JwksOf;
using testing::SignJws;
using testing::TestKey;
using testing::WriteFile;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test";

// Keys are made once per test binary: RSA generation is the slow part.
const TestKey& RsaA() {
  static const TestKey* key = new TestKey(GenerateRsaKey("rsa-a"));
  return *key;
}
const TestKey& RsaB() {
  static const TestKey* key = new TestKey(GenerateRsaKey("rsa-b"));
  return *key;
}
const TestKey& EcA() {
  static const TestKey* key = new TestKey(GenerateEcKey("ec-a"));
  return *key;
}

// Tokens are checked against a fake clock, so expiry, nbf and the JWKS re-read interval are
// driven by the test, never by sleeping.
class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks_path_ = absl::StrCat(dir_.path(), "/jwks.json");
    WriteFile(jwks_path_, JwksOf({&RsaA(), &RsaB(), &EcA()}));
  }

  AuthOptions JwksOptions() const {
    AuthOptions options;
    options.jwks_file = jwks_path_;
    return options;
  }
  AuthOptions Hs256Options() const {
    AuthOptions options;
    options.hs256_secret = kSecret;
    return options;
  }
  std::unique_ptr<Authenticator> Make(AuthOptions options) {
    auto made = Authenticator::Create(std::move(options), &clock_);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? std::move(*made) : nullptr;
  }

  static Identity Clinician() { return {"acme", "dr-who", trellis::v1::ROLE_CLINICIAN, ""}; }

  // Claims of a valid clinician token at the fake clock's now.
  nlohmann::json Claims() const {
    int64_t now = absl::ToUnixSeconds(clock_.Now());
    return {{"iss", "trellis"},    {"aud", "trellis"}, {"sub", "dr-who"},  {"tenant", "acme"},
            {"role", "clinician"}, {"iat", now},       {"exp", now + 3600}};
  }
  static nlohmann::json Header(const std::string& alg, const std::string& kid = "") {
    nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
    if (!kid.empty()) header["kid"] = kid;
    return header;
  }
  std::string Signed(const TestKey& key, const nlohmann::json& claims) const {
    return SignJws(Header(key.alg, key.kid), claims, key.alg, key.private_pem);
  }
  std::string Minted(const TestKey& key) const {
    return MintToken(key.signing_key(), AuthOptions{}, Clinician(), absl::Hours(1), clock_.Now());
  }

  static void ExpectRefused(const absl::StatusOr<Identity>& result, absl::string_view reason) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(ReasonOf(result.status()), reason);
    // The message is the same for every failure; only the reason code tells them apart.
    EXPECT_EQ(result.status().message(), "missing or invalid credentials");
  }

  testing::TempDir dir_;
  std::string jwks_path_;
  FakeClock clock_{absl::Now()};
};

TEST_F(AuthenticatorTest, Rs256TokenVerifiesAgainstTheJwks) {
  auto authenticator = Make(JwksOptions());
  auto who = authenticator->Verify(Minted(RsaA()));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->tenant, "acme");
  EXPECT_EQ(who->subject, "dr-who");
  EXPECT_EQ(who->role, trellis::v1::ROLE_CLINICIAN);
}

TEST_F(AuthenticatorTest, Es256TokenVerifiesAgainstTheJwks) {
  auto authenticator = Make(JwksOptions());
  auto who = authenticator->Verify(Minted(EcA()));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->subject, "dr-who");
}

TEST_F(AuthenticatorTest, ClientTokenCarriesItsPatient) {
  auto authenticator = Make(JwksOptions());
  Identity client{"acme", "u-1", trellis::v1::ROLE_CLIENT, "p-1"};
  auto who = authenticator->Verify(
      MintToken(EcA().signing_key(), AuthOptions{}, client, absl::Hours(1), clock_.Now()));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->patient, "p-1");
}

TEST_F(AuthenticatorTest, TokenWithAnUnknownKidIsRefused) {
  auto authenticator = Make(JwksOptions());
  TestKey stranger = RsaA();
  stranger.kid = "rsa-retired";
  ExpectRefused(authenticator->Verify(Minted(stranger)), "TOKEN_INVALID");
}

TEST_F(AuthenticatorTest, TokenNamingAnotherKeysKidIsRefused) {
  auto authenticator = Make(JwksOptions());
  TestKey wrong = RsaB();
  wrong.kid = "rsa-a";  // signed by rsa-b, claims to be rsa-a
  ExpectRefused(authenticator->Verify(Minted(wrong)), "TOKEN_INVALID");
  // The kid of an RSA key on an ES256 token.
  TestKey mismatched = EcA();
  mismatched.kid = "rsa-a";
  ExpectRefused(authenticator->Verify(Minted(mismatched)), "TOKEN_INVALID");
}

TEST_F(AuthenticatorTest, TokenWithoutKidUsesTheOnlyKeyForItsAlgorithm) {
  auto authenticator = Make(JwksOptions());
  // One EC key in the set: an ES256 token without kid is checked against it.
  auto ok = authenticator->Verify(SignJws(Header("ES256"), Claims(), "ES256", EcA().private_pem));
  EXPECT_TRUE(ok.ok()) << ok.status();
  // Two RSA keys: without a kid there is no telling which, so the token is refused.
  ExpectRefused(
      authenticator->Verify(SignJws(Header("RS256"), Claims(), "RS256", RsaA().private_pem)),
      "TOKEN_INVALID");
}

TEST_F(AuthenticatorTest, RotatedKeysBothVerifyAndARemovedKeyStopsWithinTheCheckInterval) {
  auto authenticator = Make(JwksOptions());
  std::string old_token = Minted(RsaA());
  std::string new_token = Minted(RsaB());
  ASSERT_TRUE(authenticator->Verify(old_token).ok());  // now cached
  ASSERT_TRUE(authenticator->Verify(new_token).ok());

  WriteFile(jwks_path_, JwksOf({&RsaB(), &EcA()}));  // rsa-a retired
  // Within the check interval the file is not looked at.
  EXPECT_TRUE(authenticator->Verify(old_token).ok());
  clock_.Advance(absl::Seconds(1));
  ExpectRefused(authenticator->Verify(old_token), "TOKEN_INVALID");
  EXPECT_TRUE(authenticator->Verify(new_token).ok());
  ExpectRefused(authenticator->Verify(Minted(RsaA())), "TOKEN_INVALID");
}

TEST_F(AuthenticatorTest, ReloadKeysPicksUpANewKeyAtOnce) {
  auto authenticator = Make(JwksOptions());
  TestKey rsa_c = GenerateRsaKey("rsa-c");
  std::string token = Minted(rsa_c);
  ExpectRefused(authenticator->Verify(token), "TOKEN_INVALID");
  WriteFile(jwks_path_, JwksOf({&RsaA(), &rsa_c}));
  ASSERT_TRUE(authenticator->ReloadKeys().ok());
  EXPECT_TRUE(authenticator->Verify(token).ok());
  EXPECT_FALSE(authenticator->Verify(Minted(RsaB())).ok());
}

TEST_F(AuthenticatorTest, InvalidRewriteKeepsThePreviousKeysAndLogsAWarning) {
  std::vector<std::string> lines;
  log::SetSinkForTesting([&lines](const std::string& line) { lines.push_back(line); });
  auto authenticator = Make(JwksOptions());
  std::string token = Minted(RsaA());
  WriteFile(jwks_path_, R"({"keys":[{"kty":"RSA","kid":"broken","n":"AQAB"}]})");
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(authenticator->Verify(token).ok());
  EXPECT_TRUE(authenticator->Verify(Minted(EcA())).ok());
  EXPECT_FALSE(authenticator->ReloadKeys().ok());
  log::SetSinkForTesting(nullptr);

  ASSERT_EQ(lines.size(), 1u);
  auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["flag"], "auth_jwks_file");
  EXPECT_NE(line["error"].get<std::string>().find("broken"), std::string::npos);
  EXPECT_EQ(lines[0].find(RsaA().jwk["n"].get<std::string>()), std::string::npos);
}

TEST_F(AuthenticatorTest, AlgNoneIsRefused) {
  auto authenticator = Make(JwksOptions());
  auto hs = Make(Hs256Options());
  for (const char* alg : {"none", "None", "NONE"}) {
    for (const char* signature : {"", "c2ln"}) {
      std::string token = SignJws(Header(alg), Claims(), alg, "", signature);
      ExpectRefused(authenticator->Verify(token), "TOKEN_INVALID");
      ExpectRefused(hs->Verify(token), "TOKEN_INVALID");
    }
  }
}

TEST_F(AuthenticatorTest, AlgorithmsNotConfiguredAreRefused) {
  auto jwks_only = Make(JwksOptions());
  auto hs256_only = Make(Hs256Options());
  std::string hs256 = MintHs256Token(Hs256Options(), Clinician(), absl::Hours(1), clock_.Now());
  ASSERT_TRUE(hs256_only->Verify(hs256).ok());
  ExpectRefused(jwks_only->Verify(hs256), "TOKEN_INVALID");
  std::string rs256 = Minted(RsaA());
  ASSERT_TRUE(jwks_only->Verify(rs256).ok());
  ExpectRefused(hs256_only->Verify(rs256), "TOKEN_INVALID");
  ExpectRefused(hs256_only->Verify(Minted(EcA())), "TOKEN_INVALID");
  // Algorithms no configuration enables, even with a key of the right type.
  for (const char* alg : {"RS384", "RS512", "PS256", "ES384", "HS384", "HS512", "rs256", "hs256"}) {
    ExpectRefused(jwks_only->Verify(SignJws(Header(alg, "rsa-a"), Claims(), alg, "", "c2ln")),
                  "TOKEN_INVALID");
  }
}

TEST_F(AuthenticatorTest, PublicKeyUsedAsAnHmacSecretIsRefused) {
  // The classic confusion: an HS256 token keyed with the RSA public key, which anyone can read.
  AuthOptions both = JwksOptions();
  both.hs256_secret = kSecret;
  auto jwks_only = Make(JwksOptions());
  auto with_secret = Make(both);
  auto keys = ParseJwks(JwksOf({&RsaA()}));
  ASSERT_TRUE(keys.ok());
  for (const std::string& public_key : {(*keys)[0].pem, RsaA().public_pem}) {
    std::string forged = SignJws(Header("HS256", "rsa-a"), Claims(), "HS256", public_key);
    ExpectRefused(jwks_only->Verify(forged), "TOKEN_INVALID");
    ExpectRefused(with_secret->Verify(forged), "TOKEN_INVALID");
  }
}

TEST_F(AuthenticatorTest, ExpiredTokenIsRefusedAfterTheLeeway) {
  auto authenticator = Make(JwksOptions());
  nlohmann::json claims = Claims();
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  claims["exp"] = now - 20;  // within the 30 s leeway
  EXPECT_TRUE(authenticator->Verify(Signed(RsaA(), claims)).ok());
  claims["exp"] = now - 3600;
  ExpectRefused(authenticator->Verify(Signed(RsaA(), claims)), "TOKEN_EXPIRED");
}

TEST_F(AuthenticatorTest, CachedTokenExpiresWithTheClock) {
  auto authenticator = Make(JwksOptions());
  std::string token = Minted(EcA());
  ASSERT_TRUE(authenticator->Verify(token).ok());
  clock_.Advance(absl::Hours(1) + absl::Seconds(31));
  ExpectRefused(authenticator->Verify(token), "TOKEN_EXPIRED");
}

TEST_F(AuthenticatorTest, NotYetValidTokenIsRefusedBeyondTheLeeway) {
  auto authenticator = Make(JwksOptions());
  nlohmann::json claims = Claims();
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  claims["nbf"] = now + 20;  // within the 30 s leeway
  EXPECT_TRUE(authenticator->Verify(Signed(EcA(), claims)).ok());
  claims["nbf"] = now + 600;
  std::string early = Signed(EcA(), claims);
  ExpectRefused(authenticator->Verify(early), "TOKEN_NOT_YET_VALID");
  clock_.Advance(absl::Seconds(600));
  EXPECT_TRUE(authenticator->Verify(early).ok());
}

TEST_F(AuthenticatorTest, FractionalAndExtremeNumericDatesAreHandled) {
  auto authenticator = Make(JwksOptions());
  nlohmann::json claims = Claims();
  double now = absl::ToDoubleSeconds(clock_.Now() - absl::UnixEpoch());
  claims["exp"] = now + 60.5;
  claims["nbf"] = now - 0.25;
  EXPECT_TRUE(authenticator->Verify(Signed(EcA(), claims)).ok());
  claims["exp"] = 1e300;
  claims["nbf"] = -1e300;
  EXPECT_TRUE(authenticator->Verify(Signed(EcA(), claims)).ok());
  claims["exp"] = std::numeric_limits<uint64_t>::max();
  claims["nbf"] = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(authenticator->Verify(Signed(EcA(), claims)).ok());
  claims["exp"] = -1e300;
  ExpectRefused(authenticator->Verify(Signed(EcA(), claims)), "TOKEN_EXPIRED");
  claims = Claims();
  claims["nbf"] = 1e300;
  ExpectRefused(authenticator->Verify(Signed(EcA(), claims)), "TOKEN_NOT_YET_VALID");
}

TEST_F(AuthenticatorTest, WrongAudienceOrIssuerIsInvalid) {
  auto authenticator = Make(JwksOptions());
  nlohmann::json claims = Claims();
  claims["aud"] = "someone-else";
  ExpectRefused(authenticator->Verify(Signed(RsaA(), claims)), "TOKEN_INVALID");
  claims["aud"] = nlohmann::json::array({"someone-else", "trellis"});  // RFC 7519 array form
  EXPECT_TRUE(authenticator->Verify(Signed(RsaA(), claims)).ok());
  claims.erase("aud");
  ExpectRefused(authenticator->Verify(Signed(RsaA(), claims)), "TOKEN_INVALID");
  claims = Claims();
  claims["iss"] = "https://evil.example";
  ExpectRefused(authenticator->Verify(Signed(RsaA(), claims)), "TOKEN_INVALID");
  claims.erase("iss");
  ExpectRefused(authenticator->Verify(Signed(RsaA(), claims)), "TOKEN_INVALID");
}

TEST_F(AuthenticatorTest, BadSignatureIsInvalid) {
  auto authenticator = Make(JwksOptions());
  for (const TestKey* key : {&RsaA(), &EcA()}) {
    SCOPED_TRACE(key->kid);
    std::string token = Minted(*key);
    std::string tampered = token;
    char& last = tampered[tampered.size() - 5];
    last = last == 'A' ? 'B' : 'A';
    ExpectRefused(authenticator->Verify(tampered), "TOKEN_INVALID");
    // Another payload under a valid signature.
    nlohmann::json someone_else = Claims();
    someone_else["sub"] = "someone-else";
    std::string other = Signed(*key, someone_else);
    std::string spliced =
        token.substr(0, token.find('.') + 1) +
        other.substr(other.find('.') + 1, other.rfind('.') - other.find('.') - 1) +
        token.substr(token.rfind('.'));
    ExpectRefused(authenticator->Verify(spliced), "TOKEN_INVALID");
    nlohmann::json admin = Claims();
    admin["role"] = "admin";
    std::string escalated = Signed(*key, admin);
    escalated = escalated.substr(0, escalated.rfind('.')) + token.substr(token.rfind('.'));
    ExpectRefused(authenticator->Verify(escalated), "TOKEN_INVALID");
  }
}

TEST_F(AuthenticatorTest, GarbledTokensAreInvalidAndNeverThrow) {
  AuthOptions both = JwksOptions();
  both.hs256_secret = kSecret;
  auto authenticator = Make(both);
  std::string payload = testing::Base64Url(Claims().dump());
  std::string sig = testing::Base64Url("signature");
  std::vector<std::string> garbled = {
      "abc",
      "a.b",
      "a.b.c.d",
      "..",
      "a..c",
      "!!!." + payload + "." + sig,
      testing::Base64Url("not json") + "." + payload + "." + sig,
      testing::Base64Url("[1,2]") + "." + payload + "." + sig,
      testing::Base64Url(R"({"alg":1})") + "." + payload + "." + sig,
      testing::Base64Url(R"({"alg":["RS256"]})") + "." + payload + "." + sig,
      testing::Base64Url(R"({"typ":"JWT"})") + "." + payload + "." + sig,
      testing::Base64Url(R"({"alg":"RS256","kid":7})") + "." + payload + "." + sig,
      testing::Base64Url(R"({"alg":"HS256","typ":5})") + "." + payload + "." + sig,
      testing::Base64Url(R"({"alg":"ES256","kid":"ec-a"})") + "." + payload + ".$$$",
      testing::Base64Url(R"({"alg":"ES256","kid":"ec-a"})") + "." + payload + "." + sig,
  };
  for (const std::string& token : garbled) {
    ExpectRefused(authenticator->Verify(token), "TOKEN_INVALID");
  }
  // Signed, but the payload is not a JSON object.
  std::string input =
      testing::Base64Url(Header("HS256").dump()) + "." + testing::Base64Url("not json");
  std::string hs = SignJws(Header("HS256"), Claims(), "HS256", kSecret);
  ExpectRefused(authenticator->Verify(input + hs.substr(hs.rfind('.'))), "TOKEN_INVALID");
  // A critical header extension nobody understands.
  nlohmann::json crit = Header("RS256", "rsa-a");
  crit["crit"] = nlohmann::json::array({"exp"});
  ExpectRefused(authenticator->Verify(SignJws(crit, Claims(), "RS256", RsaA().private_pem)),
                "TOKEN_INVALID");
  ExpectRefused(authenticator->Verify(std::string(9000, 'a')), "TOKEN_INVALID");
  ExpectRefused(authenticator->Verify(""), "TOKEN_MISSING");
}

TEST_F(AuthenticatorTest, MissingOrMalformedClaimsAreClaimsErrors) {
  auto authenticator = Make(JwksOptions());
  for (const char* claim : {"exp", "tenant", "sub", "role"}) {
    nlohmann::json claims = Claims();
    claims.erase(claim);
    ExpectRefused(authenticator->Verify(Signed(EcA(), claims)), "TOKEN_CLAIMS");
  }
  nlohmann::json claims = Claims();
  claims["exp"] = "tomorrow";
  ExpectRefused(authenticator->Verify(Signed(EcA(), claims)), "TOKEN_CLAIMS");
  claims = Claims();
  claims["role"] = "client";  // a client must say which patient it is
  ExpectRefused(authenticator->Verify(Signed(EcA(), claims)), "TOKEN_CLAIMS");
}

TEST_F(AuthenticatorTest, InvalidJwksFileIsAnErrorNamingTheFlag) {
  WriteFile(jwks_path_, "{\"keys\": 5}");
  auto made = Authenticator::Create(JwksOptions(), &clock_);
  ASSERT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldViolationsOf(made.status())[0].first, "auth_jwks_file");
  AuthOptions missing;
  missing.jwks_file = absl::StrCat(dir_.path(), "/absent.json");
  EXPECT_EQ(FieldViolationsOf(Authenticator::Create(missing, &clock_).status())[0].first,
            "auth_jwks_file");
}

TEST_F(AuthenticatorTest, ServiceTokensAreSignedWithTheServiceKeyWhenOneIsSet) {
  auto authenticator = Make(JwksOptions());
  Identity self{"acme", "trellis-goals", trellis::v1::ROLE_SERVICE, ""};
  AuthOptions keyed = Hs256Options();
  keyed.service_key = EcA().signing_key();
  std::string token = MintServiceToken(keyed, self, absl::Minutes(5), clock_.Now());
  auto header = nlohmann::json::parse([&] {
    std::string text;
    absl::WebSafeBase64Unescape(token.substr(0, token.find('.')), &text);
    return text;
  }());
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["kid"], "ec-a");
  auto who = authenticator->Verify(token);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->role, trellis::v1::ROLE_SERVICE);

  // Without a service key: HS256 with the secret; with neither, nothing.
  std::string hs = MintServiceToken(Hs256Options(), self, absl::Minutes(5), clock_.Now());
  EXPECT_TRUE(Make(Hs256Options())->Verify(hs).ok());
  EXPECT_EQ(MintServiceToken(JwksOptions(), self, absl::Minutes(5), clock_.Now()), "");
}

}  // namespace
}  // namespace trellis::auth
