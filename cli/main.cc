// trellisctl: the command-line client of Trellis for people (ops, demos, scripts).

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands/invocation.h"

namespace {

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace

int main(int argc, char** argv) {
  using trellis::cli::kExitOk;
  using trellis::cli::kExitUsage;
  const trellis::cli::Command root = trellis::cli::TrellisctlCommand();
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<trellis::cli::ParsedArgs> parsed = trellis::cli::Parse(root, args, GetEnv);
  if (!parsed.ok()) {
    std::cerr << "error: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->help_requested()) {
    std::cout << trellis::cli::HelpText(parsed->path());
    return kExitOk;
  }
  if (!parsed->command().run) {  // a group without its subcommand
    std::cerr << trellis::cli::HelpText(parsed->path());
    return kExitUsage;
  }
  return parsed->command().run(*parsed);
}
