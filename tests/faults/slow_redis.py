"""Scenario 7: slow Redis. Redis stops answering for a while without dropping a connection, two
ways, one after the other: `CLIENT PAUSE <ms> ALL` (every client's commands wait in Redis) and
`DEBUG SLEEP <s>` (Redis's one thread blocked). During each stall, probers keep calling a read and
a write of every service with a 1 s deadline, 200 reads are fired at once at the goal service (to
fill every handler thread that could be waiting on Redis), and a checker asks each service's
health every 0.1 s.

Checks: every call made during a stall ends within its deadline plus 0.5 s, answered OK,
UNAVAILABLE or DEADLINE_EXCEEDED (deadlines honoured, no hang, no other code); every health check
made during a stall is answered within 0.5 s (calls waiting on Redis do not starve the gRPC
threads); after Redis answers again every service accepts a write within 5 s; no process exits.
Reported: codes during the stalls, the slowest call and health answer, the recovery times.

Sizes: TRELLIS_FAULTS_STALL_SECONDS (3 at CI size, 5 full).
"""
import datetime
import threading
import time

import grpc

from faultlib import (CLINICIAN, Counter, G, M, R, Result, Stack, alive, code_of,
                      goals_pb2_grpc, log, measurements_pb2_grpc, one_shot_reminder,
                      reminders_pb2_grpc, resp_command, simple_goal, size, utcnow, wait_until)
from harness import health_pb2, health_pb2_grpc

CALL_DEADLINE_S = 1.0
SLACK_S = 0.5
HEALTH_LIMIT_S = 0.5
RECOVERY_S = 5.0
BURST = 200
ALLOWED = {"OK", "UNAVAILABLE", "DEADLINE_EXCEEDED"}


class Loop(threading.Thread):
    """Calls `call()` every `every` seconds until stopped, recording (start, latency, outcome)."""

    def __init__(self, name, call, every):
        super().__init__(daemon=True)
        self.name = name
        self.call = call
        self.every = every
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                outcome = self.call() or "OK"
            except grpc.RpcError as e:
                outcome = code_of(e)
            self.samples.append((t, time.monotonic() - t, outcome))
            self.stop.wait(self.every)


def burst(goals, goal_name):
    """BURST GetGoal calls started at once; returns [(latency, code)] once all ended."""
    t0 = time.monotonic()
    calls = [goals.GetGoal.future(G.GetGoalRequest(name=goal_name), metadata=CLINICIAN,
                                  timeout=CALL_DEADLINE_S) for _ in range(BURST)]
    out = []
    for f in calls:
        try:
            f.result()
            code = "OK"
        except grpc.RpcError as e:
            code = code_of(e)
        out.append((time.monotonic() - t0, code))
    return out


