// trellisctl token, audit and health: a development token, the audit trail, and the health of the
// three services.

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/commands/invocation.h"
#include "cli/proto_input.h"
#include "cli/proto_names.h"
#include "cli/proto_output.h"
#include "cli/rpc_error.h"
#include "cli/table.h"
#include "common/auth/authenticator.h"
#include "common/auth/signing_key.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace trellis::cli {
namespace {

namespace v1 = trellis::v1;
namespace health = grpc::health::v1;

int RunToken(Invocation& inv) {
  const ParsedArgs& args = inv.args();
  absl::StatusOr<int> role = ParseEnum(v1::Role_descriptor(), args.GetOr("role"));
  if (!role.ok()) {
    return inv.UsageError(
        absl::InvalidArgumentError(absl::StrCat("--role: ", role.status().message())));
  }
  absl::StatusOr<std::optional<absl::Duration>> ttl = args.GetDuration("ttl");
  if (!ttl.ok()) return inv.UsageError(ttl.status());
  if (!ttl->has_value() || **ttl <= absl::ZeroDuration()) {
    return inv.UsageError(absl::InvalidArgumentError("--ttl: must be positive"));
  }
  auth::Identity who;
  who.tenant = args.GetOr("tenant");
  who.role = static_cast<v1::Role>(*role);
  who.patient = args.GetOr("patient");
  who.subject = args.GetOr(
      "sub",
      absl::StrCat("dev-", EnumDisplayName(v1::Role_descriptor()->FindValueByNumber(*role))));
  if (who.role == v1::ROLE_CLIENT && who.patient.empty()) {
    return inv.UsageError(absl::InvalidArgumentError("--patient is required for --role client"));
  }
  auth::AuthOptions options;
  options.issuer = args.GetOr("issuer");
  options.audience = args.GetOr("audience");
  std::string token;
  if (args.IsSet("key_file")) {
    absl::StatusOr<auth::SigningKey> key =
        auth::ReadSigningKeyFile(args.GetOr("key_file"), args.GetOr("kid"), "--key_file");
    if (!key.ok()) return inv.UsageError(key.status());
    token = auth::MintToken(*key, options, who, **ttl, inv.now());
  } else {
    absl::StatusOr<std::string> secret =
        auth::ReadSecretFile(args.GetOr("secret_file"), "--secret_file");
    if (!secret.ok()) return inv.UsageError(secret.status());
    options.hs256_secret = *secret;
    token = auth::MintHs256Token(options, who, **ttl, inv.now());
  }
  if (token.empty()) {
    return inv.UsageError(absl::InternalError("signing the token failed"));
  }
  if (inv.json()) {
    nlohmann::json out = {{"token", token}, {"expireTime", FormatUtc(inv.now() + **ttl)}};
    inv.out() << out.dump(2) << "\n";
  } else {
    inv.out() << token << "\n";
  }
  return kExitOk;
}

int RunHealth(Invocation& inv) {
  struct Target {
    Service service;
    const char* flag_name;
    const char* name;
  };
  const Target all[] = {{Service::kGoals, "goals", "trellis.v1.GoalService"},
                        {Service::kMeasurements, "measurements", "trellis.v1.MeasurementService"},
                        {Service::kReminders, "reminders", "trellis.v1.ReminderService"}};
  const ParsedArgs& args = inv.args();
  std::vector<Target> targets;
  if (args.IsSet("only")) {
    for (absl::string_view want : absl::StrSplit(args.GetOr("only"), ',', absl::SkipEmpty())) {
      bool known = false;
      for (const Target& t : all) {
        if (want == t.flag_name) {
          targets.push_back(t);
          known = true;
        }
      }
      if (!known) {
        return inv.UsageError(absl::InvalidArgumentError(absl::StrCat(
            "--only: unknown service '", want, "' (goals, measurements or reminders)")));
      }
    }
    if (targets.empty()) {
      return inv.UsageError(absl::InvalidArgumentError("--only: names no service"));
    }
  } else {
    targets.assign(std::begin(all), std::end(all));
  }
  // The health name asked for: the service's own name unless --health_service says otherwise
  // ("liveness" for a liveness probe, "" for the server as a whole).
  const bool name_override = args.IsSet("health_service");
  Connection& connection = *inv.connection();
  Table table({"SERVICE", "ADDRESS", "STATUS"});
  nlohmann::json services = nlohmann::json::array();
  bool all_serving = true;
  for (const Target& t : targets) {
    health::Health::Stub stub(connection.Channel(t.service));
    std::unique_ptr<grpc::ClientContext> ctx = connection.NewContext();
    health::HealthCheckRequest request;
    request.set_service(name_override ? args.GetOr("health_service") : t.name);
    health::HealthCheckResponse response;
    grpc::Status status = stub.Check(ctx.get(), request, &response);
    std::string state = status.ok()
                            ? health::HealthCheckResponse::ServingStatus_Name(response.status())
                            : CodeName(status.error_code());
    bool serving = status.ok() && response.status() == health::HealthCheckResponse::SERVING;
    if (!serving) {
      all_serving = false;
      inv.err() << "error: " << t.name << " at " << connection.Address(t.service) << ": "
                << (status.ok() ? state : DescribeRpcError(status)) << "\n";
    }
    table.AddRow({t.name, connection.Address(t.service), state});
    services.push_back(
        {{"service", t.name}, {"address", connection.Address(t.service)}, {"status", state}});
  }
  if (inv.json()) {
    nlohmann::json out = {{"services", services}, {"serving", all_serving}};
    inv.out() << out.dump(2) << "\n";
  } else {
    inv.out() << table.Render();
  }
  return all_serving ? kExitOk : kExitFailed;
}

}  // namespace

