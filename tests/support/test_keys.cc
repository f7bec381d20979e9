#include "tests/support/test_keys.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <jwt/jwt.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/auth/openssl_key.h"

namespace trellis::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "test_keys: OpenSSL failed: %s\n", what);
  std::abort();
}

std::string PrivatePem(EVP_PKEY* key) {
  auth::openssl::Bio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    Die("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// A big-number parameter of `key`, big-endian, left-padded to `width` bytes when width > 0.
std::string BnParam(EVP_PKEY* key, const char* name, int width = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) Die(name);
  auth::openssl::Bignum bn(raw);
  std::string out(width > 0 ? width : BN_num_bytes(bn.get()), '\0');
  unsigned char* dst = reinterpret_cast<unsigned char*>(out.data());
  if ((width > 0 ? BN_bn2binpad(bn.get(), dst, width) : BN_bn2bin(bn.get(), dst)) < 0) Die(name);
  return out;
}

TestKey Describe(EVP_PKEY* key, std::string kid, std::string alg) {
  TestKey out;
  out.kid = std::move(kid);
  out.alg = std::move(alg);
  out.private_pem = PrivatePem(key);
  out.public_pem = auth::openssl::PublicPem(key);
  return out;
}

}  // namespace

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

TestKey GenerateRsaKey(std::string kid, int bits) {
  auth::openssl::Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  if (key == nullptr) Die("RSA keygen");
  TestKey out = Describe(key.get(), std::move(kid), "RS256");
  out.jwk = {{"kty", "RSA"},
             {"kid", out.kid},
             {"alg", "RS256"},
             {"use", "sig"},
             {"n", Base64Url(BnParam(key.get(), OSSL_PKEY_PARAM_RSA_N))},
             {"e", Base64Url(BnParam(key.get(), OSSL_PKEY_PARAM_RSA_E))}};
  return out;
}

TestKey GenerateEcKey(std::string kid, absl::string_view curve) {
  std::string name(curve);
  auth::openssl::Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", name.c_str()));
  if (key == nullptr) Die("EC keygen");
  int width = curve == "P-256" ? 32 : curve == "P-384" ? 48 : 66;
  TestKey out = Describe(key.get(), std::move(kid), "ES256");
  out.jwk = {{"kty", "EC"},
             {"kid", out.kid},
             {"crv", name},
             {"x", Base64Url(BnParam(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, width))},
             {"y", Base64Url(BnParam(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, width))}};
  return out;
}

std::string EncryptedPrivatePem(const TestKey& key, const std::string& passphrase) {
  auth::openssl::Bio in(
      BIO_new_mem_buf(key.private_pem.data(), static_cast<int>(key.private_pem.size())));
  auth::openssl::Pkey pkey(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  auth::openssl::Bio out(BIO_new(BIO_s_mem()));
  if (pkey == nullptr || out == nullptr ||
      PEM_write_bio_PKCS8PrivateKey(out.get(), pkey.get(), EVP_aes_256_cbc(), passphrase.data(),
                                    static_cast<int>(passphrase.size()), nullptr, nullptr) != 1) {
    Die("PEM_write_bio_PKCS8PrivateKey");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string JwksOf(const std::vector<const TestKey*>& keys) {
  nlohmann::json doc = {{"keys", nlohmann::json::array()}};
  for (const TestKey* key : keys) doc["keys"].push_back(key->jwk);
  return doc.dump();
}

std::string SignJws(const nlohmann::json& header, const nlohmann::json& payload,
                    absl::string_view alg, absl::string_view key, absl::string_view signature) {
  std::string input = absl::StrCat(Base64Url(header.dump()), ".", Base64Url(payload.dump()));
  jwt::string_view k(key.data(), key.size());
  jwt::sign_result_t signed_result;
  if (alg == "HS256") {
    signed_result = jwt::HMACSign<jwt::algo::HS256>::sign(k, input);
  } else if (alg == "RS256") {
    signed_result = jwt::PEMSign<jwt::algo::RS256>::sign(k, input);
  } else if (alg == "ES256") {
    signed_result = jwt::PEMSign<jwt::algo::ES256>::sign(k, input);
  } else {
    return absl::StrCat(input, ".", signature);
  }
  if (signed_result.second) Die("cpp-jwt sign");
  return absl::StrCat(input, ".", Base64Url(signed_result.first));
}

void WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace trellis::testing
