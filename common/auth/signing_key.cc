#include "common/auth/signing_key.h"

#include <fstream>
#include <sstream>

#include <openssl/core_names.h>

#include "absl/strings/str_cat.h"
#include "common/auth/openssl_key.h"
#include "common/status/status.h"

namespace trellis::auth {
namespace {

// Refuses to ask for a passphrase: the default callback would prompt on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

openssl::Pkey ReadPublicPem(const std::string& pem) {
  openssl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return openssl::Pkey(
      bio == nullptr ? nullptr : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
}

}  // namespace

absl::StatusOr<SigningKey> ReadSigningKeyFile(const std::string& path, std::string kid,
                                              absl::string_view field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidField(field, absl::StrCat("cannot read the key file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  SigningKey key;
  key.kid = std::move(kid);
  key.private_pem = ss.str();
  openssl::Bio bio(
      BIO_new_mem_buf(key.private_pem.data(), static_cast<int>(key.private_pem.size())));
  openssl::Pkey pkey(bio == nullptr
                         ? nullptr
                         : PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (pkey == nullptr) {
    return InvalidField(field, absl::StrCat("'", path, "' is not an unencrypted PEM private key"));
  }
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) {
      return InvalidField(field, "an RSA key must have at least 2048 bits");
    }
    key.alg = "RS256";
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1 ||
        std::string(group, len) != "prime256v1") {
      return InvalidField(field, "an EC key must be on P-256 (ES256)");
    }
    key.alg = "ES256";
  } else {
    return InvalidField(field, "must be an RSA (RS256) or EC P-256 (ES256) private key");
  }
  key.public_pem = openssl::PublicPem(pkey.get());
  if (key.public_pem.empty()) return absl::InternalError("OpenSSL could not derive a public key");
  return key;
}

bool IsPublicHalfOf(const std::string& public_pem, const SigningKey& key) {
  openssl::Pkey a = ReadPublicPem(public_pem);
  openssl::Pkey b = ReadPublicPem(key.public_pem);
  return a != nullptr && b != nullptr && EVP_PKEY_eq(a.get(), b.get()) == 1;
}

}  // namespace trellis::auth
