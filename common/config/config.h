#pragma once

// Configuration: every setting is an Abseil flag with an environment twin. The twin of
// `--redis_url` is `TRELLIS_REDIS_URL`: the flag's name upper-cased with the TRELLIS_ prefix, so
// containers are configured by environment alone. A flag given on the command line wins over its
// environment twin.

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trellis::config {

// "redis_url" -> "TRELLIS_REDIS_URL".
std::string EnvName(absl::string_view flag_name);

// Sets every registered flag whose environment twin `lookup` returns non-null. Returns
// INVALID_ARGUMENT naming the variable and the flag when a value does not parse.
absl::Status ApplyEnvironment(const std::function<const char*(const char*)>& lookup);

// The whole start-up parse for a binary: environment twins, then the command line, with `--help`
// describing every Trellis flag. Prints a clear message and exits with status 2 on a bad value or
// an unknown flag. Returns the positional arguments.
std::vector<char*> ParseFlags(int argc, char** argv, absl::string_view usage);

}  // namespace trellis::config