def run(result):
    stall_s = size("stall_seconds", 3.0, 5.0)
    with Stack(redis_args=["--enable-debug-command", "local"]) as stack:
        goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))
        goal = simple_goal(goals, "p-slow")
        port = stack.redis.port
        seq = iter(range(10 ** 9))

        def goals_call():
            goals.GetGoal(G.GetGoalRequest(name=goal.name), metadata=CLINICIAN,
                          timeout=CALL_DEADLINE_S)
            goals.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                patient="p-slow", title="Walk 20 minutes a day")), metadata=CLINICIAN,
                timeout=CALL_DEADLINE_S)

        def measurements_call():
            meas.RecordMeasurement(M.RecordMeasurementRequest(measurement=M.Measurement(
                patient="p-slow", metric="mood", value=5),
                request_id=f"slow-{next(seq)}"), metadata=CLINICIAN, timeout=CALL_DEADLINE_S)
            meas.ListMeasurements(M.ListMeasurementsRequest(patient="p-slow", page_size=10),
                                  metadata=CLINICIAN, timeout=CALL_DEADLINE_S)

        def reminders_call():
            rem.ListReminders(R.ListRemindersRequest(patient="p-slow", page_size=10),
                              metadata=CLINICIAN, timeout=CALL_DEADLINE_S)

        probers = [Loop("goals", goals_call, 0.1), Loop("measurements", measurements_call, 0.1),
                   Loop("reminders", reminders_call, 0.1)]

        def health_of(svc):
            stub = health_pb2_grpc.HealthStub(svc.channel)

            def check():
                resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
            return check
        checkers = [Loop(f"health {n}", health_of(svc), 0.1)
                    for n, svc in stack.services.items()]
        for loop in probers + checkers:
            loop.start()

        stalls = []          # (name, start, end) in monotonic time
        bursts = {}
        recovered = {}
        try:
            time.sleep(1.0)
            for name in ("CLIENT PAUSE", "DEBUG SLEEP"):
                log(f"slow redis: {name} {stall_s:.0f} s")
                start = time.monotonic()
                if name == "CLIENT PAUSE":
                    reply = resp_command(port, "CLIENT", "PAUSE", int(stall_s * 1000), "ALL")
                    result.check(reply == b"OK", f"CLIENT PAUSE answered {reply!r}")
                    sleeper = None
                else:
                    answer = {}

                    def sleep_redis():
                        answer["reply"] = resp_command(port, "DEBUG", "SLEEP", stall_s,
                                                       timeout=stall_s + 10)
                    sleeper = threading.Thread(target=sleep_redis, daemon=True)
                    sleeper.start()
                    time.sleep(0.05)  # the sleep command reaches Redis first
                bursts[name] = burst(goals, goal.name)
                end = start + stall_s
                time.sleep(max(0.0, end - time.monotonic()))
                if sleeper is not None:
                    sleeper.join(10)
                    result.check(answer.get("reply") == b"OK",
                                 f"DEBUG SLEEP answered {answer.get('reply')!r}")
                    end = time.monotonic()
                stalls.append((name, start, end))

                # Recovery: every service accepts a write again.
                def writes_ok():
                    try:
                        goals.CreateGoal(G.CreateGoalRequest(goal=G.Goal(
                            patient="p-after", title="Walk 20 minutes a day")),
                            metadata=CLINICIAN, timeout=1)
                        meas.RecordMeasurement(M.RecordMeasurementRequest(
                            measurement=M.Measurement(patient="p-after", metric="mood", value=4)),
                            metadata=CLINICIAN, timeout=1)
                        one_shot_reminder(rem, "p-after", utcnow().replace(microsecond=0) +
                                          datetime.timedelta(hours=2))
                        return True
                    except grpc.RpcError:
                        return False
                ok = wait_until(writes_ok, limit=30, step=0.1)
                took = time.monotonic() - end
                recovered[name] = round(took, 2) if ok else None
                result.check(ok and took <= RECOVERY_S,
                             f"after {name}: writes accepted {took:.1f} s after Redis answered "
                             f"again (limit {RECOVERY_S:.0f} s)" if ok else
                             f"after {name}: writes not accepted 30 s after Redis answered again")
                time.sleep(1.0)
        finally:
            for loop in probers + checkers:
                loop.stop.set()
            for loop in probers + checkers:
                loop.join(10)

        def in_stall(t):
            return any(s <= t <= e for _, s, e in stalls)

        codes = Counter()
        slowest = 0.0
        total = acked = 0
        for p in probers:
            for t, latency, outcome in p.samples:
                total += 1
                acked += outcome == "OK"
                if in_stall(t):
                    codes.add(outcome)
                    slowest = max(slowest, latency)
                    # A prober call is two calls of CALL_DEADLINE_S each (one for reminders).
                    limit = 2 * (CALL_DEADLINE_S + SLACK_S)
                    result.check(latency <= limit, f"{p.name}: calls took {latency:.2f} s "
                                                   f"during a stall (limit {limit:.1f} s)")
        for name, calls in bursts.items():
            for latency, code in calls:
                codes.add(code)
                slowest = max(slowest, latency)
            late = [lat for lat, _ in calls if lat > CALL_DEADLINE_S + SLACK_S]
            result.check(not late, f"{name}: {len(late)} of {BURST} burst calls outlived their "
                                   f"deadline (slowest {max(late or [0]):.2f} s)")
            total += len(calls)
            acked += sum(1 for _, c in calls if c == "OK")
        during = codes.snapshot()
        result.check(set(during) <= ALLOWED,
                     f"calls during the stalls answered {during} (allowed {sorted(ALLOWED)})")
        health_slowest = 0.0
        health_seen = Counter()
        for c in checkers:
            stalled = [(lat, out) for t, lat, out in c.samples if in_stall(t)]
            result.check(stalled, f"{c.name}: not asked during the stalls")
            for lat, out in stalled:
                health_seen.add(out)
                health_slowest = max(health_slowest, lat)
            slow = [lat for lat, _ in stalled if lat > HEALTH_LIMIT_S]
            result.check(not slow, f"{c.name}: {len(slow)} answers slower than "
                                   f"{HEALTH_LIMIT_S} s during the stalls (slowest "
                                   f"{max(slow or [0]):.2f} s)")
        for n, svc in stack.services.items():
            result.check(alive(svc.proc), f"{n} exited (status {svc.proc.poll()})")
        result.requests, result.acknowledged = total, acked
        result.error_window = (f"{len(stalls)} stalls of {stall_s:.0f} s; recovered "
                               + ", ".join(f"{v} s" for v in recovered.values()))
        result.figures.update({
            "stall_s": stall_s, "codes_during_stalls": during,
            "slowest_call_during_stalls_s": round(slowest, 3),
            "health_during_stalls": health_seen.snapshot(),
            "slowest_health_answer_during_stalls_s": round(health_slowest, 3),
            "recovered_after_stall_s": recovered,
            "burst_codes": {n: codes_of(c) for n, c in bursts.items()},
        })


def codes_of(calls):
    out = {}
    for _, code in calls:
        out[code] = out.get(code, 0) + 1
    return out


def scenario():
    r = Result("7 slow redis", "CLIENT PAUSE, then DEBUG SLEEP, under calls, a burst and health "
                               "checks")
    return r, run
