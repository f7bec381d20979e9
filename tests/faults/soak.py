"""Scenario 9: soak. Mixed load on the three services for a fixed time (CI 60 s, `make faults`
10 min; TRELLIS_FAULTS_SOAK_SECONDS overrides), while a sampler reads every service's resident
memory and open file descriptors from /proc/<pid> and Redis's used_memory every 2 s.

Load (3 client threads, each its own patients): record a mood value, create a goal, read a goal,
list measurements, read a goal's progress, the patient summary, and a one-shot reminder due 5-20 s
later which a platform subscriber receives and acknowledges.

Checks, after a warm-up (the first quarter, at least 15 s):
- no unexpected error: every call answers OK;
- RSS flat: the highest RSS after warm-up exceeds the level at the end of warm-up by at most
  max(16 MiB, 10 %) (allocator arenas and gRPC's buffer pools settle in steps; a leak of even 1 KiB
  per call exceeds this within a few minutes of `make faults`'s run, and most 60 s runs);
- open fds flat: at most 8 above the end of warm-up (connections of the load clients and peers);
- Redis used_memory grows only with stored data: its growth after warm-up is at most 3 KiB per
  acknowledged write plus 256 B per audit entry plus 8 MiB (the operations guide's sizes are
  0.4-2.2 KB per record and about 100 B per audit entry; a write path that leaks keys - a
  request-id record without its TTL, an outbox entry never removed - shows up here);
- every reminder that fell due at least 15 s before the end was delivered.
"""
import datetime
import os
import threading
import time

import grpc

from faultlib import (CLINICIAN, Counter, G, M, Result, Stack, Subscriber, code_of, log,
                      goals_pb2_grpc, measurements_pb2_grpc, occurrence_id, one_shot_reminder,
                      open_fds, redis_info, redis_keys, reminders_pb2_grpc, rss_kib, size,
                      stalled_goal, utcnow)

SAMPLE_S = 2.0


class Load(threading.Thread):
    def __init__(self, index, stack, stop, outcomes, goal):
        super().__init__(daemon=True)
        self.index = index
        self.goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        self.meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        self.rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))
        self.stop = stop
        self.outcomes = outcomes
        self.goal = goal
        self.writes = 0
        self.errors = []
        self.due = {}   # occurrence id -> due datetime
        self.lock = threading.Lock()

    def op(self, seq):
        p = f"s{self.index}p{seq % 20}"
        k = seq % 10
        if k in (0, 1, 2, 3):
            self.meas.RecordMeasurement(M.RecordMeasurementRequest(
                measurement=M.Measurement(patient=p, metric="mood", value=seq % 11),
                request_id=f"soak-{self.index}-{seq}"), metadata=CLINICIAN, timeout=10)
            self.writes += 1
        elif k == 4:
            g = self.goals.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                patient=p, title="Walk 20 minutes a day")), metadata=CLINICIAN, timeout=10)
            self.last_goal = g.name
            self.writes += 1
        elif k == 5:
            self.goals.GetGoal(G.GetGoalRequest(name=self.goal.name), metadata=CLINICIAN,
                               timeout=10)
        elif k == 6:
            self.meas.ListMeasurements(M.ListMeasurementsRequest(patient=p, page_size=20),
                                       metadata=CLINICIAN, timeout=10)
        elif k == 7:
            self.meas.GetGoalProgress(M.GetGoalProgressRequest(goal=self.goal.name),
                                      metadata=CLINICIAN, timeout=10)
        elif k == 8:
            self.meas.GetPatientSummary(M.GetPatientSummaryRequest(patient=self.goal.patient),
                                        metadata=CLINICIAN, timeout=10)
        else:
            due = (utcnow() + datetime.timedelta(seconds=5 + seq % 16)).replace(microsecond=0)
            r = one_shot_reminder(self.rem, p, due)
            with self.lock:
                self.due[occurrence_id(r.name, due)] = due
            self.writes += 1

    def run(self):
        seq = 0
        while not self.stop.is_set():
            try:
                self.op(seq)
                self.outcomes.add("OK")
            except grpc.RpcError as e:
                self.outcomes.add(code_of(e))
                self.errors.append(f"op {seq % 10}: {e.code().name} {e.details()}")
            seq += 1


def audit_entries(stack):
    total = 0
    for key in redis_keys(stack.redis.port, "trellis:audit:*"):
        total += stack.redis.integers([("XLEN", key.decode())])[0]
    return total


