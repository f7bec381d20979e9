#include "common/server/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"

namespace trellis::server {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

// The file's contents, or a violation under `flag`.
bool ReadFile(const std::string& path, absl::string_view flag, FieldViolations& v,
              std::string* contents) {
  std::ifstream in(path);
  if (!in) {
    v.Add(flag, absl::StrCat("cannot read '", path, "'"));
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *contents = ss.str();
  return true;
}

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM file; null (and a violation) when unreadable or none.
std::unique_ptr<X509, X509Free> ReadCertificate(const std::string& path, absl::string_view flag,
                                                FieldViolations& v) {
  std::string pem;
  if (!ReadFile(path, flag, v, &pem)) return nullptr;
  Bio bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) v.Add(flag, absl::StrCat("'", path, "' holds no PEM certificate"));
  return cert;
}

// Never prompts for a passphrase: an encrypted key cannot be reloaded unattended.
int NoPassphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<EVP_PKEY, KeyFree> ReadPrivateKey(const std::string& path, absl::string_view flag,
                                                  FieldViolations& v) {
  std::string pem;
  if (!ReadFile(path, flag, v, &pem)) return nullptr;
  Bio bio = MemoryBio(pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
  if (key == nullptr) {
    v.Add(flag, absl::StrCat("'", path, "' holds no unencrypted PEM private key"));
  }
  return key;
}

unsigned int RefreshSeconds(const TlsOptions& tls) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(tls.reload_interval)));
}

}  // namespace

void CheckTlsOptions(const TlsOptions& tls, FieldViolations& v) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    v.Add(tls.cert_file.empty() ? "tls_cert_file" : "tls_key_file",
          "tls_cert_file and tls_key_file are set together (both or neither)");
  }
  if (!tls.client_ca_file.empty() && !tls.enabled()) {
    v.Add("tls_client_ca_file", "mutual TLS needs tls_cert_file and tls_key_file as well");
  }
  if (tls.reload_interval < absl::Seconds(1)) {
    v.Add("tls_reload_interval", "must be at least 1s");
  }
  std::unique_ptr<X509, X509Free> cert;
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  if (!tls.cert_file.empty()) cert = ReadCertificate(tls.cert_file, "tls_cert_file", v);
  if (!tls.key_file.empty()) key = ReadPrivateKey(tls.key_file, "tls_key_file", v);
  if (cert != nullptr && key != nullptr && X509_check_private_key(cert.get(), key.get()) != 1) {
    v.Add("tls_key_file", "is not the private key of the certificate in tls_cert_file");
  }
  if (!tls.client_ca_file.empty()) ReadCertificate(tls.client_ca_file, "tls_client_ca_file", v);
  if (!tls.ca_file.empty()) ReadCertificate(tls.ca_file, "tls_ca_file", v);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsOptions& tls) {
  if (!tls.enabled()) return nullptr;
  auto provider = std::make_shared<FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.client_ca_file, RefreshSeconds(tls));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

PeerCredentials PeerCredentialsFor(const TlsOptions& tls) {
  PeerCredentials peer;
  if (!tls.peers_use_tls()) return peer;
  const std::string& roots = !tls.ca_file.empty() ? tls.ca_file : tls.client_ca_file;
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  // Here the service has a certificate, or roots, or both.
  options.set_certificate_provider(std::make_shared<FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, roots, RefreshSeconds(tls)));
  // Roots not watched: gRPC verifies against the system's (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, else
  // the roots it ships).
  if (!roots.empty()) options.watch_root_certs();
  if (tls.enabled()) options.watch_identity_key_cert_pairs();
  peer.channel = grpc::experimental::TlsCredentials(options);
  peer.server_name_override = tls.server_name_override;
  return peer;
}

}  // namespace trellis::server
