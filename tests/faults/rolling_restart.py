"""Scenario 6: rolling restart. Two replicas of each service behind one client channel per service
(both addresses, round-robin, as a Kubernetes headless Service gives a gRPC client); the client
channels carry a service-config retry policy for UNAVAILABLE and client-side health checking
(`healthCheckConfig`), and the replicas run with `--drain_delay=1s`, as docs/operations.md
advises for clients that connect directly: on SIGTERM a replica turns NOT_SERVING, keeps serving
for that second while the clients move away, then stops. Under continuous reads and idempotent
writes (every create carries a request_id, so a retried write cannot store twice), each replica in
turn is sent SIGTERM, must exit 0 after draining, and is started again on its port before the next
one goes.

Checks: zero calls failed after retries; every replica exited 0 within its grace time; every
acknowledged create is readable afterwards, once. Reported: calls, the drain time of each replica.

Sizes: TRELLIS_FAULTS_CLIENT_THREADS (2 at CI size, 4 full) per service.
"""
import datetime
import json
import signal
import threading
import time

import grpc

from faultlib import (CLINICIAN, Counter, G, M, R, Result, Stack, alive, code_of,
                      goals_pb2_grpc, local, log, measurements_pb2_grpc, reminders_pb2_grpc,
                      size, utcnow)

GRACE_S = 30.0
SERVICE_NAMES = {"goals": "trellis.v1.GoalService",
                 "measurements": "trellis.v1.MeasurementService",
                 "reminders": "trellis.v1.ReminderService"}


def retrying_channel(service, addresses):
    config = {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{
            "name": [{"service": SERVICE_NAMES[service]}],
            "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
        }],
    }
    target = "ipv4:" + ",".join(addresses)
    return grpc.insecure_channel(target, options=[("grpc.service_config", json.dumps(config)),
                                                  ("grpc.enable_retries", 1)])


class Client(threading.Thread):
    """Calls `step(i)` in a loop; counts outcomes, keeps what each acknowledged create returned."""

    def __init__(self, name, step):
        super().__init__(daemon=True)
        self.name = name
        self.step = step
        self.codes = Counter()
        self.failures = []
        self.created = []
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                made = self.step(i)
                self.codes.add("OK")
                if made:
                    self.created.append(made)
            except grpc.RpcError as e:
                self.codes.add(code_of(e))
                self.failures.append((self.name, i, code_of(e), e.details()))
            i += 1