Command TokenCommand() {
  return {
      .name = "token",
      .summary =
          "Mint a development token (HS256 from the dev secret, or RS256/ES256 from a key "
          "file) and print it.",
      .description =
          "For `make run` and tests; production tokens come from the platform's identity "
          "provider. This is the only command that prints a token.\n\n"
          "  export TRELLIS_TOKEN=$(trellisctl token --role clinician)\n"
          "  trellisctl token --role client --patient p1 --ttl 1h",
      .flags =
          {{.name = "secret_file",
            .value_name = "FILE",
            .help = "HS256 secret (at least 32 bytes), as the services' "
                    "--auth_hs256_secret_file.",
            .default_value = "build/run/dev-secret",
            .env = "TRELLIS_AUTH_HS256_SECRET_FILE"},
           {.name = "key_file",
            .value_name = "FILE",
            .help = "Sign with this PEM private key instead (RSA: RS256, EC P-256: ES256); "
                    "its public half must be in the services' JWKS."},
           {.name = "kid", .value_name = "ID", .help = "Key id written with --key_file."},
           {.name = "tenant", .value_name = "ID", .help = "Tenant.", .default_value = "demo"},
           {.name = "role",
            .value_name = "clinician|client|service|admin",
            .help = "Role.",
            .default_value = "clinician"},
           {.name = "sub", .value_name = "ID", .help = "Subject (default dev-<role>)."},
           {.name = "patient",
            .value_name = "ID",
            .help = "The patient a client is (required for --role client)."},
           {.name = "ttl", .value_name = "DURATION", .help = "Validity.", .default_value = "12h"},
           {.name = "issuer",
            .value_name = "ISS",
            .help = "iss claim.",
            .default_value = "trellis"},
           {.name = "audience",
            .value_name = "AUD",
            .help = "aud claim.",
            .default_value = "trellis"}},
      .run = Run(Needs::kNothing, RunToken)};
}

Command AuditCommand() {
  const google::protobuf::Descriptor* d = v1::ListAuditEventsRequest::descriptor();
  return UnaryCommand(
      {.name = "audit",
       .summary = "The tenant's audit trail, newest first: who read or changed what, with which "
                  "result (ListAuditEvents; role admin).",
       .description = "  TRELLIS_TOKEN=$(trellisctl token --role admin) trellisctl audit "
                      "--patient p1 --since now-1d"},
      &v1::AuditService::Stub::ListAuditEvents,
      {FieldFlag(d, "patient", "patient", "Only this patient's entries."),
       FieldFlag(d, "since", "start_time", "Entries at or after."),
       FieldFlag(d, "until", "end_time", "Entries before.")},
      [](const v1::ListAuditEventsResponse& r) {
        return RenderRows(r.events(), {{"TIME", "time"},
                                       {"ACTOR", "actor.subject"},
                                       {"ROLE", "actor.role"},
                                       {"ACTION", "action"},
                                       {"RESOURCE", "resource"},
                                       {"RESULT", "result_code"}});
      });
}

Command HealthCommand() {
  return {.name = "health",
          .summary =
              "grpc.health.v1 Check of the three services; exits 1 unless all are "
              "SERVING.",
          .description =
              "Needs no token. A service is NOT_SERVING while its Redis is "
              "unreachable; the health name 'liveness' stays SERVING while the process takes "
              "calls. As a Kubernetes exec probe over TLS:\n\n"
              "  trellisctl health --only goals --health_service liveness --deadline 2s",
          .flags = {{.name = "only",
                     .value_name = "goals,measurements,reminders",
                     .help = "Check only these services (comma-separated)."},
                    {.name = "health_service",
                     .value_name = "NAME",
                     .help = "Ask for this health name instead of each service's own name "
                             "(liveness, or empty for the server as a whole)."}},
          .run = Run(Needs::kConnection, RunHealth)};
}

}  // namespace trellis::cli
