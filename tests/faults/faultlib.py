"""Shared pieces of the fault-injection scenarios (issue 10): the end-to-end harness of tests/e2e
(a private redis-server and the real service binaries on free loopback ports in a temp dir),
extended with what breaking things needs: a whole stack whose processes can be killed, frozen and
restarted on their own ports and data directory, process figures from /proc, a small Redis client
for INFO and key counts, and the result row every scenario reports.

Sizes: each scenario has a CI size (the ctest subset, `make test`) and a full size (`make faults`,
TRELLIS_FAULTS_FULL=1); single figures can be overridden with the TRELLIS_FAULTS_* variables named
where they are read."""
import json
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import Redis, Service, auth, free_port, token, wait_until  # noqa: E402,F401

import grpc  # noqa: E402

FULL = os.environ.get("TRELLIS_FAULTS_FULL") == "1"


def size(name, ci, full):
    """A scenario size: TRELLIS_FAULTS_<NAME> if set, else the full or the CI figure."""
    raw = os.environ.get(f"TRELLIS_FAULTS_{name.upper()}")
    if raw:
        return type(ci)(raw)
    return full if FULL else ci


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# ---------------------------------------------------------------------------------------------
# Results


class Result:
    """One row of the table: what was injected, how many requests, how many were acknowledged,
    lost and duplicated, the error window, and the verdict. `fail()` records a failed check;
    `known_bug()` records a failed check that is a reported service bug (it fails `make faults`,
    and the CI subset only when TRELLIS_FAULTS_STRICT=1)."""

    def __init__(self, scenario, injected):
        self.scenario = scenario
        self.injected = injected
        self.requests = 0
        self.acknowledged = 0
        self.lost = 0
        self.duplicates = 0
        self.error_window = "-"
        self.failures = []
        self.bugs = []
        self.notes = []
        self.figures = {}
        self.started = time.time()
        self.seconds = 0.0
        self.report_only = False

    def fail(self, message):
        log(f"[{self.scenario}] FAILED CHECK: {message}")
        self.failures.append(message)

    def check(self, ok, message):
        if not ok:
            self.fail(message)
        return ok

    def known_bug(self, message):
        log(f"[{self.scenario}] SERVICE BUG: {message}")
        self.bugs.append(message)

    def note(self, message):
        log(f"[{self.scenario}] {message}")
        self.notes.append(message)

    @property
    def result(self):
        if self.failures:
            return "FAIL"
        if self.bugs:
            return "FAIL (bug)"
        return "REPORT" if self.report_only else "PASS"

    def passed(self, strict_bugs):
        return not self.failures and (not self.bugs or not strict_bugs)

    def as_dict(self):
        return {"scenario": self.scenario, "injected": self.injected, "requests": self.requests,
                "acknowledged": self.acknowledged, "lost": self.lost,
                "duplicates": self.duplicates, "error_window": self.error_window,
                "result": self.result, "seconds": round(self.seconds, 1),
                "failures": self.failures, "bugs": self.bugs, "notes": self.notes,
                "figures": self.figures}


COLUMNS = [("scenario", 24), ("injected", 46), ("requests", 9), ("acknowledged", 12),
           ("lost", 5), ("duplicates", 10), ("error_window", 22), ("result", 10)]


def table(rows):
    """The results as a Markdown table (what `make faults` prints and docs/reliability.md keeps)."""
    head = "| " + " | ".join(name.replace("_", " ") for name, _ in COLUMNS) + " |"
    rule = "| " + " | ".join("---" for _ in COLUMNS) + " |"
    lines = [head, rule]
    for r in rows:
        d = r.as_dict() if isinstance(r, Result) else r
        lines.append("| " + " | ".join(str(d[name]) for name, _ in COLUMNS) + " |")
    return "\n".join(lines)


def run_scenario(result, body):
    """Runs body(result), turning an exception into a failed check, and times it."""
    t0 = time.monotonic()
    try:
        body(result)
    except Exception as e:  # a scenario that breaks is a failed scenario, with its traceback
        traceback.print_exc()
        result.fail(f"scenario raised {type(e).__name__}: {e}")
    finally:
        result.seconds = time.monotonic() - t0
    return result


