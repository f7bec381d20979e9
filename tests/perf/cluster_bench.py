#!/usr/bin/python3
"""`make bench-cluster` (issue 11; docs/scaling.md explains the figures).

RecordMeasurement and GetGoalProgress with 1, 2 and 3 replicas of the goal and measurement
services, against one redis-server and against a 3-primary Redis Cluster, all on loopback in a
temp dir. Each replica gets a load generator of its own (trellis-loadgen, closed loop, the total
concurrency split between them). Besides calls/s and latency it counts what Redis did per call
(INFO commandstats over every node, before and after the measured run): script calls (EVALSHA or
EVAL: the round trips of the writes and most reads), other commands sent by the services, and the
commands run inside scripts; and how the run's keys spread over the primaries. Then the key-spread
benchmark of 100 000 patients (trellis_bench_cluster_keys).

Figures are reported, never asserted. On a 2-core machine every replica, every Redis node and the
load generators share the same cores, so more replicas or shards cannot show more throughput here;
the per-call command counts and the spread are what carry over to real machines.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup_environment(build_dir):
    """harness.py (tests/e2e) reads the binaries and stubs from the environment at import."""
    b = os.path.abspath(build_dir)
    os.environ.setdefault("TRELLIS_PY_STUBS", f"{b}/py")
    os.environ.setdefault("TRELLIS_GOALS_BIN", f"{b}/services/goals/trellis-goals")
    os.environ.setdefault("TRELLIS_MEASUREMENTS_BIN",
                          f"{b}/services/measurements/trellis-measurements")
    os.environ.setdefault("TRELLIS_REMINDERS_BIN", f"{b}/services/reminders/trellis-reminders")
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


# Commands the services send besides their scripts: health checks and the cluster client's
# topology reads; counted apart so that they do not blur the per-call figures.
BACKGROUND = {"ping", "info", "cluster|slots", "cluster", "client|setname", "auth", "hello",
              "script|load", "role", "select", "readonly"}
SCRIPT_CALLS = {"evalsha", "eval", "evalsha_ro", "eval_ro"}


def command_stats(nodes):
    """{command: calls} summed over `nodes` (harness.Redis objects)."""
    total = {}
    for node in nodes:
        text = node.cli("INFO", "commandstats")
        for line in text.splitlines():
            if not line.startswith("cmdstat_"):
                continue
            name, _, rest = line[len("cmdstat_"):].partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
            total[name] = total.get(name, 0) + int(fields.get("calls", 0))
    return total


def key_counts(nodes):
    return [int(node.cli("DBSIZE")) for node in nodes]


class Run:
    def __init__(self, args, backend, replicas):
        import harness
        self.h = harness
        self.args = args
        self.backend = backend
        self.replicas = replicas
        self.workdir = tempfile.mkdtemp(prefix="trellis-cluster-bench-")
        self.redis = None
        self.services = []

    def nodes(self):
        return self.redis.nodes if self.backend == "cluster" else [self.redis]

    def start(self):
        h = self.h
        self.redis = h.RedisCluster(self.workdir) if self.backend == "cluster" \
            else h.Redis(self.workdir)
        goals_ports = [h.free_port() for _ in range(self.replicas)]
        meas_ports = [h.free_port() for _ in range(self.replicas)]
        # The per-tenant limit (default 2 000 calls/s) would cap the one bench tenant.
        common = ["--rate_limit_per_tenant=10000000"]
        self.goals, self.meas = [], []
        for i in range(self.replicas):
            peers = [f"--goals_addr=127.0.0.1:{goals_ports[i]}",
                     f"--measurements_addr=127.0.0.1:{meas_ports[i]}"]
            g = h.Service("goals", self.workdir, self.redis.url, [*common, *peers],
                          port=goals_ports[i])
            m = h.Service("measurements", self.workdir, self.redis.url, [*common, *peers],
                          port=meas_ports[i])
            self.services += [g, m]
            self.goals.append(g)
            self.meas.append(m)
        for s in self.services:
            if s.wait_health("SERVING", limit=30) != "SERVING":
                raise RuntimeError(f"{s.name} did not become SERVING")

    def stop(self):
        for s in self.services:
            s.kill()
        if self.redis:
            self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def scenario(self, name, extra):
        """One measured run: a load generator per replica at once; the summed figures."""
        a = self.args
        loadgen = os.path.join(os.path.abspath(a.build_dir), "tests/perf/trellis-loadgen")
        per = max(1, a.concurrency // self.replicas)
        procs = []
        run_id = f"b{int(time.time() * 1000) % 10**9}"
        for i in range(self.replicas):
            out = os.path.join(self.workdir, f"{name}-{i}.json")
            argv = [loadgen, f"--scenario={name}", f"--target={self.meas[i].address}",
                    f"--goals_target={self.goals[i].address}",
                    f"--auth_hs256_secret_file={os.path.join(self.workdir, 'secret')}",
                    f"--concurrency={per}", f"--channels={a.channels}",
                    f"--warmup={a.warmup}s", f"--duration={a.duration}s",
                    f"--patients={a.patients}", f"--run_id={run_id}r{i}", f"--json_out={out}",
                    *extra]
            procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True), out))
        # Commands are counted from when every generator has finished its setup.
        pending = [p for p, _ in procs]
        for p in pending:
            for line in p.stdout:
                if line.strip() == "measuring":
                    break
        before, keys_before = command_stats(self.nodes()), key_counts(self.nodes())
        results = []
        for p, out in procs:
            p.stdout.read()
            err = p.stderr.read()
            p.wait()
            try:
                with open(out) as f:
                    results.append(json.load(f))
            except (OSError, ValueError):
                raise RuntimeError(f"{name}: trellis-loadgen exited {p.returncode}: {err[-400:]}")
        after, keys_after = command_stats(self.nodes()), key_counts(self.nodes())
        # The counters run from when every generator measures until all have finished, so they
        # cover the measured windows give or take the generators' differing start and drain.
        calls = sum(r["calls_ok"] + sum(r.get("errors", {}).values()) for r in results)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        scripts = sum(v for k, v in delta.items() if k in SCRIPT_CALLS)
        background = sum(v for k, v in delta.items() if k in BACKGROUND)
        inner = sum(v for k, v in delta.items() if k not in SCRIPT_CALLS and k not in BACKGROUND)
        return {
            "backend": self.backend,
            "replicas": self.replicas,
            "scenario": name,
            "throughput": sum(r["throughput"] for r in results),
            "p50_ms": max(r["latency_ms"]["p50"] for r in results),
            "p99_ms": max(r["latency_ms"]["p99"] for r in results),
            "errors": sum(sum(r.get("errors", {}).values()) for r in results),
            "calls": calls,
            "script_calls_per_call": scripts / calls if calls else 0,
            # Plain commands of the services and those run inside their scripts (Redis counts
            # both under the command's name).
            "other_commands_per_call": inner / calls if calls else 0,
            "background_commands": background,
            "keys_per_node": [b - a for a, b in zip(keys_before, keys_after)],
        }


def table(rows):
    head = ("backend", "replicas", "scenario", "calls/s", "p50 ms", "p99 ms", "errors",
            "scripts/call", "other cmds/call", "new keys per node")
    print("\n" + " | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([r["backend"], str(r["replicas"]), r["scenario"],
                          f"{r['throughput']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                          str(r["errors"]), f"{r['script_calls_per_call']:.2f}",
                          f"{r['other_commands_per_call']:.2f}",
                          " / ".join(str(k) for k in r["keys_per_node"])]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build_dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--replicas", default="1,2,3")
    p.add_argument("--backends", default="single,cluster")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=48, help="in flight over all generators")
    p.add_argument("--channels", type=int, default=2, help="per generator")
    p.add_argument("--patients", type=int, default=1000)
    p.add_argument("--out", default="")
    args = p.parse_args()
    setup_environment(args.build_dir)
    rows = []
    for backend in args.backends.split(","):
        for replicas in [int(n) for n in args.replicas.split(",")]:
            run = Run(args, backend, replicas)
            try:
                run.start()
                for name, extra in (("RecordMeasurement", []),
                                    ("GetGoalProgress", ["--points=1000"])):
                    row = run.scenario(name, extra)
                    print(f"{backend} x{replicas} {name}: {row['throughput']:.0f} calls/s, "
                          f"p99 {row['p99_ms']:.2f} ms, {row['script_calls_per_call']:.2f} "
                          f"scripts/call", flush=True)
                    rows.append(row)
            finally:
                run.stop()
    table(rows)
    out = args.out or os.path.join(os.path.abspath(args.build_dir), "bench", "cluster.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(rows, f, indent=2)
    print(f"\nresults: {out}")
    failed = [r for r in rows if r["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
