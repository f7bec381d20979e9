#include "cli/args.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace trellis::cli {
namespace {

constexpr size_t kHelpWidth = 100;
constexpr size_t kFlagColumn = 30;

std::string NormalizeName(absl::string_view name) {
  return absl::StrReplaceAll(name, {{"-", "_"}});
}

std::string PathLine(const std::vector<const Command*>& path) {
  return absl::StrJoin(path, " ", [](std::string* out, const Command* c) { out->append(c->name); });
}

const Flag* FindOnPath(const std::vector<const Command*>& path, absl::string_view name) {
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    for (const Flag& f : (*it)->flags) {
      if (f.name == name) return &f;
    }
  }
  return nullptr;
}

const Command* FindSubcommand(const Command& group, absl::string_view name) {
  for (const Command& c : group.subcommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Greedy word wrap of `text` into lines of at most `width` characters, each but the first
// prefixed with `indent` spaces (the first is assumed to start at that column already).
std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out;
  size_t column = indent;
  bool first_word = true;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!first_word && column + 1 + word.size() > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      column = indent;
      first_word = true;
    }
    if (!first_word) {
      out += ' ';
      ++column;
    }
    absl::StrAppend(&out, word);
    column += word.size();
    first_word = false;
  }
  return out;
}

std::string FlagLines(const std::vector<Flag>& flags) {
  std::string out;
  for (const Flag& f : flags) {
    std::string head = absl::StrCat("  --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&head, " ", f.value_name);
    std::string help = f.help;
    if (f.repeated) absl::StrAppend(&help, " Repeatable.");
    if (!f.env.empty()) absl::StrAppend(&help, " Env: ", f.env, ".");
    if (!f.default_value.empty()) absl::StrAppend(&help, " Default: ", f.default_value, ".");
    if (head.size() + 2 > kFlagColumn) {
      absl::StrAppend(&out, head, "\n", std::string(kFlagColumn, ' '));
    } else {
      absl::StrAppend(&out, head, std::string(kFlagColumn - head.size(), ' '));
    }
    absl::StrAppend(&out, Wrap(help, kFlagColumn, kHelpWidth), "\n");
  }
  return out;
}

}  // namespace

std::optional<bool> ParseBoolText(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(text);
  if (t.empty() || t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return std::nullopt;
}

std::string ParsedArgs::CommandLine() const { return PathLine(path_); }

const Flag* ParsedArgs::FindFlag(absl::string_view name) const { return FindOnPath(path_, name); }

bool ParsedArgs::IsSet(absl::string_view name) const {
  std::string key(name);
  return given_.count(key) > 0 || env_.count(key) > 0;
}

std::optional<std::string> ParsedArgs::Get(absl::string_view name) const {
  std::string key(name);
  if (auto it = given_.find(key); it != given_.end()) return it->second.back();
  if (auto it = env_.find(key); it != env_.end()) return it->second;
  const Flag* flag = FindFlag(name);
  if (flag != nullptr && !flag->default_value.empty()) return flag->default_value;
  return std::nullopt;
}

std::string ParsedArgs::GetOr(absl::string_view name, absl::string_view fallback) const {
  std::optional<std::string> v = Get(name);
  return v.has_value() ? *v : std::string(fallback);
}

std::vector<std::string> ParsedArgs::GetAll(absl::string_view name) const {
  std::vector<std::string> raw;
  std::string key(name);
  if (auto it = given_.find(key); it != given_.end()) {
    raw = it->second;
  } else if (std::optional<std::string> v = Get(name); v.has_value()) {
    raw.push_back(*v);
  }
  const Flag* flag = FindFlag(name);
  if (flag != nullptr && !flag->split_commas) return raw;
  std::vector<std::string> out;
  for (const std::string& r : raw) {
    for (absl::string_view part : absl::StrSplit(r, ',', absl::SkipWhitespace())) {
      out.emplace_back(absl::StripAsciiWhitespace(part));
    }
  }
  return out;
}

absl::StatusOr<bool> ParsedArgs::GetBool(absl::string_view name) const {
  std::optional<std::string> v = Get(name);
  if (!v.has_value()) return false;
  std::optional<bool> b = ParseBoolText(*v);
  if (!b.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected true or false, got '", *v, "'"));
  }
  return *b;
}

absl::StatusOr<std::optional<int64_t>> ParsedArgs::GetInt(absl::string_view name) const {
  std::optional<std::string> v = Get(name);
  if (!v.has_value()) return std::optional<int64_t>();
  int64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected a whole number, got '", *v, "'"));
  }
  return std::optional<int64_t>(n);
}

absl::StatusOr<std::optional<absl::Duration>> ParsedArgs::GetDuration(
    absl::string_view name) const {
  std::optional<std::string> v = Get(name);
  if (!v.has_value()) return std::optional<absl::Duration>();
  absl::StatusOr<absl::Duration> d = ParseCliDuration(*v);
  if (!d.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", d.status().message()));
  }
  return std::optional<absl::Duration>(*d);
}