def run(result):
    seconds = size("soak_seconds", 60.0, 600.0)
    warmup = max(15.0, seconds / 4)
    flags = {"reminders": ["--visibility_timeout=5s", "--stream_poll_interval=50ms"]}
    with Stack(service_args=flags) as stack:
        goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        sub = Subscriber([stack.services["reminders"]], deadline_s=seconds + 120)
        sub.start()
        stop = threading.Event()
        outcomes = Counter()
        loads = [Load(i, stack, stop, outcomes, stalled_goal(goals, meas, f"sg{i}"))
                 for i in range(3)]
        samples = []   # (t, {svc: (rss KiB, fds)}, used_memory, writes, audit entries)

        def sample(t):
            procs = {n: (rss_kib(s.proc.pid), open_fds(s.proc.pid))
                     for n, s in stack.services.items()}
            mem = int(redis_info(stack.redis.port, "memory")["used_memory"])
            samples.append((t, procs, mem, sum(x.writes for x in loads), audit_entries(stack)))

        t0 = time.monotonic()
        for x in loads:
            x.start()
        try:
            while time.monotonic() - t0 < seconds:
                sample(time.monotonic() - t0)
                time.sleep(SAMPLE_S)
            sample(time.monotonic() - t0)
        finally:
            stop.set()
            for x in loads:
                x.join(30)
        end_wall = utcnow()
        # Reminders due up to 15 s before the end have had time to arrive; wait a little more.
        time.sleep(3)
        sub.close()

        errors = [e for x in loads for e in x.errors]
        result.requests = outcomes.total()
        result.acknowledged = outcomes.get("OK")
        result.check(not errors, f"{len(errors)} unexpected errors, e.g. {errors[:3]}")
        result.check(not sub.errors, f"subscriber errors: {sub.errors[:3]}")
        due = {k: v for x in loads for k, v in x.due.items()
               if v <= end_wall - datetime.timedelta(seconds=15)}
        missing = [k for k in due if k not in sub.received]
        result.lost = len(missing)
        result.duplicates = len(sub.after_ack)
        result.check(not missing, f"{len(missing)} due reminders never delivered")
        result.check(not sub.after_ack, f"deliveries after their ack: {sub.after_ack[:3]}")

        after = [s for s in samples if s[0] >= warmup]
        base = after[0]
        last = samples[-1]
        figures = {"seconds": seconds, "warmup_s": warmup, "samples": len(samples),
                   "calls_per_s": round(result.requests / seconds, 1)}
        for n in stack.services:
            rss0, fd0 = base[1][n]
            rss_max = max(s[1][n][0] for s in after)
            fd_max = max(s[1][n][1] for s in after)
            tol = max(16 * 1024, rss0 // 10)
            figures[n] = {"rss_start_mib": round(samples[0][1][n][0] / 1024, 1),
                          "rss_after_warmup_mib": round(rss0 / 1024, 1),
                          "rss_max_after_mib": round(rss_max / 1024, 1),
                          "rss_end_mib": round(last[1][n][0] / 1024, 1),
                          "fds_after_warmup": fd0, "fds_max_after": fd_max,
                          "fds_end": last[1][n][1]}
            result.check(fd_max - fd0 <= 8, f"{n} open fds grew from {fd0} to {fd_max}")
            if os.environ.get("TRELLIS_FAULTS_SANITIZED") == "1":
                continue   # ASan's quarantine grows RSS by design; LeakSanitizer judges leaks
            result.check(rss_max - rss0 <= tol,
                         f"{n} RSS grew {(rss_max - rss0) / 1024:.1f} MiB after warm-up "
                         f"(tolerance {tol / 1024:.1f} MiB)")
        d_mem = last[2] - base[2]
        d_writes = last[3] - base[3]
        d_audit = last[4] - base[4]
        allowed = d_writes * 3072 + d_audit * 256 + 8 * 1024 * 1024
        figures["redis"] = {"used_memory_after_warmup_mib": round(base[2] / 2**20, 1),
                            "used_memory_end_mib": round(last[2] / 2**20, 1),
                            "writes_after_warmup": d_writes, "audit_entries_after_warmup": d_audit,
                            "bytes_per_write_incl_audit": round(d_mem / d_writes) if d_writes
                            else None}
        result.check(d_mem <= allowed, f"Redis used_memory grew {d_mem / 2**20:.1f} MiB for "
                                       f"{d_writes} writes and {d_audit} audit entries "
                                       f"(allowed {allowed / 2**20:.1f} MiB)")
        figures["outcomes"] = outcomes.snapshot()
        figures["reminders_due"] = len(due)
        result.figures = figures
        result.error_window = "none" if not errors else f"{len(errors)} errors"
        log(f"[{result.scenario}] " + "; ".join(
            f"{n}: RSS {figures[n]['rss_after_warmup_mib']}->{figures[n]['rss_end_mib']} MiB, "
            f"fds {figures[n]['fds_after_warmup']}->{figures[n]['fds_end']}"
            for n in stack.services) + f"; Redis {figures['redis']}")


def scenario():
    seconds = size("soak_seconds", 60.0, 600.0)
    r = Result("9 soak", f"{seconds:.0f} s mixed load: writes, reads, progress, reminders + acks")
    return r, run
