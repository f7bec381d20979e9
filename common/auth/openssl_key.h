#pragma once

// OpenSSL 3 plumbing shared by the JWKS reader and the service signing key: owning pointers (so
// every early return frees what it made) and the SubjectPublicKeyInfo PEM of a key.

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace trellis::auth::openssl {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(BIO* p) const { BIO_free_all(p); }
};

using Pkey = std::unique_ptr<EVP_PKEY, Free>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Free>;
using Params = std::unique_ptr<OSSL_PARAM, Free>;
using Bignum = std::unique_ptr<BIGNUM, Free>;
using Bio = std::unique_ptr<BIO, Free>;

// The public half of `key` as a SubjectPublicKeyInfo PEM (the form cpp-jwt's verifiers read);
// empty if OpenSSL fails.
inline std::string PublicPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return "";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "";
}

}  // namespace trellis::auth::openssl