# ---------------------------------------------------------------------------------------------
# Redis: a tiny RESP client (INFO, DBSIZE, SCAN, XLEN) beside the harness's


def resp_command(port, *args, timeout=5):
    """Sends one command and returns the parsed reply (bytes, int, list, or an Exception object
    for an error reply)."""
    payload = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (x if isinstance(x, bytes) else str(x).encode()
                                                  for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        f = s.makefile("rb")
        return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ValueError(f"unexpected reply {line!r}")


def redis_info(port, section=""):
    raw = resp_command(port, "INFO", *([section] if section else []))
    out = {}
    for line in raw.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def redis_keys(port, pattern="*"):
    keys, cursor = [], b"0"
    while True:
        cursor, batch = resp_command(port, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys.extend(batch)
        if cursor == b"0":
            return keys


# ---------------------------------------------------------------------------------------------
# Processes


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def alive(proc):
    return proc is not None and proc.poll() is None


class Stack:
    """A temp dir, a Redis (its own options) and services on fixed free ports, each told the
    others' addresses, so a stopped service can come back where its peers expect it. Use as a
    context manager: every process it started is killed (SIGCONT first, for frozen ones) and the
    temp dir removed, whatever happens (TRELLIS_FAULTS_KEEP=1 keeps the dir, for reading logs)."""

    NAMES = ("goals", "measurements", "reminders")

    def __init__(self, redis_args=(), names=NAMES, service_args=None):
        self.redis_args = list(redis_args)
        self.names = names
        self.service_args = service_args or {}
        self.ports = {n: free_port() for n in Stack.NAMES}
        self.services = {}
        self.extra_processes = []   # replicas beyond the one per name
        self.workdir = None
        self.redis = None

    def peer_args(self):
        # No per-tenant rate limit (its default, 2000 calls/s, is within reach of the writers on a
        # fast machine): the scenarios break storage and processes, and a RESOURCE_EXHAUSTED
        # answer would only hide what they measure.
        return ["--rate_limit_per_tenant=0",
                f"--goals_addr=127.0.0.1:{self.ports['goals']}",
                f"--measurements_addr=127.0.0.1:{self.ports['measurements']}",
                f"--reminders_addr=127.0.0.1:{self.ports['reminders']}"]

    def start_storage(self):
        """Starts the Redis the services use (self.redis); subclasses start other kinds."""
        self.redis = Redis(self.workdir, self.redis_args)

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix="trellis-faults-")
        try:
            self.start_storage()
            self.start_services()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def start_services(self, attempts=3):
        """Starts every service on the ports picked in advance (each is told the others'). A port
        that was free when picked can be taken by the time a service binds it (tests run side by
        side, and outgoing connections use the same range): then every service started so far is
        stopped, all ports are picked again, and the start is retried."""
        for attempt in range(attempts):
            try:
                for n in self.names:
                    self.start(n)
                return
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == attempts - 1:
                    raise
                log(f"a picked port was taken meanwhile; starting the services again ({e!s:.80})")
                for svc in self.services.values():
                    svc.kill()
                    svc.channel.close()
                self.services = {}
                self.ports = {n: free_port() for n in Stack.NAMES}

    def start(self, name, extra=(), port=None):
        """Starts (or restarts) the service `name` on its port and waits until it is SERVING."""
        args = [*self.peer_args(), *self.service_args.get(name, []), *extra]
        svc = Service(name, self.workdir, self.redis.url, args,
                      port=self.ports[name] if port is None else port)
        if port is None:
            self.services[name] = svc
        else:
            self.extra_processes.append(svc)
        got = svc.wait_health("SERVING", limit=30)
        if got != "SERVING":
            raise RuntimeError(f"{name} did not become SERVING: {svc.health()}")
        return svc

    def replica(self, name, extra=()):
        """Another replica of `name` on a port of its own."""
        return self.start(name, extra, port=free_port())

    def all_processes(self):
        return [*self.services.values(), *self.extra_processes]

    def __exit__(self, *exc):
        for svc in self.all_processes():
            try:
                if svc.proc.poll() is None:
                    svc.proc.send_signal(signal.SIGCONT)
                svc.kill()
                svc.channel.close()
            except Exception:
                pass
        if self.redis is not None:
            try:
                if getattr(self.redis, "proc", None) is not None:
                    self.redis.proc.send_signal(signal.SIGCONT)
                self.redis.stop()
            except Exception:
                pass
        if self.workdir:
            if os.environ.get("TRELLIS_FAULTS_KEEP") == "1":
                print(f"faults: logs kept in {self.workdir}", file=sys.stderr)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return False

    def channel(self, name):
        return self.services[name].channel

    def redis_kill(self):
        """SIGKILL, as a crash of the Redis process (the OS keeps what Redis had written)."""
        self.redis.stop(hard=True)

    def redis_restart(self):
        """Starts Redis again on its port with its data directory (it replays the AOF); returns
        the monotonic time at which it answered PING."""
        self.redis.start()
        return time.monotonic()

    def redis_freeze(self):
        self.redis.proc.send_signal(signal.SIGSTOP)

    def redis_thaw(self):
        self.redis.proc.send_signal(signal.SIGCONT)


# ---------------------------------------------------------------------------------------------
# Calls


CLINICIAN = auth(token(role="clinician", ttl=4 * 3600))
PLATFORM = auth(token(sub="platform-1", role="service", ttl=4 * 3600))


class Counter:
    """Thread-safe counts by key (request outcomes by gRPC code)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def get(self, key):
        with self.lock:
            return self.counts.get(key, 0)

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


def longest_silence(writers, since):
    """The longest time without an acknowledgement by `writers` from `since` on, and when it
    began: (seconds, start), or (None, None) when nothing was acknowledged after `since`."""
    marks = [since, *sorted(t for w in writers for t in w.ack_times if t > since)]
    gaps = [(b - a, a) for a, b in zip(marks, marks[1:])]
    return max(gaps) if gaps else (None, None)


def code_of(e):
    return e.code().name if isinstance(e, grpc.RpcError) else type(e).__name__


def write_json(path, rows, extra):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**extra, "scenarios": [r.as_dict() for r in rows]}, f, indent=2)


# ---------------------------------------------------------------------------------------------
# Clinical fixtures the scenarios share (the same shapes as tests/e2e uses)

import datetime  # noqa: E402

from google.protobuf import timestamp_pb2  # noqa: E402
from trellis.v1 import common_pb2  # noqa: E402
from trellis.v1 import goals_pb2 as G, goals_pb2_grpc  # noqa: E402,F401
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc  # noqa: E402,F401
from trellis.v1 import reminders_pb2 as R, reminders_pb2_grpc  # noqa: E402


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def ts(dt):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(dt)
    return t


def local(dt):
    """A UTC datetime as a LocalDateTime (schedules in these scenarios are in UTC)."""
    return common_pb2.LocalDateTime(year=dt.year, month=dt.month, day=dt.day, hours=dt.hour,
                                    minutes=dt.minute, seconds=dt.second)


def occurrence_id(reminder_name, due):
    return reminder_name + "/occurrences/" + due.strftime("%Y%m%dT%H%M%SZ")


def one_shot_reminder(stub, patient, due, text="Breathing, 5 minutes", **fields):
    """A reminder that fires once, at `due` (UTC, whole seconds)."""
    return stub.CreateReminder(R.CreateReminderRequest(reminder=R.Reminder(
        patient=patient, kind=R.REMINDER_KIND_PRACTICE, text=text,
        schedule=R.Schedule(start=local(due), time_zone="UTC"), **fields)),
        metadata=CLINICIAN, timeout=10)


def gad7_answers(total):
    values = [0] * 7
    for i in range(total):
        values[i % 7] += 1
    return [M.ItemAnswer(item=i + 1, value=v) for i, v in enumerate(values)]


def stalled_goal(goal_stub, meas_stub, patient, weeks=7, submit=None):
    """An active GAD-7 goal (12 to 6) started `weeks` - 1 weeks ago with a flat weekly GAD-7 of
    12: its progress is stalled, so reading it enqueues an achievement write-back (NO_PROGRESS,
    needs review) to the goal. `submit` limits how many of the weekly scores are recorded now."""
    now = utcnow().replace(microsecond=0)
    start = now - datetime.timedelta(weeks=weeks - 1, hours=1)
    goal = goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
        patient=patient, title="Reduce GAD-7 score from 12 to 6",
        description="Weekly worry-time practice with a therapist-guided plan",
        category=G.GOAL_CATEGORY_SYMPTOM_MANAGEMENT,
        measure=common_pb2.Measure(metric="gad7", direction=common_pb2.MEASURE_DIRECTION_DECREASE,
                                   baseline=12, target=6),
        start_date=common_pb2.LocalDate(year=start.year, month=start.month, day=start.day),
        due_date=common_pb2.LocalDate(
            **dict(zip(("year", "month", "day"),
                       (lambda d: (d.year, d.month, d.day))(now + datetime.timedelta(weeks=6))))),
        addresses=[G.Concern(text="worry")],
        lifecycle_status=G.GOAL_LIFECYCLE_STATUS_ACTIVE)), metadata=CLINICIAN, timeout=10)
    for week in range(weeks if submit is None else submit):
        submit_gad7(meas_stub, patient, goal.name, start + datetime.timedelta(weeks=week), week)
    return goal


def submit_gad7(meas_stub, patient, goal_name, when, week, timeout=10):
    return meas_stub.SubmitQuestionnaire(M.SubmitQuestionnaireRequest(
        patient=patient, instrument="gad7", answers=gad7_answers(12), observe_time=ts(when),
        source=M.MEASUREMENT_SOURCE_CLIENT, goal=goal_name,
        request_id=f"{goal_name.rsplit('/', 1)[-1]}-week-{week}"), metadata=CLINICIAN,
        timeout=timeout)


def define_minutes_metric(meas_stub):
    meas_stub.DefineMetric(M.DefineMetricRequest(metric=M.Metric(
        id="minutes_practised", display_name="Minutes of breathing practice",
        kind=M.METRIC_KIND_DURATION_MINUTES, min_value=0, max_value=600,
        better_direction=M.BETTER_DIRECTION_HIGHER), request_id="define-minutes"),
        metadata=CLINICIAN, timeout=10)


def simple_goal(goal_stub, patient, title="Practise breathing exercises for 15 minutes daily"):
    return goal_stub.CreateGoal(G.CreateGoalRequest(goal=G.Goal(patient=patient, title=title)),
                                metadata=CLINICIAN, timeout=10)


def daily_reminder(rem_stub, patient, goal_name="", metric="", start=None):
    """A daily practice reminder (UTC) starting at `start` (default: 30 minutes from now)."""
    start = start or (utcnow() + datetime.timedelta(minutes=30)).replace(second=0, microsecond=0)
    return rem_stub.CreateReminder(R.CreateReminderRequest(reminder=R.Reminder(
        patient=patient, kind=R.REMINDER_KIND_PRACTICE, text="Breathing practice", goal=goal_name,
        metric=metric, schedule=R.Schedule(start=local(start), time_zone="UTC",
                                           rrule="FREQ=DAILY"))),
        metadata=CLINICIAN, timeout=10), start


class Ledger:
    """What a platform's subscriber streams received and acknowledged, shared by its streams."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = {}     # delivery_id -> count
        self.first_seen = {}   # delivery_id -> monotonic time
        self.acked = {}        # delivery_id -> monotonic time the ack was answered
        # A copy that reached the client after its ack was answered: the server handed it over
        # again after the acknowledgement (a service bug).
        # (delivery_id, seconds after its ack, replica, attempt)
        self.after_ack = []
        # A copy that had reached the client before the ack was answered but was handled after it
        # (the client's own backlog: written by the server before the ack, typically an older
        # attempt voided by the redelivery that was acknowledged). Not a service bug; reported.
        # (delivery_id, seconds after its ack, replica, attempt, seconds past its ack_deadline)
        self.read_late = []
        self.already_acked = 0


class Subscriber(threading.Thread):
    """A platform streaming due reminders (subscriber `platform`) from `targets` (Service objects,
    tried in turn after a broken stream), acknowledging each delivery on the replica it came
    from (falling back to the others), and recording what came when in `ledger` (shared by
    several Subscriber threads of one platform)."""

    def __init__(self, targets, subscriber="platform", deadline_s=600, max_unacked=200,
                 ledger=None, label="stream"):
        super().__init__(daemon=True)
        self.targets = list(targets)
        self.subscriber = subscriber
        self.max_unacked = max_unacked
        self.ledger = ledger or Ledger()
        self.label = label
        self.stream_errors = Counter()
        self.errors = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + deadline_s
        self.current = None

    # The ledger's fields, for single-stream users.
    received = property(lambda self: self.ledger.received)
    first_seen = property(lambda self: self.ledger.first_seen)
    acked = property(lambda self: self.ledger.acked)
    after_ack = property(lambda self: self.ledger.after_ack)
    read_late = property(lambda self: self.ledger.read_late)

    def run(self):
        i = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            target = self.targets[i % len(self.targets)]
            i += 1
            if not alive(target.proc):
                continue
            stub = reminders_pb2_grpc.ReminderServiceStub(target.channel)
            stream = stub.StreamDueReminders(
                R.StreamDueRemindersRequest(subscriber=self.subscriber,
                                            max_unacked=self.max_unacked),
                metadata=PLATFORM, timeout=max(1, self.deadline - time.monotonic()))
            self.current = stream
            # A reader drains the stream as it arrives and stamps each delivery, so "after its ack"
            # is judged by when a copy reached the client, not by when this thread (slowed by acks
            # to a frozen replica) got round to it.
            inbox = queue.Queue()
            reader = threading.Thread(target=self._read, args=(stream, inbox), daemon=True)
            reader.start()
            try:
                while True:
                    item = inbox.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    self.handle(*item, target)
                    if self.stop.is_set():
                        break
            except grpc.RpcError as e:
                self.stream_errors.add(e.code().name)
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                    grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                    grpc.StatusCode.DEADLINE_EXCEEDED):
                    self.errors.append(f"stream: {e.code().name} {e.details()}")
                time.sleep(0.2)
            finally:
                stream.cancel()
                reader.join(5)

    @staticmethod
    def _read(stream, inbox):
        """Puts (delivery, monotonic arrival time) for each message, then None at the end or the
        error that ended the stream."""
        try:
            for d in stream:
                inbox.put((d, time.monotonic()))
            inbox.put(None)
        except BaseException as e:  # handed to the handling thread, in order
            inbox.put(e)

    def handle(self, d, arrived, target):
        now = time.monotonic()
        did = d.delivery_id
        led = self.ledger
        with led.lock:
            if did in led.acked:
                acked_at = led.acked[did]
                if arrived > acked_at:
                    led.after_ack.append((did, round(now - acked_at, 3), target.address,
                                          d.attempt))
                else:
                    past = time.time() - d.ack_deadline.ToNanoseconds() / 1e9
                    led.read_late.append((did, round(now - acked_at, 3), target.address,
                                          d.attempt, round(past, 3)))
                return
            led.received[did] = led.received.get(did, 0) + 1
            led.first_seen.setdefault(did, now)
        order = [target] + [t for t in self.targets if t is not target]
        for t in order:
            if not alive(t.proc):
                continue
            try:
                resp = reminders_pb2_grpc.ReminderServiceStub(t.channel).AckDelivery(
                    R.AckDeliveryRequest(delivery_id=did, subscriber=self.subscriber),
                    metadata=PLATFORM, timeout=3)
            except grpc.RpcError as e:
                self.stream_errors.add("ack " + e.code().name)
                continue
            with led.lock:
                led.acked.setdefault(did, time.monotonic())
                if resp.already_acknowledged:
                    led.already_acked += 1
            return
        # Not acknowledged anywhere: it comes again after the visibility timeout.

    def close(self):
        self.stop.set()
        if self.current is not None:
            self.current.cancel()
        self.join(15)
