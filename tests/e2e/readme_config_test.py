"""The README's configuration table against the binaries' own --help, so neither can drift: every
flag a service accepts has a row, every row names a real flag, flags of one service only are
marked so, and the defaults written in the table are the defaults the binaries use."""
import os
import re
import subprocess
import unittest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
SERVICES = ("goals", "measurements", "reminders")

# Abseil's --help prints each flag as "    --name (help text ...); default: value;", wrapped
# over indented lines.
FLAG_START = re.compile(r"^    --(?=[a-z0-9_]+ \()", re.M)
FLAG_BLOCK = re.compile(r"^([a-z0-9_]+) \((.*)\);\s+default: (.*);\s*$", re.S)


def help_flags(service):
    """{flag: (help text, default)} from the service binary's --help."""
    binary = os.environ[f"TRELLIS_{service.upper()}_BIN"]
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    flags = {}
    for block in FLAG_START.split(text)[1:]:
        block = block.split("\n\n")[0]  # the last flag of a group ends at a blank line
        match = FLAG_BLOCK.match(block)
        if match is None:
            raise AssertionError(f"unparsable flag in trellis-{service} --help: {block!r}")
        name, text_, default = match.groups()
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == '"':
            default = default[1:-1]
        flags[name] = (" ".join(text_.split()), default)
    if not flags:
        raise AssertionError(f"no flags found in trellis-{service} --help:\n{text[:2000]}")
    return flags


def readme_rows():
    """[(flags, only_service or None, default cell)] from the README's Configuration table."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        first = cells[0]
        only = re.search(r"\((goals|measurements|reminders)\)\s*$", first)
        rows.append((re.findall(r"`--([a-z0-9_]+)`", first), only.group(1) if only else None,
                     cells[1]))
    return rows, section


class ReadmeConfigurationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.help = {s: help_flags(s) for s in SERVICES}
        cls.rows, cls.section = readme_rows()

    def test_every_flag_has_a_row_and_every_row_a_flag(self):
        accepted = set().union(*(set(f) for f in self.help.values()))
        documented = {name for names, _, _ in self.rows for name in names}
        self.assertEqual(sorted(accepted - documented), [],
                         "flags the services accept that the README table leaves out")
        self.assertEqual(sorted(documented - accepted), [],
                         "README table rows naming flags no service accepts")

    def test_service_specific_flags_are_marked_with_their_service(self):
        for names, only, _ in self.rows:
            for name in names:
                owners = [s for s in SERVICES if name in self.help[s]]
                if len(owners) == len(SERVICES):
                    self.assertIsNone(only, f"--{name} is marked ({only}) but all services take it")
                else:
                    self.assertEqual([only], owners, f"--{name} is taken only by {owners}")

    def test_defaults_in_the_table_are_the_binaries_defaults(self):
        for names, only, cell in self.rows:
            cell = cell.replace("`", "").strip()
            owners = [only] if only else list(SERVICES)
            defaults = {name: [self.help[s][name][1] for s in owners] for name in names}
            with self.subTest(flags=names, cell=cell):
                if cell == "" or cell.startswith("--"):
                    # No default, or one derived from another flag: the binary's own is empty.
                    for name, values in defaults.items():
                        self.assertEqual(set(values), {""}, f"--{name}")
                elif " / " in cell:
                    # One value per service, in the order goals / measurements / reminders.
                    # A binary shared by name may default to -1, "the service's default", and
                    # name the real one in its help text.
                    self.assertEqual(len(names), 1)
                    name = names[0]
                    for service, value in zip(owners, cell.split(" / "), strict=True):
                        text, default = self.help[service][name]
                        if default == "-1":
                            self.assertIn(value, text, f"trellis-{service} --{name}")
                        else:
                            self.assertEqual(default, value, f"trellis-{service} --{name}")
                else:
                    values = [v.split(" (")[0].strip() for v in cell.split(", ")]
                    if len(values) == 1:
                        values *= len(names)
                    self.assertEqual(len(values), len(names))
                    for name, value in zip(names, values):
                        self.assertEqual(set(defaults[name]), {value}, f"--{name}")

    def test_every_environment_twin_follows_the_documented_rule(self):
        # The table says --some_flag's twin is TRELLIS_SOME_FLAG; --help names each twin.
        self.assertIn("`--redis_url` is `TRELLIS_REDIS_URL`", self.section)
        for service, flags in self.help.items():
            for name, (text, _) in flags.items():
                twin = "TRELLIS_" + name.upper()
                if "(env " in text:
                    self.assertIn(f"(env {twin}", text, f"trellis-{service} --{name}")
        self.assertIn("TRELLIS_REDIS_PASSWORD", self.section)


if __name__ == "__main__":
    unittest.main()