def run(result):
    threads = size("client_threads", 2, 4)
    with Stack(service_args={n: ["--drain_delay=1s"] for n in Stack.NAMES}) as stack:
        second = {n: stack.replica(n) for n in Stack.NAMES}
        channels = {n: retrying_channel(n, [stack.services[n].address, second[n].address])
                    for n in Stack.NAMES}
        goals = goals_pb2_grpc.GoalServiceStub(channels["goals"])
        meas = measurements_pb2_grpc.MeasurementServiceStub(channels["measurements"])
        rem = reminders_pb2_grpc.ReminderServiceStub(channels["reminders"])
        tag = f"{int(time.time())}"

        def goal_step(worker):
            def step(i):
                patient = f"p-roll-g{worker}"
                g = goals.CreateGoal(G.CreateGoalRequest(
                    goal=G.Goal(patient=patient, title="Walk 20 minutes a day"),
                    request_id=f"roll-{tag}-g{worker}-{i}"), metadata=CLINICIAN, timeout=10)
                goals.GetGoal(G.GetGoalRequest(name=g.name), metadata=CLINICIAN, timeout=10)
                return g.name
            return step

        def measurement_step(worker):
            def step(i):
                patient = f"p-roll-m{worker}"
                m = meas.RecordMeasurement(M.RecordMeasurementRequest(
                    measurement=M.Measurement(patient=patient, metric="mood", value=i % 11),
                    request_id=f"roll-{tag}-m{worker}-{i}"), metadata=CLINICIAN, timeout=10)
                meas.ListMeasurements(M.ListMeasurementsRequest(patient=patient, page_size=5),
                                      metadata=CLINICIAN, timeout=10)
                return m.name
            return step

        def reminder_step(worker):
            def step(i):
                patient = f"p-roll-r{worker}"
                if i % 5 == 0:
                    due = utcnow().replace(microsecond=0) + datetime.timedelta(hours=2)
                    r = rem.CreateReminder(R.CreateReminderRequest(
                        reminder=R.Reminder(
                            patient=patient, kind=R.REMINDER_KIND_PRACTICE, text="Breathing",
                            schedule=R.Schedule(start=local(due), time_zone="UTC")),
                        request_id=f"roll-{tag}-r{worker}-{i}"), metadata=CLINICIAN, timeout=10)
                    return r.name
                rem.ListReminders(R.ListRemindersRequest(patient=patient, page_size=5),
                                  metadata=CLINICIAN, timeout=10)
                return None
            return step

        clients = ([Client(f"goals-{w}", goal_step(w)) for w in range(threads)] +
                   [Client(f"measurements-{w}", measurement_step(w)) for w in range(threads)] +
                   [Client(f"reminders-{w}", reminder_step(w)) for w in range(threads)])
        for c in clients:
            c.start()
        drains = {}
        exits = {}
        try:
            time.sleep(2.0)
            for n in Stack.NAMES:
                for which in ("first", "second"):
                    svc = stack.services[n] if which == "first" else second[n]
                    label = f"{n} {which}"
                    log(f"rolling restart: SIGTERM {label} (:{svc.port})")
                    t0 = time.monotonic()
                    svc.proc.send_signal(signal.SIGTERM)
                    try:
                        code = svc.proc.wait(GRACE_S)
                    except Exception:
                        code = None
                        svc.proc.kill()
                        svc.proc.wait(10)
                    drains[label] = round(time.monotonic() - t0, 2)
                    exits[label] = code
                    if which == "first":
                        stack.start(n)
                    else:
                        second[n] = stack.start(n, port=svc.port)
                    time.sleep(1.0)
            time.sleep(1.0)
        finally:
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(30)

        failures = [f for c in clients for f in c.failures]
        codes = Counter()
        for c in clients:
            for k, v in c.codes.snapshot().items():
                codes.add(k, v)
        result.requests = codes.total()
        result.acknowledged = codes.get("OK")
        result.check(not failures, f"{len(failures)} calls failed after retries, e.g. "
                                   f"{failures[:3]}")
        for label, code in exits.items():
            result.check(code == 0, f"{label} exited with {code} after SIGTERM (want 0 within "
                                    f"{GRACE_S:.0f} s)")

        # Every acknowledged create readable, once.
        direct_goals = goals_pb2_grpc.GoalServiceStub(stack.channel("goals"))
        direct_meas = measurements_pb2_grpc.MeasurementServiceStub(stack.channel("measurements"))
        direct_rem = reminders_pb2_grpc.ReminderServiceStub(stack.channel("reminders"))
        lost = 0
        for c in clients:
            names = set(c.created)
            if not names:
                continue
            if c.name.startswith("goals"):
                patient = f"p-roll-g{c.name.split('-')[1]}"
                stored = list_all(lambda tok: direct_goals.ListGoals(G.ListGoalsRequest(
                    patient=patient, page_size=500, page_token=tok), metadata=CLINICIAN,
                    timeout=30), "goals")
            elif c.name.startswith("measurements"):
                patient = f"p-roll-m{c.name.split('-')[1]}"
                stored = list_all(lambda tok: direct_meas.ListMeasurements(
                    M.ListMeasurementsRequest(patient=patient, page_size=1000, page_token=tok),
                    metadata=CLINICIAN, timeout=30), "measurements")
            else:
                patient = f"p-roll-r{c.name.split('-')[1]}"
                stored = list_all(lambda tok: direct_rem.ListReminders(R.ListRemindersRequest(
                    patient=patient, page_size=500, page_token=tok,
                    states=[R.REMINDER_STATE_ACTIVE, R.REMINDER_STATE_PAUSED,
                            R.REMINDER_STATE_ENDED]), metadata=CLINICIAN, timeout=30),
                    "reminders")
            missing = names - set(stored)
            lost += len(missing)
            result.check(not missing, f"{c.name}: {len(missing)} acknowledged creates not "
                                      f"readable, e.g. {sorted(missing)[:2]}")
            result.check(len(stored) == len(set(stored)) and len(set(stored)) == len(names),
                         f"{c.name}: {len(stored)} stored for {len(names)} acknowledged creates")
        result.lost = lost
        for n, svc in stack.services.items():
            result.check(alive(svc.proc), f"{n} (restarted) is not running")
        result.error_window = (f"{len(drains)} replicas restarted one by one; drains "
                               f"{min(drains.values()):.1f}-{max(drains.values()):.1f} s")
        result.figures.update({"client_threads_per_service": threads, "codes": codes.snapshot(),
                               "drain_s": drains, "exit_codes": exits,
                               "creates_acknowledged": sum(len(c.created) for c in clients)})
        for ch in channels.values():
            ch.close()


def list_all(call, field):
    out, token = [], ""
    for _ in range(1000):
        page = call(token)
        out.extend(x.name for x in getattr(page, field))
        token = page.next_page_token
        if not token:
            break
    return out


def scenario():
    r = Result("6 rolling restart", "SIGTERM each of 2 replicas per service in turn under load; "
                                    "clients retry UNAVAILABLE")
    return r, run
