"""Scenario 1: Redis killed (SIGKILL) and restarted three times under write load.

Writer threads record measurements and create goals as fast as they can; each logical write has a
request_id and is retried with the same request_id while the answer is UNAVAILABLE (so a write
that was applied but whose answer was lost is not stored twice). Every acknowledged name is
logged. Redis is killed three times (at 1/4, 1/2 and 3/4 of the run) and restarted at once on
the same data directory, replaying its append-only file. Afterwards every acknowledged name must
be readable through ListMeasurements / ListGoals; with `appendfsync always` none may be missing.
With `everysec` the count is reported, not judged.

Sizes: TRELLIS_FAULTS_CRASH_SECONDS (CI 16, full 60), TRELLIS_FAULTS_CRASH_WRITERS (CI 4, full 6).
"""
import threading
import time

import grpc

from faultlib import (CLINICIAN, Counter, Result, Stack, code_of, log, size)
from trellis.v1 import goals_pb2 as G, goals_pb2_grpc
from trellis.v1 import measurements_pb2 as M, measurements_pb2_grpc

PATIENTS_PER_WRITER = 4
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Writer(threading.Thread):
    def __init__(self, index, stack, stop, outcomes):
        super().__init__(daemon=True)
        self.index = index
        self.meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        self.goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        self.stop = stop
        self.outcomes = outcomes
        self.acked = []        # (kind, patient, name, request_id)
        self.gave_up = 0       # logical writes never acknowledged (all attempts failed)
        self.unexpected = []   # answers other than OK or a retryable code
        self.ack_times = []    # monotonic time of each acknowledgement

    def one(self, seq):
        patient = f"w{self.index}p{seq % PATIENTS_PER_WRITER}"
        rid = f"w{self.index}-{seq}"
        goal = seq % 3 == 2
        for attempt in range(40):
            try:
                if goal:
                    g = self.goals.CreateGoal(G.CreateGoalRequest(
                        goal=G.Goal(patient=patient, title=f"Walk 20 minutes a day {rid}"),
                        request_id=rid), metadata=CLINICIAN, timeout=5)
                    name = g.name
                else:
                    m = self.meas.RecordMeasurement(M.RecordMeasurementRequest(
                        measurement=M.Measurement(patient=patient, metric="mood",
                                                  value=seq % 11, note=rid),
                        request_id=rid), metadata=CLINICIAN, timeout=5)
                    name = m.name
                self.outcomes.add("OK")
                self.acked.append(("goal" if goal else "measurement", patient, name, rid))
                self.ack_times.append(time.monotonic())
                return
            except grpc.RpcError as e:
                self.outcomes.add(code_of(e))
                if e.code() not in RETRYABLE:
                    self.unexpected.append(f"{rid}: {e.code().name} {e.details()}")
                    return
                if self.stop.is_set() and attempt > 3:
                    break
                time.sleep(0.05 * min(attempt + 1, 10))
        self.gave_up += 1

    def run(self):
        seq = 0
        while not self.stop.is_set():
            self.one(seq)
            seq += 1


def stored(stack, patients):
    """Every measurement and goal of `patients` as read through the RPCs:
    {name: request_id-or-title-tag}, and the per-request_id counts."""
    meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
    goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
    names, tags = set(), {}
    for p in patients:
        token = ""
        while True:
            r = meas.ListMeasurements(M.ListMeasurementsRequest(
                patient=p, page_size=1000, page_token=token), metadata=CLINICIAN, timeout=30)
            for m in r.measurements:
                names.add(m.name)
                tags[m.note] = tags.get(m.note, 0) + 1
            token = r.next_page_token
            if not token:
                break
        token = ""
        while True:
            r = goals.ListGoals(G.ListGoalsRequest(patient=p, page_size=500, page_token=token),
                                metadata=CLINICIAN, timeout=30)
            for g in r.goals:
                names.add(g.name)
                tag = g.title.rsplit(" ", 1)[-1]
                tags[tag] = tags.get(tag, 0) + 1
            token = r.next_page_token
            if not token:
                break
    return names, tags


def start_writers(stack, n):
    """Starts `n` writers on `stack`; returns the event that stops them, their shared outcome
    counts and the writers."""
    stop = threading.Event()
    outcomes = Counter()
    writers = [Writer(i, stack, stop, outcomes) for i in range(n)]
    for w in writers:
        w.start()
    return stop, outcomes, writers