absl::StatusOr<ParsedArgs> Parse(const Command& root, const std::vector<std::string>& args,
                                 const EnvLookup& env) {
  ParsedArgs out;
  out.path_.push_back(&root);
  bool flags_done = false;
  bool positional_taken = false;
  auto see_help = [&out] { return absl::StrCat(" (see '", out.CommandLine(), " --help')"); };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_done && (arg == "-h" || arg == "--help")) {
      out.help_ = true;
      break;
    }
    if (!flags_done && arg == "--") {
      flags_done = true;
      continue;
    }
    if (!flags_done && absl::StartsWith(arg, "--")) {
      absl::string_view body = absl::string_view(arg).substr(2);
      std::vector<std::string> parts = absl::StrSplit(body, absl::MaxSplits('=', 1));
      std::string name = NormalizeName(parts[0]);
      const Flag* flag = FindOnPath(out.path_, name);
      if (flag == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag --", parts[0], " for '",
                                                       out.CommandLine(), "'", see_help()));
      }
      std::string value;
      if (parts.size() == 2) {
        value = parts[1];
      } else if (!flag->value_name.empty()) {
        if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
          return absl::InvalidArgumentError(
              absl::StrCat("flag --", flag->name, " needs a value (", flag->value_name, ")"));
        }
        value = args[++i];
      }
      if (flag->value_name.empty() && !ParseBoolText(value).has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag->name, ": expected true or false, got '", value, "'"));
      }
      out.given_[name].push_back(value);
      continue;
    }
    if (!flags_done && absl::StartsWith(arg, "-") && arg.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", arg, " (flags start with --)", see_help()));
    }
    const Command& current = *out.path_.back();
    if (!current.subcommands.empty() && !flags_done) {
      const Command* sub = FindSubcommand(current, arg);
      if (sub == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown command '", arg, "' for '", out.CommandLine(), "'", see_help()));
      }
      out.path_.push_back(sub);
      continue;
    }
    if (!current.positional.empty() && !positional_taken) {
      out.given_[current.positional].push_back(arg);
      positional_taken = true;
      continue;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", arg, "' for '", out.CommandLine(), "'", see_help()));
  }
  for (const Command* c : out.path_) {
    for (const Flag& f : c->flags) {
      if (f.env.empty()) continue;
      if (std::optional<std::string> v = env(f.env); v.has_value() && !v->empty()) {
        out.env_[f.name] = *v;
      }
    }
  }
  return out;
}

std::string HelpText(const std::vector<const Command*>& path) {
  const Command& cmd = *path.back();
  std::string line = PathLine(path);
  std::string out;
  if (!cmd.subcommands.empty()) {
    absl::StrAppend(&out, "Usage: ", line, " <command> [flags]\n");
  } else {
    absl::StrAppend(&out, "Usage: ", line, " [flags]");
    if (!cmd.positional.empty()) {
      absl::StrAppend(&out, " [", absl::AsciiStrToUpper(cmd.positional), "]");
    }
    out += "\n";
  }
  if (!cmd.summary.empty()) absl::StrAppend(&out, "\n", Wrap(cmd.summary, 0, kHelpWidth), "\n");
  if (!cmd.description.empty()) {
    for (absl::string_view para : absl::StrSplit(cmd.description, "\n\n")) {
      // Lines starting with spaces are examples: kept as written.
      if (absl::StartsWith(para, "  ")) {
        absl::StrAppend(&out, "\n", para, "\n");
      } else {
        absl::StrAppend(&out, "\n", Wrap(para, 0, kHelpWidth), "\n");
      }
    }
  }
  if (!cmd.positional.empty()) {
    absl::StrAppend(&out, "\n", absl::AsciiStrToUpper(cmd.positional), " may be given as --",
                    cmd.positional, " or as the only argument.\n");
  }
  if (!cmd.subcommands.empty()) {
    out += "\nCommands:\n";
    size_t width = 0;
    for (const Command& c : cmd.subcommands) width = std::max(width, c.name.size());
    for (const Command& c : cmd.subcommands) {
      std::string head = absl::StrCat("  ", c.name, std::string(width - c.name.size() + 2, ' '));
      absl::StrAppend(&out, head, Wrap(c.summary, head.size(), kHelpWidth), "\n");
    }
  }
  if (!cmd.flags.empty())
    absl::StrAppend(&out, "\n", path.size() == 1 ? "Global flags" : "Flags", ":\n",
                    FlagLines(cmd.flags));
  for (size_t i = path.size() - 1; i-- > 0;) {
    if (path[i]->flags.empty()) continue;
    std::vector<const Command*> above(path.begin(), path.begin() + i + 1);
    if (i == 0) {
      absl::StrAppend(&out, "\nGlobal flags:\n", FlagLines(path[i]->flags));
    } else {
      absl::StrAppend(&out, "\nFlags of '", PathLine(above), "':\n", FlagLines(path[i]->flags));
    }
  }
  if (!cmd.subcommands.empty()) {
    absl::StrAppend(&out, "\nRun '", line, " <command> --help' for the flags of a command.\n");
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseCliDuration(absl::string_view text) {
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  bool negative = absl::ConsumePrefix(&rest, "-");
  if (!negative) absl::ConsumePrefix(&rest, "+");
  auto bad = [&text] {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a duration such as 90s, 15m, 1h30m, 14d or 2w, got '", text, "'"));
  };
  if (rest.empty()) return bad();
  absl::Duration total = absl::ZeroDuration();
  // Segments of a number and a unit; days and weeks are ours, the rest absl's.
  while (!rest.empty()) {
    size_t n = 0;
    while (n < rest.size() &&
           (std::isdigit(static_cast<unsigned char>(rest[n])) || rest[n] == '.')) {
      ++n;
    }
    size_t u = n;
    while (u < rest.size() && std::isalpha(static_cast<unsigned char>(rest[u]))) ++u;
    if (n == 0) return bad();
    absl::string_view number = rest.substr(0, n);
    absl::string_view unit = rest.substr(n, u - n);
    if (unit == "d" || unit == "w") {
      double value = 0;
      if (!absl::SimpleAtod(number, &value)) return bad();
      total += absl::Hours(value * (unit == "d" ? 24 : 24 * 7));
    } else {
      absl::Duration d;
      if (!absl::ParseDuration(rest.substr(0, u), &d)) return bad();
      total += d;
    }
    rest.remove_prefix(u);
  }
  return negative ? -total : total;
}

}  // namespace trellis::cli
