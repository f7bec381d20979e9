#!/usr/bin/python3
"""The Trellis benchmark (`make bench`, issue 9; docs/performance.md explains the figures).

Starts a private redis-server (the shipped deploy/redis/redis.conf: append-only file on), the three
real service binaries and the bare-gRPC baseline server, all on free loopback ports in a temp dir;
runs every scenario and the baseline with the same load generator settings (tests/perf,
trellis-loadgen, closed loop); runs the open-loop comparison at half of each chosen scenario's
maximum rate against the baseline at the same rate; measures Redis memory per stored measurement and
per reminder; runs the reminder dispatch scenario; prints one table with every throughput as a
ratio of the baseline's; writes everything as JSON; stops every process it started, by PID.

--smoke (the perf.smoke ctest test) runs each scenario for a couple of seconds at low load and
fails only when a scenario did not complete or a call failed; it never looks at speed.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from ports import free_port  # noqa: E402
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def wait_until(predicate, limit, step=0.05):
    end = time.monotonic() + limit
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


class Redis:
    """redis-server with the shipped configuration, loopback only, data in `workdir`."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", os.path.join(ROOT, "deploy/redis/redis.conf"), "--port",
             str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")])
        if not wait_until(self.ping, 10):
            raise RuntimeError("redis-server did not start")

    def command(self, *args):
        """One command over RESP; bulk and simple replies as text, integers as int."""
        payload = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in map(str, args))
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.sendall(payload)
            f = s.makefile("rb")
            line = f.readline()
            kind, rest = line[:1], line[1:].strip()
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2].decode()
            if kind == b":":
                return int(rest)
            if kind == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()

    def ping(self):
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def info(self, section):
        out = {}
        for line in self.command("INFO", section).splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k] = v
        return out

    def used_memory(self):
        return int(self.info("memory")["used_memory"])

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Server:
    """A server binary whose stdout is a JSON log with a {"msg": "listening", "port": N} line."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.err_path = os.path.join(workdir, f"{name}.err")
        with open(self.log_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err)
        line = wait_until(self._listening, 30)
        if not line:
            raise RuntimeError(f"{name} did not start: {open(self.err_path).read()[-2000:]}")
        self.port = line["port"]
        self.address = f"127.0.0.1:{self.port}"

    def _listening(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {open(self.err_path).read()[-2000:]}")
        with open(self.log_path) as f:
            for raw in f:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("msg") == "listening":
                    return line
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def proc_sample(pid):
    """(CPU seconds used so far, resident set in bytes) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE
        return cpu, rss
    except (OSError, IndexError, ValueError):
        return 0.0, 0


class Sampler:
    """Polls CPU time and RSS of the stack's processes every 100 ms while a run is going."""

    def __init__(self, pids):
        self.pids = pids  # name -> pid
        self.peak = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_event.wait(0.1):
            with self.lock:
                for name, pid in self.pids.items():
                    _, rss = proc_sample(pid)
                    self.peak[name] = max(self.peak.get(name, 0), rss)

    def begin(self):
        with self.lock:
            self.peak = {}
            return {name: proc_sample(pid)[0] for name, pid in self.pids.items()}

    def end(self, cpu_before):
        with self.lock:
            cpu = {name: proc_sample(pid)[0] - cpu_before[name] for name, pid in self.pids.items()}
            return cpu, dict(self.peak)

    def close(self):
        self.stop_event.set()
        self.thread.join()


