// The whole trellisctl command tree.

#include "cli/commands/invocation.h"

namespace trellis::cli {

Command TrellisctlCommand() {
  return {.name = "trellisctl",
          .summary =
              "Command-line client of the Trellis services (goals, measurements, "
              "reminders).",
          .description =
              "Addresses, token and TLS come from the flags below or their TRELLIS_* "
              "environment twins; the defaults reach `make run`:\n\n"
              "  export TRELLIS_TOKEN_FILE=build/run/dev-token\n"
              "  trellisctl health\n"
              "  trellisctl goals list p1 --output json | jq '.goals[].name'\n\n"
              "Exit status: 0 on success; 1 when a call failed (the gRPC code, message and "
              "error details are printed on stderr) or a service is not serving; 2 for a usage "
              "error (unknown flag, bad value, unreadable file, no token).",
          .flags = ConnectionFlags(),
          .subcommands = {GoalsCommand(), MeasureCommand(), MetricsCommand(), RemindersCommand(),
                          TokenCommand(), AuditCommand(), HealthCommand()}};
}

}  // namespace trellis::cli
