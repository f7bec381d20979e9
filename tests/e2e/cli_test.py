"""trellisctl end to end: every subcommand against the real binaries (Redis and the three services
on free ports, each knowing the others), its output parsed as JSON and its exit status checked,
with a failure per resource (NOT_FOUND, INVALID_ARGUMENT naming the field, PERMISSION_DENIED),
help on every level, and the TLS flags against services serving mutual TLS."""
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

from harness import SECRET, Pki, Redis, Service, free_port

CTL = os.environ["TRELLIS_CTL_BIN"]
TENANT = "t1"


class Stack:
    """Redis and the three services on free ports, each pointed at the others. `extra` flags go
    to every service (TLS)."""

    def __init__(self, extra=(), credentials=None):
        self.workdir = tempfile.mkdtemp(prefix="trellis-ctl-e2e-")
        self.redis = Redis(self.workdir)
        ports = {name: free_port() for name in ("goals", "measurements", "reminders")}
        self.addr = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        peers = [f"--{name}_addr={addr}" for name, addr in self.addr.items()]
        reminder_flags = ["--dispatch_interval=50ms", "--stream_poll_interval=20ms",
                          "--visibility_timeout=3s"]
        self.services = []
        try:
            for name in ("goals", "measurements", "reminders"):
                flags = [*peers, *extra, *(reminder_flags if name == "reminders" else [])]
                self.services.append(Service(name, self.workdir, self.redis.url, flags,
                                             port=ports[name], credentials=credentials))
            for svc in self.services:
                assert svc.wait_health("SERVING") == "SERVING", svc.name
        except BaseException:
            self.close()
            raise
        self.secret_file = os.path.join(self.workdir, "secret")  # written by Service
        with open(self.secret_file) as f:
            assert f.read() == SECRET

    def env(self):
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "TRELLIS_GOALS_ADDR": self.addr["goals"],
                "TRELLIS_MEASUREMENTS_ADDR": self.addr["measurements"],
                "TRELLIS_REMINDERS_ADDR": self.addr["reminders"],
                "TRELLIS_OUTPUT": "json",
                "TRELLIS_DEADLINE": "20s"}

    def close(self):
        for s in self.services:
            s.kill()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def run_ctl(env, *args, stdin=None, timeout=90):
    return subprocess.run([CTL, *args], env=env, capture_output=True, text=True, input=stdin,
                          timeout=timeout)


