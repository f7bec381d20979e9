#pragma once

// Test harness: fresh RSA and EC P-256 key pairs, their JWKs, and JWS tokens signed with cpp-jwt,
// so token verification is tested against keys made at test time (never checked-in key files).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "common/auth/signing_key.h"

namespace trellis::testing {

struct TestKey {
  std::string kid;
  std::string alg;          // "RS256" or "ES256"
  std::string private_pem;  // PKCS#8
  std::string public_pem;   // SubjectPublicKeyInfo
  nlohmann::json jwk;       // the public key as a JWK, with kid, alg and use

  auth::SigningKey signing_key() const { return {kid, alg, private_pem, public_pem}; }
};

// A new RSA key of `bits` (RS256) or EC P-256 key (ES256). Aborts the test binary if OpenSSL
// fails.
TestKey GenerateRsaKey(std::string kid, int bits = 2048);
TestKey GenerateEcKey(std::string kid, absl::string_view curve = "P-256");

// `key`'s private half as an encrypted PKCS#8 PEM (a key a service cannot use unattended).
std::string EncryptedPrivatePem(const TestKey& key, const std::string& passphrase);

// {"keys":[jwk, ...]}.
std::string JwksOf(const std::vector<const TestKey*>& keys);

// A compact JWS with exactly this header and payload, signed with cpp-jwt's signers: `alg`
// HS256 (key: the secret), RS256 or ES256 (key: a private PEM). Any other alg gets `signature`
// verbatim (for alg none and friends).
std::string SignJws(const nlohmann::json& header, const nlohmann::json& payload,
                    absl::string_view alg, absl::string_view key, absl::string_view signature = "");

std::string Base64Url(absl::string_view bytes);

// Writes `content` to `path` (replacing it), for key and JWKS files.
void WriteFile(const std::string& path, absl::string_view content);

}  // namespace trellis::testing
