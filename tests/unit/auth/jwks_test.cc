#include "common/auth/jwks.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/auth/signing_key.h"
#include "common/status/status.h"
#include "tests/support/redis_server.h"
#include "tests/support/test_keys.h"

namespace trellis::auth {
namespace {

using testing::GenerateEcKey;
using testing::GenerateRsaKey;
using testing::JwksOf;
using testing::TestKey;
using testing::WriteFile;

std::string ErrorOf(absl::string_view json) {
  auto keys = ParseJwks(json);
  EXPECT_FALSE(keys.ok());
  return std::string(keys.status().message());
}

TEST(Jwks, ConvertsRsaAndP256KeysToTheSamePublicKeysAsOpenSsl) {
  TestKey rsa = GenerateRsaKey("r1");
  TestKey ec = GenerateEcKey("e1");
  auto keys = ParseJwks(JwksOf({&rsa, &ec}));
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "r1");
  EXPECT_EQ((*keys)[0].alg, "RS256");
  EXPECT_EQ((*keys)[0].pem, rsa.public_pem);
  EXPECT_EQ((*keys)[1].kid, "e1");
  EXPECT_EQ((*keys)[1].alg, "ES256");  // from kty and crv: the JWK has no alg
  EXPECT_EQ((*keys)[1].pem, ec.public_pem);
  EXPECT_TRUE(IsPublicHalfOf((*keys)[1].pem, ec.signing_key()));
  EXPECT_FALSE(IsPublicHalfOf((*keys)[0].pem, ec.signing_key()));
}

TEST(Jwks, SkipsKeysForOtherUsesAndAlgorithms) {
  TestKey rsa = GenerateRsaKey("sig");
  TestKey enc = GenerateRsaKey("enc");
  enc.jwk["use"] = "enc";
  TestKey rs384 = GenerateRsaKey("rs384");
  rs384.jwk["alg"] = "RS384";
  TestKey p384 = GenerateEcKey("p384", "P-384");
  nlohmann::json oct = {{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}};
  nlohmann::json doc = {{"keys", {enc.jwk, rs384.jwk, p384.jwk, oct, rsa.jwk}}};
  auto keys = ParseJwks(doc.dump());
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "sig");

  doc = {{"keys", {enc.jwk, oct}}};
  EXPECT_NE(ErrorOf(doc.dump()).find("no RS256 or ES256"), std::string::npos);
}

TEST(Jwks, RejectsMalformedDocumentsAndKeys) {
  EXPECT_NE(ErrorOf("not json").find("not JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("[]").find("not JSON"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"keys":{}})").find("\"keys\""), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"keys":[]})").find("no RS256"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"keys":[7]})").find("keys[0]"), std::string::npos);

  TestKey rsa = GenerateRsaKey("r1");
  nlohmann::json bad = rsa.jwk;
  bad.erase("e");
  EXPECT_NE(ErrorOf(nlohmann::json{{"keys", {bad}}}.dump()).find("keys[0] (kid \"r1\")"),
            std::string::npos);
  bad = rsa.jwk;
  bad["n"] = "***";
  EXPECT_FALSE(ParseJwks(nlohmann::json{{"keys", {bad}}}.dump()).ok());
  bad = rsa.jwk;
  bad["kid"] = 5;
  EXPECT_FALSE(ParseJwks(nlohmann::json{{"keys", {bad}}}.dump()).ok());

  TestKey small = GenerateRsaKey("small", 1024);
  EXPECT_NE(ErrorOf(JwksOf({&small})).find("2048"), std::string::npos);

  TestKey ec = GenerateEcKey("e1");
  nlohmann::json off_curve = ec.jwk;
  off_curve["y"] = off_curve["x"];
  EXPECT_NE(ErrorOf(nlohmann::json{{"keys", {off_curve}}}.dump()).find("P-256"), std::string::npos);
  nlohmann::json short_x = ec.jwk;
  short_x["x"] = testing::Base64Url(std::string(31, '\x01'));
  EXPECT_FALSE(ParseJwks(nlohmann::json{{"keys", {short_x}}}.dump()).ok());

  TestKey twin = GenerateEcKey("r1");  // same kid as the RSA key
  EXPECT_NE(ErrorOf(JwksOf({&rsa, &twin})).find("duplicate kid"), std::string::npos);
}

TEST(Jwks, ErrorsNeverQuoteKeyMaterial) {
  TestKey rsa = GenerateRsaKey("r1", 1024);
  std::string message = ErrorOf(JwksOf({&rsa}));
  EXPECT_EQ(message.find(rsa.jwk["n"].get<std::string>().substr(0, 16)), std::string::npos);
}

TEST(KeySet, SelectsByKidAndAlgorithm) {
  KeySet keys({{"r1", "RS256", "pem-r1"}, {"r2", "RS256", "pem-r2"}, {"e1", "ES256", "pem-e1"}}, 1);
  ASSERT_NE(keys.Select("RS256", "r2"), nullptr);
  EXPECT_EQ(keys.Select("RS256", "r2")->pem, "pem-r2");
  EXPECT_EQ(keys.Select("RS256", "r3"), nullptr);          // unknown kid
  EXPECT_EQ(keys.Select("ES256", "r1"), nullptr);          // kid of a key for another algorithm
  EXPECT_EQ(keys.Select("RS256", std::nullopt), nullptr);  // two candidates
  ASSERT_NE(keys.Select("ES256", std::nullopt), nullptr);  // the only one
  EXPECT_EQ(keys.Select("ES256", std::nullopt)->kid, "e1");
  EXPECT_EQ(keys.Select("HS256", std::nullopt), nullptr);
}

TEST(JwksFile, RereadsOnlyWhenTheFileChangedAndTheIntervalPassed) {
  testing::TempDir dir;
  std::string path = absl::StrCat(dir.path(), "/jwks.json");
  TestKey a = GenerateEcKey("a");
  TestKey b = GenerateEcKey("b");
  WriteFile(path, JwksOf({&a}));
  JwksFile file(path, "auth_jwks_file", absl::Seconds(1));
  absl::Time t = absl::UnixEpoch() + absl::Hours(1);
  auto first = file.Keys(t);  // the first look reads it
  EXPECT_EQ(first->generation(), 1u);
  EXPECT_EQ(file.Keys(t + absl::Seconds(5))->generation(), 1u);  // unchanged file: same set

  WriteFile(path, JwksOf({&a, &b}));
  EXPECT_EQ(file.Keys(t + absl::Seconds(5.5))->generation(), 1u);  // checked < 1 s ago
  auto second = file.Keys(t + absl::Seconds(6));
  EXPECT_EQ(second->generation(), 2u);
  EXPECT_NE(second->Select("ES256", "b"), nullptr);
  EXPECT_EQ(first->Select("ES256", "b"), nullptr);  // snapshots stay as they were

  WriteFile(path, "garbage");
  EXPECT_EQ(file.Keys(t + absl::Seconds(8))->generation(), 2u);  // bad rewrite: keys kept
  EXPECT_FALSE(file.Reload().ok());
  EXPECT_EQ(FieldViolationsOf(file.Reload())[0].first, "auth_jwks_file");
  EXPECT_NE(file.Keys(t + absl::Seconds(9))->Select("ES256", "b"), nullptr);
}

}  // namespace
}  // namespace trellis::auth
