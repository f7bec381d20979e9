#pragma once

// The private key a service signs its own service tokens with in production (RS256 or ES256), so
// peers need only the public half, published in the JWKS they load (DESIGN.md §6).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trellis::auth {

struct SigningKey {
  std::string kid;          // written into each token's header; peers select the key by it
  std::string alg;          // "RS256" (RSA, at least 2048 bits) or "ES256" (EC P-256)
  std::string private_pem;  // as cpp-jwt's signers read it
  std::string public_pem;   // SubjectPublicKeyInfo PEM of the same key, comparable to a JWK's
};

// Reads an unencrypted PEM private key (PKCS#8 or traditional) and picks its algorithm.
// INVALID_ARGUMENT naming `field` when the file is unreadable, encrypted, or not an RSA key of at
// least 2048 bits or an EC key on P-256.
absl::StatusOr<SigningKey> ReadSigningKeyFile(const std::string& path, std::string kid,
                                              absl::string_view field);

// Whether `public_pem` (a SubjectPublicKeyInfo PEM, e.g. a JWKS key) is the public half of `key`.
bool IsPublicHalfOf(const std::string& public_pem, const SigningKey& key);

}  // namespace trellis::auth