def ts_in(days=0, minutes=0):
    """An RFC 3339 instant relative to now (the binaries run on the real clock)."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days,
                                                                          minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class CtlTestCase(unittest.TestCase):
    """Runs trellisctl against one Stack for the whole class."""

    stack_flags = ()
    stack_credentials = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.stack_flags, cls.stack_credentials)

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def mint(self, role="clinician", patient=None, sub=None):
        args = ["token", "--secret_file", self.stack.secret_file, "--tenant", TENANT,
                "--role", role]
        if patient:
            args += ["--patient", patient]
        if sub:
            args += ["--sub", sub]
        out = run_ctl(self.stack.env(), *args)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)["token"]

    def ctl_raw(self, *args, token=None, role="clinician", env=None, stdin=None):
        e = self.stack.env()
        e["TRELLIS_TOKEN"] = token if token is not None else self.mint(role)
        e.update(env or {})
        return run_ctl(e, *args, stdin=stdin)

    def ctl(self, *args, **kw):
        """Runs a command that must succeed; its stdout parsed as JSON."""
        out = self.ctl_raw(*args, **kw)
        self.assertEqual(out.returncode, 0, f"trellisctl {' '.join(args)}: {out.stderr}")
        return json.loads(out.stdout)

    def ctl_fails(self, code, *args, exit_status=1, **kw):
        """Runs a command that must fail with gRPC `code`; its stderr."""
        out = self.ctl_raw(*args, **kw)
        self.assertEqual(out.returncode, exit_status,
                         f"trellisctl {' '.join(args)}: {out.stdout} {out.stderr}")
        self.assertTrue(out.stderr.startswith(f"error: {code}: "), out.stderr)
        self.assertEqual(out.stdout, "")
        return out.stderr


class CliTest(CtlTestCase):
    def test_help_is_there_on_every_level_and_usage_errors_exit_2(self):
        env = self.stack.env()
        top = run_ctl(env, "--help")
        self.assertEqual(top.returncode, 0)
        for group in ("goals", "measure", "metrics", "reminders", "token", "audit", "health"):
            self.assertIn(f"  {group} ", top.stdout)
        self.assertIn("--goals_addr HOST:PORT", top.stdout)
        group = run_ctl(env, "goals", "--help")
        self.assertEqual(group.returncode, 0)
        self.assertIn("transition", group.stdout)
        leaf = run_ctl(env, "goals", "create", "--help")
        self.assertEqual(leaf.returncode, 0)
        for flag in ("--patient", "--due DATE", "--direction decrease|increase|reach-range",
                     "--json JSON", "Global flags:", "--deadline DURATION"):
            self.assertIn(flag, leaf.stdout)

        bare = run_ctl(env, "reminders")
        self.assertEqual(bare.returncode, 2)
        self.assertIn("Usage: trellisctl reminders <command>", bare.stderr)
        unknown = run_ctl(env, "goals", "get", "--colour", "red")
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("unknown flag --colour", unknown.stderr)
        no_token = run_ctl(env, "goals", "get", "patients/p1/goals/x")
        self.assertEqual(no_token.returncode, 2)
        self.assertIn("no token", no_token.stderr)
        bad_value = self.ctl_raw("goals", "create", "--patient", "p1", "--due", "someday")
        self.assertEqual(bad_value.returncode, 2)
        self.assertIn("--due: ", bad_value.stderr)

    def test_token_mints_what_the_services_accept_and_health_reports_each_service(self):
        import jwt
        tok = self.mint(role="client", patient="p9", sub="app-9")
        claims = jwt.decode(tok, SECRET, algorithms=["HS256"], audience="trellis")
        self.assertEqual((claims["tenant"], claims["role"], claims["patient"], claims["sub"],
                          claims["iss"]), (TENANT, "client", "p9", "app-9", "trellis"))
        # A client reads its own goals with it, and no one else's (NOT_FOUND, not a hint).
        self.assertEqual(self.ctl("goals", "list", "p9", token=tok)["goals"], [])
        table = self.ctl_raw("token", "--secret_file", self.stack.secret_file, "--output",
                             "table", token="")
        self.assertEqual(table.stdout.count("."), 2)  # just the JWT
        missing = self.ctl_raw("token", "--secret_file", "/nonexistent", token="")
        self.assertEqual(missing.returncode, 2)
        self.assertIn("--secret_file", missing.stderr)

        health = self.ctl("health", token="")
        self.assertTrue(health["serving"])
        self.assertEqual({s["service"]: s["status"] for s in health["services"]},
                         {"trellis.v1.GoalService": "SERVING",
                          "trellis.v1.MeasurementService": "SERVING",
                          "trellis.v1.ReminderService": "SERVING"})
        down = self.ctl_raw("health", token="",
                            env={"TRELLIS_MEASUREMENTS_ADDR": f"127.0.0.1:{free_port()}",
                                 "TRELLIS_DEADLINE": "2s"})
        self.assertEqual(down.returncode, 1)
        report = json.loads(down.stdout)
        self.assertFalse(report["serving"])
        status = {s["service"]: s["status"] for s in report["services"]}
        self.assertEqual(status["trellis.v1.GoalService"], "SERVING")
        self.assertIn(status["trellis.v1.MeasurementService"],
                      ("UNAVAILABLE", "DEADLINE_EXCEEDED"))
        self.assertIn("error: trellis.v1.MeasurementService", down.stderr)

        # --only checks a subset (the down service is not asked); --health_service asks for
        # another health name: "liveness", as the prod overlay's exec probes do, or an unknown
        # name, which the server reports as NOT_FOUND.
        only = self.ctl("health", "--only", "goals,reminders", "--health_service", "liveness",
                        token="", env={"TRELLIS_MEASUREMENTS_ADDR": f"127.0.0.1:{free_port()}"})
        self.assertTrue(only["serving"])
        self.assertEqual([s["service"] for s in only["services"]],
                         ["trellis.v1.GoalService", "trellis.v1.ReminderService"])
        unknown = self.ctl_raw("health", "--only", "goals", "--health_service", "no.such.Name",
                               token="")
        self.assertEqual(unknown.returncode, 1)
        self.assertEqual(json.loads(unknown.stdout)["services"][0]["status"], "NOT_FOUND")
        bad = self.ctl_raw("health", "--only", "billing", token="")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--only", bad.stderr)

    def test_goals_from_vague_draft_to_rated_plan_and_export(self):
        draft = self.ctl("goals", "create", "--patient", "pg", "--title", "Feel less anxious")
        self.assertEqual(draft["lifecycleStatus"], "GOAL_LIFECYCLE_STATUS_PROPOSED")
        smart = self.ctl("goals", "smart", draft["name"])
        self.assertFalse(smart["passes"])
        self.assertEqual([f["letter"] for f in smart["findings"]][:1], ["SMART_LETTER_SPECIFIC"])
        self.assertTrue(any(f["suggestion"] for f in smart["findings"]))

        create = [
            "goals", "create", "--patient", "pg", "--title", "Reduce GAD-7 score from 15 to 7",
            "--description", "Practise breathing exercises for 15 minutes daily and complete a "
            "GAD-7 every two weeks", "--category", "symptom-management", "--metric", "gad7",
            "--direction", "decrease", "--baseline", "15", "--target", "7", "--start", "today",
            "--due", "today+12w", "--concern", "generalised anxiety, worse at work",
            "--expressed_by", "client", "--agreement", "agreed", "--status", "active",
            "--request_id", "create-pg-1"]
        goal = self.ctl(*create)
        self.assertEqual(goal["lifecycleStatus"], "GOAL_LIFECYCLE_STATUS_ACTIVE")
        self.assertEqual(goal["measure"]["target"], 7)
        self.assertEqual(goal["addresses"], [{"text": "generalised anxiety, worse at work"}])
        self.assertEqual(self.ctl(*create)["name"], goal["name"])  # a retry: the same goal

        got = self.ctl("goals", "get", goal["name"])
        self.assertEqual(got["etag"], goal["etag"])
        listed = self.ctl("goals", "list", "--patient", "pg", "--status", "active")
        self.assertEqual([g["name"] for g in listed["goals"]], [goal["name"]])
        every = self.ctl("goals", "list", "pg", "--page_size", "1", "--all")
        self.assertEqual(len(every["goals"]), 2)
        self.assertEqual(every["nextPageToken"], "")

        updated = self.ctl("goals", "update", goal["name"], "--target", "6", "--reason",
                           "agreed at review")
        self.assertEqual(updated["measure"]["target"], 6)
        self.assertEqual(updated["revision"], "2")
        stale = self.ctl_fails("ABORTED", "goals", "update", goal["name"], "--title", "x",
                               "--etag", goal["etag"])
        self.assertIn("reason: ETAG_MISMATCH", stale)

        held = self.ctl("goals", "transition", goal["name"], "--to", "on-hold", "--reason",
                        "travelling")
        self.assertEqual(held["goal"]["lifecycleStatus"], "GOAL_LIFECYCLE_STATUS_ON_HOLD")
        history = self.ctl("goals", "history", goal["name"])
        self.assertEqual([r["kind"] for r in history["revisions"]],
                         ["GOAL_REVISION_KIND_TRANSITION", "GOAL_REVISION_KIND_UPDATE",
                          "GOAL_REVISION_KIND_CREATE"])

        rating = self.ctl("goals", "rate", goal["name"], "--rating", "1", "--note", "good week")
        self.assertEqual(rating["rating"], 1)
        score = self.ctl("goals", "score", "pg")
        self.assertEqual(score["n"], 1)
        self.assertGreater(score["tScore"], 50)

        export = self.ctl_raw("goals", "export", "pg", "--output", "table")
        self.assertEqual(export.returncode, 0, export.stderr)
        bundle = json.loads(export.stdout)
        self.assertEqual(bundle["resourceType"], "Bundle")
        self.assertEqual(len(bundle["entry"]), 2)
        wrapped = self.ctl("goals", "export", "pg")
        self.assertEqual(wrapped["goalCount"], 2)

        # Failures: a goal that does not exist, and a goal without a title.
        missing = self.ctl_fails("NOT_FOUND", "goals", "get", "patients/pg/goals/nope")
        self.assertIn("reason: NOT_FOUND", missing)
        invalid = self.ctl_fails("INVALID_ARGUMENT", "goals", "create", "--patient", "pg")
        self.assertIn("field goal.title:", invalid)

    def test_metrics_measurements_questionnaires_summary_and_export(self):
        metric = self.ctl("metrics", "define", "--id", "panic_attacks", "--display_name",
                          "Panic attacks per week", "--kind", "count-per-period", "--period",
                          "week", "--unit", "{count}", "--min", "0", "--max", "100", "--better",
                          "lower", "--integer")
        self.assertEqual(metric["id"], "panic_attacks")
        ids = [m["id"] for m in self.ctl("metrics", "list", "--all")["metrics"]]
        self.assertEqual(ids[:4], ["phq9", "gad7", "mood", "suds"])
        self.assertIn("panic_attacks", ids)
        bad_metric = self.ctl_fails("INVALID_ARGUMENT", "metrics", "define", "--id", "broken",
                                    "--display_name", "Broken", "--kind", "rating", "--unit",
                                    "{rating}", "--min", "10", "--max", "1", "--better", "higher")
        self.assertIn("field metric.", bad_metric)

        rec = self.ctl("measure", "record", "--patient", "pm", "--metric", "panic_attacks",
                       "--value", "3", "--time", ts_in(days=-1), "--note", "after the exam")
        self.assertEqual(rec["value"], 3)
        self.assertEqual(rec["source"], "MEASUREMENT_SOURCE_CLINICIAN")
        wrong = self.ctl_fails("INVALID_ARGUMENT", "measure", "record", "--patient", "pm",
                               "--metric", "phq9", "--value", "3")
        self.assertIn("field measurement.metric:", wrong)

        gad = self.ctl("measure", "questionnaire", "--patient", "pm", "--instrument", "gad7",
                       "--answers", "2,2,1,2,1,1,1")
        self.assertEqual(gad["measurement"]["questionnaire"]["total"], 10)
        self.assertEqual(gad["safetyFlags"], [])
        phq = self.ctl("measure", "questionnaire", "--patient", "pm", "--instrument", "phq9",
                       "--answers", "1,1,1,1,1,1,1,1,1")
        self.assertEqual([f["item"] for f in phq["safetyFlags"]], [9])
        out_of_range = self.ctl_fails("INVALID_ARGUMENT", "measure", "questionnaire",
                                      "--patient", "pm", "--instrument", "gad7", "--answers",
                                      "5,0,0,0,0,0,0")
        self.assertIn("field answers[0].value:", out_of_range)

        listed = self.ctl("measure", "list", "pm", "--order", "oldest-first")
        self.assertEqual([m["metric"] for m in listed["measurements"]],
                         ["panic_attacks", "gad7", "phq9"])
        only_gad = self.ctl("measure", "list", "pm", "--metric", "gad7")
        self.assertEqual(len(only_gad["measurements"]), 1)

        summary = self.ctl("measure", "summary", "pm")
        self.assertEqual(len(summary["openSafetyFlags"]), 1)
        self.assertEqual({s["metric"] for s in summary["latestScores"]},
                         {"phq9", "gad7", "panic_attacks"})
        table = self.ctl_raw("measure", "summary", "pm", "--output", "table")
        self.assertEqual(table.returncode, 0, table.stderr)

        exported = self.ctl_raw("measure", "export", "pm", "--metric", "gad7,phq9", "--output",
                                "table")
        self.assertEqual(exported.returncode, 0, exported.stderr)
        bundle = json.loads(exported.stdout)
        self.assertEqual(bundle["resourceType"], "Bundle")
        self.assertEqual(len(bundle["entry"]), 2)
        bad_patient = self.ctl_fails("INVALID_ARGUMENT", "measure", "export", "not a patient!")
        self.assertIn("field patient:", bad_patient)

    def test_progress_is_drawn_with_target_path_and_reliable_change_marks(self):
        goal = self.ctl(
            "goals", "create", "--patient", "pp", "--title", "Reduce GAD-7 score from 15 to 7",
            "--description", "Practise breathing exercises for 15 minutes daily",
            "--category", "symptom-management", "--metric", "gad7", "--direction", "decrease",
            "--baseline", "15", "--target", "7", "--start", "today-56d", "--due", "today+28d",
            "--concern", "worry", "--status", "active")
        # Weekly GAD-7 totals falling from 15 to 9, backdated across the last eight weeks.
        totals = [15, 14, 13, 12, 11, 11, 10, 9]
        for week, total in enumerate(totals):
            answers = [0] * 7
            for i in range(total):
                answers[i % 7] += 1
            self.ctl("measure", "questionnaire", "--patient", "pp", "--instrument", "gad7",
                     "--answers", ",".join(map(str, answers)), "--goal", goal["name"],
                     "--time", ts_in(days=-7 * (len(totals) - 1 - week) - 1),
                     "--request_id", f"pp-gad7-{week}")

        progress = self.ctl("measure", "progress", goal["name"])
        self.assertEqual(progress["reliableChange"], "RELIABLE_CHANGE_IMPROVED")
        self.assertEqual(progress["latest"]["value"], 9)
        self.assertEqual(progress["baseline"]["value"], 15)

        svg_path = os.path.join(self.stack.workdir, "progress.svg")
        drawn = self.ctl_raw("measure", "progress", goal["name"], "--output", "table", "--svg",
                             svg_path, "--width", "60", "--height", "12")
        self.assertEqual(drawn.returncode, 0, drawn.stderr)
        lines = drawn.stdout.splitlines()
        self.assertIn("reliable change:  improved (threshold)", lines)
        plot = [line for line in lines if "|" in line or " +" in line]
        self.assertTrue(any("=" * 60 in line for line in plot), drawn.stdout)  # the target
        # 11, 11, 10 and 9 are at least 4 below the baseline of 15: four reliable-change marks.
        self.assertEqual(sum(line.count("*") for line in plot), 4, drawn.stdout)
        self.assertIn("* reliable improvement", drawn.stdout)

        root = ET.parse(svg_path).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        circles = [c.get("class") for c in root.iter("{http://www.w3.org/2000/svg}circle")]
        self.assertEqual(sum(1 for c in circles if c.startswith("value")), len(totals))
        self.assertEqual(circles.count("value reliably-better"), 4)
        classes = {e.get("class") for e in root.iter()}
        self.assertTrue({"target", "expected-path", "reliable-change", "series"} <= classes)

        self.ctl_fails("NOT_FOUND", "measure", "progress", "patients/pp/goals/nope")

    def test_reminders_schedule_pause_preview_and_delete(self):
        tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
        reminder = self.ctl("reminders", "create", "--patient", "pr", "--kind", "practice",
                            "--text", "Breathing practice, 15 minutes", "--start",
                            f"{tomorrow}T20:00", "--zone", "Europe/London", "--rrule",
                            "FREQ=DAILY", "--channel", "push")
        self.assertEqual(reminder["state"], "REMINDER_STATE_ACTIVE")
        self.assertEqual(self.ctl("reminders", "get", reminder["name"])["text"],
                         "Breathing practice, 15 minutes")
        self.assertEqual([r["name"] for r in self.ctl("reminders", "list", "pr")["reminders"]],
                         [reminder["name"]])
        paused = self.ctl("reminders", "pause", reminder["name"], "--until", ts_in(days=7),
                          "--reason", "holiday")
        self.assertEqual(paused["state"], "REMINDER_STATE_PAUSED")
        resumed = self.ctl("reminders", "resume", reminder["name"])
        self.assertEqual(resumed["state"], "REMINDER_STATE_ACTIVE")

        preview = self.ctl("reminders", "preview", "--start", "2030-03-09T02:30", "--zone",
                           "America/New_York", "--rrule", "FREQ=DAILY", "--count", "3",
                           "--from", "2030-01-01")
        self.assertEqual([o["shifted"] for o in preview["occurrences"]], [False, True, False])
        self.assertEqual(preview["occurrences"][1]["localTime"], "2030-03-10T03:30:00-04:00")

        ended = self.ctl("reminders", "delete", reminder["name"])
        self.assertEqual(ended["state"], "REMINDER_STATE_ENDED")
        self.assertEqual(self.ctl("reminders", "list", "pr")["reminders"], [])

        bad_zone = self.ctl_fails("INVALID_ARGUMENT", "reminders", "create", "--patient", "pr",
                                  "--kind", "practice", "--text", "x", "--start",
                                  f"{tomorrow}T20:00", "--zone", "Mars/Olympus_Mons")
        self.assertIn("field reminder.schedule.time_zone:", bad_zone)
        self.ctl_fails("NOT_FOUND", "reminders", "get", "patients/pr/reminders/nope")

    def test_watch_delivers_and_acks_then_completion_counts_in_adherence(self):
        service = self.mint(role="service", sub="platform-1")
        # Nothing due for a new subscriber: --for ends the watch by itself.
        idle = self.ctl_raw("reminders", "watch", "--subscriber", "idle", "--kind", "homework",
                            "--for", "1s", token=service)
        self.assertEqual(idle.returncode, 0, idle.stderr)
        self.assertEqual(idle.stdout, "")

        due = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4))
        reminder = self.ctl("reminders", "create", "--patient", "pw", "--kind", "homework",
                            "--text", "Thought record", "--start",
                            due.strftime("%Y-%m-%dT%H:%M:%S"), "--zone", "UTC")
        watched = self.ctl_raw("reminders", "watch", "--subscriber", "ops", "--max", "1",
                               "--for", "60s", token=service)
        self.assertEqual(watched.returncode, 0, watched.stderr)
        deliveries = [json.loads(line) for line in watched.stdout.splitlines()]
        self.assertEqual(len(deliveries), 1)
        delivery = deliveries[0]
        self.assertEqual(delivery["reminder"]["name"], reminder["name"])
        self.assertTrue(delivery["occurrenceId"].startswith(reminder["name"] + "/occurrences/"))

        # watch acknowledged it: acknowledging again says so.
        again = self.ctl("reminders", "ack", delivery["deliveryId"], "--subscriber", "ops",
                         token=service)
        self.assertTrue(again["alreadyAcknowledged"])
        never = reminder["name"] + "/occurrences/20300101T000000Z"
        self.ctl_fails("NOT_FOUND", "reminders", "ack", never, "--subscriber", "ops",
                       token=service)
        self.ctl_fails("PERMISSION_DENIED", "reminders", "watch", "--subscriber", "ops",
                       "--max", "1")

        done = self.ctl("reminders", "complete", "--reminder", reminder["name"], "--occurrence",
                        delivery["occurrenceId"], "--outcome", "done", "--note", "did it")
        self.assertEqual(done["outcome"], "COMPLETION_OUTCOME_DONE")
        adherence = self.ctl("reminders", "adherence", "--reminder", reminder["name"])
        self.assertEqual(adherence["totals"]["done"], 1)
        self.assertEqual(adherence["currentStreak"], 1)
        by_patient = self.ctl("reminders", "adherence", "--patient", "pw", "--since",
                              ts_in(days=-1))
        self.assertEqual(by_patient["totals"]["scheduled"], 1)
        table = self.ctl_raw("reminders", "adherence", "--patient", "pw", "--output", "table")
        self.assertEqual(table.returncode, 0, table.stderr)

    def test_audit_trail_for_admins_only(self):
        self.ctl("goals", "create", "--patient", "pa", "--title", "Walk 20 minutes daily")
        self.ctl_fails("NOT_FOUND", "goals", "get", "patients/pa/goals/nope")
        events = self.ctl("audit", "--patient", "pa", "--since", ts_in(days=-1),
                          role="admin")["events"]
        actions = [(e["action"], e["resultCode"]) for e in events]
        self.assertIn(("GoalService.CreateGoal", "OK"), actions)
        self.assertIn(("GoalService.GetGoal", "NOT_FOUND"), actions)
        self.assertTrue(all(e["patient"] == "pa" for e in events))
        self.ctl_fails("PERMISSION_DENIED", "audit")

    def test_json_file_input_from_stdin(self):
        request = {"goal": {"patient": "pj", "title": "Sleep 7 hours a night",
                            "measure": {"metric": "mood"}}}
        goal = self.ctl("goals", "create", "--json_file", "-", stdin=json.dumps(request))
        self.assertEqual(goal["measure"]["metric"], "mood")
        broken = self.ctl_raw("goals", "create", "--json", '{"goal": {"titel": "typo"}}')
        self.assertEqual(broken.returncode, 2)
        self.assertIn("--json: ", broken.stderr)


class CliTlsTest(CtlTestCase):
    """The TLS flags against services that serve mutual TLS."""

    @classmethod
    def setUpClass(cls):
        workdir = tempfile.mkdtemp(prefix="trellis-ctl-pki-")
        cls.pki_dir = workdir
        cls.pki = Pki(workdir)
        cls.stack_flags = cls.pki.mutual_tls_args()
        cls.stack_credentials = cls.pki.client_credentials()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def test_health_and_calls_over_mutual_tls(self):
        tls = ["--tls_ca_file", self.pki.ca, "--tls_cert_file", self.pki.cert, "--tls_key_file",
               self.pki.key, "--tls_server_name_override", "localhost"]
        health = self.ctl("health", *tls, token="")
        self.assertTrue(health["serving"])
        self.assertEqual(self.ctl("goals", "list", "p1", *tls)["goals"], [])
        from_env = self.ctl("health", token="", env={"TRELLIS_TLS_CA_FILE": self.pki.ca,
                                                     "TRELLIS_TLS_CERT_FILE": self.pki.cert,
                                                     "TRELLIS_TLS_KEY_FILE": self.pki.key})
        self.assertTrue(from_env["serving"])

        # Without a client certificate, or in plaintext, the handshake is refused.
        for flags in (["--tls_ca_file", self.pki.ca], []):
            refused = self.ctl_raw("health", *flags, token="", env={"TRELLIS_DEADLINE": "3s"})
            self.assertEqual(refused.returncode, 1, refused.stderr)
            self.assertFalse(json.loads(refused.stdout)["serving"])
        half = self.ctl_raw("health", "--tls_cert_file", self.pki.cert, token="")
        self.assertEqual(half.returncode, 2)
        self.assertIn("--tls_key_file", half.stderr)


if __name__ == "__main__":
    unittest.main()