class Bench:
    def __init__(self, args):
        self.args = args
        b = os.path.abspath(args.build_dir)
        self.bin = {
            "goals": f"{b}/services/goals/trellis-goals",
            "measurements": f"{b}/services/measurements/trellis-measurements",
            "reminders": f"{b}/services/reminders/trellis-reminders",
            "loadgen": f"{b}/tests/perf/trellis-loadgen",
            "baseline": f"{b}/tests/perf/trellis-perf-baseline",
        }
        for name, path in self.bin.items():
            if not os.access(path, os.X_OK):
                raise SystemExit(f"error: {path} is missing; build first (make build)")
        self.workdir = tempfile.mkdtemp(prefix="trellis-bench-")
        self.results = []
        self.failures = []     # a scenario that did not run or whose checks failed
        self.call_errors = []  # calls that failed (fatal in --smoke, reported otherwise)
        self.servers = {}
        self.redis = None
        self.sampler = None

    # -- the stack ---------------------------------------------------------------------------

    def start(self):
        self.redis = Redis(self.workdir)
        self.secret = os.path.join(self.workdir, "secret")
        with open(self.secret, "w") as f:
            f.write(os.urandom(24).hex())
        os.chmod(self.secret, 0o600)
        ports = {n: free_port() for n in ("goals", "measurements", "reminders")}
        common = [
            "--listen_host=127.0.0.1", "--metrics_port=0", f"--redis_url={self.redis.url}",
            f"--auth_hs256_secret_file={self.secret}",
            f"--goals_addr=127.0.0.1:{ports['goals']}",
            f"--measurements_addr=127.0.0.1:{ports['measurements']}",
            f"--reminders_addr=127.0.0.1:{ports['reminders']}",
            # The per-tenant limit (default 2 000 calls/s) would cap every scenario of the one
            # bench tenant; a limit no run reaches keeps its cost on the path.
            "--rate_limit_per_tenant=10000000",
        ]
        for name in ("goals", "measurements", "reminders"):
            self.servers[name] = Server(
                name, [*self.wrap(name), self.bin[name], f"--port={ports[name]}", *common],
                self.workdir)
        self.servers["baseline"] = Server(
            "baseline", [*self.wrap("baseline"), self.bin["baseline"], "--port=0"], self.workdir)
        pids = {n: s.proc.pid for n, s in self.servers.items()}
        pids["redis"] = self.redis.proc.pid
        self.sampler = Sampler(pids)
        self.wait_ready()

    def wrap(self, name):
        """valgrind's callgrind in front of the server being profiled (--profile), with
        instrumentation off until a scenario's setup is done."""
        if self.args.profile != name:
            return []
        self.callgrind_out = os.path.join(self.workdir, f"callgrind.{name}.out")
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={self.callgrind_out}"]

    def callgrind(self, *command):
        pid = str(self.servers[self.args.profile].proc.pid)
        subprocess.run(["callgrind_control", *command, pid], capture_output=True, timeout=120)

    def wait_ready(self):
        """Every service answers a call (the health check needs Redis seen)."""
        for name in ("goals", "measurements", "reminders"):
            ok = wait_until(lambda: self.health_ok(name), 120 if self.args.profile else 20, 0.2)
            if not ok:
                raise RuntimeError(f"{name} did not become SERVING")

    def health_ok(self, name):
        py = os.path.join(os.path.abspath(self.args.build_dir), "py")
        if py not in sys.path:
            sys.path.insert(0, py)
        import grpc
        from health.v1 import health_pb2, health_pb2_grpc
        with grpc.insecure_channel(self.servers[name].address) as ch:
            try:
                r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                         timeout=2)
                return r.status == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError:
                return False

    def stop(self):
        if self.sampler:
            self.sampler.close()
        for s in self.servers.values():
            s.stop()
        if self.redis:
            self.redis.stop()

    # -- runs --------------------------------------------------------------------------------

    def loadgen(self, scenario, target, label=None, extra=(), service=None):
        """Runs trellis-loadgen once; its JSON with the stack's CPU and RSS while it ran."""
        a = self.args
        label = label or scenario
        out = os.path.join(self.workdir, f"{label.replace('/', '_')}-{len(self.results)}.json")
        argv = [self.bin["loadgen"], f"--scenario={scenario}", f"--label={label}",
                f"--target={target}", f"--auth_hs256_secret_file={self.secret}",
                f"--channels={a.channels}", f"--concurrency={a.concurrency}",
                *([f"--calls={a.calls}"] if a.calls else
                  [f"--warmup={a.warmup}s", f"--duration={a.duration}s"]),
                f"--deadline={a.deadline}",
                f"--patients={a.patients}", f"--json_out={out}",
                f"--goals_target={self.servers['goals'].address}", *extra]
        # The servers' CPU time is counted from the end of the scenario's setup (the generator
        # prints "setup done"), so seeding a series is not charged to the calls.
        cpu_before = self.sampler.begin()
        profiled = self.args.profile and self.args.profile == (
            "baseline" if scenario == "Baseline" else service)
        dumps_before = set(self.callgrind_dumps()) if profiled else set()
        started = time.monotonic()
        err_path = out + ".err"
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(err_path, "w") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
            for line in proc.stdout:
                if line.strip() == "setup done":
                    cpu_before = self.sampler.begin()
                    continue
                if line.strip() == "measuring":
                    if profiled:
                        self.callgrind("--zero")
                        self.callgrind("--instr=on")
                    continue
                sys.stdout.write(line)
                sys.stdout.flush()
            proc.wait()
        if profiled:
            self.callgrind("--instr=off")
            self.callgrind(f"--dump={label}")
        elapsed = time.monotonic() - started
        cpu, peak = self.sampler.end(cpu_before)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        loadgen_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        with open(err_path) as f:
            stderr = f.read()
        if stderr.strip():
            sys.stderr.write(stderr)
        try:
            with open(out) as f:
                r = json.load(f)
        except (OSError, ValueError):
            r = {"scenario": label, "ok": False,
                 "error": f"trellis-loadgen exited {proc.returncode}: {stderr[-500:]}"}
        r["service"] = service
        r["elapsed_seconds"] = elapsed
        r["cpu_seconds"] = cpu
        r["peak_rss_bytes"] = peak
        if r.get("kind") == "unary" and r.get("calls_total"):
            procs = ["baseline"] if scenario == "Baseline" else \
                ["goals", "measurements", "reminders", "redis"]
            # Setup calls are in the CPU too; scenarios with a long setup state their own.
            r["stack_cpu_us_per_call"] = 1e6 * sum(cpu[p] for p in procs) / r["calls_total"]
            # The generator shares the machine's cores with the servers (its setup included).
            r["loadgen_cpu_us_per_call"] = 1e6 * loadgen_cpu / r["calls_total"]
        if profiled and r.get("calls_ok"):
            dumps = sorted(set(self.callgrind_dumps()) - dumps_before)
            if dumps:
                r["callgrind_file"] = dumps[-1]
                # The calls of the measured window (the profile covers it, warm-up excluded).
                r["instructions_per_call"] = self.callgrind_total(dumps[-1]) / r["calls_ok"]
                print(f"  callgrind: {r['instructions_per_call']:.0f} instructions per call in "
                      f"{self.args.profile}; profile {dumps[-1]}", flush=True)
        if proc.returncode != 0 or not r.get("ok"):
            self.failures.append(f"{label}: {r.get('error', 'exit %d' % proc.returncode)}")
        elif r.get("errors"):
            self.call_errors.append(f"{label}: errors {r['errors']} {r.get('error_samples', '')}")
        self.results.append(r)
        return r

    def callgrind_dumps(self):
        d = os.path.dirname(getattr(self, "callgrind_out", "") or self.workdir)
        return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("callgrind.")
                and ".out." in f]

    @staticmethod
    def callgrind_total(path):
        """The Ir total of a callgrind dump (its totals line; summary is 0 after a --zero)."""
        total = 0
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        return total

    def run(self):
        a = self.args
        s = self.servers
        plan = [
            ("Baseline", s["baseline"], "Baseline", []),
            ("CreateGoal", s["goals"], "CreateGoal", []),
            ("GetGoal", s["goals"], "GetGoal", []),
            ("RecordMeasurement", s["measurements"], "RecordMeasurement", []),
            ("SubmitQuestionnaire", s["measurements"], "SubmitQuestionnaire", []),
            ("GetGoalProgress", s["measurements"], "GetGoalProgress/1000", ["--points=1000"]),
            ("GetGoalProgress", s["measurements"], "GetGoalProgress/10000", ["--points=10000"]),
            ("ListMeasurements", s["measurements"], "ListMeasurements/100", []),
            ("CreateReminder", s["reminders"], "CreateReminder", []),
            ("Baseline", s["baseline"], "Baseline/again", []),
        ]
        only = set(a.scenarios.split(",")) if a.scenarios else None
        closed = {}
        for scenario, server, label, extra in plan:
            if only and scenario not in only and label not in only and scenario != "Baseline":
                continue
            print(f"== {label}", flush=True)
            closed[label] = self.loadgen(scenario, server.address, label, extra, server.name)

        # Open loop at half of each chosen scenario's closed-loop rate, and the baseline at the
        # same rate: the p99 target compares the two.
        for label in [x for x in a.open_loop.split(",") if x]:
            r = closed.get(label)
            if not r or not r.get("throughput"):
                continue
            rate = max(10.0, r["throughput"] / 2)
            scenario = label.split("/")[0]
            server = next(p[1] for p in plan if p[2] == label)
            open_args = ["--mode=open", f"--rate={rate:.0f}"]
            print(f"== {label} open loop at {rate:.0f}/s, and the baseline at the same rate",
                  flush=True)
            self.loadgen(scenario, server.address, f"{label}@open", open_args, server.name)
            self.loadgen("Baseline", s["baseline"].address, f"Baseline@open:{label}", open_args,
                         "baseline")

        if a.memory_records > 0:
            self.memory("RecordMeasurement", s["measurements"], "measurement")
            self.memory("CreateReminder", s["reminders"], "reminder")

        if a.dispatch_reminders > 0:
            print(f"== ReminderDispatch ({a.dispatch_reminders} due at one instant)", flush=True)
            r = self.loadgen("ReminderDispatch", s["reminders"].address, "ReminderDispatch",
                             [f"--reminders={a.dispatch_reminders}", f"--streams={a.streams}",
                              f"--redis_url={self.redis.url}",
                              f"--dispatch_timeout={a.dispatch_timeout}s"], "reminders")
            if r.get("kind") == "dispatch" and not r.get("ok"):
                self.failures.append(f"ReminderDispatch: checks failed {r}")

    def memory(self, scenario, server, what):
        """Redis used_memory before and after inserting a known number of records."""
        n = self.args.memory_records
        print(f"== Redis memory per {what} ({n} {scenario} calls)", flush=True)
        audit_key = "trellis:audit:{bench}:events"
        patients = max(1, min(self.args.memory_patients, n))
        run_id = f"mem{what}"
        self.redis.command("MEMORY", "PURGE")
        before = self.redis.used_memory()
        audit_before = self.redis.command("MEMORY", "USAGE", audit_key) or 0
        keys_before = self.redis.command("DBSIZE")
        r = self.loadgen(scenario, server.address, f"{scenario}@memory",
                         [f"--calls={n}", f"--patients={patients}", f"--run_id={run_id}"],
                         server.name)
        time.sleep(0.5)
        self.redis.command("MEMORY", "PURGE")
        after = self.redis.used_memory()
        audit_after = self.redis.command("MEMORY", "USAGE", audit_key) or 0
        keys_after = self.redis.command("DBSIZE")
        stored = r.get("calls_ok_total", 0)
        # Where the bytes go: every key of the first patient, by kind (the part after the hash
        # tag, ids dropped), per record of that patient.
        prefix = {"measurement": "meas", "reminder": "rem"}[what]
        tag = f"trellis:{prefix}:{{bench:{run_id}-p0}}:"
        per_patient = max(1, stored // patients)
        breakdown = {}
        cursor = "0"
        while True:
            reply = self.redis_scan(cursor, tag + "*")
            cursor, keys = reply
            for k in keys:
                kind = k[len(tag):].split(":")[0]
                breakdown[kind] = breakdown.get(kind, 0) + (
                    self.redis.command("MEMORY", "USAGE", k, "SAMPLES", "0") or 0)
            if cursor == "0":
                break
        r["breakdown_bytes_per_record"] = {k: v / per_patient for k, v in breakdown.items()}
        r["kind"] = "memory"
        r["what"] = what
        r["stored"] = stored
        r["used_memory_delta"] = after - before
        r["audit_delta"] = audit_after - audit_before
        r["keys_delta"] = keys_after - keys_before
        if stored:
            r["bytes_per_record"] = (after - before) / stored
            r["bytes_per_record_without_audit"] = (after - before - r["audit_delta"]) / stored
            print(f"  {stored} stored: used_memory +{after - before} bytes = "
                  f"{r['bytes_per_record']:.0f} bytes per {what} "
                  f"({r['bytes_per_record_without_audit']:.0f} without the audit trail entry); "
                  f"keys +{r['keys_delta']} over {patients} patients", flush=True)
            parts = ", ".join(f"{k} {v:.0f}" for k, v in
                              sorted(r["breakdown_bytes_per_record"].items(), key=lambda x: -x[1]))
            print(f"  bytes per {what} by key kind (one patient's keys): {parts}", flush=True)

    def redis_scan(self, cursor, pattern):
        """SCAN cursor MATCH pattern COUNT 1000 through redis-cli (an array reply)."""
        out = subprocess.run(["redis-cli", "-p", str(self.redis.port), "--raw", "SCAN", cursor,
                              "MATCH", pattern, "COUNT", "1000"],
                             capture_output=True, text=True, timeout=30, check=True)
        lines = out.stdout.splitlines()
        return lines[0], [x for x in lines[1:] if x]

    # -- the table ---------------------------------------------------------------------------

    def table(self):
        unary = [r for r in self.results if r.get("kind") == "unary"]
        bases = [r["throughput"] for r in unary
                 if r["scenario"] in ("Baseline", "Baseline/again") and r.get("throughput")]
        base = sum(bases) / len(bases) if bases else 0
        a = self.args
        print()
        print(f"Trellis benchmark: closed loop, concurrency {a.concurrency} over {a.channels} "
              f"channels, {a.warmup} s warm-up + {a.duration} s per scenario, deadline "
              f"{a.deadline}; baseline = mean of the two baseline runs "
              f"({' and '.join(f'{b:.0f}' for b in bases)} calls/s)")
        print("CPU us/call: CPU time of the servers (services + Redis; the baseline server alone "
              "for the baseline) per call; gen CPU: the load generator's; RSS: peak of the service "
              "called")
        head = (f"{'scenario':<34}{'calls/s':>9}{'x base':>8}{'p50 ms':>9}{'p90':>8}{'p99':>8}"
                f"{'p99.9':>8}{'max':>8}{'errors':>8}{'CPU us/call':>12}{'gen CPU':>8}{'RSS MiB':>9}")
        print(head)
        print("-" * len(head))
        for r in unary:
            lat = r["latency_ms"]
            name = r["scenario"]
            if r["mode"] == "open":
                name = f"{name} ({r['rate']:.0f}/s)"
            ratio = f"{r['throughput'] / base:.2f}" if base and r["mode"] == "closed" else "-"
            errors = sum(r["errors"].values())
            rss = r["peak_rss_bytes"].get(r.get("service") or "", 0) / 2**20
            cpu = r.get("stack_cpu_us_per_call")
            gen = r.get("loadgen_cpu_us_per_call")
            print(f"{name:<34}{r['throughput']:>9.0f}{ratio:>8}{lat['p50']:>9.2f}{lat['p90']:>8.2f}"
                  f"{lat['p99']:>8.2f}{lat['p999']:>8.2f}{lat['max']:>8.1f}{errors:>8}"
                  f"{(f'{cpu:.0f}' if cpu else '-'):>12}{(f'{gen:.0f}' if gen else '-'):>8}"
                  f"{rss:>9.0f}")
        for r in self.results:
            if r.get("kind") == "memory" and r.get("stored"):
                print(f"Redis memory per {r['what']}: {r['bytes_per_record']:.0f} bytes "
                      f"({r['bytes_per_record_without_audit']:.0f} without its audit entry), "
                      f"over {r['stored']} inserts")
            if r.get("kind") == "dispatch":
                print(f"Reminder dispatch: {r['reminders']} due at one instant: all received "
                      f"{r['all_received_seconds']:.2f} s, all acknowledged "
                      f"{r['all_acked_seconds']:.2f} s after it; lost {r['lost']}, received "
                      f"after ack {r['received_after_ack']}, received twice "
                      f"{r['received_twice']}, ack errors {r['ack_errors']}")
        self.targets(unary, base)

    def targets(self, unary, base):
        by = {r["scenario"]: r for r in unary}
        print("\nIssue 9 targets (figures of this run; noisy on a shared machine):")
        for name in ("RecordMeasurement", "GetGoal"):
            if name in by and base:
                ratio = by[name]["throughput"] / base
                print(f"  {name} throughput {ratio:.2f} x baseline (target >= 0.50): "
                      f"{'met' if ratio >= 0.5 else 'NOT met'}")
        for name in ("RecordMeasurement", "GetGoal"):
            o, b = by.get(f"{name}@open"), by.get(f"Baseline@open:{name}")
            if o and b and b["latency_ms"]["p99"]:
                ratio = o["latency_ms"]["p99"] / b["latency_ms"]["p99"]
                print(f"  {name} p99 at {o['rate']:.0f}/s (open loop) {ratio:.1f} x the baseline's "
                      f"p99 at that rate (target <= 3): {'met' if ratio <= 3 else 'NOT met'}")
        g, p = by.get("GetGoal"), by.get("GetGoalProgress/10000")
        if g and p and p["throughput"]:
            ratio = g["throughput"] / p["throughput"]
            cpu = ""
            if g.get("stack_cpu_us_per_call") and p.get("stack_cpu_us_per_call"):
                cpu = (f", CPU per call {p['stack_cpu_us_per_call'] / g['stack_cpu_us_per_call']:.1f}"
                       " x")
            print(f"  GetGoalProgress/10000 costs {ratio:.1f} x a GetGoal by throughput{cpu} "
                  f"(target <= 2): {'met' if ratio <= 2 else 'NOT met'}")
        for r in self.results:
            if r.get("kind") == "memory" and r.get("what") == "measurement" and r.get("stored"):
                v = r["bytes_per_record"]
                print(f"  Redis memory per measurement {v:.0f} bytes (target <= 160): "
                      f"{'met' if v <= 160 else 'NOT met'}")
            if r.get("kind") == "dispatch":
                ok = r["ok"] and r["all_acked_seconds"] <= 10 and r["reminders"] >= 100000
                print(f"  dispatch of {r['reminders']} in {r['all_acked_seconds']:.2f} s, lost "
                      f"{r['lost']}, duplicates after ack {r['received_after_ack']} (target: "
                      f"100 000 within 10 s, none lost or duplicated): "
                      f"{'met' if ok else 'NOT met'}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--smoke", action="store_true",
                   help="CI smoke: short, light, fails on any error or incomplete scenario")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    p.add_argument("--concurrency", type=int, default=64, help="closed loop: calls in flight")
    p.add_argument("--channels", type=int, default=4, help="connections the calls spread over")
    p.add_argument("--deadline", default="5s", help="deadline of each call")
    p.add_argument("--patients", type=int, default=1000, help="patients the calls spread over")
    p.add_argument("--scenarios", default="", help="comma-separated subset (default: all)")
    p.add_argument("--open_loop", default="GetGoal,RecordMeasurement",
                   help="scenarios also run open loop at half their closed-loop rate")
    p.add_argument("--memory_records", type=int, default=20000,
                   help="inserts over which Redis memory per record is measured (0: skip)")
    p.add_argument("--memory_patients", type=int, default=100,
                   help="patients the memory inserts spread over (records per patient matter)")
    p.add_argument("--dispatch_reminders", type=int, default=100000,
                   help="reminders due at one instant in the dispatch scenario (0: skip)")
    p.add_argument("--streams", type=int, default=4, help="dispatch: subscriber streams")
    p.add_argument("--dispatch_timeout", type=int, default=120)
    p.add_argument("--calls", type=int, default=0,
                   help="> 0: exactly this many calls per scenario instead of warm-up + duration")
    p.add_argument("--profile", default="",
                   choices=["", "goals", "measurements", "reminders", "baseline"],
                   help="run this server under valgrind --tool=callgrind, instrumented only "
                        "during its scenarios' measured calls; prints instructions per call "
                        "and keeps one profile per scenario (callgrind_annotate)")
    p.add_argument("--out", default="", help="JSON results (default: <build_dir>/bench/results.json)")
    args = p.parse_args()
    if args.smoke:
        args.warmup, args.duration, args.concurrency, args.channels = 0.3, 1.5, 8, 2
        args.patients, args.memory_records, args.dispatch_reminders = 50, 300, 200
        args.memory_patients = 10
        args.deadline = "20s"
    if args.profile:
        # Instruction counts of the unary scenarios only: after a warm-up (every token verified,
        # caches filled), a measured window (the server runs ~50 times slower under callgrind).
        args.memory_records, args.dispatch_reminders, args.open_loop = 0, 0, ""
    bench = Bench(args)
    started = time.time()
    try:
        bench.start()
        bench.run()
        bench.table()
    finally:
        bench.stop()
    out = args.out or os.path.join(os.path.abspath(args.build_dir), "bench", "results.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"settings": vars(args), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                   "nproc": os.cpu_count(), "results": bench.results}, f, indent=2)
    print(f"\nJSON: {out}; {time.time() - started:.0f} s in all")
    if bench.call_errors:
        print("calls failed:\n  " + "\n  ".join(bench.call_errors), file=sys.stderr)
        if args.smoke:
            bench.failures += bench.call_errors
    if bench.failures:
        print("FAILED:\n  " + "\n  ".join(bench.failures), file=sys.stderr)
        print(f"logs kept in {bench.workdir}", file=sys.stderr)
        return 1
    if args.profile:
        print(f"callgrind profiles kept in {bench.workdir} (callgrind_annotate --inclusive=yes "
              "<file>)")
        return 0
    shutil.rmtree(bench.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
