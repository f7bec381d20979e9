"""Smoke test: the three real binaries answer health and reflection, follow Redis down and up,
expose metrics, and exit 0 on SIGTERM."""
import signal
import unittest
import urllib.request

from harness import SERVICE_NAMES, Suite


class SmokeTest(unittest.TestCase):
    def test_services_serve_health_reflection_metrics_and_stop_cleanly(self):
        with Suite() as suite:
            for name, svc in suite.services.items():
                self.assertEqual(svc.wait_health("SERVING"), "SERVING", name)
                self.assertEqual(svc.health(SERVICE_NAMES[name]), "SERVING", name)
                self.assertIn(SERVICE_NAMES[name], svc.reflection_services())
                self.assertIn("grpc.health.v1.Health", svc.reflection_services())

            # Metrics: the conventional gRPC server series, counting the calls made above.
            goals = suite.services["goals"]
            body = urllib.request.urlopen(
                f"http://127.0.0.1:{goals.metrics_port}/metrics", timeout=5).read().decode()
            self.assertIn('grpc_server_handled_total{grpc_code="OK",grpc_method="Check"', body)

            # Redis goes away: every service says NOT_SERVING; it returns: SERVING again.
            suite.redis.stop(hard=True)
            for name, svc in suite.services.items():
                self.assertEqual(svc.wait_health("NOT_SERVING"), "NOT_SERVING", name)
            suite.redis.start()
            for name, svc in suite.services.items():
                self.assertEqual(svc.wait_health("SERVING"), "SERVING", name)

            for name, svc in suite.services.items():
                self.assertEqual(svc.stop(signal.SIGTERM), 0, name)
                msgs = [line.get("msg") for line in svc.log_lines()]
                self.assertIn("stopped", msgs, name)


if __name__ == "__main__":
    unittest.main()
