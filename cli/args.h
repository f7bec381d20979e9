#pragma once

// The command-line grammar of trellisctl: a tree of commands (trellisctl -> goals -> create), each
// declaring its flags. A command's flags apply to its subcommands too, so the root's flags are
// the global ones (--output, --deadline, addresses, token, TLS). Parsing and help text are pure:
// the environment is passed in, so both are unit-tested with plain values.
//
// Syntax: `--name=value` or `--name value` (a value may start with a single "-", e.g.
// `--rating -2`); a switch is `--name` or `--name=true|false`; "-" and "_" in a flag name are
// interchangeable; `-h`/`--help` asks for the help of the command reached so far; "--" ends the
// flags. A flag's value comes from the command line (the last one wins; a repeated flag collects
// every value, commas splitting each unless it is free text), else from its environment twin,
// else from its default.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace trellis::cli {

class ParsedArgs;

// Runs a leaf command; returns the process exit status.
using Handler = std::function<int(const ParsedArgs&)>;

// Looks up an environment variable (nullopt when unset).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

struct Flag {
  std::string name{};           // without "--", e.g. "patient"
  std::string value_name{};     // shown in help ("ID", "DATE"); empty: a switch (boolean)
  std::string help{};           // one sentence or a few; wrapped in the help text
  std::string default_value{};  // used when neither the command line nor the environment sets it
  std::string env{};            // environment twin, e.g. "TRELLIS_TOKEN"; empty: none
  bool repeated = false;        // may be given several times
  bool split_commas = true;     // a repeated flag's values are split at commas (not free text)
  // The request field this flag sets ("goal.measure.target"), applied by proto_input.h; empty
  // when the command reads the flag itself.
  std::string field{};
};

struct Command {
  std::string name{};
  std::string summary{};      // one line, shown in the parent's list of commands
  std::string description{};  // paragraphs shown in the command's own help ("\n\n" between them)
  std::string positional{};   // a flag that one bare argument may fill (e.g. "name"); empty: none
  std::vector<Flag> flags{};
  std::vector<Command> subcommands{};  // a group when non-empty; a leaf runs `run`
  Handler run{};
};

class ParsedArgs {
 public:
  // The commands from the root to the one reached (the leaf, or a group when the command line
  // stops there).
  const std::vector<const Command*>& path() const { return path_; }
  const Command& command() const { return *path_.back(); }
  // "trellisctl goals create".
  std::string CommandLine() const;
  bool help_requested() const { return help_; }

  // The flag's declaration on the path (nullptr when no command on it declares `name`).
  const Flag* FindFlag(absl::string_view name) const;
  // Whether the command line or the flag's environment twin sets it (a default does not count).
  bool IsSet(absl::string_view name) const;
  // The value: command line (last), else environment, else default; nullopt when none.
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, absl::string_view fallback = "") const;
  // Every value of a repeated flag (split at commas unless the flag says not to), from the command
  // line, else the environment, else the default.
  std::vector<std::string> GetAll(absl::string_view name) const;
  // A switch: true for "", "true", "1", "yes"; false for "false", "0", "no"; INVALID_ARGUMENT
  // naming the flag otherwise. Unset switches are false (or their default).
  absl::StatusOr<bool> GetBool(absl::string_view name) const;
  // Typed values; INVALID_ARGUMENT naming the flag when the text does not parse. Unset (and no
  // default): nullopt.
  absl::StatusOr<std::optional<int64_t>> GetInt(absl::string_view name) const;
  absl::StatusOr<std::optional<absl::Duration>> GetDuration(absl::string_view name) const;

 private:
  friend absl::StatusOr<ParsedArgs> Parse(const Command&, const std::vector<std::string>&,
                                          const EnvLookup&);
  std::vector<const Command*> path_;
  std::map<std::string, std::vector<std::string>> given_;  // command line values by flag name
  std::map<std::string, std::string> env_;                 // environment values by flag name
  bool help_ = false;
};

// Parses `args` (without the program name) against `root`. INVALID_ARGUMENT for an unknown
// command or flag, a missing value, a second positional argument, or a switch given a value it
// cannot read. `--help` anywhere stops at the command reached so far with help_requested().
absl::StatusOr<ParsedArgs> Parse(const Command& root, const std::vector<std::string>& args,
                                 const EnvLookup& env);

// The help of the last command of `path`: usage, description, subcommands or flags, and the flags
// inherited from the commands above it. Wrapped at 100 columns.
std::string HelpText(const std::vector<const Command*>& path);

// "", "true", "1", "yes" (any case): true; "false", "0", "no": false; anything else: nullopt.
std::optional<bool> ParseBoolText(absl::string_view text);

// Durations as operators write them: absl's ("90s", "1h30m", "250ms") plus days and weeks
// ("14d", "2w", "1w3d"). A leading "-" negates.
absl::StatusOr<absl::Duration> ParseCliDuration(absl::string_view text);

}  // namespace trellis::cli
