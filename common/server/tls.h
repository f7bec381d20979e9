#pragma once

// TLS and mutual TLS for the gRPC server and for channels to peer services, from PEM files that
// gRPC re-reads every `reload_interval`: a rotated certificate is used for new connections
// without a restart (connections already open keep theirs until --max_connection_age recycles
// them). Replace the files atomically (write beside them, then rename), as a Kubernetes secret
// mount does, so a reload never reads a new certificate with an old key.

#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/time/time.h"
#include "common/server/peer.h"
#include "common/status/status.h"

namespace trellis::server {

struct TlsOptions {
  std::string cert_file;       // PEM certificate chain of this service; empty: plaintext
  std::string key_file;        // PEM private key for cert_file
  std::string client_ca_file;  // set: mutual TLS, clients must present a certificate it signed
  std::string ca_file;         // roots that verify peers; empty: client_ca_file, else system roots
  std::string server_name_override;  // name expected in peers' certificates (tests, development)
  absl::Duration reload_interval = absl::Seconds(60);

  // Whether this server speaks TLS.
  bool enabled() const { return !cert_file.empty(); }
  // Whether channels to peers use TLS: when this server does, or when peer roots are named.
  bool peers_use_tls() const { return enabled() || !ca_file.empty(); }
};

// Adds a violation, under the flag's name (tls_cert_file, ...), for each setting that cannot work:
// certificate and key not given together, a client CA without them, a file that cannot be read or
// holds no PEM, a key that does not belong to the certificate, a reload interval under 1s.
void CheckTlsOptions(const TlsOptions& tls, FieldViolations& violations);

// Server credentials for `tls` (checked), reloading the files; null when TLS is off (plaintext).
// Under mutual TLS the handshake is refused unless the client presents a certificate that
// client_ca_file signed.
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsOptions& tls);

// Credentials for channels to peers: insecure unless tls.peers_use_tls(). With TLS the peer's
// certificate is verified against ca_file (else client_ca_file, else the system roots) and its
// name against the address's host or server_name_override; this service's own certificate and
// key, when configured, are presented as the client certificate (so the certificate needs the
// clientAuth extended key usage, or none, where peers require mutual TLS). Reloaded like the
// server's. One value serves every channel of a process.
PeerCredentials PeerCredentialsFor(const TlsOptions& tls);

}  // namespace trellis::server