def stop_writers(result, writers, stop):
    """Tells the writers to stop and waits for them (a writer still running is a failed check)."""
    stop.set()
    for w in writers:
        w.join(60)
        result.check(not w.is_alive(), f"writer {w.index} did not stop")


def judge_writers(result, stack, writers, acked):
    """Reads back what `writers` were acknowledged: fails on unexpected answers and on writes
    stored twice, records lost and duplicate counts; returns the acknowledged writes missing."""
    unexpected = [u for w in writers for u in w.unexpected]
    result.check(not unexpected, f"unexpected answers: {unexpected[:5]}")
    patients = sorted({a[1] for a in acked})
    names, tags = stored(stack, patients)
    missing = [a for a in acked if a[2] not in names]
    result.lost = len(missing)
    result.duplicates = sum(n - 1 for n in tags.values() if n > 1)
    result.figures["stored"] = len(names)
    result.figures["applied_without_ack"] = len(names - {a[2] for a in acked})
    result.check(result.duplicates == 0,
                 f"{result.duplicates} writes stored more than once (same request_id)")
    if missing:
        result.figures["lost_examples"] = [a[2] for a in missing[:5]]
    return missing


def run(result, fsync):
    seconds = size("crash_seconds", 16.0, 60.0)
    writers_n = size("crash_writers", 4, 6)
    kills = 3
    with Stack(redis_args=["--appendfsync", fsync], names=("goals", "measurements")) as stack:
        stop, outcomes, writers = start_writers(stack, writers_n)
        t0 = time.monotonic()
        windows = []
        for k in range(kills):
            time.sleep(max(0.0, t0 + seconds * (k + 1) / (kills + 1) - time.monotonic()))
            acked_before = sum(len(w.acked) for w in writers)
            killed_at = time.monotonic()
            stack.redis_kill()
            back_at = stack.redis_restart()
            log(f"[{result.scenario}] kill {k + 1}: Redis killed with {acked_before} acknowledged "
                f"so far; answering PING again after {back_at - killed_at:.2f} s")
            windows.append((killed_at, back_at))
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        stop_writers(result, writers, stop)

        # Error window per kill: from the kill to the first acknowledgement after Redis is back.
        acks = sorted(t for w in writers for t in w.ack_times)
        gaps = []
        for killed_at, back_at in windows:
            after = [t for t in acks if t > back_at]
            if after:
                gaps.append(after[0] - killed_at)
            else:
                result.fail("no write was acknowledged after a restart of Redis")
        acked = [a for w in writers for a in w.acked]
        result.requests = outcomes.total()
        result.acknowledged = len(acked)
        result.error_window = (f"max {max(gaps):.2f} s / kill" if gaps else "never recovered")
        result.figures = {"appendfsync": fsync, "seconds": seconds, "writers": writers_n,
                          "kills": kills, "outcomes": outcomes.snapshot(),
                          "windows_s": [round(g, 3) for g in gaps],
                          "gave_up": sum(w.gave_up for w in writers)}
        missing = judge_writers(result, stack, writers, acked)
        if fsync == "always":
            result.check(not missing, f"{len(missing)} acknowledged writes lost, e.g. "
                                      f"{[a[2] for a in missing[:3]]}")
        else:
            result.note(f"appendfsync {fsync}: {len(missing)} of {len(acked)} acknowledged "
                        "writes lost to kill -9 of the Redis process (everysec may postpone the "
                        "AOF write up to 2 s while a slow fsync runs, replying meanwhile)")
        result.note(f"{result.figures['applied_without_ack']} writes were stored whose answer "
                    f"the client never saw (it gave up on {result.figures['gave_up']}); "
                    "not a loss: request_id makes a retry return them")


def scenario_always():
    r = Result("1 redis kill -9 (always)",
               "SIGKILL + restart of Redis x3 under writes; AOF appendfsync always")
    return r, lambda res: run(res, "always")


def scenario_everysec():
    r = Result("1b redis kill -9 (everysec)",
               "SIGKILL + restart of Redis x3 under writes; AOF appendfsync everysec")
    r.report_only = True
    return r, lambda res: run(res, "everysec")
