"""Observability end to end, with the real binaries: each one's /metrics shows the gRPC series of
the calls made, a traceparent sent to one service reaches the log lines of the peers it calls,
and every metric the shipped dashboard and alert rules read is one the services export (the
Redis error series once Redis has gone away)."""
import datetime
import json
import os
import re
import subprocess
import tempfile
import unittest

import grpc
import yaml

from harness import ServicesTestCase, auth, free_port, token, wait_until
from trellis.v1 import common_pb2, goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc

OBSERVABILITY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                             "observability")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
REQUEST_ID = "e2e-req-42"

# Series Prometheus makes itself for every target rather than reading them from one.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}


def samples(text):
    """{series as exposed (name and labels): value} of a scrape."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def families(text):
    """{family name: type} of a scrape's # TYPE lines."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def grpc_series(name, service, method, code=None):
    code_label = f'grpc_code="{code}",' if code else ""
    return (f'{name}{{{code_label}grpc_method="{method}",grpc_service="trellis.v1.{service}",'
            f'grpc_type="unary"}}')


def metric_names(expr):
    """The metric names a PromQL expression reads (functions, keywords, labels, durations and
    strings left out)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    s = re.sub(r"\$\{?\w+\}?", "", s)  # Grafana variables
    s = re.sub(r"\{[^}]*\}", "", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)  # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def dashboard_exprs():
    with open(os.path.join(OBSERVABILITY, "dashboard.json")) as f:
        dash = json.load(f)
    exprs = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            # label_values(<selector>, label): the selector is PromQL.
            inner = re.match(r"label_values\((.*),\s*\w+\)$", var["definition"])
            exprs.append((f"variable {var['name']}", inner.group(1)))
    return exprs


def alert_exprs():
    with open(os.path.join(OBSERVABILITY, "alerts.yaml")) as f:
        rules = yaml.safe_load(f)
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


class ObservabilityTest(ServicesTestCase):
    def start_suite(self):
        """The three services, each knowing the others' addresses."""
        ports = {name: free_port() for name in ("goals", "measurements", "reminders")}
        peers = [f"--goals_addr=127.0.0.1:{ports['goals']}",
                 f"--measurements_addr=127.0.0.1:{ports['measurements']}",
                 f"--reminders_addr=127.0.0.1:{ports['reminders']}"]
        return {name: self.start(name, peers, port=port) for name, port in ports.items()}

    def exercise(self, svc):
        """A goal (OK), a missing goal (NOT_FOUND), a metric, and a reminder for both created with
        a traceparent, so the reminder service checks them with their services in that trace."""
        md = auth(token(role="clinician"))
        goals = goals_pb2_grpc.GoalServiceStub(svc["goals"].channel)
        goal = goals.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
            patient="p1", title="Practise breathing exercises for 15 minutes daily")),
            metadata=md, timeout=10)
        with self.assertRaises(grpc.RpcError) as missing:
            goals.GetGoal(G.GetGoalRequest(name="patients/p1/goals/nosuchgoal"), metadata=md,
                          timeout=10)
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)
        measurements_pb2_grpc.MeasurementServiceStub(svc["measurements"].channel).DefineMetric(
            M.DefineMetricRequest(metric=M.Metric(
                id="minutes_practised", display_name="Minutes of breathing practice",
                kind=M.METRIC_KIND_DURATION_MINUTES, min_value=0, max_value=600,
                better_direction=M.BETTER_DIRECTION_HIGHER)), metadata=md, timeout=10)
        soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
        reminders_pb2_grpc.ReminderServiceStub(svc["reminders"].channel).CreateReminder(
            R.CreateReminderRequest(reminder=R.Reminder(
                patient="p1", goal=goal.name, metric="minutes_practised",
                kind=R.REMINDER_KIND_PRACTICE, text="Breathing practice",
                schedule=R.Schedule(
                    start=common_pb2.LocalDateTime(year=soon.year, month=soon.month,
                                                   day=soon.day, hours=soon.hour),
                    time_zone="UTC", rrule="FREQ=DAILY"))),
            metadata=md + (("traceparent", TRACEPARENT), ("x-request-id", REQUEST_ID)),
            timeout=10)

    def test_metrics_show_the_grpc_series_and_a_traceparent_reaches_the_peers_logs(self):
        svc = self.start_suite()
        self.exercise(svc)

        goals = samples(svc["goals"].metrics())
        self.assertEqual(goals.get(grpc_series("grpc_server_started_total", "GoalService",
                                               "CreateGoal")), 1)
        self.assertEqual(goals.get(grpc_series("grpc_server_handled_total", "GoalService",
                                               "CreateGoal", "OK")), 1)
        self.assertEqual(goals.get(grpc_series("grpc_server_handled_total", "GoalService",
                                               "GetGoal", "NotFound")), 1)
        # The reminder service's check of the goal.
        self.assertEqual(goals.get(grpc_series("grpc_server_handled_total", "GoalService",
                                               "GetGoal", "OK")), 1)
        self.assertEqual(goals.get(grpc_series("grpc_server_handling_seconds_count",
                                               "GoalService", "GetGoal")), 2)
        measurements = samples(svc["measurements"].metrics())
        self.assertEqual(measurements.get(grpc_series(
            "grpc_server_handled_total", "MeasurementService", "GetMetric", "OK")), 1)
        reminders = samples(svc["reminders"].metrics())
        self.assertEqual(reminders.get(grpc_series(
            "grpc_server_handled_total", "ReminderService", "CreateReminder", "OK")), 1)
        for name, scraped in (("goals", goals), ("measurements", measurements),
                              ("reminders", reminders)):
            self.assertEqual(scraped.get("trellis_redis_up"), 1, name)
            self.assertGreater(scraped.get("process_resident_memory_bytes", 0), 0, name)
            self.assertGreater(scraped.get("process_open_fds", 0), 0, name)
            self.assertTrue(any(s.startswith("trellis_redis_command_duration_seconds_count{")
                                for s in scraped), name)

        def rpc_lines(service, method):
            return [line for line in svc[service].log_lines()
                    if line.get("msg") == "rpc" and line.get("method") == method]

        created = rpc_lines("reminders", "/trellis.v1.ReminderService/CreateReminder")
        self.assertEqual(len(created), 1)
        self.assertEqual(created[0]["trace_id"], TRACE_ID)
        self.assertEqual(created[0]["request_id"], REQUEST_ID)
        for service, method in (("goals", "/trellis.v1.GoalService/GetGoal"),
                                ("measurements", "/trellis.v1.MeasurementService/GetMetric")):
            traced = [line for line in rpc_lines(service, method)
                      if line.get("trace_id") == TRACE_ID]
            self.assertEqual(len(traced), 1, f"{service}: {rpc_lines(service, method)}")
            self.assertEqual(traced[0]["request_id"], REQUEST_ID, service)
            self.assertEqual(traced[0]["code"], "OK", service)
        # The goal the test itself looked for is another trace, with its own request id.
        not_found = [line for line in rpc_lines("goals", "/trellis.v1.GoalService/GetGoal")
                     if line["code"] == "NOT_FOUND"]
        self.assertEqual(len(not_found), 1)
        self.assertNotEqual(not_found[0]["trace_id"], TRACE_ID)
        self.assertEqual(not_found[0]["request_id"], not_found[0]["trace_id"])

    def test_dashboard_and_alerts_read_only_series_the_services_export(self):
        exprs = dashboard_exprs() + alert_exprs()
        self.assertGreater(len(exprs), 20)

        # The dashboard's queries are PromQL once Grafana's variables are filled in: promtool
        # checks them as recording rules (the alert rules have their own ctest check).
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}",
             "expr": e.replace("$__rate_interval", "5m").replace("$job", "trellis-.*")}
            for i, (_, e) in enumerate(dashboard_exprs())]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=self.workdir,
                                         delete=False) as f:
            yaml.safe_dump(rules, f)
        checked = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                                 text=True, timeout=60)
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)

        svc = self.start_suite()
        self.exercise(svc)
        exported = {}
        for s in svc.values():
            exported.update(families(s.metrics()))
        # Redis goes away: the error series appear, and trellis_redis_up says so.
        self.redis.stop(hard=True)
        def scrape_once_redis_is_down(s):
            text = s.metrics()
            down = samples(text).get("trellis_redis_up") == 0
            return text if down and "trellis_redis_command_errors_total{" in text else None

        for name, s in svc.items():
            text = wait_until(lambda s=s: scrape_once_redis_is_down(s), 20)
            self.assertTrue(text, f"{name} does not report Redis down with its errors")
            exported.update(families(text))

        def is_exported(name):
            if name in exported or name in PROMETHEUS_SYNTHETIC:
                return True
            base, _, suffix = name.rpartition("_")
            return suffix in ("bucket", "sum", "count") and \
                exported.get(base) in ("histogram", "summary")

        missing = sorted({(where, n) for where, e in exprs for n in metric_names(e)
                          if not is_exported(n)})
        self.assertEqual(missing, [], "series read by the dashboard or the alerts that no "
                                      "service exports")
        # The extraction itself sees what it should.
        self.assertEqual(metric_names('sum by (le) (rate(a_b_bucket{job=~"$job"}[5m])) / '
                                      'ignoring (x) group_left c:d offset 5m > 1e3'),
                         {"a_b_bucket", "c:d"})


if __name__ == "__main__":
    unittest.main()
