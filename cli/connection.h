#pragma once

// How trellisctl reaches the three services: their addresses, the bearer token, TLS, and the
// deadline of each call, from the global flags (or their TRELLIS_* environment twins).
//
// TLS follows the services' own peer channels (common/server/tls.h): it is on when --tls,
// --tls_ca_file or --tls_cert_file is given; the server's certificate is verified against
// --tls_ca_file (else the system roots) and must name the address's host or
// --tls_server_name_override; --tls_cert_file/--tls_key_file are presented as the client
// certificate (mutual TLS). Calls are retried on UNAVAILABLE only, by the channel's service
// config, as the services retry each other.

#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"

namespace trellis::cli {

enum class Service { kGoals, kMeasurements, kReminders };

struct ConnectionOptions {
  std::string goals_addr{};
  std::string measurements_addr{};
  std::string reminders_addr{};
  std::string token{};  // empty: calls go without one (health needs none)
  bool tls = false;
  std::string ca_pem{};    // contents of --tls_ca_file; empty: system roots
  std::string cert_pem{};  // client certificate chain (mutual TLS)
  std::string key_pem{};
  std::string server_name_override{};
  absl::Duration deadline = absl::Seconds(10);
};

// The global flags every command inherits (addresses, token, TLS, --deadline, --output).
std::vector<Flag> ConnectionFlags();

// Reads the global flags: the token is --token, else the contents of --token_file (trailing
// whitespace trimmed); TLS files are read now. INVALID_ARGUMENT naming the flag for an unreadable
// file, a cert without its key, or a deadline that is not a positive duration; with
// `require_token`, FAILED_PRECONDITION when there is no token.
absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const ParsedArgs& args, bool require_token);

class Connection {
 public:
  explicit Connection(ConnectionOptions options) : options_(std::move(options)) {}

  const ConnectionOptions& options() const { return options_; }
  const std::string& Address(Service service) const;
  // One channel per address, made on first use.
  std::shared_ptr<grpc::Channel> Channel(Service service);
  // A context carrying the bearer token (when there is one) and a deadline `deadline` from now
  // (absl::InfiniteDuration(): none, for streams).
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration deadline) const;
  std::unique_ptr<grpc::ClientContext> NewContext() const { return NewContext(options_.deadline); }

 private:
  ConnectionOptions options_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// Reads a whole file; INVALID_ARGUMENT naming `flag` when it cannot be read. "-" is stdin.
absl::StatusOr<std::string> ReadFileForFlag(const std::string& path, absl::string_view flag);

}  // namespace trellis::cli
