"""The integration examples (examples/python, examples/node) run against a real stack: a private
redis-server and the three service binaries on free loopback ports. Each example checks what it
receives and exits non-zero when a check fails; this test passes when it exits 0."""
import os
import shutil
import subprocess
import sys
import unittest

from harness import ServicesTestCase, free_port, token

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples")
# The examples bound their own run (--budget_seconds 45); this is the backstop.
EXAMPLE_TIMEOUT_S = 60


class ExampleTestCase(ServicesTestCase):
    """Starts goals, measurements and reminders, each knowing where its peers listen, and runs one
    example against them with the tokens a platform would hold."""

    def setUp(self):
        super().setUp()
        ports = {name: free_port() for name in ("goals", "measurements", "reminders")}
        peers = [f"--{name}_addr=127.0.0.1:{port}" for name, port in ports.items()]
        for name, port in ports.items():
            self.start(name, peers, port=port)
        self.env = {
            **os.environ,
            "TRELLIS_REMINDERS_ADDR": f"127.0.0.1:{ports['reminders']}",
            "TRELLIS_MEASUREMENTS_ADDR": f"127.0.0.1:{ports['measurements']}",
            # The platform's own identity, and the clinician it acts for (harness.token: HS256
            # with the secret the services were started with).
            "TRELLIS_SERVICE_TOKEN": token(sub="platform-backend", role="service"),
            "TRELLIS_CLINICIAN_TOKEN": token(sub="clin-1", role="clinician"),
            "TRELLIS_EXAMPLE_PATIENT": "p-example",
        }

    def run_example(self, argv, cwd):
        try:
            out = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True,
                                 timeout=EXAMPLE_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail(f"the example did not finish in {EXAMPLE_TIMEOUT_S}s; output so far:\n"
                      f"{e.stdout or ''}{e.stderr or ''}")
        print(out.stdout, end="", flush=True)
        print(out.stderr, end="", file=sys.stderr, flush=True)
        self.assertEqual(out.returncode, 0, f"the example failed:\n{out.stdout}{out.stderr}")
        self.assertIn("all checks passed", out.stdout)
        # Every step ran: the delivery was sent, the answers stored, the summary read.
        for step in ("setup:", "send:", "questionnaire:", "completion:", "summary:"):
            self.assertIn(step, out.stdout)


class PythonExampleTest(ExampleTestCase):
    def test_platform_backend_runs_against_the_real_stack(self):
        # TRELLIS_PY_STUBS (the build's generated code) comes through from the ctest environment.
        self.run_example(["/usr/bin/python3", "platform_backend.py"],
                         os.path.join(EXAMPLES, "python"))


class NodeExampleTest(ExampleTestCase):
    def test_platform_backend_runs_against_the_real_stack(self):
        node_dir = os.path.join(EXAMPLES, "node")
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/bootstrap.sh installs it)")
        self.assertTrue(os.path.isdir(os.path.join(node_dir, "node_modules", "@grpc")),
                        "examples/node/node_modules is missing: run scripts/bootstrap.sh "
                        "(npm ci in examples/node)")
        self.run_example([node, "platform_backend.js"], node_dir)


if __name__ == "__main__":
    unittest.main()
