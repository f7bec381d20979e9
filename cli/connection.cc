#include "cli/connection.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace trellis::cli {

std::vector<Flag> ConnectionFlags() {
  return {
      {.name = "output",
       .value_name = "table|json",
       .help = "How answers are printed: aligned text for people, or the protobuf JSON mapping "
               "for jq and scripts.",
       .default_value = "table",
       .env = "TRELLIS_OUTPUT"},
      {.name = "deadline",
       .value_name = "DURATION",
       .help = "Deadline of each call (e.g. 500ms, 10s, 1m).",
       .default_value = "10s",
       .env = "TRELLIS_DEADLINE"},
      {.name = "goals_addr",
       .value_name = "HOST:PORT",
       .help = "GoalService address.",
       .default_value = "127.0.0.1:50051",
       .env = "TRELLIS_GOALS_ADDR"},
      {.name = "measurements_addr",
       .value_name = "HOST:PORT",
       .help = "MeasurementService address.",
       .default_value = "127.0.0.1:50052",
       .env = "TRELLIS_MEASUREMENTS_ADDR"},
      {.name = "reminders_addr",
       .value_name = "HOST:PORT",
       .help = "ReminderService address.",
       .default_value = "127.0.0.1:50053",
       .env = "TRELLIS_REMINDERS_ADDR"},
      {.name = "token",
       .value_name = "JWT",
       .help = "Bearer token sent with every call. Prefer the environment or --token_file: a flag "
               "is visible to other users in the process list.",
       .env = "TRELLIS_TOKEN"},
      {.name = "token_file",
       .value_name = "FILE",
       .help = "File holding the bearer token (e.g. build/run/dev-token after `make run`).",
       .env = "TRELLIS_TOKEN_FILE"},
      {.name = "tls",
       .help = "Speak TLS, verifying the server against the system roots (implied "
               "by --tls_ca_file or --tls_cert_file).",
       .env = "TRELLIS_TLS"},
      {.name = "tls_ca_file",
       .value_name = "FILE",
       .help = "PEM roots that verify the services' certificates.",
       .env = "TRELLIS_TLS_CA_FILE"},
      {.name = "tls_cert_file",
       .value_name = "FILE",
       .help = "PEM client certificate chain for mutual TLS (with --tls_key_file).",
       .env = "TRELLIS_TLS_CERT_FILE"},
      {.name = "tls_key_file",
       .value_name = "FILE",
       .help = "PEM private key of --tls_cert_file.",
       .env = "TRELLIS_TLS_KEY_FILE"},
      {.name = "tls_server_name_override",
       .value_name = "NAME",
       .help = "Name the server certificates are checked for instead of the address's host "
               "(tests, development).",
       .env = "TRELLIS_TLS_SERVER_NAME_OVERRIDE"},
  };
}

absl::StatusOr<std::string> ReadFileForFlag(const std::string& path, absl::string_view flag) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read '", path, "'"));
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const ParsedArgs& args,
                                                        bool require_token) {
  ConnectionOptions o;
  o.goals_addr = args.GetOr("goals_addr");
  o.measurements_addr = args.GetOr("measurements_addr");
  o.reminders_addr = args.GetOr("reminders_addr");
  if (args.IsSet("token")) {
    o.token = std::string(absl::StripAsciiWhitespace(args.GetOr("token")));
  } else if (args.IsSet("token_file")) {
    absl::StatusOr<std::string> t = ReadFileForFlag(args.GetOr("token_file"), "token_file");
    if (!t.ok()) return t.status();
    o.token = std::string(absl::StripAsciiWhitespace(*t));
  }
  if (require_token && o.token.empty()) {
    return absl::FailedPreconditionError(
        "no token: set TRELLIS_TOKEN or TRELLIS_TOKEN_FILE, or pass --token_file (after `make "
        "run`: --token_file build/run/dev-token; `trellisctl token` mints one)");
  }
  absl::StatusOr<bool> tls = args.GetBool("tls");
  if (!tls.ok()) return tls.status();
  o.tls = *tls || args.IsSet("tls_ca_file") || args.IsSet("tls_cert_file");
  if (args.IsSet("tls_cert_file") != args.IsSet("tls_key_file")) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file are given together (both or neither)");
  }
  for (auto [flag, target] :
       {std::pair{"tls_ca_file", &o.ca_pem}, std::pair{"tls_cert_file", &o.cert_pem},
        std::pair{"tls_key_file", &o.key_pem}}) {
    if (!args.IsSet(flag)) continue;
    absl::StatusOr<std::string> pem = ReadFileForFlag(args.GetOr(flag), flag);
    if (!pem.ok()) return pem.status();
    *target = *pem;
  }
  o.server_name_override = args.GetOr("tls_server_name_override");
  absl::StatusOr<std::optional<absl::Duration>> deadline = args.GetDuration("deadline");
  if (!deadline.ok()) return deadline.status();
  if (deadline->has_value()) {
    if (**deadline <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--deadline: must be positive");
    }
    o.deadline = **deadline;
  }
  return o;
}

const std::string& Connection::Address(Service service) const {
  switch (service) {
    case Service::kGoals:
      return options_.goals_addr;
    case Service::kMeasurements:
      return options_.measurements_addr;
    case Service::kReminders:
      return options_.reminders_addr;
  }
  return options_.goals_addr;
}

std::shared_ptr<grpc::Channel> Connection::Channel(Service service) {
  const std::string& address = Address(service);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(R"json({
    "methodConfig": [{
      "name": [{}],
      "retryPolicy": {
        "maxAttempts": 3,
        "initialBackoff": "0.2s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }]
  })json");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.ca_pem;
    ssl.pem_cert_chain = options_.cert_pem;
    ssl.pem_private_key = options_.key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!options_.server_name_override.empty()) {
      args.SetSslTargetNameOverride(options_.server_name_override);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto channel = grpc::CreateCustomChannel(address, credentials, args);
  channels_[address] = channel;
  return channel;
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(absl::Duration deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
  if (deadline != absl::InfiniteDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
  return ctx;
}

}  // namespace trellis::cli
