#pragma once

// Test certificates, made with the openssl command line into a directory the test owns: CAs, and
// certificates they sign that serve for both server and client authentication.

#include <string>

#include "absl/status/statusor.h"

namespace trellis::testing {

// The PEM files of one certificate and its private key.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A self-signed CA with common name `name`, written to <dir>/<name>.pem and <dir>/<name>.key.
absl::StatusOr<CertFiles> MakeCa(const std::string& dir, const std::string& name);

// A certificate for `name` signed by `ca`, with subjectAltName `sans` (OpenSSL syntax, e.g.
// "IP:127.0.0.1,DNS:localhost") and extended key usage serverAuth and clientAuth, written to
// <dir>/<name>.pem and <dir>/<name>.key.
absl::StatusOr<CertFiles> IssueCert(const std::string& dir, const CertFiles& ca,
                                    const std::string& name, const std::string& sans);

// The SANs a local test server's certificate carries.
inline constexpr char kLoopbackSans[] = "IP:127.0.0.1,DNS:localhost";

}  // namespace trellis::testing
