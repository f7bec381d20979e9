#include "common/config/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/status.h"

namespace trellis::config {

std::string EnvName(absl::string_view flag_name) {
  return absl::StrCat("TRELLIS_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyEnvironment(const std::function<const char*(const char*)>& lookup) {
  FieldViolations violations;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string env = EnvName(name);
    const char* value = lookup(env.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      violations.Add(env, absl::StrCat("invalid value for --", name, ": ", error));
    }
  }
  return violations.ToStatus();
}

std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage) {
  absl::FlagsUsageConfig usage_config;
  // --help lists the flags of this project's own files (common/, services/, tools/).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "common/") || absl::StrContains(file, "services/") ||
           absl::StrContains(file, "tools/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.version_string = [] { return std::string("trellis 0.1.0\n"); };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      absl::StrCat(usage,
                   "\n\nEvery flag has an environment twin: --some_flag is TRELLIS_SOME_FLAG. "
                   "A flag on the command line wins over the environment."));

  absl::Status env_status = ApplyEnvironment([](const char* name) { return std::getenv(name); });
  if (!env_status.ok()) {
    for (const auto& [field, description] : FieldViolationsOf(env_status)) {
      std::fprintf(stderr, "error: environment variable %s: %s\n", field.c_str(),
                   description.c_str());
    }
    std::exit(2);
  }
  // ParseCommandLine reports unknown flags and bad values on stderr and exits non-zero itself.
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace trellis::config
